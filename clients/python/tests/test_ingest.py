"""Streaming ingest over UpsertStream: window, splitting, replays, resume across restarts."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from typing import Any, Callable, Iterator, Optional

import grpc
import numpy as np
import pytest
from conftest import CuttableProxy, ServerProcess, _spawn, unit_rows

import hardneg
from hardneg import errors
from hardneg.v1 import hardneg_pb2 as pb

DIM = 16


class Recorder:
    """A progress sink that records acknowledged item counts."""

    def __init__(self) -> None:
        self.updates: list[int] = []
        self.closed = False

    def update(self, n: int) -> None:
        self.updates.append(n)

    def close(self) -> None:
        self.closed = True


def test_ingest_round_trip(client: hardneg.Client, collection: str) -> None:
    x = unit_rows(1000, DIM, seed=21)
    batches = [([f"s{i}" for i in range(j, j + 100)], x[j : j + 100]) for j in range(0, 1000, 100)]
    bar = Recorder()
    res = client.ingest(collection, iter(batches), window=3, progress=bar, total=1000)
    assert (res.batches, res.items, res.duplicates, res.reconnects) == (10, 1000, 0, 0)
    assert res.durable_sequence == 10 and res.next_sequence == 11
    assert sum(bar.updates) == 1000 and bar.closed
    assert client.get_collection(collection).stats.item_count == 1000
    got = client.get_items(collection, ["s0", "s999"], include_vectors=True)
    np.testing.assert_allclose(got.vectors, x[[0, 999]], atol=1e-6)


def test_ingest_batch_shapes_and_deletes(client: hardneg.Client, collection: str) -> None:
    x = unit_rows(6, DIM, seed=22)
    res = client.ingest(
        collection,
        [
            hardneg.Batch(ids=["a", "b"], vectors=x[:2], groups=[["g"], ["h"]], versions=[1, 2]),
            {"ids": ["c", "d"], "vectors": x[2:4], "delete_ids": ["a"]},
            (["e", "f"], x[4:6], None, 9),
            {"delete_ids": ["b", "zzz"]},
        ],
    )
    assert res.batches == 4 and res.items == 6 and res.deleted_ids == 3
    got = client.get_items(collection, list("abcdef"))
    assert got.ids == ["c", "d", "e", "f"]
    assert got.versions.tolist() == [0, 0, 9, 9]


def test_ingest_batch_with_none_for_every_optional_field(client: hardneg.Client, collection: str) -> None:
    """Batch's positional form with None for groups, versions and delete_ids."""
    x = unit_rows(3, DIM, seed=40)
    res = client.ingest(collection, [hardneg.Batch(["n0", "n1", "n2"], x, None, None, None)])
    assert res.items == 3 and client.get_items(collection, ["n0", "n1", "n2"]).missing_ids == []


def test_a_source_that_fails_midway_stops_after_what_it_sent_is_acknowledged(
    client: hardneg.Client, collection: str
) -> None:
    """The source raises at its sixth batch, or gives a batch the client refuses: the
    five batches before it are acknowledged (window 8: all in flight), then the error
    is raised with ingest_result saying where the writer stands."""
    x = unit_rows(300, DIM, seed=43)

    def source(bad: str) -> Iterator[tuple[list[str], np.ndarray]]:
        for b in range(6):
            if b == 5 and bad == "raise":
                raise RuntimeError("the reader failed")
            ids = [f"f{b}-{i}" for i in range(50)]
            yield (ids[:40] if b == 5 else ids), x[b * 50 : (b + 1) * 50]

    for bad, err in (("raise", RuntimeError), ("shape", errors.InvalidArgument)):
        writer = f"fail-{bad}-{uuid.uuid4().hex[:6]}"
        with pytest.raises(err) as exc:
            client.ingest(collection, source(bad), writer_id=writer, window=8)
        res = exc.value.ingest_result  # type: ignore[attr-defined]
        assert (res.batches, res.items, res.durable_sequence, res.next_sequence) == (5, 250, 5, 6), (bad, res)
        assert client.get_collection(collection).stats.item_count == 250
        client.delete(collection, [f"f{b}-{i}" for b in range(5) for i in range(50)])


