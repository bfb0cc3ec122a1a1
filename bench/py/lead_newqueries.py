"""Mining recall of new queries, and its cost, for server builds side by side.

Random unit vectors are data without structure for a graph to find, so the first-pass
lead a collection measures decides how much of the exact top k Mine returns. This
ingests N random DIM-d vectors (seeded) into a real miner-server once per build, waits
for the collection's lead measurement, then mines Q new random queries (no positives,
``num_negatives`` K, requests of 32) and compares each anchor's negatives with an exact
numpy scan. Builds alternate over ROUNDS rounds; time per anchor is the median of three
passes over the queries. A server given as NAME=BINARY:exact holds the vectors in an exact
collection (no graph) instead, for the cost of a scan.

    go build -o /tmp/old/miner-server ./cmd/miner-server     # at the older commit
    python bench/py/lead_newqueries.py --server old=/tmp/old/miner-server --server new=bin/miner-server \\
        --server exact=bin/miner-server:exact
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "clients" / "python" / "src"))
import hardneg  # noqa: E402


def unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def run_one(binary: str, port: int, X: np.ndarray, Q: np.ndarray, top: np.ndarray, k: int) -> tuple[int, float, float, float]:
    binary, _, mode = binary.partition(":")
    data = tempfile.mkdtemp(prefix="lead-newqueries-")
    log = open(Path(data + ".log"), "wb")
    proc = subprocess.Popen([binary, "-data-dir", data, "-grpc-addr", f"127.0.0.1:{port}", "-http-addr", f"127.0.0.1:{port + 1}"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        c = hardneg.Client(f"127.0.0.1:{port}", timeout=600)
        c.list_collections()  # retried until the server answers; CreateCollection is not
        c.create_collection("r", dim=X.shape[1], index_params={"exact_threshold": 10_000_000} if mode == "exact" else None)
        ids = [f"i{i}" for i in range(len(X))]
        for lo in range(0, len(X), 1000):
            c.upsert("r", ids[lo:lo + 1000], X[lo:lo + 1000])
        deadline = time.monotonic() + 300
        lead, lead_recall = 0, 0.0
        while mode != "exact" and time.monotonic() < deadline:
            st = c.get_collection("r").stats
            # The last measurement starts once the last batch is in; wait for its lead
            # to settle (two equal reads a second apart).
            if st.first_pass_lead and st.first_pass_lead == lead:
                lead_recall = st.lead_recall
                break
            lead, lead_recall = st.first_pass_lead, st.lead_recall
            time.sleep(1)
        c.mine("r", anchor_vectors=Q[:32], num_negatives=k)  # warm up
        hits, times = 0, []
        for rep in range(3):
            t0 = time.perf_counter()
            for lo in range(0, len(Q), 32):
                res = c.mine("r", anchor_vectors=Q[lo:lo + 32], num_negatives=k)
                if rep == 0:
                    for i, row in enumerate(res.ids):
                        hits += len({f"i{j}" for j in top[lo + i]} & {x for x in row if x is not None})
            times.append((time.perf_counter() - t0) / len(Q) * 1e6)
        return lead, lead_recall, hits / (len(Q) * k), statistics.median(times)
    finally:
        proc.terminate()
        proc.wait()
        log.close()
        Path(data + ".log").unlink(missing_ok=True)
        shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", action="append", required=True, metavar="NAME=BINARY")
    ap.add_argument("--n", type=int, default=67_000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--queries", type=int, default=320)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--port", type=int, default=58301)
    a = ap.parse_args()
    rng = np.random.default_rng(1)
    X, Q = unit(rng, a.n, a.dim), unit(rng, a.queries, a.dim)
    top = np.argsort(-(Q @ X.T), axis=1)[:, :a.k]
    for r in range(a.rounds):
        for spec in a.server:
            name, _, binary = spec.partition("=")
            lead, lead_recall, recall, us = run_one(binary, a.port, X, Q, top, a.k)
            print(f"round {r + 1} {name}: lead {lead} (the recall@10 it measured: {lead_recall:.4f}), "
                  f"recall of the exact top {a.k} {recall:.4f}, {us:.0f} µs per anchor", flush=True)


if __name__ == "__main__":
    main()
