"""Channel settings shared by the sync and asyncio clients.

A :class:`ChannelConfig` is plain data (picklable) so that a client can be sent to
another process; each process opens its own channel from it lazily, because gRPC
channels must not be shared across ``fork()`` (PyTorch DataLoader workers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import grpc

from hardneg._codec import DEFAULT_MAX_MESSAGE_BYTES
from hardneg.types import TLSConfig

TLSArg = Union[None, bool, TLSConfig, grpc.ChannelCredentials]

# The server permits client keepalive pings every -keepalive-min-time (default 5 s); more
# frequent pings would make it close the connection with GOAWAY "too_many_pings".
KEEPALIVE_TIME_MS = 10_000
KEEPALIVE_TIMEOUT_MS = 20_000


# host:port with a numeric port (IPv6 hosts in brackets); other gRPC target forms
# (dns:///…, unix:…) are left to gRPC.
_HOST_PORT = re.compile(r"^(?:\[[^\]]*\]|[^:/\[\]]*):(-?\d+)$")


# The server's default gRPC port (miner-server -addr).
DEFAULT_PORT = 50051

# A host name, an IPv4 address or a bracketed IPv6 address with no port.
_BARE_HOST = re.compile(r"^(?:\[[0-9A-Fa-f:.]*\]|[A-Za-z0-9_.-]+)$")


def with_default_port(target: str) -> str:
    """A bare host ("localhost", "10.0.0.7", "[::1]") means the server's default port,
    50051; gRPC alone would dial 443 and fail (or hang) at the first call. Other forms
    (host:port, dns:///…, unix:…) are kept as given."""
    if _BARE_HOST.match(target):
        return f"{target}:{DEFAULT_PORT}"
    return target


def _check_pem(what: str, path: Optional[str]) -> None:
    """A TLS file is readable and holds PEM data, found when the client is made rather
    than as gRPC's handshake errors at the first call."""
    if path is None:
        return
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError as e:
        raise ValueError(f"TLSConfig.{what} {path!r}: {e.strerror or e}") from None
    if b"-----BEGIN " not in head:
        raise ValueError(f"TLSConfig.{what} {path!r} holds no PEM data (-----BEGIN …)")


def _read(path: Optional[str]) -> Optional[bytes]:
    if path is None:
        return None
    with open(path, "rb") as f:
        return f.read()


@dataclass
class ChannelConfig:
    """Everything needed to open a channel to one server."""

    target: str
    token: Optional[str] = None
    tls: TLSArg = None
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    extra_options: tuple[tuple[str, Any], ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not isinstance(self.target, str) or not self.target.strip():
            raise ValueError(f"the server address must be a non-empty string like 'localhost:50051', got {self.target!r}")
        m = _HOST_PORT.match(self.target)
        if m and not 1 <= int(m.group(1)) <= 65535:
            raise ValueError(f"the server address {self.target!r} has port {m.group(1)}: ports are 1–65535")
        if (self.token is not None) and not self.token:
            raise ValueError("token must be a non-empty string or None")
        if self.token is not None and not all(" " <= c <= "~" for c in self.token):
            raise ValueError("token must be printable ASCII (it travels in an HTTP/2 header)")
        if isinstance(self.tls, TLSConfig):
            if (self.tls.cert_file is None) != (self.tls.key_file is None):
                raise ValueError("TLSConfig needs both cert_file and key_file for mutual TLS, or neither")
            for what, path in (("ca_file", self.tls.ca_file), ("cert_file", self.tls.cert_file), ("key_file", self.tls.key_file)):
                _check_pem(what, path)

    def metadata(self) -> tuple[tuple[str, str], ...]:
        if self.token is None:
            return ()
        return (("authorization", f"Bearer {self.token}"),)

    def options(self) -> list[tuple[str, Any]]:
        opts: list[tuple[str, Any]] = [
            ("grpc.max_send_message_length", self.max_message_bytes),
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.keepalive_time_ms", KEEPALIVE_TIME_MS),
            ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
            # Pings only while calls are active: an idle client does not keep the
            # connection busy, and the server's policy need not permit idle pings.
            ("grpc.keepalive_permit_without_calls", 0),
            ("grpc.http2.max_pings_without_data", 0),
            # Reconnect quickly after a server restart (ingest resumes over it). The
            # minimum reconnect backoff is left at gRPC's default: gRPC also uses it as
            # each connection attempt's timeout (20 s), and a small value there fails
            # every attempt on a slow link or a loaded machine.
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 2_000),
        ]
        if isinstance(self.tls, TLSConfig) and self.tls.server_name:
            opts.append(("grpc.ssl_target_name_override", self.tls.server_name))
        opts.extend(self.extra_options)
        return opts

    def credentials(self) -> Optional[grpc.ChannelCredentials]:
        if self.tls is None or self.tls is False:
            return None
        if self.tls is True:
            return grpc.ssl_channel_credentials()
        if isinstance(self.tls, TLSConfig):
            return grpc.ssl_channel_credentials(
                root_certificates=_read(self.tls.ca_file),
                private_key=_read(self.tls.key_file),
                certificate_chain=_read(self.tls.cert_file),
            )
        if isinstance(self.tls, grpc.ChannelCredentials):
            return self.tls
        raise TypeError("tls must be None, True, a hardneg.TLSConfig or grpc.ChannelCredentials")

    def sync_channel(self) -> grpc.Channel:
        creds = self.credentials()
        if creds is None:
            return grpc.insecure_channel(self.target, options=self.options())
        return grpc.secure_channel(self.target, creds, options=self.options())

    def aio_channel(self) -> grpc.aio.Channel:
        creds = self.credentials()
        if creds is None:
            return grpc.aio.insecure_channel(self.target, options=self.options())
        return grpc.aio.secure_channel(self.target, creds, options=self.options())

    def __getstate__(self) -> dict[str, Any]:
        if isinstance(self.tls, grpc.ChannelCredentials):
            raise TypeError(
                "a client built with grpc.ChannelCredentials cannot be pickled; "
                "pass tls=hardneg.TLSConfig(...) to use it in worker processes"
            )
        return dict(self.__dict__)