def test_ingest_splits_oversized_batches(
    server: ServerProcess, make_client: Callable[..., hardneg.Client], collection: str
) -> None:
    x = unit_rows(3000, DIM, seed=23)
    c = make_client(server.target, max_batch_bytes=32 * 1024)
    res = c.ingest(collection, [([f"o{i}" for i in range(3000)], x)], window=4)
    assert res.batches > 1 and res.items == 3000
    assert c.get_collection(collection).stats.item_count == 3000


@pytest.mark.parametrize("window", [1, 2, 5])
def test_window_bounds_in_flight_batches(client: hardneg.Client, collection: str, window: int) -> None:
    """The source is read only while fewer than `window` batches are unacknowledged, and
    then without waiting for acknowledgements: `window - 1` batches are in flight each
    time the next one is read, once the window has filled."""
    x = unit_rows(400, DIM, seed=24)
    pulled: list[int] = []
    acked: list[int] = []
    in_flight_at_read: list[int] = []

    class Bar(Recorder):
        def update(self, n: int) -> None:
            acked.append(n)

    def source() -> Iterator[tuple[list[str], np.ndarray]]:
        for j in range(40):
            # Batches read so far that are not acknowledged are the ones in flight.
            in_flight_at_read.append(len(pulled) - len(acked))
            pulled.append(j)
            yield [f"w{j}-{i}" for i in range(10)], x[j * 10 : (j + 1) * 10]

    res = client.ingest(collection, source(), window=window, progress=Bar())
    assert res.batches == 40 and len(pulled) == 40 and len(acked) == 40
    assert max(in_flight_at_read) == window - 1, in_flight_at_read
    # Until the window first fills, reads do not wait for acknowledgements.
    assert in_flight_at_read[:window] == list(range(window))


def test_replay_with_same_writer_is_not_applied_twice(client: hardneg.Client, collection: str) -> None:
    x = unit_rows(30, DIM, seed=25)
    writer = f"w-{uuid.uuid4().hex[:8]}"
    batches = [([f"r{i}" for i in range(j, j + 10)], x[j : j + 10]) for j in range(0, 30, 10)]
    first = client.ingest(collection, batches, writer_id=writer)
    assert first.batches == 3 and first.duplicates == 0
    client.delete(collection, ["r0"])
    # Replaying the same writer from sequence 1: every batch is acknowledged as a
    # duplicate and nothing is re-applied (r0 stays deleted).
    replay = client.ingest(collection, batches, writer_id=writer)
    assert replay.duplicates == 3 and replay.batches == 3
    assert client.get_items(collection, ["r0"]).missing_ids == ["r0"]
    # Continuing the writer after its last sequence applies new batches.
    more = client.ingest(
        collection, [(["r100"], unit_rows(1, DIM, seed=26))], writer_id=writer, first_sequence=first.next_sequence
    )
    assert more.duplicates == 0 and more.durable_sequence == 4
    assert client.get_items(collection, ["r100"]).ids == ["r100"]


def test_sequence_gap_is_rejected(client: hardneg.Client, collection: str) -> None:
    writer = f"gap-{uuid.uuid4().hex[:8]}"
    with pytest.raises(errors.FailedPrecondition) as exc:
        client.ingest(collection, [(["a"], unit_rows(1, DIM))], writer_id=writer, first_sequence=5)
    # The server says where the writer stands (an ErrorInfo detail), not the caller's claim.
    assert exc.value.next_sequence == 1
    assert exc.value.ingest_result.next_sequence == 1 and exc.value.ingest_result.durable_sequence == 0
    client.ingest(collection, [(["a"], unit_rows(1, DIM))], writer_id=writer)
    client.ingest(collection, [(["b"], unit_rows(1, DIM))], writer_id=writer, first_sequence=2)
    with pytest.raises(errors.FailedPrecondition) as exc:
        client.ingest(collection, [(["c"], unit_rows(1, DIM))], writer_id=writer, first_sequence=10)
    assert "expected 3" in str(exc.value) and exc.value.next_sequence == 3
    res = exc.value.ingest_result
    assert (res.next_sequence, res.durable_sequence, res.items) == (3, 2, 0)
    resumed = client.ingest(collection, [(["c"], unit_rows(1, DIM))], writer_id=writer, first_sequence=res.next_sequence)
    assert resumed.items == 1 and resumed.next_sequence == 4
    assert client.get_items(collection, ["a", "b", "c"]).missing_ids == []


