"""Python ANN baselines on a benchmark data directory: hnswlib, faiss IndexFlatIP and
faiss IndexHNSWFlat. One system per process (so resident memory is its own); prints
the same JSON shape as hardneg-bench.

    python bench/py/ann.py --system hnswlib --data DIR [--threads 1,2] [--ef 10,16,...]
"""

from __future__ import annotations

import argparse
import gc
from pathlib import Path

import numpy as np

import data as datamod
from common import Timer, emit, log, proc_status, recall


def settled_rss() -> int:
    gc.collect()
    return proc_status("VmRSS")


def build_hnswlib(base: np.ndarray, threads: int, m: int, efc: int):
    import hnswlib

    idx = hnswlib.Index(space="ip", dim=base.shape[1])
    idx.init_index(max_elements=base.shape[0], M=m, ef_construction=efc, random_seed=100)
    with Timer() as t:
        idx.add_items(base, np.arange(base.shape[0]), num_threads=threads)
    return idx, t


def build_faiss_hnsw(base: np.ndarray, threads: int, m: int, efc: int):
    import faiss

    faiss.omp_set_num_threads(threads)
    idx = faiss.IndexHNSWFlat(base.shape[1], m, faiss.METRIC_INNER_PRODUCT)
    idx.hnsw.efConstruction = efc
    with Timer() as t:
        idx.add(base)
    return idx, t


def build_faiss_flat(base: np.ndarray, threads: int, m: int, efc: int):
    import faiss

    faiss.omp_set_num_threads(threads)
    idx = faiss.IndexFlatIP(base.shape[1])
    with Timer() as t:
        idx.add(base)
    return idx, t


BUILDERS = {"hnswlib": build_hnswlib, "faiss-hnsw": build_faiss_hnsw, "faiss-flat": build_faiss_flat}


def search(system: str, idx, queries: np.ndarray, k: int, ef: int, runs: int = 1) -> tuple[np.ndarray, float]:
    """All queries on one thread in one batched call, runs times over; returns ids and
    the fastest pass's µs/query."""
    best = None
    for _ in range(max(runs, 1)):
        with Timer() as t:
            if system == "hnswlib":
                idx.set_ef(max(ef, k))
                ids, _ = idx.knn_query(queries, k=k, num_threads=1)
            else:
                import faiss

                faiss.omp_set_num_threads(1)
                if system == "faiss-hnsw":
                    idx.hnsw.efSearch = max(ef, k)
                _, ids = idx.search(queries, k)
        best = t.seconds if best is None else min(best, t.seconds)
    return ids, best * 1e6 / len(queries)


def search_single(idx, queries: np.ndarray, k: int, runs: int = 1) -> float:
    """faiss: one query per search call (as a server answers one request), the fastest
    of runs passes, µs/query."""
    import faiss

    faiss.omp_set_num_threads(1)
    best = None
    for _ in range(max(runs, 1)):
        with Timer() as t:
            for i in range(len(queries)):
                idx.search(queries[i : i + 1], k)
        best = t.seconds if best is None else min(best, t.seconds)
    return best * 1e6 / len(queries)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--system", required=True, choices=sorted(BUILDERS))
    ap.add_argument("--data", required=True)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--ef", default="10,16,32,64,128,256")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--queries", type=int, default=0)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3, help="passes per sweep point and exact search; the fastest is reported (as ann-benchmarks does)")
    ap.add_argument("--out")
    a = ap.parse_args()
    d = datamod.load(Path(a.data))
    base = np.ascontiguousarray(d["base"], dtype=np.float32)
    nq = a.queries or len(d["queries"])
    queries = np.ascontiguousarray(d["queries"][:nq])
    gt = d["gt"][:nq, : a.k]
    threads = [int(x) for x in a.threads.split(",") if x]
    efs = [int(x) for x in a.ef.split(",") if x]
    res = {"system": a.system, "n": int(base.shape[0]), "dim": int(base.shape[1]), "m": a.m,
           "ef_construction": a.ef_construction, "build": [], "sweep": [], "notes": []}
    # Load the library before the memory baseline, so only the index counts.
    if a.system == "hnswlib":
        import hnswlib  # noqa: F401
    else:
        import faiss  # noqa: F401
    kept = None
    for i, t in enumerate(threads):
        before = settled_rss()
        idx, tm = BUILDERS[a.system](base, t, a.m, a.ef_construction)
        res["build"].append({"threads": t, "seconds": tm.seconds, "cpu_seconds": tm.cpu, "inserts_per_s": base.shape[0] / tm.seconds})
        log(f"{a.system}: built with {t} threads in {tm.seconds:.1f}s")
        if i == 0:
            res["rss_bytes"] = settled_rss() - before
            res["bytes_per_vector"] = res["rss_bytes"] / base.shape[0]
            kept = idx
        else:
            del idx
    if a.system == "faiss-flat":
        ids, us = search(a.system, kept, queries, a.k, 0, a.runs)
        single = search_single(kept, queries[: min(nq, 200)], a.k, a.runs)
        res["exact"] = {"ef": 0, "queries": nq, "us_per_query": us, "qps": 1e6 / us, "recall": recall(ids, gt)}
        res["exact_single"] = {"ef": 0, "queries": min(nq, 200), "us_per_query": single, "qps": 1e6 / single}
        res["notes"].append(f"exact: all queries in one search call on 1 thread; exact_single: one query per call; the fastest of {a.runs} passes each")
    else:
        for ef in efs:
            ids, us = search(a.system, kept, queries, a.k, ef, a.runs)
            res["sweep"].append({"ef": ef, "queries": nq, "us_per_query": us, "qps": 1e6 / us, "recall": recall(ids, gt)})
        res["notes"].append(f"searches: all queries in one batched call on 1 thread, the fastest of {a.runs} passes per sweep point")
    import importlib.metadata as md

    res["version"] = md.version("hnswlib" if a.system == "hnswlib" else "faiss-cpu")
    emit(res, a.out)


if __name__ == "__main__":
    main()
