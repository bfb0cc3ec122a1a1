"""Bearer tokens, TLS and channel options, checked against an in-process gRPC server
that records what the client sends (the hardneg server's own auth and TLS are tested
with the server)."""

from __future__ import annotations

import subprocess
from concurrent import futures
from pathlib import Path
from typing import Any, Iterator

import grpc
import pytest

import hardneg
from hardneg import errors
from hardneg._channel import KEEPALIVE_TIME_MS, ChannelConfig
from hardneg.v1 import hardneg_pb2 as pb
from hardneg.v1 import hardneg_pb2_grpc as pb_grpc


class Recording(pb_grpc.MinerServiceServicer):
    """Answers ListCollections; rejects calls without the expected token."""

    def __init__(self, token: str | None) -> None:
        self.token = token
        self.seen: list[dict[str, str]] = []

    def ListCollections(self, request: Any, context: grpc.ServicerContext) -> pb.ListCollectionsResponse:
        md = {k: v for k, v in context.invocation_metadata()}
        self.seen.append(md)
        if self.token is not None and md.get("authorization") != f"Bearer {self.token}":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or bad bearer token")
        return pb.ListCollectionsResponse(collections=[pb.Collection(name="only", dim=3, metric=pb.METRIC_L2)])


def _serve(servicer: Recording, creds: grpc.ServerCredentials | None = None) -> tuple[grpc.Server, int]:
    server = grpc.server(futures.ThreadPoolExecutor(4))
    pb_grpc.add_MinerServiceServicer_to_server(servicer, server)
    if creds is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        port = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    return server, port


@pytest.fixture
def authed() -> Iterator[tuple[Recording, int]]:
    servicer = Recording(token="s3cret")
    server, port = _serve(servicer)
    yield servicer, port
    server.stop(None)


def test_token_is_sent_as_bearer_metadata(authed: tuple[Recording, int]) -> None:
    servicer, port = authed
    with hardneg.Client(f"127.0.0.1:{port}", token="s3cret") as c:
        cols = c.list_collections()
    assert [x.name for x in cols] == ["only"] and cols[0].metric == "l2"
    assert servicer.seen[-1]["authorization"] == "Bearer s3cret"


def test_missing_token_is_unauthenticated(authed: tuple[Recording, int]) -> None:
    _, port = authed
    with hardneg.Client(f"127.0.0.1:{port}") as c:
        with pytest.raises(errors.Unauthenticated, match="bearer"):
            c.list_collections()
    with hardneg.Client(f"127.0.0.1:{port}", token="wrong") as c:
        with pytest.raises(errors.Unauthenticated):
            c.list_collections()


async def test_async_client_sends_token(authed: tuple[Recording, int]) -> None:
    servicer, port = authed
    async with hardneg.AsyncClient(f"127.0.0.1:{port}", token="s3cret") as c:
        assert [x.name for x in await c.list_collections()] == ["only"]
    assert servicer.seen[-1]["authorization"] == "Bearer s3cret"


def test_tls_with_ca_file_and_token(pki: Path) -> None:
    servicer = Recording(token="t")
    creds = grpc.ssl_server_credentials([((pki / "server.key").read_bytes(), (pki / "server.pem").read_bytes())])
    server, port = _serve(servicer, creds)
    try:
        tls = hardneg.TLSConfig(ca_file=str(pki / "ca.pem"))
        with hardneg.Client(f"localhost:{port}", token="t", tls=tls, timeout=10) as c:
            assert [x.name for x in c.list_collections()] == ["only"]
        # Without the CA the server certificate is not trusted.
        # One attempt: with retries the deadline could cut the last one short (test_retry.py).
        with hardneg.Client(f"localhost:{port}", token="t", tls=True, timeout=30, retry=None) as c:
            with pytest.raises(errors.Unavailable):
                c.list_collections()
    finally:
        server.stop(None)


