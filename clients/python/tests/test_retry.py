"""Idempotent calls are retried while the server restarts or asks to come back later."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Callable, Iterator

import grpc
import numpy as np
import pytest
from conftest import ServerProcess, unit_rows

import hardneg
from hardneg import errors
from hardneg._core import retry_delay

DIM = 8
# Enough attempts to span a server start; the call's timeout still bounds them.
PATIENT = hardneg.RetryPolicy(max_attempts=10_000, initial_backoff=0.01, max_backoff=0.1)


def _wait_for(cond: Callable[[], bool], what: str) -> None:
    """Polls ``cond`` until it holds; gives up after 120 s (a bound on the wait, not an
    assertion on time)."""
    ev = threading.Event()
    give_up = time.monotonic() + 120.0
    while time.monotonic() < give_up:
        if cond():
            return
        ev.wait(0.001)
    raise AssertionError(f"never happened: {what}")


def test_training_loop_survives_a_server_restart(
    own_server: ServerProcess, make_client: Callable[..., hardneg.Client]
) -> None:
    """A loop of mine + upsert steps (re-encoded items written back) runs through a
    restart of the server on the same port and data directory and completes."""
    c = make_client(own_server.target, timeout=60.0, retry=PATIENT)
    name = f"train-{uuid.uuid4().hex[:8]}"
    n, steps, per = 120, 30, 6
    x = unit_rows(n, DIM, seed=51)
    ids = [f"t{i}" for i in range(n)]
    c.create_collection(name, DIM)
    c.upsert(name, ids, x, versions=0)

    restarted = threading.Thread(target=lambda: None)
    for step in range(steps):
        if step == 10:
            own_server.stop()  # graceful; the next calls find no server

            def start_once_refused() -> None:
                _wait_for(lambda: c.retries >= 1, "a call was retried")
                own_server.start()

            restarted = threading.Thread(target=start_once_refused, daemon=True)
            restarted.start()
        batch = [(step * per + j) % n for j in range(per)]
        res = c.mine(name, anchor_ids=[ids[i] for i in batch], num_negatives=3)
        assert res.counts.tolist() == [3] * per
        # The "encoder" moved on: write the batch back with this step's version.
        c.upsert(name, [ids[i] for i in batch], x[batch], versions=step + 1)
    restarted.join()

    assert c.retries >= 1
    got = c.get_items(name, ids)
    assert len(got) == n
    want = np.zeros(n, dtype=np.int64)
    for step in range(steps):
        want[[(step * per + j) % n for j in range(per)]] = step + 1
    assert got.versions.tolist() == want.tolist()


def _hold_stream(target: str, name: str, release: threading.Event) -> threading.Thread:
    """Opens an UpsertStream from this host and keeps it open until ``release`` is set:
    with ``-max-in-flight-per-client=1`` every other call of this host is refused with
    RESOURCE_EXHAUSTED meanwhile.

    Returns once the server has acknowledged the stream's first batch, so the stream is
    open and counted. A call of this host still in flight when the stream opens gets
    the stream refused; with a window of one batch the ingest reads that refusal before
    it asks the source for more, and re-opens the stream after the server's delay."""
    sent = threading.Event()

    def source() -> Iterator[tuple[list[str], np.ndarray]]:
        yield ["held"], unit_rows(1, DIM, seed=52)
        sent.set()
        release.wait()

    def run() -> None:
        with hardneg.Client(target, timeout=60.0) as holder:
            holder.ingest(name, source(), window=1)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    _wait_for(sent.is_set, "the holding stream's first batch acknowledged")
    return t


