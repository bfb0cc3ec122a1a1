"""Does the server's default policy carry to a model whose cosine scores sit high?

Many embedding models (the E5 and GTE families, for instance) give unrelated texts a
cosine of 0.7 or more: their vectors share a strong common direction. The default's
near-duplicate threshold (0.80) and p_fn coefficients were fitted on all-MiniLM-L6-v2,
whose unrelated texts score about 0.0–0.2. This script takes the cached MiniLM
embeddings of the eval sets and adds a common direction to every vector (corpus and
queries alike), v' = (v + α·u) / ‖v + α·u‖ with one random unit u, for α that lifts the
collection's background similarity (the mean cosine of two random items, ‖mean item‖²)
to 0.5, 0.75 and 0.9. Neighbour order barely changes (the exact top 8 stays the same
for most anchors), so a default that reads scores on the model's own scale should
return about the same negatives at every level.

For each set and level it ingests the vectors into the real server and mines naive
top-k and the server default (k = 8, the protocol of eval/quality.py) and prints, per
set, the FN rate of each as a ratio to naive's, the median exact rank of the returned
true negatives, and the anchors left short; `--out` keeps the rows as JSON, `--doc`
writes them as a markdown table. Not part of `make eval`; about a minute per set with
the embeddings cached.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys
import tempfile

import numpy as np

import quality as q  # noqa: E402  (eval/quality.py: server, ingest, mine, measure)

sys.path.insert(0, str(q.ROOT / "bench" / "py"))
import lift as lifting  # noqa: E402  (bench/py/lift.py: the lift itself)

LEVELS = (None, 0.5, 0.75, 0.9)  # None: the embeddings as they are


def lift(E: np.ndarray, Q: np.ndarray, target: float | None) -> tuple[np.ndarray, np.ndarray, float]:
    """E and Q with one common direction added so that E's background is about target
    (bench/py/lift.py); as they are for None."""
    if target is None:
        return E, Q, 0.0
    return lifting.lift_to(E, Q, target)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default=",".join(q.SETS))
    ap.add_argument("--model", default="minilm", choices=sorted(q.MODELS))
    ap.add_argument("--max-anchors", type=int, default=500)
    ap.add_argument("--out")
    ap.add_argument("--doc")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        srv = q.Server(pathlib.Path(tmp))
        try:
            for name in args.sets.split(","):
                full = q.evalsets.load(name)
                E0, _ = q.embed.embed(args.model, full.corpus, name + "-corpus")
                Q0, _ = q.embed.embed(args.model, full.queries, name + "-queries")
                idx = np.arange(len(full.queries))
                if len(idx) > args.max_anchors:
                    idx = np.sort(np.random.default_rng(3).choice(len(idx), size=args.max_anchors, replace=False))
                ds = dataclasses.replace(full, queries=[full.queries[a] for a in idx], given=[full.given[a] for a in idx],
                                         held=[full.held[a] for a in idx])
                for li, level in enumerate(LEVELS):
                    E, Qf, alpha = lift(E0, Q0, level)
                    Q = Qf[idx]
                    truth = q.Truth(E, Q, ds.held)
                    coll = f"{name}-{li}"
                    q.ingest(srv.stub, coll, E, None)
                    row = dict(set=name, level=level, alpha=round(alpha, 3), background=round(lifting.background(E), 3))
                    for label, fields in (("naive", q.NAIVE), ("default", {})):
                        res, secs = q.mine(srv.stub, coll, Q, ds.given, fields)
                        m = q.measure_results(res, truth, secs)
                        row[label] = m
                        if label == "default":
                            row["dup_threshold"] = float(np.median([r.duplicate_threshold for r in res]))
                    nv, df = row["naive"], row["default"]
                    row["ratio"] = df["fn_rate"] / nv["fn_rate"] if nv["fn_rate"] else None
                    rows.append(row)
                    print(f"scale: {name} background {row['background']:.2f}: naive FN {100 * nv['fn_rate']:.2f}% rank {nv['median_rank']} | "
                          f"default {row['ratio']:.2f}× rank {df['median_rank']} short {100 * df['short']:.1f}% "
                          f"(duplicate threshold {row['dup_threshold']:.3f})", file=sys.stderr, flush=True)
                    srv.stub.DeleteCollection(q.pb.DeleteCollectionRequest(name=coll))
        finally:
            srv.close()
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps(rows, indent=1))
    if args.doc:
        pathlib.Path(args.doc).write_text("\n".join(table(rows)) + "\n")


def table(rows: list[dict]) -> list[str]:
    """Per set and background: default FN ratio to naive · median rank (naive's) · short."""
    levels = sorted({r["level"] or 0.0 for r in rows})
    L = ["| set | " + " | ".join("as embedded" if lv == 0.0 else f"background ≈ {lv:g}" for lv in levels) + " |",
         "|---|" + "---|" * len(levels)]
    for name in dict.fromkeys(r["set"] for r in rows):
        cells = []
        for lv in levels:
            r = next(x for x in rows if x["set"] == name and (x["level"] or 0.0) == lv)
            df, nv = r["default"], r["naive"]
            rank = "–" if df["median_rank"] is None else f"{df['median_rank']:g}"
            cells.append(f"{r['ratio']:.2f}× · {rank} ({nv['median_rank']:g}) · {100 * df['short']:.1f}%"
                         f" · b {r['background']:.2f}")
        L.append(f"| {name} | " + " | ".join(cells) + " |")
    return L


if __name__ == "__main__":
    main()
