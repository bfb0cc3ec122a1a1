"""The client core shared by :class:`hardneg.Client` and :class:`hardneg.AsyncClient`.

Every API operation is written once here, as a generator that does no I/O itself: it
builds and validates the requests, yields a :class:`Rpc` for each call to make, receives
the response (or has the call's :class:`~hardneg.errors.HardnegError` thrown into it),
and returns the decoded result. The two front classes only drive these generators: the
synchronous client with blocking calls, the asyncio client with awaited ones (see
:func:`run_sync` and :func:`run_async`). So both clients build, validate and decode in
exactly the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generator, Iterable, Optional, TypeVar

import grpc

from hardneg import _codec as codec
from hardneg import errors
from hardneg._channel import ChannelConfig, TLSArg
from hardneg._ingest import IngestState
from hardneg.types import (
    CollectionInfo,
    DeleteResult,
    IndexParams,
    Items,
    MineResult,
    MiningPolicy,
    SnapshotInfo,
    UpsertResult,
)
from hardneg.v1 import hardneg_pb2 as pb

T = TypeVar("T")


@dataclass(frozen=True)
class Rpc:
    """One unary call for the front class to make: ``stub.<method>(request, timeout=...)``."""

    method: str
    request: Any
    timeout: Optional[float]


# An operation yields Rpc steps, is sent their responses and returns its result.
Op = Generator[Rpc, Any, T]


class Core:
    """Settings of a client and the operations of the hardneg API (no I/O).

    Plain data apart from the operations, so a client pickles with its core.
    """

    def __init__(
        self,
        target: str,
        *,
        token: Optional[str],
        tls: TLSArg,
        timeout: Optional[float],
        max_message_bytes: int,
        max_batch_bytes: int,
        options: Iterable[tuple[str, Any]],
    ) -> None:
        if max_batch_bytes > max_message_bytes - 1024 * 1024:
            max_batch_bytes = max(max_message_bytes - 1024 * 1024, 1024)
        self.config = ChannelConfig(
            target=target, token=token, tls=tls, max_message_bytes=max_message_bytes, extra_options=tuple(options)
        )
        self.timeout = timeout
        self.max_batch_bytes = max_batch_bytes

    # --- one call ----------------------------------------------------------------------

    def unary(self, method: str, request: Any) -> Op[Any]:
        """Makes one call under the client's deadline and returns its response."""
        return (yield Rpc(method, request, self.timeout))

    # --- collections -------------------------------------------------------------------

    def create_collection(
        self, name: str, dim: int, metric: str, index_params: Optional[IndexParams], exist_ok: bool
    ) -> Op[CollectionInfo]:
        req = codec.create_collection_request(name, dim, metric, index_params)
        try:
            resp = yield from self.unary("CreateCollection", req)
        except errors.AlreadyExists as exists:
            if not exist_ok:
                raise
            code = exists.code
        else:
            return codec.collection_info(resp.collection)
        info = yield from self.get_collection(name)
        diffs = codec.definition_differences(info, req)
        if diffs:
            raise errors.AlreadyExists(
                f"collection {name!r} already exists with a different definition: {', '.join(diffs)}", code=code
            )
        return info

    def get_collection(self, name: str) -> Op[CollectionInfo]:
        resp = yield from self.unary("GetCollection", pb.GetCollectionRequest(name=name))
        return codec.collection_info(resp.collection)

    def list_collections(self) -> Op[list[CollectionInfo]]:
        resp = yield from self.unary("ListCollections", pb.ListCollectionsRequest())
        return [codec.collection_info(c) for c in resp.collections]

    def delete_collection(self, name: str, missing_ok: bool) -> Op[None]:
        try:
            yield from self.unary("DeleteCollection", pb.DeleteCollectionRequest(name=name))
        except errors.NotFound:
            if not missing_ok:
                raise

    # --- writes ------------------------------------------------------------------------

    def upsert(self, collection: str, ids: Any, vectors: Any, groups: codec.Groups, versions: Any) -> Op[UpsertResult]:
        items = codec.prepare_items(ids, vectors, groups, versions)
        inserted = replaced = seq = n = 0
        for start, end in items.slices(codec.MAX_BATCH_ITEMS, self.max_batch_bytes):
            req = pb.UpsertRequest(collection=collection, items=items.batch(start, end))
            resp = yield from self.unary("Upsert", req)
            inserted += resp.inserted
            replaced += resp.replaced
            seq = resp.sequence
            n += 1
        return UpsertResult(inserted=inserted, replaced=replaced, sequence=seq, batches=n)

    def delete(self, collection: str, ids: Any) -> Op[DeleteResult]:
        id_list = codec._as_id_list(ids)
        deleted = not_found = seq = n = 0
        for part in codec.chunks(id_list, codec.MAX_BATCH_ITEMS):
            resp = yield from self.unary("Delete", pb.DeleteRequest(collection=collection, ids=part))
            deleted += resp.deleted
            not_found += resp.not_found
            seq = resp.sequence
            n += 1
        return DeleteResult(deleted=deleted, not_found=not_found, sequence=seq, batches=n)

    def get_items(self, collection: str, ids: Any, include_vectors: bool) -> Op[Items]:
        id_list = codec._as_id_list(ids)
        responses = []
        for part in codec.chunks(id_list, codec.MAX_BATCH_ITEMS):
            req = pb.GetItemsRequest(collection=collection, ids=part, include_vectors=include_vectors)
            responses.append((yield from self.unary("GetItems", req)))
        return codec.items_from_batches(responses, include_vectors)

    def ingest_state(
        self,
        collection: str,
        *,
        writer_id: Optional[str],
        first_sequence: int,
        window: int,
        progress: Any,
        total: Optional[int],
        reconnect_timeout: float,
    ) -> IngestState:
        """The bookkeeping of one ``ingest`` (the stream itself is the front's I/O)."""
        return IngestState(
            collection,
            writer_id=writer_id,
            first_sequence=first_sequence,
            window=window,
            max_batch_bytes=self.max_batch_bytes,
            progress=progress,
            total=total,
            reconnect_timeout=reconnect_timeout,
        )

    # --- mining ------------------------------------------------------------------------

    def mine(
        self,
        collection: str,
        anchor_ids: Any,
        anchor_vectors: Any,
        *,
        positive_ids: Any,
        positive_vectors: Any,
        exclude_ids: Any,
        groups: Any,
        keys: Any,
        policy: Optional[MiningPolicy],
        include_vectors: bool,
        policy_kwargs: dict[str, Any],
    ) -> Op[MineResult]:
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
            resp = yield from self.unary("Mine", req)
            parts.append(codec.mine_result(resp, pol.num_negatives, include_vectors))
        if not parts:
            return codec.mine_result(pb.MineResponse(), pol.num_negatives, include_vectors)
        return MineResult.concatenate(parts, pol.num_negatives)

    def report_false_negatives(self, collection: str, reports: codec.Reports) -> Op[int]:
        total = 0
        for req in codec.report_requests(collection, reports):
            total += (yield from self.unary("ReportFalseNegatives", req)).recorded
        return total

    def snapshot(self, collection: str) -> Op[SnapshotInfo]:
        resp = yield from self.unary("SnapshotCollection", pb.SnapshotCollectionRequest(name=collection))
        return SnapshotInfo(sequence=resp.sequence, bytes=resp.bytes)