def _rejected(srv: ServerProcess) -> int:
    """hardneg_in_flight_rejected_total of ``srv``, read from its /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{srv.http_port}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("hardneg_in_flight_rejected_total "):
                return int(float(line.split()[1]))
    raise AssertionError("hardneg_in_flight_rejected_total missing from /metrics")


def _refused_once(once: hardneg.Client, refusals: list[errors.ResourceExhausted]) -> Callable[[], bool]:
    """A condition for _wait_for: one call of ``once`` (no retries) is refused."""

    def refused() -> bool:
        try:
            once.list_collections()
        except errors.ResourceExhausted as e:
            refusals.append(e)
            return True
        return False

    return refused


@pytest.fixture
def limited(server_binary: str, tmp_path: Path) -> Iterator[tuple[ServerProcess, threading.Event]]:
    """A server of this test with ``-max-in-flight-per-client=1`` (refusals carry a 50 ms
    delay), and the event that releases a stream held on it (_hold_stream); set before
    the server stops."""
    srv = ServerProcess(
        server_binary, tmp_path / "data", tmp_path / "server.log", ("--max-in-flight-per-client=1", "--retry-after=50ms")
    )
    srv.start()
    release = threading.Event()
    try:
        yield srv, release
    finally:
        release.set()
        srv.stop()


def test_resource_exhausted_waits_for_retry_info(
    limited: tuple[ServerProcess, threading.Event], make_client: Callable[..., hardneg.Client]
) -> None:
    srv, release = limited
    name = f"limit-{uuid.uuid4().hex[:8]}"
    c = make_client(srv.target, timeout=60.0, retry=PATIENT)
    c.create_collection(name, DIM)
    c.upsert(name, [f"l{i}" for i in range(20)], unit_rows(20, DIM, seed=53))
    holder = _hold_stream(srv.target, name, release)

    # Without retries the refusal surfaces, carrying the server's delay.
    once = make_client(srv.target, timeout=60.0, retry=None)
    refusals: list[errors.ResourceExhausted] = []
    _wait_for(_refused_once(once, refusals), "a call refused while the stream is held")
    assert refusals[-1].retry_after == pytest.approx(0.05)
    assert refusals[-1].attempts == 1 and once.retries == 0

    # With retries the call waits until the stream closes, then succeeds.
    def release_after_retries() -> None:
        _wait_for(lambda: c.retries >= 3, "three retries")
        release.set()

    threading.Thread(target=release_after_retries, daemon=True).start()
    res = c.mine(name, anchor_ids=["l0"], num_negatives=2)
    assert res.counts.tolist() == [2]
    assert c.retries >= 3
    holder.join()


def test_ingest_waits_out_the_in_flight_limit(
    limited: tuple[ServerProcess, threading.Event], make_client: Callable[..., hardneg.Client]
) -> None:
    """A stream refused for the client's in-flight limit is re-opened after the server's
    delay, as often as it takes, and lands every batch once the limit frees."""
    srv, release = limited
    name = f"wait-{uuid.uuid4().hex[:8]}"
    c = make_client(srv.target, timeout=60.0)
    c.create_collection(name, DIM)
    holder = _hold_stream(srv.target, name, release)
    once = make_client(srv.target, timeout=60.0, retry=None)
    _wait_for(_refused_once(once, []), "a call refused while the stream is held")

    before = _rejected(srv)
    ids = [f"w{i}" for i in range(30)]
    x = unit_rows(30, DIM, seed=54)
    results: list[hardneg.IngestResult] = []
    failures: list[BaseException] = []

    def write() -> None:
        try:
            batches = [(ids[i : i + 10], x[i : i + 10]) for i in range(0, 30, 10)]
            results.append(c.ingest(name, batches, reconnect_timeout=60.0))
        except BaseException as e:  # surfaced by the assertions below
            failures.append(e)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    # Only the writer calls the server now: two more refusals are two of its streams.
    _wait_for(
        lambda: _rejected(srv) >= before + 2 or not writer.is_alive(), "the writer's stream refused twice"
    )
    release.set()
    writer.join(timeout=60)
    holder.join(timeout=60)

    assert not failures, failures
    assert len(results) == 1
    assert results[0].items == 30 and results[0].batches == 3
    assert results[0].reconnects >= 2
    got = c.get_items(name, ids + ["held"])
    assert len(got) == 31 and not got.missing_ids


def test_ingest_does_not_retry_a_size_refusal() -> None:
    """RESOURCE_EXHAUSTED without a RetryInfo detail (a size limit) ends the ingest."""
    from hardneg._ingest import IngestState

    class Refusal(grpc.RpcError):
        def code(self) -> grpc.StatusCode:
            return grpc.StatusCode.RESOURCE_EXHAUSTED

        def details(self) -> str:
            return "message larger than max"

        def trailing_metadata(self) -> tuple[()]:
            return ()

    state = IngestState("c", writer_id=None, first_sequence=1, window=8, progress=False, total=None, reconnect_timeout=60.0)
    assert not state.should_retry(Refusal())


def test_non_idempotent_calls_are_not_retried(make_client: Callable[..., hardneg.Client]) -> None:
    from conftest import free_port

    c = make_client(f"127.0.0.1:{free_port()}", timeout=30.0, retry=hardneg.RetryPolicy(max_attempts=3))
    with pytest.raises(errors.Unavailable) as exc:
        c.delete("c", ["a"])
    assert exc.value.attempts == 1
    with pytest.raises(errors.Unavailable) as exc:
        c.get_collection("c")
    assert exc.value.attempts == 3
    assert c.retries == 2


def test_retries_stop_at_the_deadline(make_client: Callable[..., hardneg.Client]) -> None:
    from conftest import free_port

    policy = hardneg.RetryPolicy(max_attempts=1_000_000, initial_backoff=0.05, max_backoff=0.05)
    c = make_client(f"127.0.0.1:{free_port()}", timeout=5.0, retry=policy)
    with pytest.raises((errors.Unavailable, errors.DeadlineExceeded)) as exc:
        c.list_collections()
    assert 1 < exc.value.attempts < 1_000_000
    # Either the next retry would have started after the deadline (the refusal is raised)
    # or the deadline cut the last attempt short (the refusal before it is the cause).
    if isinstance(exc.value, errors.DeadlineExceeded):
        assert isinstance(exc.value.__cause__, errors.Unavailable)


def test_a_retry_cut_short_by_the_deadline_keeps_the_refusal_as_its_cause() -> None:
    from hardneg import _core

    core = _core.Core("localhost:1", token=None, tls=None, timeout=5.0, max_message_bytes=4 << 20,
                      max_batch_bytes=64 * 1024, options=(), retry=hardneg.RetryPolicy(max_attempts=5))
    op = core.list_collections()
    step = next(op)
    assert isinstance(step, _core.Rpc)
    refusal = errors.Unavailable("connection refused")
    step = op.throw(refusal)
    assert isinstance(step, _core.Sleep)
    step = op.send(None)
    assert isinstance(step, _core.Rpc) and step.timeout is not None and step.timeout <= 5.0
    with pytest.raises(errors.DeadlineExceeded) as exc:
        op.throw(errors.DeadlineExceeded("Deadline Exceeded"))
    assert exc.value.attempts == 2 and exc.value.__cause__ is refusal
    assert core.retries == 1


def test_a_stream_reset_at_the_deadline_is_deadline_exceeded() -> None:
    """When the server's copy of the deadline fires first, grpc-go resets the stream and
    the client sees CANCELLED: past the call's deadline that is DeadlineExceeded (a
    TimeoutError) with the reset as its cause; before it, Cancelled stays Cancelled."""
    from hardneg import _core

    def core(timeout: float) -> _core.Core:
        return _core.Core("localhost:1", token=None, tls=None, timeout=timeout, max_message_bytes=4 << 20,
                          max_batch_bytes=64 * 1024, options=(), retry=hardneg.RetryPolicy(max_attempts=5))

    op = core(0.02).list_collections()
    step = next(op)
    assert isinstance(step, _core.Rpc) and step.timeout is not None
    reset = errors.Cancelled("Stream removed (RST_STREAM with error code 8)", code=grpc.StatusCode.CANCELLED)
    threading.Event().wait(0.05)  # the call's deadline passes
    with pytest.raises(errors.DeadlineExceeded) as exc:
        op.throw(reset)
    assert isinstance(exc.value, TimeoutError) and exc.value.__cause__ is reset and exc.value.attempts == 1
    assert exc.value.code == grpc.StatusCode.DEADLINE_EXCEEDED

    op = core(60.0).list_collections()
    next(op)
    with pytest.raises(errors.Cancelled) as cancelled:
        op.throw(reset)
    assert cancelled.value is reset


def _err(cls: type, retry_after: float | None = None) -> errors.HardnegError:
    e = cls("x")
    e.retry_after = retry_after
    return e


def test_retry_delay_backs_off_with_jitter_and_honours_retry_info() -> None:
    p = hardneg.RetryPolicy(max_attempts=6, initial_backoff=0.1, max_backoff=0.5, multiplier=2.0, jitter=0.5)
    unavailable = _err(errors.Unavailable)
    assert [retry_delay(p, a, unavailable, 0.0) for a in range(1, 6)] == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5])
    assert retry_delay(p, 3, unavailable, 0.999) == pytest.approx(0.4 * (1 - 0.5 * 0.999))
    assert retry_delay(p, 6, unavailable, 0.0) is None  # max_attempts reached
    # RetryInfo replaces the backoff, spread upwards only.
    assert retry_delay(p, 1, _err(errors.ResourceExhausted, 0.2), 0.0) == pytest.approx(0.2)
    assert retry_delay(p, 5, _err(errors.ResourceExhausted, 0.2), 0.5) == pytest.approx(0.25)
    assert retry_delay(p, 1, _err(errors.Unavailable, 1.5), 0.0) == pytest.approx(1.5)
    # Final errors.
    assert retry_delay(p, 1, _err(errors.ResourceExhausted), 0.0) is None  # e.g. message too large
    for cls in (errors.InvalidArgument, errors.NotFound, errors.DeadlineExceeded, errors.Internal):
        assert retry_delay(p, 1, _err(cls), 0.0) is None
    assert retry_delay(None, 1, unavailable, 0.0) is None
    # A server that says it is recovering is waited for past max_attempts, for as long
    # as recovery_wait allows since its first such answer.
    recovering = _err(errors.Unavailable, 1.0)
    assert retry_delay(p, 6, recovering, 0.0, waiting=True) == pytest.approx(1.0)
    assert retry_delay(p, 6, recovering, 0.0, waiting=False) is None
    assert retry_delay(p, 2, recovering, 0.0, waiting=False) == pytest.approx(1.0)  # attempts left


def test_retry_policy_validates() -> None:
    for bad in (
        dict(max_attempts=0),
        dict(initial_backoff=-1.0),
        dict(initial_backoff=3.0, max_backoff=1.0),
        dict(multiplier=0.5),
        dict(jitter=1.5),
        dict(recovery_wait=-1.0),
        dict(recovery_wait=float("inf")),
        dict(recovery_wait=float("nan")),
    ):
        with pytest.raises(ValueError):
            hardneg.RetryPolicy(**bad)  # type: ignore[arg-type]


def test_clients_pickle_with_their_retry_policy() -> None:
    import pickle

    policy = hardneg.RetryPolicy(max_attempts=3)
    c = pickle.loads(pickle.dumps(hardneg.Client("127.0.0.1:1", retry=policy)))
    assert c.retry == policy and c.retries == 0
    a = pickle.loads(pickle.dumps(hardneg.AsyncClient("127.0.0.1:1", retry=None)))
    assert a.retry is None


def test_calls_wait_for_a_server_that_recovers(
    server_binary: str, tmp_path: Path, make_client: Callable[..., hardneg.Client]
) -> None:
    """After a crash the server replays its log before serving, answering UNAVAILABLE
    with reason RECOVERING meanwhile. Idempotent calls and ingests wait for it past
    ``max_attempts`` and ``reconnect_timeout`` (up to ``recovery_wait``) instead of
    failing; with ``recovery_wait=0`` the refusal is raised, saying the server recovers."""
    from conftest import ServerProcess

    # No snapshots: the restart replays every write from the log (seconds for this size).
    srv = ServerProcess(server_binary, tmp_path / "data", tmp_path / "server.log",
                        ("-snapshot-bytes=-1", "-snapshot-interval=-1s", "-shutdown-snapshot-timeout=0"))
    srv.start()
    try:
        n, dim = 12_000, 64
        x = unit_rows(n, dim, seed=7)
        ids = [f"r{i}" for i in range(n)]
        setup = make_client(srv.target, timeout=60.0)
        setup.create_collection("c", dim)
        for i in range(0, n, 4_000):
            setup.upsert("c", ids[i:i + 4_000], x[i:i + 4_000])
        srv.stop(signal.SIGKILL)
        srv.start(wait=False)

        impatient = make_client(srv.target, timeout=60.0, retry=hardneg.RetryPolicy(max_attempts=1, recovery_wait=0))
        refusal: list[errors.Unavailable] = []

        def refused_as_recovering() -> bool:
            try:
                impatient.get_collection("c")
            except errors.Unavailable as e:
                if e.recovering:
                    refusal.append(e)
                    return True
                return False  # not listening yet
            raise AssertionError("the server served before a call found it recovering")

        _wait_for(refused_as_recovering, "a call answered that the server recovers")
        e = refusal[0]
        assert e.attempts == 1 and e.retry_after is not None and e.retry_after > 0
        assert e.recovery_progress is not None and 0 <= e.recovery_progress[0] <= e.recovery_progress[1]
        assert "storage is recovering" in e.message

        # Both started while the server recovers: a mine with no retries of its own and
        # an ingest that would give up after 0.2 s without an acknowledgement.
        waiting = hardneg.RetryPolicy(max_attempts=1, initial_backoff=0.01, recovery_wait=120.0)
        miner = make_client(srv.target, timeout=120.0, retry=waiting)
        writer = make_client(srv.target, timeout=120.0, retry=waiting)
        ingested: list[hardneg.IngestResult] = []
        t = threading.Thread(target=lambda: ingested.append(
            writer.ingest("c", [(["new"], unit_rows(1, dim, seed=8))], reconnect_timeout=0.2)), daemon=True)
        t.start()
        # A call never retried otherwise waits too: the server ran nothing of it.
        creator = make_client(srv.target, timeout=120.0, retry=waiting)
        created: list[hardneg.CollectionInfo] = []
        t2 = threading.Thread(target=lambda: created.append(creator.create_collection("c2", dim)), daemon=True)
        t2.start()
        # The CLI waits too, and says why on stderr rather than hanging silently.
        cli = subprocess.Popen([sys.executable, "-m", "hardneg._cli", "--addr", srv.target, "--json", "info", "c"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        res = miner.mine("c", anchor_ids=ids[:4], num_negatives=3)
        t.join(120)
        t2.join(120)
        assert created and created[0].name == "c2"
        out, err = cli.communicate(timeout=120)
        assert cli.returncode == 0, err
        assert json.loads(out)["name"] == "c"
        assert "hardneg info: GetCollection: the server is recovering its storage" in err, err
        assert res.counts.tolist() == [3] * 4
        assert miner.retries >= 1  # it was refused as recovering, and waited
        assert ingested and ingested[0].items == 1 and ingested[0].reconnects >= 1
        srv.wait_serving(srv.log_offset)
    finally:
        srv.stop()


def test_the_cli_leaves_the_librarys_logging_alone(caplog: pytest.LogCaptureFixture) -> None:
    """hardneg._cli.main run in a process that logs: its notice handler sits on the
    hardneg.recovery logger alone, so the library's other INFO records (retries) stay
    below a WARNING-level root, and the loggers are as they were afterwards."""
    import logging

    from conftest import free_port
    from hardneg import _cli

    caplog.set_level(logging.WARNING)
    before = [(n, logging.getLogger(n).level, list(logging.getLogger(n).handlers), logging.getLogger(n).propagate)
              for n in ("hardneg", "hardneg.recovery")]
    assert _cli.main(["--addr", f"127.0.0.1:{free_port()}", "--timeout", "2", "info", "x"]) == 1
    assert not [r for r in caplog.records if r.name.startswith("hardneg") and r.levelno < logging.WARNING]
    after = [(n, logging.getLogger(n).level, list(logging.getLogger(n).handlers), logging.getLogger(n).propagate)
             for n in ("hardneg", "hardneg.recovery")]
    assert after == before


def test_even_parts_leave_no_short_last_part() -> None:
    """A call of more anchors than a request takes is cut into parts of sizes that differ
    by at most one: 1,030 anchors go as 515 + 515, not 1,024 + 6 (a request of fewer than
    8 anchors is not scored by the server's exact passes)."""
    from hardneg._core import even_parts

    assert even_parts(0, 1030, 1024) == [(0, 515), (515, 1030)]
    assert even_parts(0, 1024, 1024) == [(0, 1024)]
    assert even_parts(100, 103, 1) == [(100, 101), (101, 102), (102, 103)]
    for n, most in ((2500, 1024), (7, 3), (1, 5), (4097, 1024)):
        parts = even_parts(0, n, most)
        sizes = [hi - lo for lo, hi in parts]
        assert parts[0][0] == 0 and parts[-1][1] == n and all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
        assert max(sizes) <= most and max(sizes) - min(sizes) <= 1 and len(parts) == -(-n // most)
