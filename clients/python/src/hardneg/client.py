"""The synchronous hardneg client."""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from typing import Any, Callable, Iterable, Iterator, Optional, Union

import grpc
import numpy as np

from hardneg import _backup, errors
from hardneg import _codec as codec
from hardneg import errors
from hardneg._channel import TLSArg
from hardneg._core import Core, Front, Op, T, each_within, run_sync
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

__all__ = ["Client"]

_END = object()


def _queue_iter(q: "queue.Queue[Any]") -> Iterator[Any]:
    while True:
        item = q.get()
        if item is _END:
            return
        yield item


# Channels a forked process inherited from its parent (see Client._stub).
_inherited_channels: list[Any] = []


class Client(Front):
    """Synchronous client of a hardneg server.

    Args:
        target: ``host:port`` of the server (any gRPC target string); a host alone
            means port 50051, the server's default.
        token: bearer token sent as ``authorization: Bearer <token>`` on every call.
        tls: ``None`` for plaintext, ``True`` for TLS with the system roots, a
            :class:`hardneg.TLSConfig` (CA / client certificate / key paths), or ready
            ``grpc.ChannelCredentials``.
        timeout: default deadline in seconds of unary calls, and the longest wait for
            each batch of :meth:`build_batches` (``None``: no deadline). ``ingest``,
            ``backup`` and ``restore`` streams are not bounded by it.
        max_message_bytes: largest message sent or received (the server's default is
            64 MiB); at least 64 KiB.
        max_batch_bytes: writes are split into batches of at most this many bytes (and
            at most 16,384 items).
        options: extra gRPC channel options.
        retry: how idempotent calls (``mine``, ``get_collection``, ``list_collections``,
            ``get_items``, ``get_calibration``, ``list_snapshots``, ``upsert``) are
            retried when the server is unavailable or asks to come back later: a
            :class:`hardneg.RetryPolicy`, or ``None`` to never retry. ``timeout`` bounds a call with all its retries;
            :attr:`retries` counts the retries made, and each is logged at INFO level on
            the ``hardneg`` logger.

    The channel is opened lazily, once per process: a client created before
    ``fork()`` (e.g. captured by a PyTorch ``Dataset`` used by DataLoader workers)
    opens a fresh channel in each child. Clients also pickle (without their channel)
    for the ``spawn`` start method.

    Writes that are split into several batches are atomic per batch, not as a whole.
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
        self._lock = threading.Lock()
        self._pid: Optional[int] = None
        self._channel: Optional[grpc.Channel] = None
        self._stub_obj: Optional[pb_grpc.MinerServiceStub] = None

    # --- lifecycle ---------------------------------------------------------------------

    def _stub(self) -> pb_grpc.MinerServiceStub:
        pid = os.getpid()
        stub = self._stub_obj
        if stub is not None and self._pid == pid:
            return stub
        with self._lock:
            if self._stub_obj is None or self._pid != pid:
                # After fork the inherited channel belongs to the parent: keep it without
                # closing (closing would touch the parent's connections) and open our own.
                # It is kept referenced for the life of this process: collecting it would
                # run gRPC's channel teardown on the parent's state, which can crash a
                # forked child.
                if self._channel is not None and self._pid != pid:
                    _inherited_channels.append((self._channel, self._stub_obj))
                self._channel = self._core.config.sync_channel()
                self._stub_obj = pb_grpc.MinerServiceStub(self._channel)
                self._pid = pid
            return self._stub_obj

    @property
    def channel(self) -> grpc.Channel:
        """This process's channel (opened on first use)."""
        self._stub()
        assert self._channel is not None
        return self._channel

    def close(self) -> None:
        """Closes this process's channel; the client reopens one if used again."""
        with self._lock:
            if self._channel is not None and self._pid == os.getpid():
                self._channel.close()
            self._channel = None
            self._stub_obj = None
            self._pid = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        return {"core": self._core}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._core = state["core"]
        self._lock = threading.Lock()
        self._pid = None
        self._channel = None
        self._stub_obj = None

    def _run(self, op: Op[T]) -> T:
        return run_sync(op, self._stub(), self._core.config.metadata())

    # --- collections -------------------------------------------------------------------

    def create_collection(
        self,
        name: str,
        dim: int,
        metric: str = "cosine",
        *,
        index_params: Optional[IndexParams] = None,
        exist_ok: bool = False,
        ephemeral: bool = False,
    ) -> CollectionInfo:
        """Creates an empty collection of ``dim``-dimensional vectors.

        Args:
            metric: ``"cosine"``, ``"dot"`` or ``"l2"``.
            index_params: HNSW parameters (zero fields take the server's defaults).
            exist_ok: return the existing collection instead of raising
                :class:`~hardneg.errors.AlreadyExists`, provided it has the same
                ``dim``, ``metric`` and the index parameters given here (fields left at
                0 match any value); a collection defined otherwise still raises
                :class:`~hardneg.errors.AlreadyExists`, naming the differences.
            ephemeral: keep the collection in the server's memory only, for one built
                for a job and deleted after it: its writes skip the write-ahead log (no
                disk writes, no fsyncs), it is never snapshotted, and a server restart
                loses it. Writes report sequence 0. ``-backend weaviate`` refuses it.
        """
        return self._run(self._core.create_collection(name, dim, metric, index_params, exist_ok, ephemeral))

    def get_collection(self, name: str) -> CollectionInfo:
        """Returns a collection's parameters and statistics."""
        return self._run(self._core.get_collection(name))

    def list_collections(self) -> list[CollectionInfo]:
        """Returns every collection, sorted by name."""
        return self._run(self._core.list_collections())

    def delete_collection(self, name: str, *, missing_ok: bool = False) -> None:
        """Deletes a collection and its stored data."""
        self._run(self._core.delete_collection(name, missing_ok))

    # --- writes ------------------------------------------------------------------------

    def upsert(
        self,
        collection: str,
        ids: Any,
        vectors: Any,
        groups: codec.Groups = None,
        versions: Any = None,
    ) -> UpsertResult:
        """Inserts or replaces items.

        Args:
            ids: item ids (strings).
            vectors: ``(len(ids), dim)`` array-like, sent as float32.
            groups: per item, a list of group names (or one string, or ``None``).
            versions: per item an int64 version stamp, or one int for all.

        The items are split into batches under the 16,384-item and message-size limits;
        each batch is applied atomically and is durable when this returns. Every batch but
        the last is sent with ``defer_durability`` (acknowledged once written, not
        fsynced); the last batch's fsync covers them all, so a split upload waits for
        one fsync instead of one per batch.

        Before a split upsert sends anything, the client refuses what the server would
        refuse in any of its batches (non-finite values; ids empty, over 512 bytes,
        holding NUL or given twice; over 64 groups or a group name over 256 bytes; a
        zero vector under cosine, a norm over 1e9 under dot and L2, asking the
        collection's metric only when such a row is there), so that it applies all
        batches or none: ``InvalidArgument`` naming your row, ``applied_rows`` 0. A
        batch the server still refuses raises ``InvalidArgument`` naming your row, with
        ``applied_rows`` the rows before it, which were applied.
        """
        return self._run(self._core.upsert(collection, ids, vectors, groups, versions))

    def delete(self, collection: str, ids: Any) -> DeleteResult:
        """Deletes items by id (unknown ids are counted in ``not_found``)."""
        return self._run(self._core.delete(collection, ids))

    def get_items(self, collection: str, ids: Any, *, include_vectors: bool = False) -> Items:
        """Reads items by id, in request order; absent ids land in ``missing_ids``."""
        return self._run(self._core.get_items(collection, ids, include_vectors))

    def ingest(
        self,
        collection: str,
        batches: Iterable[Any],
        *,
        writer_id: Optional[str] = None,
        first_sequence: int = 1,
        window: int = 8,
        progress: Any = False,
        total: Optional[int] = None,
        reconnect_timeout: float = 60.0,
    ) -> IngestResult:
        """Streams batches into ``collection`` over ``UpsertStream``.

        Args:
            batches: an iterable (consumed lazily) of :class:`hardneg.Batch`, dicts, or
                ``(ids, vectors[, groups[, versions]])`` tuples. Large batches are split.
            writer_id: stable identity of this writer; default a random one. Reusing a
                writer id with ``first_sequence`` set to a previous result's
                ``next_sequence`` continues that writer. A server forgets a writer
                idle for its ``-stream-writer-ttl`` (a week by default); continuing
                one then raises
                :class:`hardneg.errors.FailedPrecondition`, and an ingest from
                sequence 1 starts it again.
            first_sequence: sequence number of the first batch.
            window: most batches sent but not yet acknowledged as durable; bounds the
                memory held for resending.
            progress: ``True`` for a tqdm bar (items acknowledged), or any object with
                ``update(n)``/``close()``.
            total: total items, for the progress bar.
            reconnect_timeout: seconds without an acknowledgement after which a broken
                stream is given up (the error carries ``ingest_result``); a server that
                answers that it is recovering its storage is waited for up to the
                client's ``retry.recovery_wait`` instead, when that is longer.

        After a disconnect the stream is re-opened and every unacknowledged batch is
        resent; the server recognises batches it already applied, so none is applied
        twice. Returns the counters once every batch is durable.
        """
        source = codec.batch_iterator(batches)
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
                    self._run_stream(state, source)
                    return state.done()
                except (grpc.RpcError, _StreamClosed) as e:
                    if not state.should_retry(e):
                        raise state.give_up(e) from None
                    time.sleep(state.backoff(attempt, e))
                    attempt += 1
                    state.on_reconnect()
        finally:
            state.close()

    def _run_stream(self, state: IngestState, source: Iterator[Any]) -> None:
        """Runs one stream until every batch is acknowledged or the stream breaks."""
        q: "queue.Queue[Any]" = queue.Queue()
        call = self._stub().UpsertStream(_queue_iter(q), metadata=self._core.config.metadata())
        try:
            for req in state.unacked():
                q.put(req)
            while True:
                while state.window_open():
                    if not state.has_buffered():
                        if state.source_done:
                            break
                        state.next_from(source)
                        continue
                    q.put(state.take())
                if state.finished():
                    # Every batch is acknowledged: the status that ends the call (an
                    # error from a server stopping, say) loses nothing.
                    q.put(_END)
                    with contextlib.suppress(grpc.RpcError):
                        for resp in call:
                            state.on_response(resp)
                    return
                try:
                    resp = next(call)
                except StopIteration:
                    raise _StreamClosed("server closed the stream with batches unacknowledged") from None
                state.on_response(resp)
        finally:
            q.put(_END)
            call.cancel()

    # --- mining ------------------------------------------------------------------------

    def mine(
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
        """Mines hard negatives for a batch of anchors.

        Args:
            anchor_ids: per anchor, an item id in the collection (or ``None`` for a
                vector-only anchor).
            anchor_vectors: ``(n, dim)`` query vectors (fresh encodings of the anchors).
            positive_ids: per anchor, its known positive ids (a list, or one string).
            positive_vectors: ``(n, dim)``, ``(n, p, dim)`` or a list of per-anchor
                arrays of positive vectors that are not in the collection.
            exclude_ids: per anchor, ids never to return.
            groups: per anchor, extra groups for group exclusion.
            keys: per anchor, the feedback key (defaults to the anchor id).
            guide_vectors: ``(n, guide_dim)`` anchors in the guide space, for the guide
                rules (``guide_collection``, ``guide_margin``,
                ``guide_duplicate_threshold``); rows of NaN leave an anchor to its
                item's guide vector.
            guide_positive_vectors: like ``positive_vectors``, in the guide space.
            policy: a :class:`hardneg.MiningPolicy`; keyword arguments such as
                ``num_negatives=5, relative_margin=0.05, sampling_strategy="random"``
                override its fields.
            include_vectors: also return the negatives' vectors.
            explain: ``True`` (100 candidates per anchor) or a count: also return, in
                ``result.explained``, the candidates the rules judged for each anchor
                with the rule that removed each or ``"returned"`` (a
                :class:`hardneg.ExplainTable`; ``.to_pandas()`` for a DataFrame). At most
                1,024 per anchor and 65,536 per request: with more than 655 anchors
                each anchor lists at most 65,536 ÷ the anchors per request (64 at
                1,024; a split call uses its largest request's limit for every
                anchor), and ``explain_truncated`` marks anchors that had more.
            anchor_offset: the position of the first of these anchors in a larger set
                that you mine in several calls (an epoch in batches, say): sampling
                (``sampling_strategy`` other than ``"top"``) and synthetic negatives draw
                for anchor ``i`` from ``(seed, anchor_offset + i)``, so each anchor of
                the set draws independently, as in one call. Default 0. Calls with the
                same seed and offsets repeat their draws position by position: for new
                draws (each training step, say) pass another ``seed``.

        More than 1,024 anchors are sent as several requests (each request carries its
        anchors' position, so the call draws as one request would) (in-batch exclusion then
        applies within each request); so are fewer whose request would not fit in one
        message of ``max_message_bytes`` (vectors of many dimensions, many positive
        vectors), or of the server's own limit when it is lower (learnt from its
        refusal, which applied nothing; an anchor that alone does not fit raises
        ``InvalidArgument`` naming it); so are fewer when ``include_vectors`` is set, the
        anchors are vectors and their negatives' vectors would not fit in one message
        of ``max_message_bytes``, and so is a request the server refuses because its
        answer would not fit in the server's own largest message: it refuses vectors
        that would not fit before mining (naming ``include_vectors``) and an answer too
        large for another reason (long ids, many negatives) after (naming ``anchors``;
        as for any lost answer, the exposure counts and, under ``rotate``, its keys'
        cycles have then advanced, so under ``rotate`` or ``max_exposures`` the parts
        may get other negatives than one answer that fit would have),
        with the answer's size, and the client sends the anchors again in as many
        requests as that size needs. A single anchor whose answer is too large raises
        that ``InvalidArgument``.

        The vectors returned (``include_vectors``) are as stored: unit length under
        cosine. ``p_fn`` uses coefficients fitted under cosine; under dot and L2 it is
        returned but not calibrated (docs/MINING.md), so do not weight losses by it
        (:attr:`MineResult.weights`) there.
        """
        return self._run(
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

    def report_false_negatives(self, collection: str, reports: codec.Reports) -> int:
        """Records that items are not negatives of an anchor (by its key).

        Args:
            reports: ``{anchor_key: [item_id, ...]}`` or ``[(anchor_key, item_id), ...]``.

        Returns the number of newly recorded pairs.
        """
        return self._run(self._core.report_false_negatives(collection, reports))

    def snapshot(self, collection: str) -> SnapshotInfo:
        """Writes a snapshot of ``collection`` now (bounds recovery time)."""
        return self._run(self._core.snapshot(collection))

    # --- backups -----------------------------------------------------------------------

    def list_snapshots(self, collection: Optional[str] = None) -> list[SnapshotFile]:
        """The snapshot files the server holds (the newest two per collection), of
        ``collection`` or of every collection, newest first within a collection."""
        return self._run(self._core.list_snapshots(collection))

    def backup(
        self,
        collection: Optional[str],
        file_or_path: _backup.PathOrFile,
        *,
        chunk_bytes: int = 0,
        progress: Any = False,
    ) -> list[BackupInfo]:
        """Writes a consistent copy of ``collection`` (``None``: every collection, each
        consistent on its own) from the running server into a backup file.

        Args:
            file_or_path: a path (written under a temporary name and renamed once
                complete) or a binary file open for writing.
            chunk_bytes: size of the chunks the server sends (0: 1 MiB, or less where the
                server's message limit is lower).
            progress: ``True`` for a tqdm bar (bytes), or an object with
                ``update(n)``/``close()``.

        Returns what was written, one :class:`hardneg.BackupInfo` per collection.
        """
        req = _backup.backup_request(collection, chunk_bytes)
        f, finish = _backup.open_for_write(file_or_path)
        bar = _backup.progress_bar(progress, None, "backup")
        ok = False
        try:
            sink = _backup.Sink(f, bar)
            call = self._stub().Backup(req, metadata=self._core.config.metadata())
            try:
                for msg in call:
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

    def restore(
        self,
        file_or_path: _backup.PathOrFile,
        collection: Optional[str] = None,
        *,
        skip_existing: bool = False,
        progress: Any = False,
    ) -> list[CollectionInfo]:
        """Restores the collections of a backup file written by :meth:`backup`.

        Args:
            collection: a new name for the collection (the file must hold exactly one);
                ``None`` keeps the names in the file.
            progress: ``True`` for a tqdm bar (bytes), or an object with
                ``update(n)``/``close()``.

        The server verifies each collection's size and checksum before it applies
        anything (:class:`hardneg.errors.DataLoss` for a damaged file). A target that
        exists must be empty and stored (:class:`hardneg.errors.FailedPrecondition`
        otherwise: one that holds items, or an ephemeral one, is never replaced);
        ``skip_existing=True`` leaves such collections as they are and restores the
        others. Returns the restored collections. Collections are restored one after
        another: an error raised part-way lists those restored before it in its
        ``restored`` attribute. A restore cut short (a timeout, a cancelled task, a
        closed client) once the server had received a whole collection may still
        complete it on the server: look before restoring again
        (``skip_existing=True`` does).
        """
        r = _backup.Restore(file_or_path, collection, progress)
        out = []
        try:
            for entry in r.entries():
                if skip_existing and self._run(self._core.restore_blocked(r.target(entry))):
                    r.skip(entry)
                    continue
                try:
                    resp = self._stub().Restore(r.requests(entry), metadata=self._core.config.metadata())
                except grpc.RpcError as e:
                    raise errors.from_rpc_error(e) from None
                out.append(codec.collection_info(resp.collection))
            return out
        except (_backup.BackupFileError, errors.HardnegError) as e:
            raise r.failed(e, out) from None
        finally:
            r.close()

    def refresh_queue(self, collection: str, limit: int = 0, target_version: Optional[int] = None) -> RefreshQueue:
        """The items of ``collection`` to re-encode next: those with a version below
        ``target_version`` (default: the collection's newest version), ordered by
        staleness × (1 + times recently returned as a negative) descending, so that hot,
        old items come first. ``limit`` caps the ids returned (0: 1,024; at most 65,536);
        :attr:`RefreshQueue.due` counts them all. Re-encode them and upsert with the new
        version to refresh the index incrementally."""
        return self._run(self._core.refresh_queue(collection, limit, target_version))

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
    ) -> Iterator[HardBatch]:
        """Streams hard training batches built by the server from ``anchor_ids`` (items of
        ``collection``) and their ``positive_ids``, as :class:`hardneg.HardBatch` values
        (``rows`` index ``anchor_ids``), epoch by epoch.

        Within a batch no row's anchor or positive is a positive, a reported false
        negative or a near-duplicate of a positive (Mine's rule) of another row, and each
        anchor is in exactly one batch per epoch; conflicting rows are moved to a later
        batch (``deferred``/``swapped_in``). The same arguments give the same batches.

        Args:
            anchor_vectors: ``(n, dim)`` vectors of the anchors, for anchors that are not
                items of the collection (e.g. queries); ``anchor_ids`` then only name them.
            batch_size: anchors per batch (1–4,096).
            strategy: ``"clusters"`` (NGAME: balanced 2-means clusters of the anchors'
                vectors, whole clusters per batch) or ``"neighbours"`` (also spelt ``"neighbors"``; Sample4Geo: an
                anchor, its ``num_nearest`` nearest anchors and ``num_sampled`` sampled
                from the neighbour ranks ``sample_range``, a ``(start, end)`` pair, end
                exclusive, at most 4,096; ``None`` or either end 0: ``num_nearest`` and
                ``start + 8·num_sampled``. A start of 0 with ``num_nearest > 0`` is refused:
                the server reads 0 as ``num_nearest``).
            epochs: length of the schedule; ``first_epoch``/``num_epochs`` (0: to the
                end) select the epochs streamed.
            cluster_size: an int, or ``(first epoch, last epoch)`` interpolated linearly
                (default: ``batch_size``).
            exclude_near_duplicates, duplicate_threshold, duplicate_margin: Mine's
                near-duplicate rule in the guarantee (default on; under cosine the threshold
                is 0.80, read on the collection's scale where its items all score high
                against each other (docs/MINING.md, "Score scale"), and the margin is off
                unless given).
            use_feedback: keep reported false negatives apart (default on).
        """
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
        return self._stream_batches(req)  # the arguments are checked now, not at the first batch

    def _stream_batches(self, req: Any) -> Iterator[HardBatch]:
        call = self._stub().BuildBatches(req, metadata=self._core.config.metadata())
        try:
            for resp in each_within(call, self._core.timeout, "batch"):
                yield codec.hard_batch(resp)
        except grpc.RpcError as e:
            raise self._core.stream_error(e) from None
        finally:
            call.cancel()  # a caller that stops early ends the stream

    def report_loss(self, collection: str, keys: Any, *, losses: Any = None, solved: Any = None) -> np.ndarray:
        """Reports how a training step went per anchor key, for closed-loop hardness
        (``closed_loop=True`` in the policy): ``solved`` flags or ``losses``, one of the
        two (a loss at or below the collection's running mean counts as solved). Solved keys move their
        band towards the top (hardness +0.25, up to 1), unsolved ones back (−0.25).
        Returns the ``(len(keys),)`` float32 hardness after each outcome. Kept by the
        server per collection and saved to its data directory, so it survives restarts
        (docs/TRAINING.md, "loop state").

        ``losses`` and ``solved`` may be numpy arrays, lists or torch tensors (detached
        here). Losses travel as float32 and must be finite there. No keys sends nothing;
        more than 16,384 are sent as several requests, each applied on its own, after
        the client has checked every key and value of all of them."""
        return self._run(self._core.report_loss(collection, keys, losses, solved))

    def refresh(
        self,
        collection: str,
        encode: Callable[[list[str]], Any],
        *,
        version: int,
        limit: int = 0,
        target_version: Optional[int] = None,
    ) -> RefreshQueue:
        """Refreshes the index incrementally: re-encodes the next ``limit`` ids of
        :meth:`refresh_queue` (0: 1,024) with ``encode(ids) -> (len(ids), dim)`` vectors
        and upserts them with ``version`` (e.g. the training step), keeping each item's
        groups (read just before; an item deleted since the queue was read, or while
        ``encode`` ran, is skipped, not written again: the client looks again after
        encoding, so only a delete in the moment between that look and the write can be
        undone by it). The queue holds the
        items below ``target_version``, by default ``version`` itself: on a corpus
        ingested at one version, the first refresh to a later version already finds
        every item due. Returns the queue processed (``due`` says how many items were
        due in all)."""
        return self._run(self._core.refresh(collection, encode, version, limit, target_version))

    def get_calibration(self, collection: str) -> dict[str, dict[str, Any]]:
        """The score statistics mining has observed on ``collection``: for
        ``positive_scores`` (s⁺), ``candidate_scores`` and ``positive_similarities`` (what
        ``duplicate_threshold`` compares), ``{count, window, mean, std, quantiles}``:
        ``count`` observations in all, of which the ``window`` most recent give the mean,
        std and ``quantiles`` (probability → score); and ``scale``:
        ``{background_similarity, default_duplicate_threshold}``, the mean cosine of two
        of the collection's items and the near-duplicate threshold an empty policy
        applies there (None under dot and L2; the background also with fewer than 64
        items). See docs/MINING.md, Calibration and Score scale."""
        return self._run(self._core.get_calibration(collection))


class _StreamClosed(Exception):
    """The server ended an upsert stream while batches were still unacknowledged."""
