"""Typed exceptions raised by the hardneg clients.

Every failed RPC becomes a :class:`HardnegError` subclass chosen by its gRPC status code.
The server's explanation is in :attr:`HardnegError.message`; for ``INVALID_ARGUMENT`` the
``google.rpc.BadRequest`` field violations sent in the status details are parsed into
:attr:`InvalidArgument.violations`, and the first one is exposed as
:attr:`InvalidArgument.field` / :attr:`InvalidArgument.reason`::

    try:
        client.upsert("docs", ids, vectors)
    except hardneg.errors.InvalidArgument as e:
        print(e.field, e.reason)   # e.g. "items.vectors[3]", "vector is not finite"
"""

from __future__ import annotations

import re

from dataclasses import dataclass
from typing import Any, Sequence

import grpc

__all__ = [
    "HardnegError",
    "InvalidArgument",
    "NotFound",
    "AlreadyExists",
    "Unauthenticated",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Unavailable",
    "DeadlineExceeded",
    "Cancelled",
    "Internal",
    "DataLoss",
    "BackupFileError",
    "FieldViolation",
    "PolicyWarning",
    "from_rpc_error",
]

_STATUS_DETAILS_KEY = "grpc-status-details-bin"


@dataclass(frozen=True)
class FieldViolation:
    """One entry of a ``google.rpc.BadRequest``: which request field was bad and why."""

    field: str
    """Path of the offending field, e.g. ``items.vectors[3]`` or ``anchors[0].positive_ids``."""
    description: str
    """Human-readable explanation from the server."""
    reason: str = ""
    """Machine-readable reason code, when the server sets one."""


class PolicyWarning(UserWarning):
    """A mining policy field the rest of the policy leaves without effect (for example
    ``temperature`` with top sampling): the server served the request as if it were
    unset and said so in ``MineResponse.warnings``. The message names the field."""


class HardnegError(Exception):
    """Base class of every error raised for a failed hardneg RPC.

    Attributes:
        code: the gRPC status code (``None`` for client-side errors, except
            :class:`InvalidArgument` raised by the client's own checks of a request,
            which carries ``INVALID_ARGUMENT`` like the server's).
        message: the server's status message.
        details: decoded ``google.protobuf.Any`` details of the status (possibly empty).
        retry_after: seconds the server asked the client to wait before retrying (its
            ``google.rpc.RetryInfo``), or ``None`` when it sent none.
        attempts: how many attempts the call took (more than 1 when the client retried
            it; see :class:`hardneg.RetryPolicy`).
    """

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode | None = None,
        details: Sequence[Any] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = tuple(details)
        self.retry_after = _retry_after(self.details)
        self.attempts = 1

    def __str__(self) -> str:
        if self.code is None:
            return self.message
        return f"{self.code.name}: {self.message}"


class InvalidArgument(HardnegError, ValueError):
    """The request was rejected as invalid; nothing of the offending batch was applied.

    Attributes:
        violations: every field violation the server reported.
        field: the first violation's field path ("" when the server sent none).
        reason: the first violation's description, or the status message.
    """

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode | None = grpc.StatusCode.INVALID_ARGUMENT,
        details: Sequence[Any] = (),
        violations: Sequence[FieldViolation] = (),
    ) -> None:
        super().__init__(message, code=code, details=details)
        self.violations = tuple(violations)
        first = self.violations[0] if self.violations else None
        self.field = first.field if first else ""
        self.reason = (first.description or first.reason) if first else message

    def __str__(self) -> str:
        base = super().__str__()
        # The server's message already names its first offending field and counts the
        # rest; list only violations the message does not mention, so nothing is said twice.
        unsaid = [v for v in self.violations if v.field not in base]
        if not unsaid:
            return base
        fields = "; ".join(f"{v.field}: {v.description or v.reason}" for v in unsaid)
        return f"{base} [{fields}]"


class NotFound(HardnegError, LookupError):
    """A named collection (or other resource) does not exist."""


class AlreadyExists(HardnegError):
    """A collection with that name already exists."""


class Unauthenticated(HardnegError):
    """The call carried no valid bearer token."""


class PermissionDenied(HardnegError):
    """The token is valid but may not perform this call."""


class ResourceExhausted(HardnegError):
    """A server limit was hit (message size, memory, calls in flight).

    When the server asks the client to come back later, :attr:`retry_after` holds the
    delay; the clients retry idempotent calls refused so (see :class:`hardneg.RetryPolicy`).
    """