def test_tls_mismatches_fail_at_once_saying_what_to_do(pki: Path) -> None:
    # A TLS handshake that cannot succeed is not retried (it would fail the same way
    # until the deadline) and its message says what to change, not "is it running?".
    servicer = Recording(token=None)
    creds = grpc.ssl_server_credentials([((pki / "server.key").read_bytes(), (pki / "server.pem").read_bytes())])
    tls_server, tls_port = _serve(servicer, creds)
    plain_server, plain_port = _serve(Recording(token=None))
    mutual = grpc.ssl_server_credentials([((pki / "server.key").read_bytes(), (pki / "server.pem").read_bytes())],
                                         root_certificates=(pki / "ca.pem").read_bytes(), require_client_auth=True)
    mtls_server, mtls_port = _serve(Recording(token=None), mutual)
    try:
        cases = [
            (f"localhost:{tls_port}", True, "the server's certificate is not trusted: give the CA that signed it"),
            (f"127.0.0.1:{tls_port}", hardneg.TLSConfig(ca_file=str(pki / "ca.pem"), server_name="other.example"),
             "the server's certificate does not name the address connected to"),
            (f"127.0.0.1:{plain_port}", hardneg.TLSConfig(ca_file=str(pki / "ca.pem")), "the server does not speak TLS there"),
        ]
        for target, tls, want in cases:
            with hardneg.Client(target, tls=tls, timeout=30) as c:
                with pytest.raises(errors.Unavailable, match=f"TLS handshake with {target} failed: {want}") as e:
                    c.list_collections()
                assert e.value.attempts == 1 and c.retries == 0
        with hardneg.Client(f"127.0.0.1:{tls_port}", timeout=30, retry=None) as c:
            with pytest.raises(errors.Unavailable, match="If it serves TLS, connect with tls=True or a TLSConfig"):
                c.list_collections()
        # A client certificate with another certificate's key: the client's own settings.
        mismatched = hardneg.TLSConfig(ca_file=str(pki / "ca.pem"), cert_file=str(pki / "client.pem"), key_file=str(pki / "server.key"))
        with hardneg.Client(f"127.0.0.1:{mtls_port}", tls=mismatched, timeout=30) as c:
            with pytest.raises(errors.Unavailable, match="this client's own TLS settings could not be used") as e:
                c.list_collections()
            assert e.value.attempts == 1
        # This server hangs up during the handshake on a client without a certificate.
        with hardneg.Client(f"127.0.0.1:{mtls_port}", tls=hardneg.TLSConfig(ca_file=str(pki / "ca.pem")), timeout=30, retry=None) as c:
            with pytest.raises(errors.Unavailable, match=r"If it requires client certificates \(mutual TLS\), give one signed by its CA"):
                c.list_collections()
    finally:
        tls_server.stop(None)
        plain_server.stop(None)
        mtls_server.stop(None)


def test_mutual_tls(pki: Path) -> None:
    servicer = Recording(token=None)
    creds = grpc.ssl_server_credentials(
        [((pki / "server.key").read_bytes(), (pki / "server.pem").read_bytes())],
        root_certificates=(pki / "ca.pem").read_bytes(),
        require_client_auth=True,
    )
    server, port = _serve(servicer, creds)
    try:
        tls = hardneg.TLSConfig(
            ca_file=str(pki / "ca.pem"), cert_file=str(pki / "client.pem"), key_file=str(pki / "client.key")
        )
        with hardneg.Client(f"127.0.0.1:{port}", tls=tls, timeout=10) as c:
            assert len(c.list_collections()) == 1
        no_cert = hardneg.TLSConfig(ca_file=str(pki / "ca.pem"))
        with hardneg.Client(f"127.0.0.1:{port}", tls=no_cert, timeout=30, retry=None) as c:
            with pytest.raises(errors.Unavailable):
                c.list_collections()
    finally:
        server.stop(None)


def test_channel_options() -> None:
    cfg = ChannelConfig("h:1", token="x", tls=hardneg.TLSConfig(server_name="svc.internal"))
    opts = dict(cfg.options())
    assert opts["grpc.keepalive_time_ms"] == KEEPALIVE_TIME_MS == 10_000
    assert opts["grpc.max_send_message_length"] == opts["grpc.max_receive_message_length"] == 64 * 1024 * 1024
    assert opts["grpc.ssl_target_name_override"] == "svc.internal"
    assert cfg.metadata() == (("authorization", "Bearer x"),)
    with pytest.raises(ValueError):
        ChannelConfig("h:1", tls=hardneg.TLSConfig(cert_file="c.pem"))
    with pytest.raises(ValueError):
        ChannelConfig("h:1", token="")


def test_connects_over_a_slow_link(server: Any, make_client: Any) -> None:
    """A server whose HTTP/2 handshake takes 0.5 s (a slow or distant link) is reachable.
    gRPC derives each connection attempt's deadline from the minimum reconnect backoff;
    a small value there makes every attempt time out before the server's SETTINGS frame
    arrives, and no call can ever succeed."""
    from conftest import CuttableProxy

    slow = CuttableProxy(server.grpc_port, first_byte_delay_s=0.5)
    try:
        c = make_client(slow.target, timeout=20.0, retry=None)
        assert isinstance(c.list_collections(), list)
    finally:
        slow.close()
