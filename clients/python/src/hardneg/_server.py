"""Finding and running a local miner-server.

Platform wheels of ``hardneg`` carry a static ``miner-server`` binary in
``hardneg/_bin/``; a source install has none and uses ``$HARDNEG_SERVER_BIN`` or a
``miner-server`` on ``PATH``. :class:`LocalServer` runs one as a private child process:
loopback ports chosen by the kernel, its own data directory, stopped with SIGTERM.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Optional, Sequence

__all__ = ["ServerNotFound", "LocalServer", "bundled_binary", "find_binary"]

#: Environment variable naming a miner-server binary to use instead of the bundled one.
BINARY_ENV = "HARDNEG_SERVER_BIN"

_BIN_DIR = Path(__file__).resolve().parent / "_bin"


class ServerNotFound(RuntimeError):
    """No miner-server binary could be found."""


def bundled_binary() -> Optional[str]:
    """The miner-server shipped inside this package (platform wheels only), or None."""
    p = _BIN_DIR / "miner-server"
    if p.is_file():
        if not os.access(p, os.X_OK):
            # Some installers drop the executable bit of package data.
            try:
                p.chmod(p.stat().st_mode | 0o111)
            except OSError:
                return None
        return str(p)
    return None


def find_binary(instead: str = "pass client=hardneg.Client('host:port') for a running server") -> str:
    """Returns the miner-server to run: ``$HARDNEG_SERVER_BIN``, the bundled one, or PATH.

    Args:
        instead: what the caller can do without a binary, said in the error.

    Raises:
        ServerNotFound: none of them exists.
    """
    env = os.environ.get(BINARY_ENV)
    if env:
        if not (os.path.isfile(env) and os.access(env, os.X_OK)):
            raise ServerNotFound(f"${BINARY_ENV}={env!r} is not an executable file")
        return env
    found = bundled_binary() or shutil.which("miner-server")
    if found:
        return found
    raise ServerNotFound(
        "no miner-server binary: this hardneg install has none bundled (platform wheels for "
        f"linux x86_64 and arm64 carry one). Set ${BINARY_ENV} to a miner-server binary, put "
        f"miner-server on PATH, or {instead}."
    )


class LocalServer:
    """A miner-server child process on loopback with a data directory of its own.

    Args:
        binary: the miner-server to run (default :func:`find_binary`).
        data_dir: its data directory; default a temporary directory removed by
            :meth:`stop` (or by the server itself when this process exits without
            calling it). The server's log, ``server.log`` (:attr:`log_path`), is
            written into the data directory: a given one keeps it after the stop, each
            run appending to it.
        args: further command-line flags.
        start_timeout: seconds to wait for the server to report that it is serving.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. The server picks
    free ports itself (``127.0.0.1:0``); :attr:`target` is its gRPC address once started.
    It stops when this process exits, however it exits: its stdin is a pipe only this
    process holds (``--stop-on-stdin-eof``).
    """

    def __init__(
        self,
        binary: Optional[str] = None,
        *,
        data_dir: Optional[str] = None,
        args: Sequence[str] = (),
        start_timeout: float = 60.0,
    ) -> None:
        self.binary = binary or find_binary()
        self._own_dir = data_dir is None
        self._tmp: Optional[str] = None
        self.data_dir = data_dir
        self.args = tuple(args)
        self.start_timeout = start_timeout
        self.target: Optional[str] = None
        self.http_addr: Optional[str] = None
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.log_path: Optional[Path] = None
        self._log_start = 0

    def start(self) -> "LocalServer":
        own = []
        if self._own_dir:
            # The temporary directory is the data directory, its log included: the server
            # removes it when it stops (--ephemeral-data-dir), also after this process died.
            self._tmp = tempfile.mkdtemp(prefix="hardneg-server-")
            self.data_dir = self._tmp
            log_dir = self._tmp
            own = ["--ephemeral-data-dir"]
        else:
            # The log stays with the data: a directory of its own elsewhere would be
            # left behind when this process dies without stop().
            assert self.data_dir is not None
            os.makedirs(self.data_dir, exist_ok=True)
            log_dir = self.data_dir
        self.log_path = Path(log_dir) / "server.log"
        # Appended to: a server already running on the directory (this one then fails on
        # its lock) keeps its log, and so does an earlier run's; this run's starts here.
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            # stdin is a pipe that only this process holds: when it exits, however it
            # exits (SIGKILL included), the pipe closes and the server stops
            # (--stop-on-stdin-eof) instead of running on without an owner.
            self.proc = subprocess.Popen(
                [
                    self.binary,
                    "--grpc-addr=127.0.0.1:0",
                    "--http-addr=127.0.0.1:0",
                    f"--data-dir={self.data_dir}",
                    "--log-format=json",
                    "--stop-on-stdin-eof",
                    *own,
                    *self.args,
                ],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session: Ctrl-C in a terminal signals the foreground process
                # group, and the server must outlive the KeyboardInterrupt long enough
                # for this process to clean up and stop it (stop, or stdin's EOF).
                start_new_session=os.name == "posix",
            )
        try:
            self._wait_serving()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_serving(self) -> None:
        """Reads the JSON log until the server says it is serving, and takes its addresses."""
        assert self.proc is not None and self.log_path is not None
        deadline = time.monotonic() + self.start_timeout
        while True:
            for line in self.log_path.read_bytes()[self._log_start :].splitlines():
                try:
                    rec: dict[str, Any] = json.loads(line)
                except ValueError:
                    continue
                if rec.get("msg") == "serving":
                    self.target = str(rec["grpc"])
                    self.http_addr = str(rec.get("http", ""))
                    return
            if self.proc.poll() is not None:
                raise RuntimeError(f"miner-server exited with {self.proc.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"miner-server not serving after {self.start_timeout}s:\n{self.log_tail()}")
            time.sleep(0.02)

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_bytes()[-n:].decode(errors="replace") if self.log_path else ""
        except OSError:
            return ""

    def stop(self, timeout: float = 30.0) -> Optional[int]:
        """Stops the server (SIGTERM, then SIGKILL after ``timeout``) and removes its
        temporary directory. Returns its exit code."""
        code: Optional[int] = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            code = self.proc.returncode
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        return code

    def __enter__(self) -> "LocalServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