class FailedPrecondition(HardnegError):
    """The collection is not in a state that allows the call.

    Attributes:
        next_sequence: for an ``UpsertStream`` batch above its writer's next sequence
            (a sequence gap), the sequence the server expects next for that writer
            (1 for a writer it holds no position for); ``None`` otherwise.
    """

    def __init__(self, message: str, *, code: grpc.StatusCode | None = None, details: Sequence[Any] = ()) -> None:
        super().__init__(message, code=code, details=details)
        self.next_sequence = _gap_next_sequence(self.details)


class Unavailable(HardnegError, ConnectionError):
    """The server could not be reached (and retries, where the client retries, ran out).

    Attributes:
        recovering: the server answered, and said that it is still recovering its
            storage at start-up (an ``ErrorInfo`` with reason ``RECOVERING``): it will
            serve once recovery ends. Calls wait for it up to
            :attr:`hardneg.RetryPolicy.recovery_wait`.
        recovery_progress: ``(log records replayed, log records to replay)`` when the
            server reported them with ``recovering``, else ``None``.
    """

    @property
    def recovering(self) -> bool:
        return _error_info(self.details, "RECOVERING") is not None

    @property
    def recovery_progress(self) -> tuple[int, int] | None:
        progress = _error_info(self.details, "RECOVERING", "log_records_replayed", "log_records")
        return None if progress is None else (progress[0], progress[1])

    def recovery_note(self) -> str:
        """`` (N of M log records replayed)`` when the server reported its progress, else ""."""
        p = self.recovery_progress
        return "" if p is None else f" ({p[0]:,} of {p[1]:,} log records replayed)"


class DeadlineExceeded(HardnegError, TimeoutError):
    """The call's deadline passed before the server answered."""


class Cancelled(HardnegError):
    """The call was cancelled."""


class Internal(HardnegError):
    """The server failed unexpectedly; the cause is in its log."""


class DataLoss(Internal):
    """Data is damaged: e.g. a backup whose bytes are truncated or fail their checksum
    (the server applied nothing of it)."""


class BackupFileError(HardnegError, ValueError):
    """A file given to ``Client.restore`` (or the stream a backup received) is not a
    complete hardneg backup file; raised by the client, nothing was restored from it."""


