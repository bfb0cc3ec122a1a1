"""Bookkeeping of a streaming ingest, shared by the sync and asyncio clients.

The protocol (UpsertStream): every request carries the writer id and a sequence number
(1, 2, 3, … per writer); every response acknowledges one batch once it is durable and
states the writer's highest durable sequence. A batch whose sequence the server has
already made durable is acknowledged again as a duplicate without being applied.

So the client keeps every sent-but-unacknowledged batch (at most ``window`` of them),
and after a disconnect opens a new stream and resends exactly those, in order: nothing
acknowledged is sent twice, and anything the server applied before the disconnect but
had not yet acknowledged is recognised as a duplicate instead of being applied again.

A duplicate of a batch sent for the first time (a writer id and sequence reused with
other data) was not applied: its items are not counted, and ``next_sequence`` reports
where the writer really stands (the server's ``next_sequence``), never at or below the
durable sequence.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import OrderedDict, deque
from typing import Any, Iterator, Optional

import grpc

from hardneg import errors
from hardneg._codec import (
    DEFAULT_MAX_BATCH_BYTES,
    MAX_BATCH_ITEMS,
    _as_id_list,
    bad_argument,
    batch_bytes_under,
    chunks,
    prepare_items,
)
from hardneg.types import Batch, IngestResult
from hardneg.v1 import hardneg_pb2 as pb

log = logging.getLogger("hardneg")
recovery_log = logging.getLogger("hardneg.recovery")

# Status codes after which the stream is re-opened and the unacknowledged batches resent.
# RESOURCE_EXHAUSTED is too when the server says when to come back (a RetryInfo detail:
# the per-client in-flight limit); without one it is a size limit. Anything else
# (INVALID_ARGUMENT, NOT_FOUND, UNAUTHENTICATED, …) is the caller's problem and is raised
# as a typed error.
RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    }
)


def to_batch(obj: Any) -> Batch:
    """Normalises the accepted batch shapes (Batch, tuple, dict) to a :class:`Batch`."""
    if isinstance(obj, Batch):
        return obj
    if isinstance(obj, dict):
        unknown = set(obj) - {"ids", "vectors", "groups", "versions", "delete_ids", "collection"}
        if unknown:
            raise TypeError(f"unknown batch key(s): {', '.join(sorted(unknown))}")
        return Batch(**obj)
    if isinstance(obj, tuple) and 2 <= len(obj) <= 4:
        return Batch(*obj)
    raise TypeError(
        "a batch must be a hardneg.Batch, a dict, or an (ids, vectors[, groups[, versions]]) tuple; "
        f"got {type(obj).__name__}"
    )


# How the hint IngestState.give_up adds to a batch refused for its size begins (the
# CLI, whose batches are not the Client's, says it its own way).
SIZE_HINT = " (the server takes messages of at most"


class IngestState:
    """Sequence numbers, the in-flight window and the counters of one ingest."""

    def __init__(
        self,
        collection: str,
        *,
        writer_id: Optional[str],
        first_sequence: int,
        window: int,
        max_batch_items: int = MAX_BATCH_ITEMS,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        progress: Any = False,
        total: Optional[int] = None,
        reconnect_timeout: float = 60.0,
        recovery_wait: float = 0.0,
    ) -> None:
        for name, v in (("window", window), ("first_sequence", first_sequence)):
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"{name} must be an integer, got {v!r}")
        if isinstance(reconnect_timeout, bool) or not isinstance(reconnect_timeout, (int, float)):
            raise TypeError(f"reconnect_timeout must be a number of seconds, got {reconnect_timeout!r}")
        if not reconnect_timeout >= 0:
            raise bad_argument("reconnect_timeout", f"must be ≥ 0 seconds, got {reconnect_timeout!r}")
        if window < 1:
            raise bad_argument("window", f"must be at least 1, got {window}")
        if not 1 <= first_sequence < 2**64:
            raise bad_argument("first_sequence", f"must be 1 to 2**64 - 1, got {first_sequence}")
        if writer_id is not None and not isinstance(writer_id, str):
            raise TypeError(f"writer_id must be a string or None, got {type(writer_id).__name__}")
        if writer_id is not None and (not (1 <= len(writer_id.encode()) <= 128) or "\x00" in writer_id):
            raise bad_argument("writer_id", "must be 1 to 128 bytes without NUL")
        self.collection = collection
        self.writer_id = writer_id or f"py-{uuid.uuid4().hex}"
        self.window = window
        self.max_batch_items = min(max_batch_items, MAX_BATCH_ITEMS)
        self.max_batch_bytes = max_batch_bytes
        self.reconnect_timeout = reconnect_timeout
        # How long without progress a stream keeps reconnecting to a server that says
        # it is recovering its storage (the client's RetryPolicy.recovery_wait), when
        # that is longer than reconnect_timeout.
        self.recovery_wait = recovery_wait
        self.next_seq = first_sequence
        # sequence -> (request, items, delete ids); insertion order = sequence order.
        self.pending: "OrderedDict[int, tuple[pb.UpsertStreamRequest, int, int]]" = OrderedDict()
        # Sequences sent again on a new stream: a duplicate of one of them may have been
        # applied by this ingest before the disconnect.
        self._resent: set[int] = set()
        self._buffer: deque[tuple[pb.UpsertStreamRequest, int, int]] = deque()
        self.result = IngestResult(
            writer_id=self.writer_id, durable_sequence=first_sequence - 1, next_sequence=first_sequence
        )
        self.source_done = False
        # What reading the source (or checking a batch it gave) raised: the ingest stops
        # reading, lets every batch already sent be acknowledged, then raises it.
        self.source_error: Optional[BaseException] = None
        # After a stream ended with INTERNAL or UNKNOWN, resend the unacknowledged
        # batches one at a time (see resend_one_by_one).
        self.resend_one_by_one = False
        self._last_progress = time.monotonic()
        self._bar = _progress_bar(progress, total)
        # A batch sent for the first time that the server holds already (a writer id
        # used again from an old sequence) is logged once, as a warning.
        self._warned_dropped = False

    # --- producing requests ------------------------------------------------------------

    def feed(self, user_batch: Any) -> None:
        """Splits one user batch into stream requests (under the item and byte limits)."""
        b = to_batch(user_batch)
        collection = b.collection or self.collection
        out: list[tuple[pb.UpsertStreamRequest, int, int]] = []
        if b.vectors is not None or (b.ids is not None and len(b.ids)):
            items = prepare_items(b.ids, b.vectors, b.groups, b.versions)
            for start, end in items.slices(self.max_batch_items, self.max_batch_bytes):
                req = pb.UpsertStreamRequest(collection=collection, writer_id=self.writer_id)
                req.items.CopyFrom(items.batch(start, end))
                out.append((req, end - start, 0))
        deletes = _as_id_list(b.delete_ids, "delete_ids") if b.delete_ids is not None and len(b.delete_ids) else []
        for part in chunks(deletes, self.max_batch_items):
            # Deletes apply after the upserts of their request: they ride on the last
            # upsert request when it has room, else on requests of their own.
            if out and not out[-1][0].delete_ids and len(out[-1][0].items.ids) + len(part) <= self.max_batch_items:
                req, n_items, _ = out[-1]
                req.delete_ids.extend(part)
                out[-1] = (req, n_items, len(part))
            else:
                req = pb.UpsertStreamRequest(collection=collection, writer_id=self.writer_id, delete_ids=part)
                out.append((req, 0, len(part)))
        self._buffer.extend(out)

    def next_from(self, source: Iterator[Any]) -> None:
        """Feeds the next batch of a sync source: its end, or an error it raises, ends
        the reading (the error is kept for the end)."""
        try:
            batch = next(source)
        except StopIteration:
            self.source_done = True
            return
        except Exception as e:  # noqa: BLE001 - any error of the caller's source
            self.fail_source(e)
            return
        self.add(batch)

    def add(self, user_batch: Any) -> None:
        """``feed``, where the client's refusal of the batch ends the reading like an
        error of the source."""
        try:
            self.feed(user_batch)
        except Exception as e:  # noqa: BLE001 - any check of the caller's batch
            self.fail_source(e)

    def fail_source(self, err: BaseException) -> None:
        self.source_error = err
        self.source_done = True

    def done(self) -> IngestResult:
        """The result once the stream finished: raises the source's error, with
        ``ingest_result`` (every batch sent before it is acknowledged by then), if
        reading the source failed."""
        if self.source_error is not None:
            err = self.source_error
            err.ingest_result = self.result  # type: ignore[attr-defined]
            raise err
        return self.result

    def has_buffered(self) -> bool:
        return bool(self._buffer)

    def window_open(self) -> bool:
        return len(self.pending) < self.window

    def take(self) -> pb.UpsertStreamRequest:
        """Assigns the next sequence to a buffered request and marks it in flight."""
        req, n_items, n_del = self._buffer.popleft()
        req.sequence = self.next_seq
        self.pending[self.next_seq] = (req, n_items, n_del)
        self.next_seq += 1
        return req

    def unacked(self) -> list[pb.UpsertStreamRequest]:
        """The in-flight requests, in sequence order, to resend on a new stream."""
        return [req for req, _, _ in self.pending.values()]

    def finished(self) -> bool:
        return self.source_done and not self._buffer and not self.pending

    # --- consuming acknowledgements ----------------------------------------------------

    def on_response(self, resp: pb.UpsertStreamResponse) -> None:
        if resp.writer_id and resp.writer_id != self.writer_id:
            raise errors.HardnegError(
                f"acknowledgement for writer {resp.writer_id!r} on the stream of writer {self.writer_id!r}"
            )
        if resp.duplicate:
            self.result.duplicates += 1
        acked = [resp.sequence] + [s for s in self.pending if s <= resp.durable_sequence]
        for seq in acked:
            entry = self.pending.pop(seq, None)
            if entry is None:
                continue
            _, n_items, n_del = entry
            self.result.batches += 1
            # Applied by this ingest: acknowledged as new, or resent after a disconnect
            # (then a duplicate means it was applied before). A batch sent once and
            # found at or below the writer's last sequence was dropped. A server that
            # does not report next_sequence cannot tell the two apart: count it.
            if (
                not resp.next_sequence
                or (seq == resp.sequence and not resp.duplicate)
                or seq in self._resent
            ):
                self.result.items += n_items
                self.result.deleted_ids += n_del
            elif not self._warned_dropped:
                self._warned_dropped = True
                log.warning(
                    "writer %r: batch %d (%d items) was not applied: the server already holds batches of this "
                    "writer up to sequence %d. A writer id used again must continue with first_sequence=%d; "
                    "without writer_id each ingest gets a new one (counted in IngestResult.duplicates)",
                    self.writer_id, seq, n_items, resp.next_sequence - 1, resp.next_sequence,
                )
            self._resent.discard(seq)
            if self._bar is not None:
                self._bar.update(n_items)
        self.result.durable_sequence = max(self.result.durable_sequence, resp.durable_sequence, resp.sequence)
        # Only acknowledgements move it: after a failure it is the first batch to resend.
        self.result.next_sequence = max(
            self.result.next_sequence, resp.next_sequence, self.result.durable_sequence + 1
        )
        self._last_progress = time.monotonic()

    # --- reconnects --------------------------------------------------------------------

    def should_retry(self, err: BaseException) -> bool:
        """Whether a stream failure is transient and the reconnect budget remains."""
        if isinstance(err, grpc.RpcError):
            code = err.code() if hasattr(err, "code") else None
            if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                if _retry_after(err) is None:
                    return False
            elif code not in RETRYABLE:
                return False
            if code == grpc.StatusCode.UNAVAILABLE:
                e = errors.from_rpc_error(err)
                if isinstance(e, errors.Unavailable) and e.recovering:
                    budget = max(self.reconnect_timeout, self.recovery_wait)
                    waited = time.monotonic() - self._last_progress
                    if waited < budget:
                        recovery_log.info(
                            "UpsertStream: the server is recovering its storage%s; waiting (%.0f s without an "
                            "acknowledgement, at most %.0f s more)", e.recovery_note(), waited, budget - waited,
                        )
                    return waited < budget
        return time.monotonic() - self._last_progress < self.reconnect_timeout

    def on_reconnect(self, err: Optional[BaseException] = None) -> None:
        """Counts a reconnect. After INTERNAL or UNKNOWN the next stream resends its
        batches one at a time, each after the previous one's acknowledgement: grpcio's
        asyncio stream reports a write that races the server's refusal of an earlier
        batch as INTERNAL ("Internal error from Core") and loses the refusal, and with
        nothing in flight behind a refused batch its refusal is read as sent."""
        self.result.reconnects += 1
        self._resent.update(self.pending)
        code = err.code() if isinstance(err, grpc.RpcError) and hasattr(err, "code") else None
        self.resend_one_by_one = code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)

    def backoff(self, attempt: int, err: Optional[BaseException] = None) -> float:
        """Seconds to wait before re-opening the stream: doubling from 50 ms to 2 s, and
        never less than the delay the server asked for."""
        wait = min(0.05 * (2 ** min(attempt, 6)), 2.0)
        after = _retry_after(err) if isinstance(err, grpc.RpcError) else None
        return max(wait, after or 0.0)

    def give_up(self, err: BaseException) -> errors.HardnegError:
        """The error an ingest ends with. Its ``ingest_result`` counts what was
        acknowledged; its ``next_sequence`` is where to resume the writer: the first
        batch not acknowledged (resent, one applied before a disconnect is a duplicate),
        or after a sequence gap the server's next sequence for the writer."""
        if isinstance(err, grpc.RpcError):
            e = errors.from_rpc_error(err)
        else:
            e = errors.Unavailable(f"upsert stream closed early: {err}")
        if self.pending and isinstance(e, errors.InvalidArgument):
            # Batches are applied in order: the refused one is the first in flight.
            seq = next(iter(self.pending))
            e.message += f" (in the batch with sequence {seq}; sequences up to {self.result.durable_sequence} are durable)"
            e.sequence = seq  # type: ignore[attr-defined]
        limit = errors._message_limit(e)
        if limit is not None and limit < self.max_batch_bytes:
            # A server started with a smaller -grpc-max-msg-bytes refused a batch unread.
            e.message += (f"{SIZE_HINT} {limit:,} bytes and this client sends batches of up to "
                          f"{self.max_batch_bytes:,}: give the client max_batch_bytes={batch_bytes_under(limit):,}, "
                          f"or max_message_bytes={limit:,}, and resume with writer_id={self.writer_id!r}, "
                          f"first_sequence={self.result.next_sequence})")
        if isinstance(e, errors.FailedPrecondition) and e.next_sequence is not None:
            # A sequence gap: the server says where the writer stands, whatever
            # first_sequence claimed; the writer resumes there.
            self.result.next_sequence = e.next_sequence
            self.result.durable_sequence = e.next_sequence - 1
        e.ingest_result = self.result  # type: ignore[attr-defined]
        if self.source_error is not None:
            # The source had failed first; the stream then failed for good while the
            # batches sent before were being acknowledged.
            e.source_error = self.source_error  # type: ignore[attr-defined]
        return e

    def close(self) -> IngestResult:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        return self.result


def _retry_after(err: grpc.RpcError) -> Optional[float]:
    """The server's "come back in" delay on a failed stream, if it sent one."""
    return errors.from_rpc_error(err).retry_after


def tqdm_bar(total: Optional[int], unit: str, desc: str) -> Any:
    """A tqdm bar for ``progress=True``, or an ImportError that says how to get tqdm."""
    try:
        from tqdm.auto import tqdm
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("progress=True needs tqdm: pip install tqdm (or install the client with its "
                          "progress extra: pip install './clients/python[progress]' from a checkout)") from e
    return tqdm(total=total, unit=unit, unit_scale=True, desc=desc)


def _progress_bar(progress: Any, total: Optional[int]) -> Any:
    if progress is False or progress is None:
        return None
    if progress is True:
        return tqdm_bar(total, "item", "ingest")
    # Any object with update()/close(), e.g. a tqdm the caller configured.
    return progress
