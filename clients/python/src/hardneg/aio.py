"""The asyncio hardneg client (``grpc.aio``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import weakref
from typing import Any, AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Optional, Union

import grpc
import numpy as np

from hardneg import _backup, errors
from hardneg import _codec as codec
from hardneg._channel import TLSArg
from hardneg._core import Core, Front, Op, T, run_async, stream_timeout
from hardneg._ingest import IngestState
from hardneg.types import (
    BackupInfo,
    CollectionInfo,
    DeleteResult,
    HardBatch,
    IndexParams,
    IngestResult,
    Items,
    MineResult,
    RefreshQueue,
    MiningPolicy,
    RetryPolicy,
    SnapshotFile,
    SnapshotInfo,
    UpsertResult,
)
from hardneg.v1 import hardneg_pb2_grpc as pb_grpc

__all__ = ["AsyncClient"]


class _StreamClosed(Exception):
    """The server ended an upsert stream while batches were still unacknowledged."""


class _FileReads:
    """Serialises a restore's reads of its file across threads (workers, gRPC's request
    thread) and ends them: after :meth:`stop` none starts, and stop waits for one in
    progress. gRPC reads a cancelled or refused stream's next request on its own thread
    after the call has ended; without this, that read ran on while the file was closed,
    or moved a retry's file position under it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopped = False

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        with self._lock:
            return fn(*args)

    def guard(self, it: Iterator[Any]) -> Iterator[Any]:
        while True:
            with self._lock:
                if self._stopped:
                    return
                try:
                    item = next(it)
                except StopIteration:
                    return
            yield item

    def stop(self) -> None:
        with self._lock:
            self._stopped = True


