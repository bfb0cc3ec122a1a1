"""hardneg end to end: a real miner-server and the Python client.

Measures durable streaming ingest (vectors/s through ``Client.ingest``), the server's
resident memory per vector, search through ``Mine`` with every rule off (µs/query and
recall@10 across ef, one anchor per request), and ``Mine`` latency percentiles at 1, 32
and 256 anchors per request with the default policy (k 8) and with every rule on.

    python bench/py/e2e.py --server bin/miner-server --data DIR [--out FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

import data as datamod
from common import Timer, emit, log, percentile, proc_status, recall

K_MINE = 8

# The same two policies as bench/cmd/hardneg-bench/mine.go.
POLICIES = {
    "default": dict(num_negatives=K_MINE),
    "all-rules": dict(
        num_negatives=K_MINE,
        exclude_same_group=True,
        duplicate_threshold=0.95,
        relative_margin=0.05,
        absolute_margin=0.01,
        min_score=0.0,
        max_score=0.99,
        in_batch_exclusion=True,
        use_feedback=True,
        diversity_threshold=0.98,
    ),
}
# Every rule off, k = 10, window [0, 10): Mine as a plain top-10 search.
SEARCH_POLICY = dict(num_negatives=10, exclude_same_group=False, in_batch_exclusion=False, use_feedback=False, widen=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server(binary: str, extra_env: dict | None = None, seed: Path | None = None, start_timeout: float = 30):
    """Starts miner-server on free loopback ports with a temporary data directory (a copy
    of seed when given, which the server recovers before it answers)."""
    import hardneg

    tmp = tempfile.mkdtemp(prefix="hardneg-bench-")
    if seed is not None:
        shutil.copytree(seed, Path(tmp) / "data")
    grpc_port, http_port = free_port(), free_port()
    env = dict(os.environ, **(extra_env or {}))
    proc = subprocess.Popen(
        [binary, f"--grpc-addr=127.0.0.1:{grpc_port}", f"--http-addr=127.0.0.1:{http_port}", f"--data-dir={tmp}/data", "--log-level=warn", "--pprof"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    proc.http_port = http_port  # type: ignore[attr-defined]
    client = hardneg.Client(f"127.0.0.1:{grpc_port}")
    try:
        deadline = time.time() + start_timeout
        while True:
            try:
                client.list_collections()
                break
            except Exception:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"miner-server did not start: {proc.stderr.read().decode()[-2000:]}")
                time.sleep(0.1)
        yield proc, client, Path(tmp) / "data"
    finally:
        client.close()
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def dir_bytes(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def ingest(client, name: str, base: np.ndarray, groups, batch: int = 1024, window: int = 8):
    ids = [f"d{i}" for i in range(base.shape[0])]

    def batches():
        for lo in range(0, base.shape[0], batch):
            hi = min(lo + batch, base.shape[0])
            g = [[f"g{int(x)}"] for x in groups[lo:hi]] if groups is not None else None
            yield (ids[lo:hi], np.ascontiguousarray(base[lo:hi]), g) if g is not None else (ids[lo:hi], np.ascontiguousarray(base[lo:hi]))

    with Timer() as t:
        res = client.ingest(name, batches(), window=window)
    return res, t


def mine_latency(client, name: str, queries: np.ndarray, gt: np.ndarray, anchors: int, requests: int, policy: dict) -> dict:
    nq = len(queries)
    lat, short = [], 0
    for r in range(requests):
        rows = [(r * anchors + j) % nq for j in range(anchors)]
        pos = [[f"d{int(gt[q, 0])}"] for q in rows]
        keys = [f"q{q}" for q in rows]
        t0 = time.perf_counter()
        res = client.mine(name, anchor_vectors=queries[rows], positive_ids=pos, keys=keys, **policy)
        lat.append((time.perf_counter() - t0) * 1e3)
        short += int((res.shortfall > 0).sum())
    return {"anchors": anchors, "k": K_MINE, "requests": requests, "p50_ms": percentile(lat, 0.5),
            "p99_ms": percentile(lat, 0.99), "mean_ms": float(np.mean(lat)), "short": short}


def profile_while(port: int, seconds: int, dest: Path, work) -> None:
    """Saves the server's CPU profile taken while work() runs."""
    import threading
    import urllib.request

    def fetch() -> None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/debug/pprof/profile?seconds={seconds}", timeout=seconds + 30) as r:
                dest.write_bytes(r.read())
        except OSError as e:
            log(f"e2e: no server profile: {e}")

    t = threading.Thread(target=fetch)
    t.start()
    time.sleep(0.2)
    deadline = time.time() + seconds
    while time.time() < deadline:
        work()
    t.join()


