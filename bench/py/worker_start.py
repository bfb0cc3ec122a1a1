"""Summarises the log that a build with bench/patches/mine-worker-start.diff writes: per
Mine request of 32 anchors, how long mining.Mine's second worker took to start, when the
calling goroutine ran out of anchors, and when the last worker ended (µs).

    bench/.venv/bin/python bench/py/worker_start.py /tmp/worker-start.log [--last 300]

Prints the worker's start wait (p50 / p90 / p99), the share of requests whose worker
started more than 1 ms late, and the mining time's p50 for requests whose worker started
within 0.5 ms, 1 ms or later, and all.
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("--last", type=int, default=300, help="the last this many requests (the measured ones, after the warm-up)")
    a = ap.parse_args()
    rows = np.loadtxt(a.log, ndmin=2)[-a.last:]
    wait, mined = rows[:, 0], rows[:, 2]
    on_time, late = mined[wait < 500], mined[wait >= 1000]
    print(json.dumps({
        "requests": len(rows),
        "worker_start_us_p50_p90_p99": [round(float(x)) for x in np.percentile(wait, [50, 90, 99])],
        "started_over_1ms": round(float((wait > 1000).mean()), 3),
        "mining_ms_p50_on_time": round(float(np.median(on_time)) / 1e3, 2) if len(on_time) else None,
        "mining_ms_p50_late": round(float(np.median(late)) / 1e3, 2) if len(late) else None,
        "mining_ms_p50_all": round(float(np.median(mined)) / 1e3, 2),
    }))


if __name__ == "__main__":
    main()