_BY_CODE: dict[grpc.StatusCode, type[HardnegError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.CANCELLED: Cancelled,
    grpc.StatusCode.INTERNAL: Internal,
    grpc.StatusCode.UNKNOWN: Internal,
    grpc.StatusCode.DATA_LOSS: DataLoss,
}


def _decode_details(trailing_metadata: Any) -> list[Any]:
    """Decodes the ``grpc-status-details-bin`` trailer into its detail messages."""
    if not trailing_metadata:
        return []
    raw = None
    for key, value in trailing_metadata:
        if key == _STATUS_DETAILS_KEY:
            raw = value
            break
    if not raw:
        return []
    from google.rpc import error_details_pb2, status_pb2

    try:
        status = status_pb2.Status.FromString(raw)
    except Exception:  # a malformed trailer must not hide the original error
        return []
    decoded: list[Any] = []
    known = (
        error_details_pb2.BadRequest,
        error_details_pb2.ErrorInfo,
        error_details_pb2.ResourceInfo,
        error_details_pb2.QuotaFailure,
        error_details_pb2.PreconditionFailure,
        error_details_pb2.RetryInfo,
        error_details_pb2.DebugInfo,
        error_details_pb2.Help,
        error_details_pb2.LocalizedMessage,
    )
    for any_msg in status.details:
        for cls in known:
            if any_msg.Is(cls.DESCRIPTOR):
                msg = cls()
                any_msg.Unpack(msg)
                decoded.append(msg)
                break
        else:
            decoded.append(any_msg)
    return decoded


def _retry_after(details: Sequence[Any]) -> float | None:
    """The delay of a ``google.rpc.RetryInfo`` detail, in seconds."""
    if not details:
        return None
    from google.rpc import error_details_pb2

    for d in details:
        if isinstance(d, error_details_pb2.RetryInfo):
            return d.retry_delay.seconds + d.retry_delay.nanos / 1e9
    return None


def _error_info(details: Sequence[Any], reason: str, *keys: str) -> tuple[int, ...] | None:
    """The integer metadata ``keys`` of the ``google.rpc.ErrorInfo`` detail with
    ``reason``, or None when there is none (or it lacks one of them)."""
    if not details:
        return None
    from google.rpc import error_details_pb2

    for d in details:
        if isinstance(d, error_details_pb2.ErrorInfo) and d.reason == reason:
            try:
                return tuple(int(d.metadata[k]) for k in keys)
            except (KeyError, ValueError):
                return None
    return None


def _response_too_large(details: Sequence[Any]) -> tuple[int, int] | None:
    """``(bytes, limit)`` of the server's refusal of a request whose answer would not fit
    in one message (reason ``RESPONSE_TOO_LARGE``): the answer's size and the server's
    largest message."""
    info = _error_info(details, "RESPONSE_TOO_LARGE", "bytes", "limit")
    return None if info is None else (info[0], info[1])


_LARGER_THAN_MAX = re.compile(r"larger than max \((\d+) vs\. (\d+)\)")


def _oversize_kind(message: str) -> str:
    """Which limit gRPC's "message larger than max" met: "server-receive" (the
    request, the server's -grpc-max-msg-bytes), "server-send" (the answer, the
    same flag), "client-receive" (the answer, this client's max_message_bytes) or
    "client-send" (the request, max_message_bytes)."""
    low = message.lower()
    if "client: received" in low:
        return "client-receive"
    if "trying to send" in low:
        return "server-send"
    if "sent message larger" in low or "sending message larger" in low:
        return "client-send"
    return "server-receive"


def _oversize_hint(message: str, size: int, limit: int) -> str:
    kind = _oversize_kind(message)
    if kind == "server-receive":
        return (f": the request is {size:,} bytes and the server takes at most {limit:,} (its -grpc-max-msg-bytes); "
                f"send fewer items per call")
    if kind == "server-send":
        return (f": the answer is {size:,} bytes and the server sends at most {limit:,} (its -grpc-max-msg-bytes); "
                f"ask for fewer items per call")
    if kind == "client-receive":
        return (f": the answer is {size:,} bytes and this client takes at most {limit:,} (max_message_bytes); "
                f"ask for fewer items per call or raise max_message_bytes")
    return (f": the request is {size:,} bytes and this client sends at most {limit:,} (max_message_bytes); "
            f"send fewer items per call or raise max_message_bytes")


def _message_limit(err: "HardnegError") -> int | None:
    """The largest request the server takes, from gRPC's refusal of a larger one
    (RESOURCE_EXHAUSTED "… received message larger than max (N vs. LIMIT)"): raised
    before the message is read, so nothing of it was applied. None for any other error,
    an answer too large for either side among them."""
    if not isinstance(err, ResourceExhausted):
        return None
    m = _LARGER_THAN_MAX.search(err.message)
    if m is None or _oversize_kind(err.message) not in ("server-receive", "client-send"):
        return None
    return int(m.group(2))


def _gap_next_sequence(details: Sequence[Any]) -> int | None:
    """``next_sequence`` of the server's answer to an UpsertStream sequence gap (reason
    ``SEQUENCE_GAP``)."""
    info = _error_info(details, "SEQUENCE_GAP", "next_sequence")
    return None if info is None else info[0]


def _violations(details: Sequence[Any]) -> list[FieldViolation]:
    from google.rpc import error_details_pb2

    out: list[FieldViolation] = []
    for d in details:
        if isinstance(d, error_details_pb2.BadRequest):
            for v in d.field_violations:
                out.append(FieldViolation(field=v.field, description=v.description, reason=v.reason))
    return out


def from_rpc_error(err: grpc.RpcError) -> HardnegError:
    """Converts a ``grpc.RpcError`` (sync or ``grpc.aio``) into the matching typed error."""
    code = err.code() if hasattr(err, "code") else None
    message = err.details() if hasattr(err, "details") else str(err)
    message = message or (code.name if code is not None else "rpc failed")
    trailing = err.trailing_metadata() if hasattr(err, "trailing_metadata") else None
    details = _decode_details(trailing)
    cls = _BY_CODE.get(code, HardnegError) if code is not None else HardnegError
    if cls is ResourceExhausted and (m := _LARGER_THAN_MAX.search(message)) is not None:
        # gRPC's own words name neither side's setting nor what to do.
        message += _oversize_hint(message, int(m.group(1)), int(m.group(2)))
    if cls is InvalidArgument:
        return InvalidArgument(message, code=code, details=details, violations=_violations(details))
    return cls(message, code=code, details=details)
