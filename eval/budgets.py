"""The false-negative budget against k, through the real server: for each set and each k in
1, 3, 5, 8, 16, 32, naive top-k, the server default (budget ⌈k/2⌉), fixed budgets
(1, 2, 3, 4, 6, 8, 16; up to 2k) and no budget, each mined once over the anchors of
docs/QUALITY.md; prints FN rate as a ratio to naive's, the median exact rank, and OK where
the false-negative, hardness and shortfall targets are met. The table in docs/MINING.md
(rule 11b, "Why ⌈k/2⌉") comes from this script.

    HF_HUB_OFFLINE=1 eval/.venv/bin/python eval/budgets.py --model minilm
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=sorted(Q.MODELS), default="minilm")
    ap.add_argument("--sets", default=",".join(Q.SETS))
    ap.add_argument("--ks", default=",".join(map(str, Q.SWEEP_KS)))
    ap.add_argument("--max-anchors", type=int, default=1500, help="as quality.py: a fixed random subset of anchors")
    ap.add_argument("--out", default=None, help="write the raw numbers here (JSON)")
    args = ap.parse_args()
    out: dict[str, dict] = {}
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
                given = [full.given[a] for a in idx]
                anchors, truth = Qf[idx], Q.Truth(E, Qf, full.held).subset(idx)
                Q.ingest(srv.stub, name, E, None)
                for k in (int(x) for x in args.ks.split(",")):
                    pols = [("naive", dict(Q.NAIVE)), ("default", {})]
                    pols += [(f"b{b}", dict(pfn_budget=b, pfn_threshold=0.01)) for b in BUDGETS if b <= 2 * k]
                    pols.append(("no budget", dict(pfn_budget=0)))
                    rows = {}
                    for label, fields in pols:
                        res, secs = Q.mine(srv.stub, name, anchors, given, fields, k=k)
                        parsed = [(a, [int(n.id[1:]) for n in r.negatives]) for a, r in enumerate(res)]
                        rows[label] = Q.measure(parsed, [r.shortfall for r in res], truth, secs)
                    nv = rows["naive"]
                    line = f"{args.model} {name} k={k}: naive FN {100 * nv['fn_rate']:.2f}% rank {nv['median_rank']:g}"
                    for label, m in rows.items():
                        if label == "naive":
                            continue
                        t = Q.target_checks(nv, m)
                        ok = t["fn"][0] and t["rank"][0] and t["short"][0]
                        met.setdefault(label, {}).setdefault(k, 0)
                        met[label][k] += ok
                        line += f" | {label} {Q.ratio(m['fn_rate'], nv['fn_rate'])} r{m['median_rank']:g}{' OK' if ok else ''}"
                    print(line, flush=True)
                    out[f"{name}/{k}"] = rows
        finally:
            srv.close()
    print("sets meeting the three targets, per k:")
    for label, by_k in met.items():
        print(f"  {label}: " + ", ".join(f"k={k} {n}" for k, n in sorted(by_k.items())) + f" (total {sum(by_k.values())})")
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps(out))


if __name__ == "__main__":
    main()
