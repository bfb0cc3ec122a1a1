"""Helpers shared by the benchmark's Python parts."""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path


def proc_stat(pid: int) -> tuple[float, float, int]:
    """A process's CPU time (utime + stime) and system CPU time in seconds, and its minor
    page faults, from /proc/PID/stat."""
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return (int(f[11]) + int(f[12])) / tck, int(f[12]) / tck, int(f[7])


def server_cpu(pid: int) -> float:
    """utime + stime of a process in seconds."""
    return proc_stat(pid)[0]


def start_profile(http_port: int, seconds: int, path: str):
    """Starts taking a server's CPU profile (its -pprof endpoint) for seconds on another
    thread, saved to path; returns the thread (join it once the server's work spans the
    profile)."""
    import threading
    import urllib.request

    def grab() -> None:
        url = f"http://127.0.0.1:{http_port}/debug/pprof/profile?seconds={seconds}"
        with urllib.request.urlopen(url, timeout=seconds + 60) as r:
            Path(path).write_bytes(r.read())

    t = threading.Thread(target=grab)
    t.start()
    return t


def handling_seconds(http_port: int, method: str) -> tuple[float, int]:
    """The server's summed handling time (seconds) and count of finished calls of one
    gRPC method, from its /metrics (grpc_server_handling_seconds)."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=10) as r:
        text = r.read().decode()
    total, count = 0.0, 0
    for line in text.splitlines():
        if line.startswith("grpc_server_handling_seconds_") and f'grpc_method="{method}"' in line:
            name, value = line.split("{", 1)[0], float(line.rsplit(" ", 1)[1])
            if name.endswith("_sum"):
                total += value
            elif name.endswith("_count"):
                count += int(value)
    return total, count


def proc_status(field: str, pid: str = "self") -> int:
    """A /proc/<pid>/status field (VmRSS, VmHWM) in bytes, or 0."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def percentile(xs: list[float], q: float) -> float:
    """Nearest-rank q-quantile (0–1), as hardneg-bench computes it."""
    if not xs:
        return 0.0
    s = sorted(xs)
    i = int(q * len(s) + 0.999999) - 1
    return s[max(0, min(i, len(s) - 1))]


def recall(got, gt) -> float:
    """Mean |got_i ∩ gt_i| / k over rows."""
    total = 0.0
    for g, w in zip(got, gt):
        total += len(set(int(x) for x in g) & set(int(x) for x in w)) / len(w)
    return total / max(1, len(gt))


def emit(obj: dict, out: str | None) -> None:
    text = json.dumps(obj, indent=1)
    if out:
        Path(out).write_text(text)
    else:
        print(text)


class Timer:
    def __enter__(self) -> "Timer":
        self.t0, self.c0 = time.perf_counter(), cpu_seconds()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.t0
        self.cpu = cpu_seconds() - self.c0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def parse_variants(specs: list[str]) -> list[tuple[str, str, str]]:
    """NAME=SERVER[:CLIENT_SRC] specs as (name, server binary, client source tree or "")
    with absolute paths."""
    out = []
    for v in specs:
        name, _, rest = v.partition("=")
        binary, _, src = rest.partition(":")
        out.append((name, str(Path(binary).resolve()), str(Path(src).resolve()) if src else ""))
    return out


def variant_env(src: str, here: Path) -> dict[str, str]:
    """The environment of a variant's worker: its client source tree, then here, first
    on PYTHONPATH."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join(x for x in [src, str(here)] if x))
