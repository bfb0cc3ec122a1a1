"""The false-negative budget against k, through the real server: for each set and each k in
1, 3, 5, 8, 16, 32, naive top-k, the server default (budget ⌈k/2⌉), fixed budgets
(1, 2, 3, 4, 6, 8, 16; up to 2k) and no budget, each mined once over the anchors of
docs/QUALITY.md; prints FN rate as a ratio to naive's, the median exact rank, and OK where
the false-negative, hardness and shortfall targets are met (on stderr), then the count per
budget and k of sets that met them. The table in docs/MINING.md
(rule 11b, "Why ⌈k/2⌉") comes from this script.

    HF_HUB_OFFLINE=1 eval/.venv/bin/python eval/budgets.py --model minilm
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys
import tempfile

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import embed  # noqa: E402
import evalsets  # noqa: E402
import quality as Q  # noqa: E402

BUDGETS = (1, 2, 3, 4, 6, 8, 16)


def policies(k: int) -> list[tuple[str, dict]]:
    return (Q.naive_and_default(k) + [(f"b{b}", dict(pfn_budget=b, pfn_threshold=0.01)) for b in BUDGETS if b <= 2 * k]
            + [("no budget", dict(pfn_budget=0))])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=sorted(Q.MODELS), default="minilm")
    ap.add_argument("--sets", default=",".join(Q.SETS))
    ap.add_argument("--ks", default=",".join(map(str, Q.SWEEP_KS)))
    ap.add_argument("--max-anchors", type=int, default=1500, help="as quality.py: a fixed random subset of anchors")
    ap.add_argument("--out", default=None, help="write the raw numbers here (JSON)")
    args = ap.parse_args()
    ks = [int(x) for x in args.ks.split(",")]
    out: dict[str, list[dict]] = {}
    met: dict[str, dict[int, int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        srv = Q.Server(pathlib.Path(tmp))
        try:
            for name in args.sets.split(","):
                full = evalsets.load(name)
                E, _ = embed.embed(args.model, full.corpus, name + "-corpus")
                Qf, _ = embed.embed(args.model, full.queries, name + "-queries")
                idx = np.arange(len(full.queries))
                if len(idx) > args.max_anchors:
                    idx = np.sort(np.random.default_rng(3).choice(len(idx), size=args.max_anchors, replace=False))
                ds = dataclasses.replace(full, queries=[full.queries[a] for a in idx], given=[full.given[a] for a in idx],
                                         held=[full.held[a] for a in idx])
                Q.ingest(srv.stub, name, E, None)
                out[name] = Q.k_sweep(srv.stub, name, ds, Qf[idx], Q.Truth(E, Qf, full.held).subset(idx), ks, policies)
                for row in out[name]:
                    nv = row["naive"]
                    for label, _ in policies(row["k"])[1:]:
                        t = Q.target_checks(nv, row[label])
                        met.setdefault(label, {}).setdefault(row["k"], 0)
                        met[label][row["k"]] += t["fn"][0] and t["rank"][0] and t["short"][0]
        finally:
            srv.close()
    print("sets meeting the three targets, per k:")
    for label, by_k in met.items():
        print(f"  {label}: " + ", ".join(f"k={k} {n}" for k, n in sorted(by_k.items())) + f" (total {sum(by_k.values())})")
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps(out))


if __name__ == "__main__":
    main()
