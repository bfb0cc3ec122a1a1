"""Runs the offline job (hardneg.datasets.mine_hard_negatives, which creates a collection
for the job and drops it at the end) several times against one server, and prints the
server's resident memory and the part of it on huge pages after each job: what dropped
job collections leave behind.

    PYTHONPATH=clients/python/src bench/.venv/bin/python bench/py/offline_rss.py \\
        --server bin/miner-server --data bench/out/data/ann-100000 --jobs 6 --huge-pages true
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import data as datamod
from e2e import server
from offline import PARAMS, CallableModel, job_data


def memory(pid: int) -> dict:
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            k, v = line.split(":", 1)
            if k in ("Rss", "AnonHugePages"):
                out[k + " MiB"] = int(v.split()[0]) // 1024
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--anchors", type=int, default=5000)
    ap.add_argument("--jobs", type=int, default=6)
    ap.add_argument("--huge-pages", default="true", help="the server's HARDNEG_HUGE_PAGES")
    a = ap.parse_args()
    import datasets
    from hardneg.datasets import mine_hard_negatives

    d = datamod.load(Path(a.data))
    d["dir"] = a.data
    base, anchors, a_texts, p_texts, c_texts = job_data(d, a.anchors)
    ds = datasets.Dataset.from_dict({"anchor": a_texts, "positive": p_texts})
    model = CallableModel(a_texts + c_texts, np.concatenate([anchors, base]))
    with server(a.server, extra_env={"HARDNEG_HUGE_PAGES": a.huge_pages}) as (proc, client, _):
        print("server started:", memory(proc.pid), flush=True)
        for j in range(a.jobs):
            t = time.time()
            mine_hard_negatives(ds, model, corpus=c_texts, output_format="triplet", mine_batch_size=1024, client=client,
                                verbose=False, max_candidates=0, batch_size=1024, **PARAMS)
            time.sleep(2)
            print(f"after job {j + 1} ({time.time() - t:.1f} s):", memory(proc.pid), flush=True)
        time.sleep(20)
        print("20 s later:", memory(proc.pid), flush=True)


if __name__ == "__main__":
    main()
