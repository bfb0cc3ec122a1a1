"""Mine latency through the Python client, old against new, interleaved.

``make bench`` measures Mine once per run, minutes after the other systems; on a shared
machine that compares the load more than the code. This ingests the collection once
(``prepare``: a real miner-server, the Python client, then a snapshot so that every later
start loads the graph instead of rebuilding it), then runs ROUNDS rounds in which each
variant (a server binary and the Python client's source tree) starts on a fresh copy of
that data directory and answers the same Mine requests as bench/py/e2e.py (32 anchors,
k 8, the all-rules policy, raw query vectors with one positive id each). Per variant and
round it reports p50 / p99 of the client's wall time, the server's mean handling time
(``server_ms``: grpc_server_handling_seconds from its /metrics, the time from the request's
arrival to the answer's send), the server's CPU time per request (/proc), the client's CPU time per request, and of that the CPU time spent building the
anchors (``codec.AnchorBlock``, or ``codec.build_anchors`` in a client that predates it) and decoding the response (``codec.mine_result``); at
the end the median of each over the rounds. CPU times move far less with the load of a
shared machine than wall times.

    python bench/py/mine_ab.py prepare --server bin/miner-server --data bench/out/data/ann-100000 --work /tmp/ab
    python bench/py/mine_ab.py run --work /tmp/ab --data bench/out/data/ann-100000 \\
        --variant old=/tmp/old/miner-server:/tmp/old/clients/python/src \\
        --variant new=bin/miner-server:clients/python/src --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def prepare(a: argparse.Namespace) -> None:
    import numpy as np

    import data as datamod
    from e2e import ingest, server

    d = datamod.load(Path(a.data))
    base = np.ascontiguousarray(d["base"][: a.n] if a.n else d["base"])
    groups = d["groups"][: base.shape[0]] if d["groups"] is not None else None
    with server(a.server) as (proc, client, datadir):
        client.create_collection("bench", base.shape[1], "cosine")
        res, t = ingest(client, "bench", base, groups)
        print(f"ingested {res.items} vectors in {t.seconds:.1f} s", file=sys.stderr)
        client.snapshot("bench")
        proc.terminate()
        proc.wait(timeout=60)
        dest = Path(a.work) / "data"
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(datadir, dest)
    (Path(a.work) / "meta.json").write_text(json.dumps({"n": int(base.shape[0]), "data": str(a.data)}))


def worker(a: argparse.Namespace) -> None:
    """One variant, one round: runs under the variant's PYTHONPATH, prints JSON."""
    import numpy as np

    import data as datamod
    import hardneg
    from hardneg import _core
    from common import handling_seconds, percentile, server_cpu, start_profile
    from e2e import POLICIES, server

    codec = _core.codec
    spent = {"encode": 0.0, "decode": 0.0}

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            t0 = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += time.thread_time() - t0

        return wrapper

    if hasattr(codec, "AnchorBlock"):  # anchors checked once, sent in columns or rows
        for name in ("__init__", "columns", "rows"):
            setattr(codec.AnchorBlock, name, timed("encode", getattr(codec.AnchorBlock, name)))
    else:
        codec.build_anchors = timed("encode", codec.build_anchors)
    codec.mine_result = timed("decode", codec.mine_result)

    d = datamod.load(Path(a.data))
    queries, gt = d["queries"], d["gt"]
    with server(a.server, seed=Path(a.work) / "data", start_timeout=120) as (proc, client, _):
        nq, na = len(queries), a.anchors
        pol = POLICIES[a.policy]

        def request(r: int):
            rows = [(r * na + j) % nq for j in range(na)]
            pos = [[f"d{int(gt[q, 0])}"] for q in rows]
            keys = [f"q{q}" for q in rows]
            return client.mine("bench", anchor_vectors=queries[rows], positive_ids=pos, keys=keys, **pol)

        for r in range(a.warmup):
            request(r)
        spent["encode"] = spent["decode"] = 0.0
        fetch = start_profile(proc.http_port, a.profile_seconds, a.profile) if a.profile else None
        lat, short = [], 0
        h0 = handling_seconds(proc.http_port, "Mine")
        cpu0, ccpu0 = server_cpu(proc.pid), time.process_time()
        for r in range(a.requests):
            t0 = time.perf_counter()
            res = request(r)
            lat.append((time.perf_counter() - t0) * 1e3)
            short += int((res.shortfall > 0).sum())
        cpu1, ccpu1 = server_cpu(proc.pid), time.process_time()
        h1 = handling_seconds(proc.http_port, "Mine")
        if h1[1] - h0[1] != a.requests:
            raise SystemExit(f"/metrics counted {h1[1] - h0[1]} Mine calls, {a.requests} were made")
        if fetch is not None:
            while fetch.is_alive():  # keep the server busy until the profile is taken
                request(0)
            fetch.join()
        n = a.requests
        print(json.dumps({
            "p50_ms": percentile(lat, 0.5), "p99_ms": percentile(lat, 0.99), "mean_ms": statistics.fmean(lat),
            "server_ms": (h1[0] - h0[0]) * 1e3 / n, "server_cpu_ms": (cpu1 - cpu0) * 1e3 / n, "client_cpu_ms": (ccpu1 - ccpu0) * 1e3 / n,
            "encode_ms": spent["encode"] * 1e3 / n, "decode_ms": spent["decode"] * 1e3 / n,
            "short": short, "load1": os.getloadavg()[0],
        }))