def requests_for(requests: int, anchors: int) -> int:
    """As hardneg-bench: fewer requests for large ones, at least 20; up to 32 anchors
    per request all of them, so that a p99 (nearest rank) is not the slowest request."""
    return max(20, min(requests, requests * 32 // anchors))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--ef", default="10,16,32,64,128,256")
    ap.add_argument("--queries", type=int, default=0, help="queries of the search sweep (0: all)")
    ap.add_argument("--mine-anchors", default="1,32,256")
    ap.add_argument("--mine-requests", type=int, default=200)
    ap.add_argument("--profile", help="save the server's CPU profile during 32-anchor all-rules Mine requests here")
    ap.add_argument("--quantization", default="", choices=["", "none", "int8"], help="the collection's graph quantization ('': server default)")
    ap.add_argument("--out")
    a = ap.parse_args()
    d = datamod.load(Path(a.data))
    base = np.ascontiguousarray(d["base"])
    queries, gt = d["queries"], d["gt"]
    nq = a.queries or len(queries)
    res: dict = {"system": "hardneg end to end (miner-server + Python client)", "n": int(base.shape[0]), "dim": int(base.shape[1]), "notes": []}
    with server(a.server) as (proc, client, datadir):
        pid = str(proc.pid)
        from hardneg import IndexParams

        client.create_collection("bench", base.shape[1], "cosine", index_params=IndexParams(quantization=a.quantization))
        rss0 = proc_status("VmRSS", pid)
        ir, t = ingest(client, "bench", base, d["groups"])
        res["ingest"] = {"vectors": ir.items, "batches": ir.batches, "batch_size": 1024, "window": 8,
                         "seconds": t.seconds, "vectors_per_s": ir.items / t.seconds,
                         "client_cpu_seconds": t.cpu, "data_dir_bytes": dir_bytes(datadir)}
        log(f"e2e: ingested {ir.items} vectors in {t.seconds:.1f}s")
        time.sleep(1)
        rss = proc_status("VmRSS", pid) - rss0
        res["rss_bytes"] = rss
        res["bytes_per_vector"] = rss / base.shape[0]
        res["build"] = [{"threads": os.cpu_count(), "seconds": t.seconds, "inserts_per_s": ir.items / t.seconds}]
        res["sweep"] = []
        for i in range(min(nq, 50)):  # warm the connection and the server
            client.mine("bench", anchor_vectors=queries[i : i + 1], **SEARCH_POLICY)
        for ef in [int(x) for x in a.ef.split(",") if x]:
            got, lat = [], []
            for i in range(nq):
                t0 = time.perf_counter()
                r = client.mine("bench", anchor_vectors=queries[i : i + 1], ef_search=ef, **SEARCH_POLICY)
                lat.append(time.perf_counter() - t0)
                got.append([int(x[1:]) for x in r.ids[0] if x is not None])
            us = float(np.mean(lat)) * 1e6
            res["sweep"].append({"ef": ef, "queries": nq, "us_per_query": us, "qps": 1e6 / us, "recall": recall(got, gt[:nq, :10])})
        res["notes"].append("search: Mine with one anchor per request and every rule off, through the Python client")
        res["mine"] = []
        for name, pol in POLICIES.items():
            for na in [int(x) for x in a.mine_anchors.split(",") if x]:
                m = mine_latency(client, "bench", queries, gt, na, requests_for(a.mine_requests, na), pol)
                m["policy"] = name
                res["mine"].append(m)
                log(f"e2e: mine {name} {na} anchors p50 {m['p50_ms']:.2f} ms p99 {m['p99_ms']:.2f} ms")
        if a.profile:
            rows = list(range(32))
            pos = [[f"d{int(gt[q, 0])}"] for q in rows]
            profile_while(proc.http_port, 5, Path(a.profile),
                          lambda: client.mine("bench", anchor_vectors=queries[rows], positive_ids=pos, **POLICIES["all-rules"]))
        res["server_peak_rss_bytes"] = proc_status("VmHWM", pid)
    emit(res, a.out)


if __name__ == "__main__":
    main()