class Front:
    """What the two front classes share beyond the operations: their settings."""

    _core: Core

    @property
    def target(self) -> str:
        return self._core.config.target

    @property
    def timeout(self) -> Optional[float]:
        """Default deadline in seconds of unary calls (``None``: no deadline)."""
        return self._core.timeout

    @timeout.setter
    def timeout(self, value: Optional[float]) -> None:
        self._core.timeout = value

    @property
    def max_batch_bytes(self) -> int:
        """Writes are split into batches of at most this many bytes."""
        return self._core.max_batch_bytes

    @max_batch_bytes.setter
    def max_batch_bytes(self, value: int) -> None:
        self._core.max_batch_bytes = value

    def __repr__(self) -> str:
        return f"hardneg.{type(self).__name__}({self._core.config.target!r})"


# --- drivers -------------------------------------------------------------------------------


def run_sync(op: Op[T], stub: Any, metadata: Any) -> T:
    """Runs an operation with blocking calls on a ``grpc`` stub."""
    try:
        step = next(op)
        while True:
            try:
                resp = getattr(stub, step.method)(step.request, timeout=step.timeout, metadata=metadata)
            except grpc.RpcError as e:
                err = errors.from_rpc_error(e)
            else:
                step = op.send(resp)
                continue
            step = op.throw(err)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def run_async(op: Op[T], stub: Any, metadata: Any) -> T:
    """Runs an operation with awaited calls on a ``grpc.aio`` stub."""
    try:
        step = next(op)
        while True:
            try:
                resp = await getattr(stub, step.method)(step.request, timeout=step.timeout, metadata=metadata)
            except grpc.RpcError as e:
                err = errors.from_rpc_error(e)
            else:
                step = op.send(resp)
                continue
            step = op.throw(err)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