def test_a_forgotten_writer_says_so_and_starts_again(server_binary: str, tmp_path: Any) -> None:
    # A server that forgets writers after 3 s without a batch (-stream-writer-ttl).
    srv = _spawn(server_binary, tmp_path, ("--stream-writer-ttl=3s",))
    try:
        with hardneg.Client(srv.target, timeout=30.0) as c:
            c.create_collection("w", DIM, "cosine")
            first = c.ingest("w", [(["a"], unit_rows(1, DIM, seed=40))], writer_id="trainer-7")
            assert first.next_sequence == 2
            time.sleep(4.1)  # times are whole seconds: past the TTL by more than one
            c.snapshot("w")  # a snapshot forgets the writers past their TTL
            with pytest.raises(errors.FailedPrecondition) as exc:
                c.ingest("w", [(["b"], unit_rows(1, DIM, seed=41))], writer_id="trainer-7", first_sequence=2)
            assert "holds no position for the writer" in str(exc.value) and "forgotten after 3s" in str(exc.value)
            again = c.ingest("w", [(["b"], unit_rows(1, DIM, seed=41))], writer_id="trainer-7")
            assert again.duplicates == 0 and again.next_sequence == 2
            assert c.get_items("w", ["a", "b"]).ids == ["a", "b"]
    finally:
        srv.stop()


def test_bad_batch_raises_typed_error(client: hardneg.Client, collection: str) -> None:
    x = unit_rows(20, DIM, seed=27)
    x[13, 2] = np.nan
    batches = [([f"b{i}" for i in range(j, j + 10)], x[j : j + 10]) for j in (0, 10)]
    with pytest.raises(errors.InvalidArgument) as exc:
        client.ingest(collection, batches, window=1)
    assert "vectors" in exc.value.field
    # The first batch was acknowledged and durable; the bad one applied nothing.
    assert client.get_collection(collection).stats.item_count == 10
    assert exc.value.ingest_result.batches == 1  # type: ignore[attr-defined]


def test_a_refused_ingest_says_where_to_resume(client: hardneg.Client, collection: str) -> None:
    """After a refused batch, ingest_result.next_sequence is that batch's sequence, so
    the writer resumes there with the batch mended."""
    _refused_then_resumed(client, collection, window=1)


def test_a_refused_ingest_with_batches_in_flight_says_where_to_resume(
    client: hardneg.Client, collection: str
) -> None:
    """As above with later batches in flight when the refusal comes."""
    _refused_then_resumed(client, collection, window=8)


def _refused_then_resumed(client: hardneg.Client, collection: str, window: int) -> None:
    x = unit_rows(60, DIM, seed=28)
    bad = x.copy()
    bad[13, 2] = np.nan
    ids = [f"r{i}" for i in range(60)]

    def batches(v: np.ndarray, start: int = 0) -> list[tuple[list[str], np.ndarray]]:
        return [(ids[j : j + 10], v[j : j + 10]) for j in range(start, 60, 10)]

    writer = f"resume-{uuid.uuid4().hex[:8]}"
    with pytest.raises(errors.InvalidArgument) as exc:
        client.ingest(collection, batches(bad), writer_id=writer, window=window)
    res = exc.value.ingest_result  # type: ignore[attr-defined]
    assert exc.value.sequence == 2 and "sequence 2;" in str(exc.value)  # type: ignore[attr-defined]
    assert (res.batches, res.durable_sequence, res.next_sequence) == (1, 1, 2)
    again = client.ingest(collection, batches(x, 10), writer_id=writer, first_sequence=res.next_sequence)
    assert again.items == 50 and again.duplicates == 0
    got = client.get_items(collection, ids, include_vectors=True)
    assert not got.missing_ids
    np.testing.assert_allclose(got.vectors, x, atol=1e-6)