FIELDS = ["p50_ms", "p99_ms", "server_ms", "server_cpu_ms", "client_cpu_ms", "encode_ms", "decode_ms", "load1"]


def run(a: argparse.Namespace) -> None:
    from common import parse_variants, variant_env

    variants = parse_variants(a.variant)
    rows: dict[str, list[dict]] = {name: [] for name, _, _ in variants}
    for r in range(1, a.rounds + 1):
        order = variants if r % 2 else variants[::-1]
        for name, binary, src in order:
            env = variant_env(src, HERE)
            out = subprocess.run(
                [sys.executable, __file__, "worker", "--server", binary, "--work", a.work, "--data", a.data,
                 "--requests", str(a.requests), "--warmup", str(a.warmup), "--anchors", str(a.anchors), "--policy", a.policy],
                env=env, check=True, capture_output=True, text=True,
            )
            m = json.loads(out.stdout.strip().splitlines()[-1])
            rows[name].append(m)
            print(f"round {r} {name}: " + " ".join(f"{k} {m[k]:.2f}" for k in FIELDS), file=sys.stderr, flush=True)
    print(f"median of {a.rounds} rounds, {a.requests} requests each ({a.anchors} anchors, policy {a.policy}):")
    print("| variant | " + " | ".join(FIELDS) + " |")
    print("|---|" + "---|" * len(FIELDS))
    for name, ms in rows.items():
        print(f"| {name} | " + " | ".join(f"{statistics.median(m[k] for m in ms):.2f}" for k in FIELDS) + " |")
    if a.out:
        Path(a.out).write_text(json.dumps(rows, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--server", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--n", type=int, default=0, help="use the first n vectors (0: all)")
    for name in ("run", "worker"):
        p = sub.add_parser(name)
        p.add_argument("--work", required=True)
        p.add_argument("--data", required=True)
        p.add_argument("--requests", type=int, default=200)
        p.add_argument("--warmup", type=int, default=20)
        p.add_argument("--anchors", type=int, default=32)
        p.add_argument("--policy", default="all-rules")
        if name == "run":
            p.add_argument("--variant", action="append", required=True, help="NAME=SERVER[:CLIENT_SRC]")
            p.add_argument("--rounds", type=int, default=5)
            p.add_argument("--out")
        else:
            p.add_argument("--server", required=True)
            p.add_argument("--profile", help="save the server's CPU profile taken during the requests here")
            p.add_argument("--profile-seconds", type=int, default=10)
    a = ap.parse_args()
    sys.path.insert(0, str(HERE))
    {"prepare": prepare, "run": run, "worker": worker}[a.cmd](a)


if __name__ == "__main__":
    main()
