"""Which flagged candidates should the false-negative budget remove? An offline comparison.

The budget (docs/MINING.md, rule 11b) removes at most B = ⌈k/2⌉ candidates per anchor
whose p_fn is ≥ t (0.01). Two orders of removal:

  first      the first B flagged candidates in rank order (the rule up to December 2026);
  likeliest  of the first k + B candidates that pass the other rules, the B with the
             highest p_fn ≥ t (the rule since).

Protocol (numpy on cached embeddings, no server, as eval/findings.py): per anchor the pool
is its top 201 corpus items by similarity (the told positive left out: raw ranks < 200, the
server's default hardness floor); candidates with cosine ≥ 0.80 to the told positive go
(the near-duplicate rule); p_fn = σ(b0 + b1·sim to the positive + b2·(s − s⁺)) with the
server's coefficients (internal/mining/pfn.go) on raw scores. For every model, set and k
it prints the FN rate as a ratio to naive top-k's and the median exact rank of the returned
true negatives (naive's in brackets), and counts the sets where the false-negative,
hardness and shortfall targets of issue 12 are met (FN ≤ ⅓ naive's, rank ≤ 2× naive's,
≤ 1% of anchors short). Anchors: at most 1,500 per set, a fixed random subset.

Run: HF_HUB_OFFLINE=1 eval/.venv/bin/python eval/budget_order.py [--models minilm,mpnet,wordllama]
(about a minute per model with the embeddings cached in eval/cache).
"""

from __future__ import annotations

import argparse
import math
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import embed  # noqa: E402
import evalsets  # noqa: E402
import offline  # noqa: E402
from findings import budgeted  # noqa: E402

SETS = ("chatterbot", "docstrings", "wordnet", "wordnet-defs", "gcide", "manpages", "emojilib", "vera", "foldoc",
        "freedict-fra-eng")
KS = (1, 3, 5, 8, 16, 32)
FLOOR = 200
NEAR_DUP = 0.80
THRESHOLD = 0.01
SERVER_W = np.array([-6.83, 6.87, 4.56])  # internal/mining/pfn.go
MAX_ANCHORS = 1500


def embedded(model: str, name: str) -> tuple[evalsets.Dataset, np.ndarray, np.ndarray, np.ndarray]:
    """The set, its corpus and query embeddings, and the anchors (query indices) mined."""
    ds = evalsets.load(name)
    E, _ = embed.embed(model, ds.corpus, name + "-corpus")
    Q, _ = embed.embed(model, ds.queries, name + "-queries")
    sel = np.arange(len(Q))
    if len(sel) > MAX_ANCHORS:
        sel = np.sort(np.random.default_rng(0).choice(len(Q), MAX_ANCHORS, replace=False))
    return ds, E, Q, sel


def pool_of(ds: evalsets.Dataset, E: np.ndarray, Q: np.ndarray, sel: np.ndarray) -> offline.Pool:
    return offline.build_pool(E, Q[sel], [ds.given[i] for i in sel], [ds.held[i] for i in sel], pool=FLOOR + 1)


def load(model: str, name: str) -> offline.Pool:
    return pool_of(*embedded(model, name))


def features(pl: offline.Pool) -> np.ndarray:
    """(A, P, 2): p_fn's two signals, similarity to the positive and s − s⁺."""
    return np.stack([pl.p, pl.s - pl.s_pos[:, None]], -1)


def pfn(pl: offline.Pool, w: np.ndarray = SERVER_W) -> np.ndarray:
    return offline.predict(w, features(pl).reshape(-1, 2)).reshape(pl.p.shape)


def first(pl: offline.Pool, k: int) -> np.ndarray:
    """keep-mask: the first ⌈k/2⌉ flagged candidates go."""
    nd = pl.p < NEAR_DUP
    return nd & budgeted((pfn(pl) >= THRESHOLD) & nd, math.ceil(k / 2)) & (pl.rank < FLOOR)


def likeliest_by(pl: offline.Pool, score: np.ndarray, t: float, b: int, k: int) -> np.ndarray:
    """keep-mask: near-duplicates go, then of the first k + b survivors the b with the
    highest score ≥ t (the better ranked first among equals)."""
    keep = (pl.p < NEAR_DUP) & (pl.rank < FLOOR)
    for a in range(len(score)):
        window = np.flatnonzero(keep[a])[: k + b]
        flagged = window[score[a, window] >= t]
        if len(flagged) > b:
            flagged = flagged[np.argsort(-score[a, flagged], kind="stable")[:b]]
        keep[a, flagged] = False
    return keep


def likeliest(pl: offline.Pool, k: int) -> np.ndarray:
    """keep-mask: the server's rule, p_fn ≥ t with a budget of ⌈k/2⌉."""
    return likeliest_by(pl, pfn(pl), THRESHOLD, math.ceil(k / 2), k)


def miss(r: dict, naive: dict) -> float:
    return max(r["fn_rate"] / (naive["fn_rate"] / 3), r["median_rank"] / (2 * max(naive["median_rank"], 1)), r["short"] / 0.01)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="minilm,mpnet,wordllama")
    models = ap.parse_args().models.split(",")
    rules = (("first", first), ("likeliest", likeliest))
    met: dict[tuple[str, str, int], int] = {}
    for model in models:
        pools = {n: load(model, n) for n in SETS}
        print(f"\n### {model}\n")
        print("| k | order | " + " | ".join(SETS) + " | met |")
        print("|---:|---|" + "---|" * len(SETS) + "---:|")
        for k in KS:
            naive = {n: offline.measure(pl, pl.rank < FLOOR, k) for n, pl in pools.items()}
            for name, rule in rules:
                res = {n: offline.measure(pl, rule(pl, k), k) for n, pl in pools.items()}
                ok = {n: miss(res[n], naive[n]) <= 1 for n in SETS}
                met[(model, name, k)] = sum(ok.values())
                cells = [f"{res[n]['fn_rate'] / naive[n]['fn_rate']:.2f}× · {res[n]['median_rank']:.0f} ({naive[n]['median_rank']:.0f})"
                         + (" ✓" if ok[n] else "") for n in SETS]
                print(f"| {k} | {name} | " + " | ".join(cells) + f" | {met[(model, name, k)]} |")
    print("\nSets meeting the three quality targets, of 10:\n")
    print("| model | order | " + " | ".join(f"k = {k}" for k in KS) + " | of 60 |")
    print("|---|---|" + "---:|" * len(KS) + "---:|")
    for model in models:
        for name, _ in rules:
            row = [met[(model, name, k)] for k in KS]
            print(f"| {model} | {name} | " + " | ".join(map(str, row)) + f" | {sum(row)} |")


if __name__ == "__main__":
    main()