def test_resume_after_connection_cut(
    proxy: CuttableProxy, make_client: Callable[..., hardneg.Client], client: hardneg.Client, collection: str
) -> None:
    """Connections reset mid-ingest: the client reconnects, resends what was not
    acknowledged, and the server recognises what it had already applied."""
    n_batches, per = 50, 20
    x = unit_rows(n_batches * per, DIM, seed=29)

    def source() -> Iterator[hardneg.Batch]:
        for j in range(n_batches):
            if j in (15, 30):
                proxy.cut()
            yield hardneg.Batch(
                ids=[f"c{j}-{i}" for i in range(per)],
                vectors=x[j * per : (j + 1) * per],
                delete_ids=[f"c{j - 1}-0"] if j else [],
            )

    res = make_client(proxy.target, timeout=30.0).ingest(collection, source(), window=8)
    assert res.reconnects >= 2
    assert res.batches == n_batches and res.items == n_batches * per and res.durable_sequence == n_batches
    assert client.get_collection(collection).stats.item_count == n_batches * per - (n_batches - 1)
    assert client.get_items(collection, [f"c{j}-0" for j in range(n_batches - 1)]).ids == []
    got = client.get_items(collection, [f"c{j}-1" for j in range(n_batches)], include_vectors=True)
    np.testing.assert_allclose(got.vectors, x[[j * per + 1 for j in range(n_batches)]], atol=1e-6)


def _restart_ingest(c: hardneg.Client, srv: ServerProcess, sig: int) -> None:
    """Ingests 60 batches and restarts the server after the 20th is read.

    Batch j upserts 20 new items and deletes the first item of batch j-1; a batch
    applied twice, or out of order, would bring a deleted item back.
    """
    n_batches, per = 60, 20
    x = unit_rows(n_batches * per, DIM, seed=28)
    name = f"restart-{uuid.uuid4().hex[:8]}"
    c.create_collection(name, DIM)

    def source() -> Iterator[hardneg.Batch]:
        for j in range(n_batches):
            if j == 20:
                srv.stop(sig)
                srv.start()
            ids = [f"b{j}-{i}" for i in range(per)]
            yield hardneg.Batch(
                ids=ids, vectors=x[j * per : (j + 1) * per], delete_ids=[f"b{j - 1}-0"] if j else []
            )

    res = c.ingest(name, source(), writer_id=f"restart-{sig}", window=8, reconnect_timeout=60.0)
    assert res.reconnects >= 1
    assert res.batches == n_batches and res.items == n_batches * per
    assert res.durable_sequence == n_batches
    info = c.get_collection(name)
    assert info.stats.item_count == n_batches * per - (n_batches - 1)
    deleted = [f"b{j}-0" for j in range(n_batches - 1)]
    assert c.get_items(name, deleted).ids == []
    kept = c.get_items(name, [f"b{j}-{i}" for j in range(n_batches) for i in (1, per - 1)], include_vectors=True)
    assert len(kept) == 2 * n_batches
    idx = [j * per + i for j in range(n_batches) for i in (1, per - 1)]
    np.testing.assert_allclose(kept.vectors, x[idx], atol=1e-6)


def test_resume_after_kill_mid_ingest(own_server: ServerProcess, make_client: Callable[..., hardneg.Client]) -> None:
    _restart_ingest(make_client(own_server.target, timeout=30.0), own_server, signal.SIGKILL)


def test_resume_after_graceful_restart_mid_ingest(
    server_binary: str, tmp_path: object, make_client: Callable[..., hardneg.Client]
) -> None:
    from pathlib import Path

    root = Path(str(tmp_path))
    srv = ServerProcess(server_binary, root / "data", root / "server.log", ("--shutdown-timeout=1s",))
    srv.start()
    try:
        _restart_ingest(make_client(srv.target, timeout=30.0), srv, signal.SIGTERM)
    finally:
        srv.stop()


