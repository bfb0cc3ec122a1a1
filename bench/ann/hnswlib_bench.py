"""Benchmark hnswlib on the data set written by `go run ./bench/ann -gen`.

Same measurements as the Go program (build seconds at 1 and 2 threads, µs/query with
batch knn_query(num_threads=1), recall@10 for ef 16…256, graph bytes per node) written
to bench/out/result-hnswlib.json.

    bench/ann/hnswlib_bench.py -n 100000 -dim 384
"""

import argparse
import importlib.metadata
import json
import os
import time

import hnswlib
import numpy as np

EFS = (16, 32, 64, 128, 256)
TRUTH_K = 10


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=100000)
    ap.add_argument("-dim", type=int, default=384)
    ap.add_argument("-queries", type=int, default=1000)
    ap.add_argument("-out", default="bench/out")
    ap.add_argument("-m", type=int, default=16)
    ap.add_argument("-efc", type=int, default=200)
    ap.add_argument("-threads", default="1,2")
    a = ap.parse_args()

    prefix = os.path.join(a.out, f"ann-{a.n}x{a.dim}")
    base = np.fromfile(prefix + "-base.f32", dtype="<f4").reshape(a.n, a.dim)
    queries = np.fromfile(prefix + f"-queries{a.queries}.f32", dtype="<f4").reshape(a.queries, a.dim)
    truth = np.fromfile(prefix + f"-queries{a.queries}-top{TRUTH_K}.i32", dtype="<i4").reshape(a.queries, TRUTH_K)

    res = {
        "system": "hnswlib " + importlib.metadata.version("hnswlib"),
        "n": a.n, "dim": a.dim, "m": a.m, "ef_construction": a.efc,
        "build_seconds": {}, "queries": [],
        "note": "pip build; batch knn_query with num_threads=1; B/node = RSS growth minus the vector copy",
    }
    index = None
    for t in [int(x) for x in a.threads.split(",")]:
        index = None
        before = rss_bytes()
        index = hnswlib.Index(space="ip", dim=a.dim)
        index.init_index(max_elements=a.n, M=a.m, ef_construction=a.efc, random_seed=1)
        start = time.perf_counter()
        index.add_items(base, np.arange(a.n), num_threads=t)
        el = time.perf_counter() - start
        res["build_seconds"][str(t)] = el
        grown = rss_bytes() - before
        print(f"hnswlib: built {a.n} on {t} threads in {el:.1f} s ({a.n / el:.0f} inserts/s)", flush=True)
        if t == 1 or "bytes_per_node" not in res:
            res["bytes_per_node"] = (grown - base.nbytes) / a.n

    for ef in EFS:
        index.set_ef(ef)
        index.knn_query(queries[:100], k=TRUTH_K, num_threads=1)  # warm up
        cpu0 = time.thread_time()
        start = time.perf_counter()
        labels, _ = index.knn_query(queries, k=TRUTH_K, num_threads=1)
        el = time.perf_counter() - start
        cpu = time.thread_time() - cpu0
        hits = sum(len(set(labels[i]) & set(truth[i])) for i in range(a.queries))
        q = {"ef": ef, "us_per_query": el / a.queries * 1e6, "cpu_us_per_query": cpu / a.queries * 1e6,
             "recall_at_10": hits / (a.queries * TRUTH_K)}
        print(f"hnswlib: ef {ef}: {q['us_per_query']:.1f} µs/query (CPU {q['cpu_us_per_query']:.1f}), "
              f"recall@10 {q['recall_at_10']:.4f}", flush=True)
        res["queries"].append(q)

    with open(os.path.join(a.out, "result-hnswlib.json"), "w") as f:
        json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
