"""The asyncio hardneg client (``grpc.aio``)."""

from __future__ import annotations

import asyncio
import os
from typing import Any, AsyncIterable, Iterable, Optional, Union

import grpc

from hardneg import _codec as codec
from hardneg import errors
from hardneg._channel import ChannelConfig, TLSArg
from hardneg._ingest import IngestState
from hardneg.types import (
    CollectionInfo,
    DeleteResult,
    IndexParams,
    IngestResult,
    Items,
    MineResult,
    MiningPolicy,
    SnapshotInfo,
    UpsertResult,
)
from hardneg.v1 import hardneg_pb2 as pb
from hardneg.v1 import hardneg_pb2_grpc as pb_grpc

__all__ = ["AsyncClient"]


class _StreamClosed(Exception):
    """The server ended an upsert stream while batches were still unacknowledged."""


class AsyncClient:
    """asyncio client of a hardneg server; the same methods as :class:`hardneg.Client`,
    as coroutines.

    The channel is opened lazily on first use, per process and per event loop (a
    ``grpc.aio`` channel is bound to the loop that created it). Use ``async with`` or
    :meth:`close` to release it.
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
    ) -> None:
        if max_batch_bytes > max_message_bytes - 1024 * 1024:
            max_batch_bytes = max(max_message_bytes - 1024 * 1024, 1024)
        self._config = ChannelConfig(
            target=target, token=token, tls=tls, max_message_bytes=max_message_bytes, extra_options=tuple(options)
        )
        self.timeout = timeout
        self.max_batch_bytes = max_batch_bytes
        self._owner: Optional[tuple[int, asyncio.AbstractEventLoop]] = None
        self._channel: Optional[grpc.aio.Channel] = None
        self._stub_obj: Optional[pb_grpc.MinerServiceStub] = None

    @property
    def target(self) -> str:
        return self._config.target

    def _stub(self) -> pb_grpc.MinerServiceStub:
        owner = (os.getpid(), asyncio.get_running_loop())
        if self._stub_obj is None or self._owner != owner:
            self._channel = self._config.aio_channel()
            self._stub_obj = pb_grpc.MinerServiceStub(self._channel)
            self._owner = owner
        return self._stub_obj

    async def close(self) -> None:
        """Closes the channel of this process and loop."""
        ch, owner = self._channel, self._owner
        self._channel = self._stub_obj = None
        self._owner = None
        if ch is not None and owner is not None and owner[0] == os.getpid():
            try:
                if owner[1] is asyncio.get_running_loop():
                    await ch.close()
            except RuntimeError:
                pass

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self._config, "timeout": self.timeout, "max_batch_bytes": self.max_batch_bytes}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._config = state["config"]
        self.timeout = state["timeout"]
        self.max_batch_bytes = state["max_batch_bytes"]
        self._owner = None
        self._channel = None
        self._stub_obj = None

    def __repr__(self) -> str:
        return f"hardneg.AsyncClient({self._config.target!r})"

    async def _call(self, method: str, request: Any, timeout: Optional[float] = None) -> Any:
        fn = getattr(self._stub(), method)
        try:
            return await fn(
                request,
                timeout=timeout if timeout is not None else self.timeout,
                metadata=self._config.metadata(),
            )
        except grpc.RpcError as e:
            raise errors.from_rpc_error(e) from None

    # --- collections -------------------------------------------------------------------

    async def create_collection(
        self,
        name: str,
        dim: int,
        metric: str = "cosine",
        *,
        index_params: Optional[IndexParams] = None,
        exist_ok: bool = False,
    ) -> CollectionInfo:
        """See :meth:`hardneg.Client.create_collection`."""
        req = codec.create_collection_request(name, dim, metric, index_params)
        try:
            return codec.collection_info((await self._call("CreateCollection", req)).collection)
        except errors.AlreadyExists:
            if not exist_ok:
                raise
            return await self.get_collection(name)

    async def get_collection(self, name: str) -> CollectionInfo:
        resp = await self._call("GetCollection", pb.GetCollectionRequest(name=name))
        return codec.collection_info(resp.collection)

    async def list_collections(self) -> list[CollectionInfo]:
        resp = await self._call("ListCollections", pb.ListCollectionsRequest())
        return [codec.collection_info(c) for c in resp.collections]

    async def delete_collection(self, name: str, *, missing_ok: bool = False) -> None:
        try:
            await self._call("DeleteCollection", pb.DeleteCollectionRequest(name=name))
        except errors.NotFound:
            if not missing_ok:
                raise

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
        items = codec.prepare_items(ids, vectors, groups, versions)
        inserted = replaced = seq = n = 0
        for start, end in items.slices(codec.MAX_BATCH_ITEMS, self.max_batch_bytes):
            req = pb.UpsertRequest(collection=collection, items=items.batch(start, end))
            resp = await self._call("Upsert", req)
            inserted += resp.inserted
            replaced += resp.replaced
            seq = resp.sequence
            n += 1
        return UpsertResult(inserted=inserted, replaced=replaced, sequence=seq, batches=n)

    async def delete(self, collection: str, ids: Any) -> DeleteResult:
        id_list = codec._as_id_list(ids)
        deleted = not_found = seq = n = 0
        for part in codec.chunks(id_list, codec.MAX_BATCH_ITEMS):
            resp = await self._call("Delete", pb.DeleteRequest(collection=collection, ids=part))
            deleted += resp.deleted
            not_found += resp.not_found
            seq = resp.sequence
            n += 1
        return DeleteResult(deleted=deleted, not_found=not_found, sequence=seq, batches=n)

    async def get_items(self, collection: str, ids: Any, *, include_vectors: bool = False) -> Items:
        id_list = codec._as_id_list(ids)
        responses = []
        for part in codec.chunks(id_list, codec.MAX_BATCH_ITEMS):
            req = pb.GetItemsRequest(collection=collection, ids=part, include_vectors=include_vectors)
            responses.append(await self._call("GetItems", req))
        return codec.items_from_batches(responses, include_vectors)

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
        state = IngestState(
            collection,
            writer_id=writer_id,
            first_sequence=first_sequence,
            window=window,
            max_batch_bytes=self.max_batch_bytes,
            progress=progress,
            total=total,
            reconnect_timeout=reconnect_timeout,
        )
        if hasattr(batches, "__aiter__"):
            source: Any = batches.__aiter__()  # type: ignore[union-attr]
            is_async = True
        else:
            source = iter(batches)  # type: ignore[arg-type]
            is_async = False
        attempt = 0
        try:
            while True:
                try:
                    await self._run_stream(state, source, is_async)
                    return state.result
                except (grpc.RpcError, _StreamClosed, asyncio.InvalidStateError) as e:
                    if not state.should_retry(e):
                        raise state.give_up(e) from None
                    await asyncio.sleep(state.backoff(attempt))
                    attempt += 1
                    state.on_reconnect()
        finally:
            state.close()

    async def _run_stream(self, state: IngestState, source: Any, is_async: bool) -> None:
        call = self._stub().UpsertStream(metadata=self._config.metadata())
        try:
            try:
                for req in state.unacked():
                    await call.write(req)
                while True:
                    while state.window_open():
                        if not state.has_buffered():
                            if state.source_done:
                                break
                            try:
                                state.feed(await source.__anext__() if is_async else next(source))
                            except (StopIteration, StopAsyncIteration):
                                state.source_done = True
                            continue
                        await call.write(state.take())
                    if state.finished():
                        await call.done_writing()
                        while True:
                            resp = await call.read()
                            if resp is grpc.aio.EOF:
                                break
                            state.on_response(resp)
                        await _raise_status(call)
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
        policy: Optional[MiningPolicy] = None,
        include_vectors: bool = False,
        **policy_kwargs: Any,
    ) -> MineResult:
        """See :meth:`hardneg.Client.mine`."""
        pol = MiningPolicy.from_kwargs(policy, **policy_kwargs)
        anchors = codec.build_anchors(
            anchor_ids,
            anchor_vectors,
            positive_ids=positive_ids,
            positive_vectors=positive_vectors,
            exclude_ids=exclude_ids,
            groups=groups,
            keys=keys,
        )
        pmsg = codec.policy_message(pol)
        parts = []
        for part in codec.chunks(anchors, codec.MAX_ANCHORS):
            req = pb.MineRequest(collection=collection, anchors=part, policy=pmsg, include_vectors=include_vectors)
            parts.append(codec.mine_result(await self._call("Mine", req), pol.num_negatives, include_vectors))
        if not parts:
            return codec.mine_result(pb.MineResponse(), pol.num_negatives, include_vectors)
        return MineResult.concatenate(parts, pol.num_negatives)

    async def report_false_negatives(self, collection: str, reports: codec.Reports) -> int:
        """See :meth:`hardneg.Client.report_false_negatives`."""
        total = 0
        for r in codec.report_requests(collection, reports):
            total += (await self._call("ReportFalseNegatives", r)).recorded
        return total

    async def snapshot(self, collection: str) -> SnapshotInfo:
        resp = await self._call("SnapshotCollection", pb.SnapshotCollectionRequest(name=collection))
        return SnapshotInfo(sequence=resp.sequence, bytes=resp.bytes)


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