def test_unreachable_server_gives_up_after_reconnect_timeout(make_client: Callable[..., hardneg.Client]) -> None:
    from conftest import free_port

    c = make_client(f"127.0.0.1:{free_port()}")
    with pytest.raises(errors.Unavailable) as exc:
        c.ingest("c", [(["a"], np.ones((1, 4), np.float32))], reconnect_timeout=5.0)
    assert exc.value.ingest_result.batches == 0  # type: ignore[attr-defined]
    assert exc.value.ingest_result.reconnects >= 1  # type: ignore[attr-defined]


class _RacingStream:
    """An UpsertStream call as grpcio's asyncio stream behaves when the server refuses a
    batch: writes behind the refused one fail with INTERNAL ("Internal error from
    Core") and the refusal is lost; with nothing written behind it, reading gives the
    refusal."""

    def __init__(self, log: list[tuple[int, str, int]], stream: int, bad: int) -> None:
        self.log, self.stream, self.bad = log, stream, bad
        self.written: list[int] = []
        self.acked = 0
        self.status: Optional[grpc.StatusCode] = None

    def _fail(self, code: grpc.StatusCode, details: str) -> None:
        self.status = code
        raise grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details)

    async def write(self, req: Any) -> None:
        self.log.append((self.stream, "write", req.sequence))
        if self.status is not None or self.bad in self.written:
            self._fail(grpc.StatusCode.INTERNAL, "Internal error from Core")
        self.written.append(req.sequence)

    async def read(self) -> Any:
        if self.acked >= len(self.written):
            raise AssertionError("read with nothing in flight")
        seq = self.written[self.acked]
        if seq == self.bad:
            self._fail(grpc.StatusCode.INVALID_ARGUMENT, "items.vectors[3]: not finite")
        self.acked += 1
        self.log.append((self.stream, "ack", seq))
        return pb.UpsertStreamResponse(sequence=seq, durable_sequence=seq, next_sequence=seq + 1)

    async def done_writing(self) -> None:
        pass

    def done(self) -> bool:
        return self.status is not None

    def cancel(self) -> None:
        pass


def test_async_ingest_reads_a_refusal_that_raced_later_writes() -> None:
    """A refused batch with later batches of the window being written: the first stream
    ends with INTERNAL, the next one resends the batches one at a time, so the refusal
    is read and raised as InvalidArgument naming its sequence, not resent until
    reconnect_timeout."""
    log: list[tuple[int, str, int]] = []
    streams: list[_RacingStream] = []

    class Stub:
        def UpsertStream(self, metadata: Any = None) -> _RacingStream:
            streams.append(_RacingStream(log, len(streams) + 1, bad=3))
            return streams[-1]

    async def go() -> None:
        c = hardneg.AsyncClient("localhost:1")
        c._stub = lambda: Stub()  # type: ignore[method-assign]
        batches = [([f"i{j}"], unit_rows(1, DIM, seed=j)) for j in range(8)]
        with pytest.raises(errors.InvalidArgument) as exc:
            await c.ingest("c", batches, writer_id="w", window=8, reconnect_timeout=30)
        assert exc.value.sequence == 3  # type: ignore[attr-defined]
        res = exc.value.ingest_result  # type: ignore[attr-defined]
        assert (res.durable_sequence, res.next_sequence, res.reconnects) == (2, 3, 1)

    asyncio.run(go())
    assert len(streams) == 2
    # The first stream wrote up to the batch behind the refused one and failed there.
    assert [e for e in log if e[0] == 1] == [(1, "write", 1), (1, "write", 2), (1, "write", 3), (1, "write", 4)]
    # The second wrote each batch only after the previous one's acknowledgement.
    assert [e for e in log if e[0] == 2] == [(2, "write", 1), (2, "ack", 1), (2, "write", 2), (2, "ack", 2), (2, "write", 3)]
