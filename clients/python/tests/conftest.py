"""Fixtures that build and run a real miner-server for the client tests.

The server is built once per session with ``go build ./cmd/miner-server`` from the
repository root (two levels above clients/python), or taken from ``$HARDNEG_SERVER_BIN``
when that names a prebuilt binary. Each server runs on free loopback ports with its own
data directory and is stopped with SIGTERM.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator, Optional

import grpc
import numpy as np
import pytest

import hardneg

REPO_ROOT = Path(__file__).resolve().parents[3]
START_TIMEOUT_S = 60.0

# Test modules that import packages only their marker's extra installs (torch,
# sentence-transformers, datasets): collected only when `-m` selects that marker, so the
# default run (whose addopts deselect the marker) does not import them.
_MARKER_MODULES = {"test_datasets_compat.py": "compat", "test_training_torch.py": "compat"}


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> Optional[bool]:
    marker = _MARKER_MODULES.get(collection_path.name)
    if marker is None:
        return None
    selected = re.search(rf"(?<!not )\b{marker}\b", config.getoption("markexpr") or "") is not None
    return None if selected else True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """One miner-server process; restartable on the same ports and data directory."""

    def __init__(self, binary: str, data_dir: Path, log_path: Path, extra_args: tuple[str, ...] = ()) -> None:
        self.binary = binary
        self.data_dir = data_dir
        self.log_path = log_path
        self.extra_args = extra_args
        # Port 0 on the first start: the server binds ports the kernel chooses and logs
        # them; a restart reuses them so that clients keep their target.
        self.grpc_port = 0
        self.http_port = 0
        self.proc: Optional[subprocess.Popen[bytes]] = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def start(self, wait: bool = True) -> None:
        """Starts the server; with ``wait`` (the default) returns once it serves, else at
        once (a restart keeps the ports, so ``target`` is known; ``wait_serving`` waits
        later)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [
                self.binary,
                f"--grpc-addr=127.0.0.1:{self.grpc_port}",
                f"--http-addr=127.0.0.1:{self.http_port}",
                f"--data-dir={self.data_dir}",
                "--log-format=json",
                *self.extra_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.log_offset = offset
        if wait:
            self.wait_serving(offset)

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_bytes()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def wait_serving(self, offset: int = 0) -> None:
        """Reads the server's JSON log (from ``offset``, where this start began) until it
        says "serving" -- logged after health reports SERVING -- and takes its ports."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert self.proc is not None
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                lines = f.read().splitlines()
            for line in lines:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if isinstance(rec, dict) and rec.get("msg") == "serving":
                    self.grpc_port = int(str(rec["grpc"]).rsplit(":", 1)[1])
                    http = str(rec.get("http") or "")
                    self.http_port = int(http.rsplit(":", 1)[1]) if ":" in http else 0
                    return
            if self.proc.poll() is not None:
                raise RuntimeError(f"miner-server exited with {self.proc.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"miner-server not serving after {START_TIMEOUT_S}s:\n{self.log_tail()}")
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Signals the server and waits for it to exit; returns its exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"miner-server ignored signal {sig} for {timeout}s:\n{self.log_tail()}")

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="session")
def server_binary(tmp_path_factory: pytest.TempPathFactory) -> str:
    prebuilt = os.environ.get("HARDNEG_SERVER_BIN")
    if prebuilt:
        return prebuilt
    out = tmp_path_factory.mktemp("bin") / "miner-server"
    subprocess.run(
        ["go", "build", "-o", str(out), "./cmd/miner-server"],
        cwd=REPO_ROOT,
        check=True,
    )
    return str(out)


def _spawn(binary: str, root: Path, extra_args: tuple[str, ...] = ()) -> ServerProcess:
    srv = ServerProcess(binary, root / "data", root / "server.log", extra_args)
    srv.start()
    return srv


@pytest.fixture(scope="session")
def server(server_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A miner-server shared by the whole session."""
    srv = _spawn(server_binary, tmp_path_factory.mktemp("server"))
    yield srv
    srv.stop()


@pytest.fixture
def own_server(server_binary: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """A miner-server of this test alone (for restarts)."""
    srv = _spawn(server_binary, tmp_path)
    yield srv
    srv.stop()


class AsyncAsSync:
    """Runs a :class:`hardneg.AsyncClient` behind the synchronous client's interface.

    Each method call runs the coroutine to completion on an event loop owned by the
    adapter, so one test body exercises both clients (see the ``make_client`` fixture).
    """

    def __init__(self, target: str, **kwargs: object) -> None:
        self._loop = asyncio.new_event_loop()
        self._client = hardneg.AsyncClient(target, **kwargs)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> object:
        attr = getattr(self._client, name)
        if not inspect.iscoroutinefunction(attr):
            return attr
        return lambda *a, **kw: self._loop.run_until_complete(attr(*a, **kw))

    def close(self) -> None:
        if not self._loop.is_closed():
            self._loop.run_until_complete(self._client.close())
            self._loop.close()

    def __enter__(self) -> "AsyncAsSync":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AsyncAsSync({self._client!r})"


@pytest.fixture(params=["sync", "asyncio"])
def make_client(request: pytest.FixtureRequest) -> Iterator[Callable[..., hardneg.Client]]:
    """A factory of clients, run once with :class:`hardneg.Client` and once with
    :class:`hardneg.AsyncClient` (through :class:`AsyncAsSync`); closes them afterwards."""
    made: list[object] = []

    def make(target: str, **kwargs: object) -> hardneg.Client:
        c: object = hardneg.Client(target, **kwargs) if request.param == "sync" else AsyncAsSync(target, **kwargs)  # type: ignore[arg-type]
        made.append(c)
        return c  # type: ignore[return-value]

    yield make
    for c in made:
        c.close()  # type: ignore[attr-defined]


@pytest.fixture
def client(server: ServerProcess, make_client: Callable[..., hardneg.Client]) -> hardneg.Client:
    """A client of the shared server, once sync and once asyncio."""
    return make_client(server.target, timeout=30.0)


@pytest.fixture
def sync_client(server: ServerProcess) -> Iterator[hardneg.Client]:
    """A synchronous client of the shared server (for what only it has: fork, pickling)."""
    with hardneg.Client(server.target, timeout=30.0) as c:
        yield c


@pytest.fixture
def collection(client: hardneg.Client) -> Iterator[str]:
    """A fresh, empty 16-d cosine collection; deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    client.create_collection(name, dim=16, metric="cosine")
    yield name
    client.delete_collection(name, missing_ok=True)


def unit_rows(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """n random unit vectors (float32)."""
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


class CuttableProxy:
    """A loopback TCP proxy whose open connections can be cut, to break streams without
    restarting the server. With ``first_byte_delay_s`` it holds the server's first bytes
    on each connection (its HTTP/2 SETTINGS frame) that long, like a slow link."""

    def __init__(self, upstream_port: int, first_byte_delay_s: float = 0.0) -> None:
        import threading

        self.upstream_port = upstream_port
        self.first_byte_delay_s = first_byte_delay_s
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = int(self.listener.getsockname()[1])
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self.cuts = 0
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        import threading

        while not self._closed:
            try:
                down, _ = self.listener.accept()
            except OSError:
                return
            try:
                up = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                down.close()
                continue
            with self._lock:
                self._conns += [down, up]
            for a, b, delay in ((down, up, 0.0), (up, down, self.first_byte_delay_s)):
                threading.Thread(target=self._pipe, args=(a, b, delay), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket, delay_s: float) -> None:
        try:
            first = True
            while data := src.recv(65536):
                if first and delay_s > 0:
                    time.sleep(delay_s)
                first = False
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        """Resets every open connection (new ones are still accepted)."""
        import struct

        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
            except OSError:
                pass
        self.cuts += 1

    def close(self) -> None:
        self._closed = True
        self.listener.close()
        self.cut()


@pytest.fixture
def proxy(server: ServerProcess) -> Iterator[CuttableProxy]:
    p = CuttableProxy(server.grpc_port)
    yield p
    p.close()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA and a server certificate for 127.0.0.1 / localhost, made with openssl."""
    d = tmp_path_factory.mktemp("pki")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=hardneg test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=localhost")
    (d / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr",
        "-subj", "/CN=trainer")
    run("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "client.pem", "-days", "2")
    return d


def cli_run(capsys: pytest.CaptureFixture[str], srv: ServerProcess, *args: str) -> tuple[int, str, str]:
    """Runs the ``hardneg`` command in-process against srv; returns (exit status, stdout,
    stderr)."""
    from hardneg import _cli

    code = _cli.main(["--addr", srv.target, *args])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_failure(code: int, err: str, command: str, want: str) -> None:
    """Checks a command's failure: exit 1 and one line on stderr, naming the command and
    saying want."""
    assert code == 1, err
    assert err.startswith(f"hardneg {command}: "), err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert want in err, err

