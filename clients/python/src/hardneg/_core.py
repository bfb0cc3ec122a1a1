"""The client core shared by :class:`hardneg.Client` and :class:`hardneg.AsyncClient`.

Every API operation is written once here, as a generator that does no I/O itself: it
builds and validates the requests, yields a :class:`Rpc` for each call to make, receives
the response (or has the call's :class:`~hardneg.errors.HardnegError` thrown into it),
and returns the decoded result. The two front classes only drive these generators: the
synchronous client with blocking calls, the asyncio client with awaited ones (see
:func:`run_sync` and :func:`run_async`). So both clients build, validate and decode in
exactly the same way, and retry in the same way (:meth:`Core.unary`): a retry is a
:class:`Sleep` step followed by the same :class:`Rpc` again.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import random
import re
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Generator, Iterable, Optional, TypeVar, Union

import grpc
import numpy as np

from hardneg import _backup
from hardneg import _codec as codec
from hardneg import errors
from hardneg._channel import ChannelConfig, TLSArg, with_default_port
from hardneg._ingest import IngestState
from hardneg.types import (
    CollectionInfo,
    DeleteResult,
    IndexParams,
    Items,
    MineResult,
    RefreshQueue,
    MiningPolicy,
    RetryPolicy,
    SnapshotFile,
    SnapshotInfo,
    UpsertResult,
)
from hardneg.v1 import hardneg_pb2 as pb

T = TypeVar("T")

log = logging.getLogger("hardneg")
#: The notice that a call waits for a server recovering its storage (the CLI prints it).
recovery_log = logging.getLogger("hardneg.recovery")

#: Calls that may be sent again after a failure: reads, and Upsert, which is idempotent
#: by id (a retried batch that had been applied replaces its items with themselves).
IDEMPOTENT = frozenset(
    {"Mine", "GetCollection", "ListCollections", "GetItems", "GetCalibration", "Upsert", "ListSnapshots", "RefreshQueue"}
)


@dataclass(frozen=True)
class Rpc:
    """One unary call for the front class to make: ``stub.<method>(request, timeout=...)``."""

    method: str
    request: Any
    timeout: Optional[float]


@dataclass(frozen=True)
class Sleep:
    """A pause of ``seconds`` for the front class to wait before the next step."""

    seconds: float


# An operation yields Rpc and Sleep steps, is sent the responses and returns its result.
Op = Generator[Union[Rpc, Sleep], Any, T]


def even_parts(lo: int, hi: int, most: int) -> list[tuple[int, int]]:
    """[lo, hi) cut into the fewest parts of at most ``most`` items, of sizes that differ
    by at most one: a short last part would be mined alone (a request of fewer than 8
    anchors is not scored by the exact passes that a larger one may get)."""
    n = hi - lo
    k = max(1, -(-n // most))
    return [(lo + i * n // k, lo + (i + 1) * n // k) for i in range(k)]


def retry_delay(
    policy: Optional[RetryPolicy], attempts: int, err: errors.HardnegError, rand: float, waiting: bool = False,
) -> Optional[float]:
    """Seconds to wait before attempt ``attempts + 1`` after ``err``, or ``None`` when the
    error is final. ``rand`` is a uniform random number in [0, 1). ``waiting``: ``err``
    says the server is recovering and the policy's ``recovery_wait`` is not over, so it
    is retried whatever the attempt count."""
    if policy is None or (attempts >= policy.max_attempts and not waiting):
        return None
    if isinstance(err, errors.ResourceExhausted):
        if err.retry_after is None:  # a size limit, not a "come back later"
            return None
    elif not isinstance(err, errors.Unavailable) or tls_failure(err.message):
        return None  # a TLS mismatch fails the same way on every attempt
    if err.retry_after is not None:
        return err.retry_after * (1 + policy.jitter * rand)
    backoff = min(policy.initial_backoff * policy.multiplier ** (attempts - 1), policy.max_backoff)
    return backoff * (1 - policy.jitter * rand)


# What gRPC says when no connection to the target could be made at all.
_NOT_CONNECTED = re.compile(r"failed to connect to all addresses|Connection refused|DNS resolution failed|"
                            r"Name or service not known|No address associated")

# TLS handshakes that fail the same way every time, with what to do about each.
_TLS_FAILURES = (
    (re.compile(r"WRONG_VERSION_NUMBER"),
     "the server does not speak TLS there: connect in plaintext (no tls=; the CLI without --tls)"),
    (re.compile(r"certificate has expired|certificate is not yet valid"),
     "the server's certificate is outside its validity period (expired, or not valid yet): the server needs a current "
     "one (its -tls-cert-file), or this machine's clock is wrong"),
    (re.compile(r"CERTIFICATE_VERIFY_FAILED"),
     "the server's certificate is not trusted: give the CA that signed it (TLSConfig(ca_file=...); the CLI's --tls-ca)"),
    (re.compile(r"Failed to create security handshaker|KEY_VALUES_MISMATCH"),
     "this client's own TLS settings could not be used: check that the client certificate and key "
     "(TLSConfig(cert_file=..., key_file=...); the CLI's --tls-cert and --tls-key) are PEM files that belong together"),
    (re.compile(r"Unwrap failed|TSI_DATA_CORRUPTED"),
     "the server ended the connection right after the handshake, as one that requires client certificates (mutual "
     "TLS) does for a client without one it trusts: give a certificate signed by its CA (TLSConfig(cert_file=..., "
     "key_file=...); the CLI's --tls-cert and --tls-key)"),
    (re.compile(r"Hostname Verification Check failed|is not in peer certificate"),
     "the server's certificate does not name the address connected to: give the name it carries "
     "(TLSConfig(server_name=...); the CLI's --tls-server-name)"),
)


def tls_failure(message: str) -> Optional[str]:
    """What to do about a TLS handshake failure gRPC reported in message, or None."""
    for pattern, hint in _TLS_FAILURES:
        if pattern.search(message):
            return hint
    return None


MIN_MESSAGE_BYTES = 64 * 1024
"""The smallest ``max_message_bytes`` a client takes."""


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
        retry: Optional[RetryPolicy],
    ) -> None:
        if not isinstance(target, str):
            raise TypeError(f"target must be a string host:port, got {type(target).__name__}")
        scheme, sep, rest = target.partition("://")
        if sep and scheme.lower() in ("http", "https", "grpc", "grpcs"):
            # gRPC would try to resolve "http://host:port" as a host name and fail on the
            # first call with "Misformatted domain name".
            hint = "tls=True" if scheme.lower() in ("https", "grpcs") else "no tls argument (plaintext)"
            raise ValueError(f"target {target!r}: a gRPC target is host:port without a URL scheme; "
                             f"use {rest.rstrip('/')!r} with {hint}")
        target = with_default_port(target)
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))):
            raise TypeError(f"timeout must be a number of seconds above 0, or None; got {timeout!r}")
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be a number of seconds above 0, or None; got {timeout!r}")
        if isinstance(max_message_bytes, bool) or not isinstance(max_message_bytes, int):
            raise TypeError(f"max_message_bytes must be an integer, got {type(max_message_bytes).__name__}")
        if max_message_bytes < MIN_MESSAGE_BYTES:
            raise ValueError(f"max_message_bytes must be at least {MIN_MESSAGE_BYTES:,} (a server sends and takes at "
                             f"least 1 MiB), got {max_message_bytes:,}")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise TypeError(f"retry must be a hardneg.RetryPolicy or None, got {type(retry).__name__}")
        # Room for the request's other fields: 1 MiB, or an eighth of a small limit (a
        # server at its 1 MiB minimum still gets batches of many items, not one each).
        headroom = min(1024 * 1024, max_message_bytes // 8)
        if max_batch_bytes > max_message_bytes - headroom:
            max_batch_bytes = max(max_message_bytes - headroom, 1024)
        self.config = ChannelConfig(
            target=target, token=token, tls=tls, max_message_bytes=max_message_bytes, extra_options=tuple(options)
        )
        self.timeout = timeout
        self.max_batch_bytes = max_batch_bytes
        self.retry = retry
        self.retries = 0
        # Mine sends its anchors in MineRequest.anchor_columns until a server refuses them
        # for predating the field; then in rows.
        self.anchor_columns = True
        # The largest Mine request sent: the message limit, lowered to a server's own
        # when it refuses a larger request unread.
        self.max_request_bytes = max_message_bytes
        self._lock = threading.Lock()  # guards retries (a sync client is shared by threads)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # --- one call ----------------------------------------------------------------------

    def name_unreachable(self, err: errors.HardnegError, attempts: int = 1) -> errors.HardnegError:
        """Rewrites the message of an UNAVAILABLE that says no connection was made to
        name the server's address (gRPC's own names none); returns err."""
        if not isinstance(err, errors.Unavailable) or err.message.startswith(("no server answered at ", "TLS handshake with ")):
            return err
        hint = tls_failure(err.message)
        if hint is not None:
            err.message = f"TLS handshake with {self.config.target} failed: {hint}: {err.message}"
        elif _NOT_CONNECTED.search(err.message):
            took = f" after {attempts} attempts" if attempts > 1 else ""
            plain = self.config.tls is None or self.config.tls is False
            also = ""
            if "Socket closed" in err.message:  # the server hung up during the handshake
                also = (" If it serves TLS, connect with tls=True or a TLSConfig (the CLI's --tls)" if plain else
                        " If it requires client certificates (mutual TLS), give one signed by its CA "
                        "(TLSConfig(cert_file=..., key_file=...); the CLI's --tls-cert and --tls-key)")
            err.message = f"no server answered at {self.config.target}{took} (is miner-server running there?{also}): {err.message}"
        return err

    def stream_error(self, e: grpc.RpcError) -> errors.HardnegError:
        """The error to raise for a stream that failed with e."""
        return self.name_unreachable(errors.from_rpc_error(e))

    def unary(self, method: str, request: Any) -> Op[Any]:
        """Makes one call and returns its response, retrying an idempotent method as
        :class:`~hardneg.RetryPolicy` says, and any method while the server answers that
        it is recovering its storage (it refuses such calls before running them, so
        nothing was applied); the client's ``timeout`` bounds the whole."""
        idempotent = method in IDEMPOTENT
        policy = self.retry
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        attempts = 0
        previous: Optional[errors.HardnegError] = None  # what the attempt before failed with
        recovering_since: Optional[float] = None  # the first answer that the server recovers
        while True:
            remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            attempts += 1
            try:
                return (yield Rpc(method, request, remaining))
            except errors.HardnegError as caught:
                err = caught
                if isinstance(err, errors.Cancelled) and deadline is not None and remaining is not None \
                        and time.monotonic() >= deadline - min(0.01, remaining / 2):
                    # The server's copy of the deadline fired first and reset the stream
                    # (CANCELLED): to the caller it is the deadline that passed.
                    timed_out = errors.DeadlineExceeded(f"deadline exceeded ({err.message})",
                                                        code=grpc.StatusCode.DEADLINE_EXCEEDED, details=err.details)
                    timed_out.__cause__ = err
                    err = timed_out
                waiting, left = False, 0.0
                if policy is not None and isinstance(err, errors.Unavailable) and err.recovering:
                    if recovering_since is None:
                        recovering_since = time.monotonic()
                    left = policy.recovery_wait - (time.monotonic() - recovering_since)
                    waiting = left > 0
                delay = retry_delay(policy, attempts, err, random.random(), waiting) if idempotent or waiting else None
                if delay is not None and deadline is not None and time.monotonic() + delay >= deadline:
                    delay = None  # the next attempt would start after the deadline
                if delay is None:
                    err.attempts = attempts
                    self.name_unreachable(err, attempts)
                    if previous is not None and err.__cause__ is None:
                        # e.g. DEADLINE_EXCEEDED cutting a retry short: the refusal that
                        # caused the retries stays visible as the cause
                        raise err from previous
                    if err is not caught:
                        raise err from caught
                    raise
                previous = err
                with self._lock:
                    self.retries += 1
                if waiting and isinstance(err, errors.Unavailable) and recovering_since is not None:
                    if deadline is not None:
                        left = min(left, deadline - time.monotonic())
                    recovery_log.info(
                        "%s: the server is recovering its storage%s; waiting (%.0f s so far, at most %.0f s more)",
                        method, err.recovery_note(), time.monotonic() - recovering_since, max(left, 0.0),
                    )
                else:
                    log.info(
                        "retrying %s in %.3f s (attempt %d failed: %s)", method, delay, attempts, err
                    )
            yield Sleep(delay)

    # --- collections -------------------------------------------------------------------

    def create_collection(
        self, name: str, dim: int, metric: str, index_params: Optional[IndexParams], exist_ok: bool,
        ephemeral: bool = False,
    ) -> Op[CollectionInfo]:
        codec.check_name(name, "name")
        req = codec.create_collection_request(name, dim, metric, index_params, ephemeral)
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
        codec.check_name(name, "name")
        resp = yield from self.unary("GetCollection", pb.GetCollectionRequest(name=name))
        return codec.collection_info(resp.collection)

    def restore_blocked(self, name: str) -> Op[bool]:
        """Whether a restore under ``name`` would be refused: a collection of that name
        exists and holds items, or is ephemeral (a restore never replaces one)."""
        try:
            info = yield from self.get_collection(name)
        except errors.NotFound:
            return False
        return info.stats.item_count > 0 or info.ephemeral

    def list_collections(self) -> Op[list[CollectionInfo]]:
        resp = yield from self.unary("ListCollections", pb.ListCollectionsRequest())
        return [codec.collection_info(c) for c in resp.collections]

    def delete_collection(self, name: str, missing_ok: bool) -> Op[None]:
        codec.check_name(name, "name")
        try:
            yield from self.unary("DeleteCollection", pb.DeleteCollectionRequest(name=name))
        except errors.NotFound:
            if not missing_ok:
                raise

    # --- writes ------------------------------------------------------------------------

    def upsert(self, collection: str, ids: Any, vectors: Any, groups: codec.Groups, versions: Any) -> Op[UpsertResult]:
        codec.check_name(collection, "collection")
        try:
            items = codec.prepare_items(ids, vectors, groups, versions)
        except errors.InvalidArgument as err:
            err.applied_rows = 0  # type: ignore[attr-defined]  # refused before sending
            raise
        inserted = replaced = seq = n = 0
        # The byte size these parts were cut with: another call on this client may lower
        # max_batch_bytes meanwhile (see the size refusal below).
        batch_bytes = self.max_batch_bytes
        parts = list(items.slices(codec.MAX_BATCH_ITEMS, batch_bytes))
        split_checked = False

        def check_split() -> Op[None]:
            # A split upsert applies its batches one by one: refuse here what the server
            # would refuse in a later one, so that it applies all or none.
            try:
                zero, large = codec.check_split_items(items)
                if zero or large:  # refused or not by the collection's metric
                    info = yield from self.get_collection(collection)
                    codec.check_split_norms(items, zero, large, info.metric)
            except errors.InvalidArgument as err:
                err.applied_rows = 0  # type: ignore[attr-defined]
                raise

        try:
            codec.check_item_values(items.ids, items.vectors)
        except errors.InvalidArgument as err:
            err.applied_rows = 0  # type: ignore[attr-defined]
            raise
        if len(parts) > 1:
            yield from check_split()
            split_checked = True
        i = 0
        while i < len(parts):
            start, end = parts[i]
            # Every batch but the last is acknowledged once written, not fsynced; the last
            # one's fsync makes the whole upload durable (UpsertRequest.defer_durability).
            req = pb.UpsertRequest(collection=collection, items=items.batch(start, end),
                                   defer_durability=i < len(parts) - 1)
            try:
                resp = yield from self.unary("Upsert", req)
            except errors.InvalidArgument as err:
                if len(parts) == 1:
                    err.applied_rows = 0  # type: ignore[attr-defined]
                    raise
                raise codec.in_split_upsert(err, start, end, i, len(parts)) from err
            except errors.ResourceExhausted as err:
                # A server whose -grpc-max-msg-bytes is below this client's batches
                # refuses the message unread: take its limit from then on and send the
                # rest again in batches that fit.
                limit = errors._message_limit(err)
                smaller = None if limit is None else codec.batch_bytes_under(limit)
                if smaller is None or smaller >= batch_bytes or end - start == 1:
                    err.applied_rows = start  # type: ignore[attr-defined]
                    if start:
                        err.message += f" (batch {i + 1} of {len(parts)}, rows {start:,}–{end - 1:,}; the {start:,} rows before it were applied)"
                    raise
                log.info("the server takes messages of at most %s bytes: upsert batches of at most %s bytes from now on",
                         f"{limit:,}", f"{smaller:,}")
                batch_bytes = smaller
                self.max_batch_bytes = min(self.max_batch_bytes, smaller)
                parts = parts[:i] + list(items.slices(codec.MAX_BATCH_ITEMS, smaller, start))
                if len(parts) > 1 and not split_checked:
                    yield from check_split()
                    split_checked = True
                continue
            inserted += resp.inserted
            replaced += resp.replaced
            seq = resp.sequence
            n += 1
            i += 1
        return UpsertResult(inserted=inserted, replaced=replaced, sequence=seq, batches=n)

    def delete(self, collection: str, ids: Any) -> Op[DeleteResult]:
        codec.check_name(collection, "collection")
        id_list = codec._as_id_list(ids)
        todo = list(codec.id_chunks(id_list, codec.MAX_BATCH_ITEMS, self.max_batch_bytes))
        if len(todo) > 1:  # split: all requests apply or none, for the ids
            codec.check_ids(id_list, "ids", unique=True)
        deleted = not_found = seq = n = 0
        while todo:
            part = todo.pop(0)
            try:
                resp = yield from self.unary("Delete", pb.DeleteRequest(collection=collection, ids=part))
            except errors.ResourceExhausted as err:
                # A server whose -grpc-max-msg-bytes is below this client's refuses the
                # request unread: take its limit from then on and send the ids again in
                # requests that fit.
                limit = errors._message_limit(err)
                smaller = None if limit is None else codec.batch_bytes_under(limit)
                if smaller is None or smaller >= self.max_batch_bytes or len(part) == 1:
                    raise
                if n == 0 and not todo:
                    codec.check_ids(id_list, "ids", unique=True)  # split from here on
                self.max_batch_bytes = smaller
                todo[:0] = codec.id_chunks(part, codec.MAX_BATCH_ITEMS, smaller)
                continue
            deleted += resp.deleted
            not_found += resp.not_found
            seq = resp.sequence
            n += 1
        return DeleteResult(deleted=deleted, not_found=not_found, sequence=seq, batches=n)

    def get_items(self, collection: str, ids: Any, include_vectors: bool) -> Op[Items]:
        codec.check_name(collection, "collection")
        if not isinstance(include_vectors, (bool, np.bool_)):
            raise TypeError(f"include_vectors must be True or False, got {include_vectors!r}")
        id_list = codec._as_id_list(ids)
        if len(id_list) > codec.MAX_BATCH_ITEMS:  # split: name a bad id by the caller's row
            codec.check_ids(id_list, "ids")
        responses = []
        todo = list(codec.id_chunks(id_list, codec.MAX_BATCH_ITEMS, self.max_batch_bytes))
        while todo:
            part = todo.pop(0)
            req = pb.GetItemsRequest(collection=collection, ids=part, include_vectors=include_vectors)
            try:
                responses.append((yield from self.unary("GetItems", req)))
            except errors.InvalidArgument as err:
                big = errors._response_too_large(err.details)
                if big is None or len(part) == 1:
                    raise
                # The items (their vectors, long ids) would not fit in one message:
                # ask in as many requests as their size needs, with room.
                size = codec.part_size(len(part), *big)
                todo[:0] = [part[j:j + size] for j in range(0, len(part), size)]
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
        codec.check_name(collection, "collection")
        return IngestState(
            collection,
            writer_id=writer_id,
            first_sequence=first_sequence,
            window=window,
            max_batch_bytes=self.max_batch_bytes,
            progress=progress,
            total=total,
            reconnect_timeout=reconnect_timeout,
            recovery_wait=self.retry.recovery_wait if self.retry is not None else 0.0,
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
        guide_vectors: Any,
        guide_positive_vectors: Any,
        policy: Optional[MiningPolicy],
        include_vectors: bool,
        policy_kwargs: dict[str, Any],
        explain: Union[bool, int] = False,
        anchor_offset: int = 0,
    ) -> Op[MineResult]:
        codec.check_name(collection, "collection")
        anchor_offset = codec.check_anchor_offset(anchor_offset)
        if isinstance(policy, dict):
            policy = MiningPolicy(**policy)
        elif policy is not None and not isinstance(policy, MiningPolicy):
            raise TypeError(f"policy must be a hardneg.MiningPolicy or a dict of its fields, got {type(policy).__name__}")
        if not isinstance(include_vectors, (bool, np.bool_)):
            raise TypeError(f"include_vectors must be True or False, got {include_vectors!r}")
        pol = MiningPolicy.from_kwargs(policy, **policy_kwargs)
        block = codec.AnchorBlock(
            anchor_ids,
            anchor_vectors,
            positive_ids=positive_ids,
            positive_vectors=positive_vectors,
            exclude_ids=exclude_ids,
            groups=groups,
            keys=keys,
            guide_vectors=guide_vectors,
            guide_positive_vectors=guide_positive_vectors,
        )
        pmsg = codec.policy_message(pol)
        synthetic = pol.synthetic is not None
        parts = []
        # Requests of at most MAX_ANCHORS anchors, and, with the negatives' vectors asked
        # for and the dimension known from the anchors' vectors, few enough that those
        # vectors fit in one response message.
        per_request = codec.MAX_ANCHORS
        if include_vectors and block.dim:
            # 64 bytes for the rest of each negative (id, score, rank, …).
            per_request = max(1, min(per_request, self.config.max_message_bytes // (max(pol.num_negatives, 1) * (block.dim * 4 + 64))))
        nparts = -(-len(block) // per_request)
        # One explain limit for every part, set by the largest, so that every anchor of a
        # split call lists as many candidates.
        explain_n = codec.explain_limit(explain, min(len(block), per_request))
        # (first anchor, anchors) of the requests still to send, in order.
        todo = even_parts(0, len(block), per_request)
        i = 0
        while todo:
            lo, hi = todo.pop(0)
            # The anchors in columns, unless this server predates them (or a guide query
            # is missing for some anchors only, which only rows can say).
            columns = self.anchor_columns and block.columnar
            req = pb.MineRequest(collection=collection, policy=pmsg, include_vectors=include_vectors, explain=explain_n, columnar=True,
                                 anchor_offset=anchor_offset + lo)
            if columns:
                req.anchor_columns.CopyFrom(block.columns(lo, hi))
            else:
                req.anchors.extend(block.rows(lo, hi))
            size = req.ByteSize()
            if size > self.max_request_bytes:
                if hi - lo == 1:
                    raise codec.anchor_too_large(size, self.max_request_bytes, lo, len(block))
                # Many anchors, or vectors of many dimensions or many positives: send the
                # anchors in as many requests as the size needs, with room.
                part = codec.part_size(hi - lo, size, self.max_request_bytes)
                split = even_parts(lo, hi, part)
                todo[:0] = split
                nparts += len(split) - 1
                continue
            try:
                resp = yield from self.unary("Mine", req)
            except errors.ResourceExhausted as err:
                # A server whose -grpc-max-msg-bytes is below this client's refuses the
                # request unread: take its limit from then on and send it again in parts.
                limit = errors._message_limit(err)
                if limit is None or limit >= self.max_request_bytes:
                    raise
                log.info("the server takes messages of at most %s bytes: Mine requests of at most that from now on",
                         f"{limit:,}")
                self.max_request_bytes = limit
                todo.insert(0, (lo, hi))
                continue
            except errors.InvalidArgument as err:
                if columns and codec.refused_anchor_columns(err):
                    # A server that predates anchor_columns saw no anchors: send rows,
                    # to it and from now on.
                    self.anchor_columns = False
                    todo.insert(0, (lo, hi))
                    continue
                if columns:
                    err = codec.column_args(err)
                big = errors._response_too_large(err.details)
                if big is not None and hi - lo > 1:
                    # The answer would not fit in one message (long ids, many negatives):
                    # send the anchors in as many requests as its size needs, with room.
                    size = codec.part_size(hi - lo, *big)
                    todo[:0] = [(j, min(j + size, hi)) for j in range(lo, hi, size)]
                    nparts += len(range(lo, hi, size)) - 1
                    continue
                if nparts == 1:
                    raise err from None
                raise codec.in_split_mine(err, lo, hi, i, nparts) from err
            i += 1
            if i == 1:
                for w in resp.warnings:  # the same policy in every part: said once
                    warnings.warn(w, errors.PolicyWarning, stacklevel=4)
            parts.append(codec.mine_result(resp, pol.num_negatives, include_vectors, req.explain > 0, synthetic))
        return MineResult.concatenate(parts, pol.num_negatives)

    def get_calibration(self, collection: str) -> Op[dict[str, dict[str, Any]]]:
        codec.check_name(collection, "collection")
        resp = yield from self.unary("GetCalibration", pb.GetCalibrationRequest(collection=collection))
        return codec.calibration(resp)

    def refresh_queue(self, collection: str, limit: int, target_version: Optional[int]) -> Op[RefreshQueue]:
        codec.check_name(collection, "collection")
        req = codec.refresh_request(collection, limit, target_version)
        resp = yield from self.unary("RefreshQueue", req)
        return codec.refresh_queue(resp)

    def refresh(
        self, collection: str, encode: Callable[[list[str]], Any], version: int, limit: int, target_version: Optional[int]
    ) -> Op[RefreshQueue]:
        """One incremental refresh: the next ``limit`` ids of the refresh queue (items
        below ``target_version``, default ``version``) are re-encoded by
        ``encode(ids) -> (len(ids), dim) vectors`` and upserted with ``version`` and the
        groups they have (items deleted before the encoding or during it are skipped);
        returns the queue that was processed."""
        codec.check_version(version, "version")
        if not callable(encode):
            raise TypeError(f"encode must be a function from a list of ids to vectors, got {type(encode).__name__}")
        q = yield from self.refresh_queue(collection, limit, version if target_version is None else target_version)
        if q.ids:
            # An upsert replaces an item's groups: send back the ones stored. Items
            # deleted since the queue was read are left deleted.
            now = yield from self.get_items(collection, q.ids, False)
            if now.ids:
                vectors = encode(list(now.ids))
                if asyncio.iscoroutine(vectors):
                    vectors.close()
                    raise TypeError("encode must return the vectors, not a coroutine: refresh calls it as a plain function "
                                    "(AsyncClient.refresh too); run async encoding first and pass a function returning its result")
                # Encoding takes a while (a model's forward pass): look again, and write
                # only the items still there, with the groups they have now, so a delete
                # or a change of groups meanwhile stands. (One that lands between this
                # look and the write is not seen.)
                after = yield from self.get_items(collection, list(now.ids), False)
                if list(after.ids) != list(now.ids):
                    vectors = np.asarray(codec.host_array(vectors))
                    if vectors.ndim != 2 or len(vectors) != len(now.ids):
                        raise ValueError(f"encode returned vectors of shape {vectors.shape} for {len(now.ids)} ids")
                    row = {x: i for i, x in enumerate(now.ids)}
                    vectors = vectors[[row[x] for x in after.ids]]
                now = after
                if now.ids:
                    groups = now.groups if any(now.groups) else None
                    yield from self.upsert(collection, now.ids, vectors, groups, np.full(len(now.ids), int(version), dtype=np.int64))
        return q

    def report_loss(self, collection: str, keys: Any, losses: Any, solved: Any) -> Op[np.ndarray]:
        codec.check_name(collection, "collection")
        out: list[float] = []
        for req in codec.report_loss_requests(collection, keys, losses, solved):
            out.extend((yield from self.unary("ReportLoss", req)).hardness)
        return np.asarray(out, dtype=np.float32)

    def build_batches_request(self, collection: str, anchor_ids: Any, positive_ids: Any, **kwargs: Any) -> Any:
        """The BuildBatches request (the stream itself is the front's I/O)."""
        codec.check_name(collection, "collection")
        return codec.build_batches_request(collection, anchor_ids, positive_ids, **kwargs)

    def report_false_negatives(self, collection: str, reports: codec.Reports) -> Op[int]:
        codec.check_name(collection, "collection")
        total = 0
        for req in codec.report_requests(collection, reports):
            total += (yield from self.unary("ReportFalseNegatives", req)).recorded
        return total

    def snapshot(self, collection: str) -> Op[SnapshotInfo]:
        codec.check_name(collection, "collection")
        resp = yield from self.unary("SnapshotCollection", pb.SnapshotCollectionRequest(name=collection))
        return SnapshotInfo(sequence=resp.sequence, bytes=resp.bytes)

    def list_snapshots(self, collection: Optional[str]) -> Op[list[SnapshotFile]]:
        if collection is not None:
            codec.check_name(collection, "collection")
        resp = yield from self.unary("ListSnapshots", pb.ListSnapshotsRequest(collection=collection or ""))
        return _backup.snapshot_files(resp)


class Front:
    """What the two front classes share beyond the operations: their settings."""

    _core: Core

    @property
    def retry(self) -> Optional[RetryPolicy]:
        """How idempotent calls are retried (``None``: never)."""
        return self._core.retry

    @retry.setter
    def retry(self, value: Optional[RetryPolicy]) -> None:
        self._core.retry = value

    @property
    def retries(self) -> int:
        """Calls this client has sent again after a retryable failure, in all."""
        return self._core.retries

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
            if isinstance(step, Sleep):
                time.sleep(step.seconds)
                step = op.send(None)
                continue
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
            if isinstance(step, Sleep):
                await asyncio.sleep(step.seconds)
                step = op.send(None)
                continue
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


def stream_timeout(what: str, timeout: float) -> errors.DeadlineExceeded:
    """The error of a stream that waited longer than the client's timeout for a message."""
    return errors.DeadlineExceeded(
        f"no {what} came from the server within the client's timeout of {timeout:g} s "
        f"(raise it, or set it to None, for work that takes longer)", code=grpc.StatusCode.DEADLINE_EXCEEDED)


def each_within(call: Any, timeout: Optional[float], what: str) -> Generator[Any, None, None]:
    """Yields the messages of a response stream, waiting at most ``timeout`` seconds for
    each (None: as long as it takes); past that it cancels the call and raises
    :class:`~hardneg.errors.DeadlineExceeded` naming ``what`` it waited for. A thread
    reads the stream a message or two ahead, so the time the caller spends between
    messages does not count against the server."""
    if timeout is None:
        yield from call
        return
    q: "queue.Queue[tuple[bool, Any]]" = queue.Queue(maxsize=2)
    stop = threading.Event()

    def put(item: tuple[bool, Any]) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def pump() -> None:
        try:
            for m in call:
                if not put((True, m)):
                    return
            put((False, None))
        except BaseException as e:  # the RpcError that ended the stream, for the caller
            put((False, e))

    threading.Thread(target=pump, name="hardneg-stream", daemon=True).start()
    try:
        while True:
            try:
                more, m = q.get(timeout=timeout)
            except queue.Empty:
                call.cancel()
                raise stream_timeout(what, timeout) from None
            if more:
                yield m
            elif m is None:
                return
            else:
                raise m
    finally:
        stop.set()

