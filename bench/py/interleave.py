"""hnswlib against hardneg's graph searched on floats and on int8 codes, interleaved.

On a loaded machine one sweep per system, minutes apart, compares the load as much as
the systems. This builds hnswlib's index once (saved, and reused when the file exists),
takes hardneg's graph from a file an earlier ``bench/ann`` run saved, and then runs
ROUNDS rounds of: hnswlib's sweep (all queries in one batched call on 1 thread, as
bench/py/ann.py), then hardneg's sweep on floats and on int8 codes (bench/ann
``-load GRAPH -codes-rounds 1``, one query per Search call on 1 thread). Both use M 16 and
ef_construction 200. It prints µs/query and recall@10 per round and the median.

    bench/.venv/bin/python bench/py/interleave.py --data bench/out/data/ann-100000 \\
        --graph bench/out/qtrav/syn/ours-100000x384.hnsw --ann-bench bin/ann-bench \\
        --work bench/out/qtrav/syn-rounds --rounds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
from pathlib import Path

import numpy as np

import data as datamod
from common import Timer, log, recall

EFS = [16, 32, 64, 128, 256]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, type=Path)
    ap.add_argument("--graph", required=True, type=Path, help="hardneg graph saved by bench/ann")
    ap.add_argument("--ann-bench", required=True, type=Path, help="binary of go build ./bench/ann")
    ap.add_argument("--work", required=True, type=Path)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)

    import hnswlib

    d = datamod.load(a.data)
    base = np.ascontiguousarray(d["base"], dtype=np.float32)
    queries = d["queries"]
    gt = d["gt"][:, :10]
    idx = hnswlib.Index(space="ip", dim=base.shape[1])
    path = a.work / "hnswlib.bin"
    if path.exists():
        idx.load_index(str(path), max_elements=base.shape[0])
    else:
        idx.init_index(max_elements=base.shape[0], M=16, ef_construction=200, random_seed=100)
        with Timer() as t:
            idx.add_items(base, np.arange(base.shape[0]), num_threads=1)
        log(f"hnswlib: built in {t.seconds:.1f} s on 1 thread")
        idx.save_index(str(path))

    rows: dict[str, dict[int, list[tuple[float, float]]]] = {}
    for r in range(1, a.rounds + 1):
        for ef in EFS:
            idx.set_ef(max(ef, 10))
            with Timer() as t:
                ids, _ = idx.knn_query(queries, k=10, num_threads=1)
            us = t.seconds * 1e6 / len(queries)
            rows.setdefault("hnswlib", {}).setdefault(ef, []).append((us, recall(ids, gt)))
            log(f"round {r} hnswlib ef {ef}: {us:.1f} µs/query, recall@10 {recall(ids, gt):.4f}")
        out = a.work / f"ours-{r}"
        out.mkdir(exist_ok=True)
        subprocess.run([str(a.ann_bench), "-system", "ours", "-data", str(a.data), "-load", str(a.graph),
                        "-codes-rounds", "1", "-threads", "1", "-out", str(out)], check=True, capture_output=True)
        res = json.loads((out / "result-ours.json").read_text())
        for cr in res["code_rounds"]:
            for q in cr["queries"]:
                rows.setdefault("hardneg " + cr["mode"], {}).setdefault(q["ef"], []).append((q["us_per_query"], q["recall_at_10"]))
                log(f"round {r} hardneg {cr['mode']} ef {q['ef']}: {q['us_per_query']:.1f} µs/query, recall@10 {q['recall_at_10']:.4f}")

    summary = {}
    print("| system | " + " | ".join(f"ef {ef}" for ef in EFS) + " |")
    print("|---|" + "---|" * len(EFS))
    for system, by_ef in rows.items():
        cells = []
        for ef in EFS:
            us = [u for u, _ in by_ef[ef]]
            rec = by_ef[ef][0][1]
            cells.append(f"{statistics.median(us):.0f} µs ({', '.join(f'{u:.0f}' for u in us)}) · {rec:.4f}")
            summary.setdefault(system, {})[ef] = {"us_per_query": us, "recall_at_10": rec}
        print(f"| {system} | " + " | ".join(cells) + " |")
    (a.work / "rounds.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
