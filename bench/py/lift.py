"""A copy of a benchmark data directory whose vectors share one common direction.

    bench/.venv/bin/python bench/py/lift.py SRC OUT [--background 0.8]

Every vector, base and queries alike, becomes (v + α·u) / ‖v + α·u‖ for one random unit
u, with α chosen so that the base's background similarity (the mean cosine of two
items) is about --background: the scores of models whose unrelated texts all score
high. The exact neighbours (gt.i32) are computed again; meta.json records the lift.
Used for the graph's recall on such data (docs/MINING.md, "Score scale"):
hardneg-bench -data OUT … against -data SRC.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import data


def background(x: np.ndarray) -> float:
    """‖mean row‖²: about the mean cosine of two unit rows."""
    m = x.astype(np.float64).mean(0)
    return float(m @ m)


def lift_to(base: np.ndarray, queries: np.ndarray, target: float, seed: int = 11) -> tuple[np.ndarray, np.ndarray, float]:
    """base and queries (unit rows) with one random unit direction u added, scaled by α
    so that base's background is about target, and normalised again; and α."""
    u = np.random.default_rng(seed).standard_normal(base.shape[1])
    u /= np.linalg.norm(u)
    # cos(v₁', v₂') ≈ (s + α²)/(1 + α²) for unit v with v·u ≈ 0: solve for the background.
    alpha = float(np.sqrt(max(target - background(base), 0.0) / (1.0 - target)))

    def f(x: np.ndarray) -> np.ndarray:
        y = x.astype(np.float64) + alpha * u
        return (y / np.linalg.norm(y, axis=1, keepdims=True)).astype(np.float32)

    return f(base), f(queries), alpha


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--background", type=float, default=0.8)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    if not 0 <= args.background < 1:
        raise SystemExit(f"--background {args.background}: must be in [0, 1)")
    d = data.load(args.src)
    base = np.asarray(d["base"], dtype=np.float32)
    b = background(base)
    lifted, queries, alpha = lift_to(base, d["queries"], args.background, args.seed)
    groups = d["groups"] if d["groups"] is not None else np.zeros(len(base), dtype=np.int32)
    meta = dict(d["meta"], lifted_from=str(args.src), lift_alpha=alpha, background_before=b)
    data._write(args.out, lifted, queries, groups, meta)
    print(f"lift: {args.out}: background {b:.3f} → {background(lifted):.3f} (α {alpha:.3f})")


if __name__ == "__main__":
    main()