class AsyncClient(Front):
    """asyncio client of a hardneg server; the same methods as :class:`hardneg.Client`,
    as coroutines.

    The channel is opened lazily on first use, per process and per event loop (a
    ``grpc.aio`` channel is bound to the loop that created it), so one client may be
    used from several threads, each running its own loop. Use ``async with`` or
    :meth:`close` to release the channels; a call made after :meth:`close` opens a new
    one. A call still in flight when :meth:`close` runs fails with
    :class:`hardneg.errors.Cancelled`.
    """

    def __init__(
        self,
        target: str,
        *,
        token: Optional[str] = None,
        tls: TLSArg = None,
        timeout: Optional[float] = None,
        max_message_bytes: int = codec.DEFAULT_MAX_MESSAGE_BYTES,
        max_batch_bytes: int = codec.DEFAULT_MAX_BATCH_BYTES,
        options: Iterable[tuple[str, Any]] = (),
        retry: Optional[RetryPolicy] = RetryPolicy(),
    ) -> None:
        self._core = Core(
            target,
            token=token,
            tls=tls,
            timeout=timeout,
            max_message_bytes=max_message_bytes,
            max_batch_bytes=max_batch_bytes,
            options=options,
            retry=retry,
        )
        self._reset_channels()

    def _reset_channels(self) -> None:
        self._lock = threading.Lock()
        self._pid = os.getpid()
        # Event loop → (channel, stub) of this process; closed loops are dropped when a
        # new loop opens its channel.
        self._loops: dict[asyncio.AbstractEventLoop, tuple[grpc.aio.Channel, pb_grpc.MinerServiceStub]] = {}
        # Channels close() closed, so that their calls cut short say so.
        self._closed: "weakref.WeakSet[grpc.aio.Channel]" = weakref.WeakSet()
        # The synchronous channels of restores in flight (see _restore_call), closed by
        # close() like the loops' channels.
        self._sync: set[grpc.Channel] = set()

    def _channel(self) -> tuple[grpc.aio.Channel, pb_grpc.MinerServiceStub]:
        """The running loop's channel and stub, opened on first use."""
        loop = asyncio.get_running_loop()
        with self._lock:
            self._forget_forked()
            entry = self._loops.get(loop)
            if entry is None:
                self._loops = {owner: e for owner, e in self._loops.items() if not owner.is_closed()}
                ch = self._core.config.aio_channel()
                entry = (ch, pb_grpc.MinerServiceStub(ch))
                self._loops[loop] = entry
            return entry

    def _forget_forked(self) -> bool:
        """In a forked child, forgets the channels inherited from the parent (not usable
        here) and reports true. Caller holds _lock."""
        if self._pid == os.getpid():
            return False
        self._pid = os.getpid()
        self._loops = {}
        self._sync = set()
        return True

    def _stub(self) -> pb_grpc.MinerServiceStub:
        return self._channel()[1]

    @contextlib.contextmanager
    def _calls(self) -> Iterator[pb_grpc.MinerServiceStub]:
        """The running loop's stub, for calls made in the block: a call that
        :meth:`close` cut short raises :class:`~hardneg.errors.Cancelled` instead of the
        bare ``asyncio.CancelledError`` that ``grpc.aio`` raises (the task itself was
        not cancelled)."""
        stub = self._stub()
        entry = self._loops.get(asyncio.get_running_loop())
        ch = entry[0] if entry is not None else None
        try:
            yield stub
        except asyncio.CancelledError:
            task = asyncio.current_task()
            cancelling = getattr(task, "cancelling", None)
            if ch is not None and ch in self._closed and not (cancelling is not None and cancelling()):
                raise errors.Cancelled("the client was closed while the call was in flight") from None
            raise

    async def close(self) -> None:
        """Closes the client's channels: this loop's, and those other threads' event loops
        opened (closed on their own loops, without waiting for them). Calls in flight
        fail with :class:`hardneg.errors.Cancelled`; a later call opens a new channel."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._forget_forked():
                return
            entries = list(self._loops.items())
            self._loops.clear()
            for _, (ch, _) in entries:
                self._closed.add(ch)
            restores, self._sync = self._sync, set()
        for sync in restores:
            sync.close()
        for owner, (ch, _) in entries:
            if owner is loop:
                await ch.close()
            elif owner.is_running():
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    asyncio.run_coroutine_threadsafe(ch.close(), owner)

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def __getstate__(self) -> dict[str, Any]:
        return {"core": self._core}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._core = state["core"]
        self._reset_channels()

    async def _run(self, op: Op[T]) -> T:
        with self._calls() as stub:
            return await run_async(op, stub, self._core.config.metadata())

    # --- collections -------------------------------------------------------------------

    async def create_collection(
        self,
        name: str,
        dim: int,
        metric: str = "cosine",
        *,
        index_params: Optional[IndexParams] = None,
        exist_ok: bool = False,
        ephemeral: bool = False,
    ) -> CollectionInfo:
        """See :meth:`hardneg.Client.create_collection`."""
        return await self._run(self._core.create_collection(name, dim, metric, index_params, exist_ok, ephemeral))

    async def get_collection(self, name: str) -> CollectionInfo:
        """See :meth:`hardneg.Client.get_collection`."""
        return await self._run(self._core.get_collection(name))

    async def list_collections(self) -> list[CollectionInfo]:
        """See :meth:`hardneg.Client.list_collections`."""
        return await self._run(self._core.list_collections())

    async def delete_collection(self, name: str, *, missing_ok: bool = False) -> None:
        """See :meth:`hardneg.Client.delete_collection`."""
        await self._run(self._core.delete_collection(name, missing_ok))

    # --- writes ------------------------------------------------------------------------

    async def upsert(
        self,
        collection: str,
        ids: Any,
        vectors: Any,
        groups: codec.Groups = None,
        versions: Any = None,
    ) -> UpsertResult:
        """See :meth:`hardneg.Client.upsert`."""
        return await self._run(self._core.upsert(collection, ids, vectors, groups, versions))

    async def delete(self, collection: str, ids: Any) -> DeleteResult:
        """See :meth:`hardneg.Client.delete`."""
        return await self._run(self._core.delete(collection, ids))

    async def get_items(self, collection: str, ids: Any, *, include_vectors: bool = False) -> Items:
        """See :meth:`hardneg.Client.get_items`."""
        return await self._run(self._core.get_items(collection, ids, include_vectors))

    async def ingest(
        self,
        collection: str,
        batches: Union[Iterable[Any], AsyncIterable[Any]],
        *,
        writer_id: Optional[str] = None,
        first_sequence: int = 1,
        window: int = 8,
        progress: Any = False,
        total: Optional[int] = None,
        reconnect_timeout: float = 60.0,
    ) -> IngestResult:
        """See :meth:`hardneg.Client.ingest`; ``batches`` may also be an async iterable."""
        if hasattr(batches, "__aiter__"):
            source: Any = batches.__aiter__()  # type: ignore[union-attr]
            is_async = True
        else:
            source = codec.batch_iterator(batches)
            is_async = False
        state = self._core.ingest_state(
            collection,
            writer_id=writer_id,
            first_sequence=first_sequence,
            window=window,
            progress=progress,
            total=total,
            reconnect_timeout=reconnect_timeout,
        )
        attempt = 0
        try:
            while True:
                try:
                    await self._run_stream(state, source, is_async)
                    return state.done()
                except (grpc.RpcError, _StreamClosed, asyncio.InvalidStateError) as e:
                    if not state.should_retry(e):
                        raise state.give_up(e) from None
                    await asyncio.sleep(state.backoff(attempt, e))
                    attempt += 1
                    state.on_reconnect(e)
        finally:
            state.close()

    async def _run_stream(self, state: IngestState, source: Any, is_async: bool) -> None:
        with self._calls() as stub:
            await self._stream_on(stub.UpsertStream(metadata=self._core.config.metadata()), state, source, is_async)

    async def _stream_on(self, call: Any, state: IngestState, source: Any, is_async: bool) -> None:
        try:
            try:
                for req in state.unacked():
                    if state.resend_one_by_one and req.sequence not in state.pending:
                        continue  # acknowledged meanwhile (durable_sequence)
                    await call.write(req)
                    if state.resend_one_by_one:
                        resp = await call.read()
                        if resp is grpc.aio.EOF:
                            await _raise_status(call)
                            raise _StreamClosed("server closed the stream with batches unacknowledged")
                        state.on_response(resp)
                state.resend_one_by_one = False
                while True:
                    while state.window_open():
                        if not state.has_buffered():
                            if state.source_done:
                                break
                            if not is_async:
                                state.next_from(source)
                                continue
                            try:
                                item = await source.__anext__()
                            except StopAsyncIteration:
                                state.source_done = True
                                continue
                            except Exception as e:  # noqa: BLE001 - any error of the caller's source
                                state.fail_source(e)
                                continue
                            state.add(item)
                            continue
                        await call.write(state.take())
                    if state.finished():
                        await call.done_writing()
                        # Every batch is acknowledged: the status that ends the call
                        # (an error from a server stopping, say) loses nothing.
                        with contextlib.suppress(grpc.RpcError):
                            while (resp := await call.read()) is not grpc.aio.EOF:
                                state.on_response(resp)
                        return
                    resp = await call.read()
                    if resp is grpc.aio.EOF:
                        await _raise_status(call)
                        raise _StreamClosed("server closed the stream with batches unacknowledged")
                    state.on_response(resp)
            except asyncio.InvalidStateError:
                # Writing to a call that already ended: surface its status instead.
                await _raise_status(call)
                raise
        finally:
            if not call.done():
                call.cancel()

    # --- mining ------------------------------------------------------------------------

    async def mine(
        self,
        collection: str,
        anchor_ids: Any = None,
        anchor_vectors: Any = None,
        *,
        positive_ids: Any = None,
        positive_vectors: Any = None,
        exclude_ids: Any = None,
        groups: Any = None,
        keys: Any = None,
        guide_vectors: Any = None,
        guide_positive_vectors: Any = None,
        policy: Optional[MiningPolicy] = None,
        include_vectors: bool = False,
        explain: Union[bool, int] = False,
        anchor_offset: int = 0,
        **policy_kwargs: Any,
    ) -> MineResult:
        """See :meth:`hardneg.Client.mine`."""
        return await self._run(
            self._core.mine(
                collection,
                anchor_ids,
                anchor_vectors,
                positive_ids=positive_ids,
                positive_vectors=positive_vectors,
                exclude_ids=exclude_ids,
                groups=groups,
                keys=keys,
                guide_vectors=guide_vectors,
                guide_positive_vectors=guide_positive_vectors,
                policy=policy,
                include_vectors=include_vectors,
                policy_kwargs=policy_kwargs,
                explain=explain,
                anchor_offset=anchor_offset,
            )
        )

    async def report_false_negatives(self, collection: str, reports: codec.Reports) -> int:
        """See :meth:`hardneg.Client.report_false_negatives`."""
        return await self._run(self._core.report_false_negatives(collection, reports))

    async def snapshot(self, collection: str) -> SnapshotInfo:
        """See :meth:`hardneg.Client.snapshot`."""
        return await self._run(self._core.snapshot(collection))

    # --- backups -----------------------------------------------------------------------

    async def list_snapshots(self, collection: Optional[str] = None) -> list[SnapshotFile]:
        """See :meth:`hardneg.Client.list_snapshots`."""
        return await self._run(self._core.list_snapshots(collection))

    async def backup(
        self,
        collection: Optional[str],
        file_or_path: _backup.PathOrFile,
        *,
        chunk_bytes: int = 0,
        progress: Any = False,
    ) -> list[BackupInfo]:
        """See :meth:`hardneg.Client.backup` (the file is written from the event loop)."""
        req = _backup.backup_request(collection, chunk_bytes)
        f, finish = _backup.open_for_write(file_or_path)
        bar = _backup.progress_bar(progress, None, "backup")
        ok = False
        try:
            sink = _backup.Sink(f, bar)
            with self._calls() as stub:
                call = stub.Backup(req, metadata=self._core.config.metadata())
                try:
                    async for msg in call:
                        sink.add(msg)
                except grpc.RpcError as e:
                    raise errors.from_rpc_error(e) from None
            infos = sink.finish()
            ok = True
            return infos
        finally:
            finish(ok)
            if bar is not None:
                bar.close()

    async def restore(
        self,
        file_or_path: _backup.PathOrFile,
        collection: Optional[str] = None,
        *,
        skip_existing: bool = False,
        progress: Any = False,
    ) -> list[CollectionInfo]:
        """See :meth:`hardneg.Client.restore`. The file is read off the event loop, in
        worker threads and, for each collection's stream, a gRPC thread (``progress`` is
        updated from those threads); when the restore ends, however it ends, no read of
        the file is left running."""
        loop = asyncio.get_running_loop()
        opening = loop.run_in_executor(None, _backup.Restore, file_or_path, collection, progress)
        try:
            r = await asyncio.shield(opening)
        except asyncio.CancelledError:
            # The check goes on in its thread: close what it opens.
            opening.add_done_callback(lambda f: f.cancelled() or f.exception() is not None or f.result().close())
            raise
        reads = _FileReads()
        out = []
        try:
            entries = r.entries()
            while (entry := await asyncio.to_thread(reads.run, next, entries, None)) is not None:
                if skip_existing and await self._run(self._core.restore_blocked(r.target(entry))):
                    await asyncio.to_thread(reads.run, r.skip, entry)
                    continue
                resp = await self._restore_call(r, entry, reads)
                out.append(codec.collection_info(resp.collection))
            return out
        except (_backup.BackupFileError, errors.HardnegError) as e:
            raise r.failed(e, out) from None
        finally:
            reads.stop()  # waits for a read in progress, if any (one record at most)
            r.close()

    async def _restore_call(self, r: _backup.Restore, entry: Any, reads: "_FileReads") -> Any:
        """One collection's Restore call, made on a synchronous channel of its own.

        ``grpc.aio`` loses the server's status when the server ends a client stream
        while the client is still writing (a restore into a collection that is not
        empty, refused on its first message): a write that races the refusal is
        reported as INTERNAL "Internal error from Core" instead (grpc/grpc#36066). The
        synchronous call reports the server's status. Cancelling the task cancels the
        call; :meth:`close` closes the channel, and the call fails with
        :class:`hardneg.errors.Cancelled`. The stream's requests are read under
        ``reads``, which the restore stops before it returns."""
        ch = self._core.config.sync_channel()
        with self._lock:
            self._forget_forked()
            self._sync.add(ch)
        loop = asyncio.get_running_loop()
        finished = loop.create_future()

        def wake(_: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(lambda: finished.done() or finished.set_result(None))

        try:
            call = pb_grpc.MinerServiceStub(ch).Restore.future(reads.guard(r.requests(entry)), metadata=self._core.config.metadata())
            call.add_done_callback(wake)
            try:
                await finished
            except asyncio.CancelledError:
                call.cancel()
                raise
            try:
                return call.result()
            except grpc.FutureCancelledError:  # cancelled by gRPC itself, not by this task
                raise errors.Cancelled("the restore call was cancelled") from None
            except grpc.RpcError as e:
                with self._lock:
                    closed = ch not in self._sync
                if closed and e.code() == grpc.StatusCode.CANCELLED:  # type: ignore[attr-defined]
                    raise errors.Cancelled("the client was closed while the call was in flight") from None
                raise errors.from_rpc_error(e) from None
        finally:
            with self._lock:
                self._sync.discard(ch)
            ch.close()

    async def refresh_queue(self, collection: str, limit: int = 0, target_version: Optional[int] = None) -> RefreshQueue:
        """See :meth:`hardneg.Client.refresh_queue`."""
        return await self._run(self._core.refresh_queue(collection, limit, target_version))

    def build_batches(
        self,
        collection: str,
        anchor_ids: Any,
        *,
        positive_ids: Any = None,
        anchor_vectors: Any = None,
        batch_size: int,
        strategy: str = "clusters",
        epochs: int = 1,
        first_epoch: int = 0,
        num_epochs: int = 0,
        seed: int = 0,
        cluster_size: Union[int, tuple[int, int], None] = None,
        num_nearest: int = 0,
        num_sampled: int = 0,
        sample_range: Optional[tuple[int, int]] = None,
        exclude_near_duplicates: Optional[bool] = None,
        duplicate_threshold: Optional[float] = None,
        duplicate_margin: Optional[float] = None,
        use_feedback: Optional[bool] = None,
    ) -> AsyncIterator[HardBatch]:
        """See :meth:`hardneg.Client.build_batches` (an async iterator here; the
        arguments are checked when it is called, before the first batch)."""
        req = self._core.build_batches_request(
            collection,
            anchor_ids,
            positive_ids,
            batch_size=batch_size,
            strategy=strategy,
            epochs=epochs,
            first_epoch=first_epoch,
            num_epochs=num_epochs,
            seed=seed,
            cluster_size=cluster_size,
            num_nearest=num_nearest,
            num_sampled=num_sampled,
            sample_range=sample_range,
            exclude_near_duplicates=exclude_near_duplicates,
            duplicate_threshold=duplicate_threshold,
            duplicate_margin=duplicate_margin,
            use_feedback=use_feedback,
            anchor_vectors=anchor_vectors,
        )
        return self._stream_batches(req)

    async def _stream_batches(self, req: Any) -> AsyncIterator[HardBatch]:
        timeout = self._core.timeout
        with self._calls() as stub:
            call = stub.BuildBatches(req, metadata=self._core.config.metadata())
            try:
                while True:
                    try:
                        resp = await asyncio.wait_for(call.read(), timeout)
                    except asyncio.TimeoutError:
                        call.cancel()
                        raise stream_timeout("batch", timeout) from None
                    if resp is grpc.aio.EOF:
                        return
                    yield codec.hard_batch(resp)
            except grpc.RpcError as e:
                raise self._core.stream_error(e) from None
            finally:
                call.cancel()

    async def report_loss(self, collection: str, keys: Any, *, losses: Any = None, solved: Any = None) -> np.ndarray:
        """See :meth:`hardneg.Client.report_loss`."""
        return await self._run(self._core.report_loss(collection, keys, losses, solved))

    async def refresh(
        self,
        collection: str,
        encode: Callable[[list[str]], Any],
        *,
        version: int,
        limit: int = 0,
        target_version: Optional[int] = None,
    ) -> RefreshQueue:
        """See :meth:`hardneg.Client.refresh` (``encode`` is called synchronously)."""
        return await self._run(self._core.refresh(collection, encode, version, limit, target_version))

    async def get_calibration(self, collection: str) -> dict[str, dict[str, Any]]:
        """See :meth:`hardneg.Client.get_calibration`."""
        return await self._run(self._core.get_calibration(collection))


async def _raise_status(call: Any) -> None:
    """Raises the call's error when it ended with a non-OK status."""
    code = await call.code()
    if code != grpc.StatusCode.OK:
        raise grpc.aio.AioRpcError(
            code,
            await call.initial_metadata(),
            await call.trailing_metadata(),
            details=await call.details(),
        )
