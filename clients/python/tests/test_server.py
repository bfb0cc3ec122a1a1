"""hardneg._server (finding and running a local miner-server) and the ``hardneg serve`` command."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

import hardneg
from hardneg import _server


def test_find_binary_prefers_the_environment_then_the_bundled_one_then_path(
    server_binary: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    on_path = tmp_path / "miner-server"
    on_path.write_text("#!/bin/sh\n")
    on_path.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv(_server.BINARY_ENV, server_binary)
    monkeypatch.setattr(_server, "bundled_binary", lambda: "/bundled/miner-server")
    assert _server.find_binary() == server_binary
    monkeypatch.delenv(_server.BINARY_ENV)
    assert _server.find_binary() == "/bundled/miner-server"
    monkeypatch.setattr(_server, "bundled_binary", lambda: None)
    assert _server.find_binary() == str(on_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(_server.ServerNotFound, match="HARDNEG_SERVER_BIN"):
        _server.find_binary()
    monkeypatch.setenv(_server.BINARY_ENV, str(tmp_path / "nope"))
    with pytest.raises(_server.ServerNotFound, match="not an executable"):
        _server.find_binary()


def test_bundled_binary_restores_a_lost_executable_bit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "miner-server").write_text("#!/bin/sh\n")
    (tmp_path / "miner-server").chmod(0o644)
    monkeypatch.setattr(_server, "_BIN_DIR", tmp_path)
    assert _server.bundled_binary() == str(tmp_path / "miner-server")
    assert (tmp_path / "miner-server").stat().st_mode & stat.S_IXUSR


def test_local_server_serves_and_cleans_up(server_binary: str) -> None:
    with _server.LocalServer(server_binary) as srv:
        assert srv.target is not None and srv.target.startswith("127.0.0.1:")
        with hardneg.Client(srv.target, timeout=30) as c:
            c.create_collection("x", dim=4)
            assert [info.name for info in c.list_collections()] == ["x"]
        data_dir = srv.data_dir
        assert data_dir is not None and os.path.isdir(data_dir)
    assert srv.proc is not None and srv.proc.returncode == 0  # stopped gracefully by SIGTERM
    assert not os.path.exists(data_dir)


def test_local_server_runs_in_its_own_session(server_binary: str) -> None:
    # Ctrl-C in a terminal signals the whole foreground process group: the server must
    # not die with the KeyboardInterrupt before its owner has cleaned up.
    with _server.LocalServer(server_binary) as srv:
        assert srv.proc is not None
        assert os.getsid(srv.proc.pid) == srv.proc.pid != os.getsid(0)
        assert os.getpgid(srv.proc.pid) != os.getpgid(0)


def test_local_server_keeps_a_given_data_dir(server_binary: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    with _server.LocalServer(server_binary, data_dir=str(data)) as srv:
        assert srv.target is not None
        with hardneg.Client(srv.target, timeout=30) as c:
            c.create_collection("kept", dim=4)
    with _server.LocalServer(server_binary, data_dir=str(data)) as srv:
        assert srv.target is not None
        with hardneg.Client(srv.target, timeout=30) as c:
            assert [info.name for info in c.list_collections()] == ["kept"]
        # A second server on the same directory fails on its lock; the running one's
        # log is kept (each run appends), and the second reports its own failure.
        first = (data / "server.log").read_bytes()
        with pytest.raises(RuntimeError, match="exited with"):
            _server.LocalServer(server_binary, data_dir=str(data)).start()
        assert (data / "server.log").read_bytes().startswith(first)
    assert (data / "server.log").read_bytes().count(b'"msg":"serving"') == 2


@pytest.mark.parametrize("kill", ["SIGKILL", "SIGTERM"])
def test_local_server_stops_and_cleans_up_when_its_owner_is_killed(server_binary: str, kill: str, tmp_path: Path) -> None:
    """A process that started a LocalServer and dies without stopping it (killed by a
    scheduler, OOM) does not leave the server running, nor any temporary directory; a
    given data directory stays, with the server's log in it."""
    script = (
        "import sys, time\n"
        "from hardneg import _server\n"
        "srv = _server.LocalServer(sys.argv[1], data_dir=sys.argv[2] or None).start()\n"
        "print(srv.proc.pid, srv.data_dir, flush=True)\n"
        "time.sleep(300)\n"
    )
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    for given in ("", str(tmp_path / "data")):
        owner = subprocess.Popen([sys.executable, "-c", script, server_binary, given], stdout=subprocess.PIPE, text=True, env=env)
        try:
            assert owner.stdout is not None
            pid_s, data_dir = owner.stdout.readline().split()
            pid = int(pid_s)
            assert os.path.isdir(data_dir)
            owner.send_signal(getattr(signal, kill))
            owner.wait(timeout=30)
            deadline = time.monotonic() + 60
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not _alive(pid), f"miner-server {pid} still runs after its owner got {kill}"
            deadline = time.monotonic() + 10
            while given == "" and os.path.exists(data_dir) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert os.path.exists(data_dir) == bool(given), (given, os.listdir(data_dir) if os.path.exists(data_dir) else None)
            assert os.listdir(tmp) == [], (given, os.listdir(tmp))
            if given:
                assert b'"msg":"serving"' in (Path(given) / "server.log").read_bytes()
        finally:
            owner.kill()
            owner.wait()


def _alive(pid: int) -> bool:
    """Whether pid runs (a zombie, exited but not yet reaped by init, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_local_server_reports_a_failed_start(server_binary: str) -> None:
    with pytest.raises(RuntimeError, match="exited with"):
        _server.LocalServer(server_binary, args=["--no-such-flag"]).start()


def _cli(*args: str, binary: str | None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop(_server.BINARY_ENV, None)
    if binary:
        env[_server.BINARY_ENV] = binary
    env["PATH"] = os.path.dirname(sys.executable)
    return subprocess.run([sys.executable, "-m", "hardneg._cli", *args], capture_output=True, text=True, env=env,
                          timeout=60)


def test_hardneg_serve_runs_the_server(server_binary: str) -> None:
    out = _cli("serve", "--help", binary=server_binary)
    assert "-grpc-addr" in out.stdout + out.stderr
    bad = _cli("serve", "--no-such-flag", binary=server_binary)
    assert bad.returncode != 0 and "no-such-flag" in bad.stderr


def test_hardneg_cli_usage_and_missing_binary() -> None:
    assert _cli(binary=None).returncode == 2
    assert "run the miner-server in the foreground" in _cli("--help", binary=None).stdout
    unknown = _cli("nonsense", binary=None)
    assert unknown.returncode == 2 and "invalid choice: 'nonsense'" in unknown.stderr
    if _server.bundled_binary() is None:
        missing = _cli("serve", binary=None)
        assert missing.returncode == 1 and "no miner-server binary" in missing.stderr
        # --help still explains the command, and where a binary comes from.
        usage = _cli("serve", "--help", binary=None)
        assert usage.returncode == 0 and "usage: hardneg serve" in usage.stdout
        assert "HARDNEG_SERVER_BIN" in usage.stdout
