"""Are the p_fn coefficients fitted to the sets they came from? A leave-one-set-out check.

The server's p_fn = σ(b0 + b1·sim to the positive + b2·(s − s⁺)) has coefficients fitted on
four sets with all-MiniLM-L6-v2 (internal/mining/pfn.go, eval/FINDINGS.md). This refits the
same model on every set and model here (ten sets × three models, each set weighted equally;
the first WINDOW candidates of each anchor that survive the near-duplicate rule) and, per set,
on the other nine sets only, and applies each fit to the false-negative budget as the server
does (the ⌈k/2⌉ likeliest of the first k + ⌈k/2⌉ candidates with p_fn ≥ 0.01). It counts the
cells (set × model × k = 1, 3, 5, 8, 16, 32) that meet issue 12's false-negative, hardness and
shortfall targets with the shipped coefficients, the leave-one-set-out fits and the fit on
everything. Same pools as eval/budget_order.py (offline, p_fn on raw scores).

Run: HF_HUB_OFFLINE=1 eval/.venv/bin/python eval/pfn_refit.py
(about a minute with the embeddings cached in eval/cache).
"""

from __future__ import annotations

import math
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import offline  # noqa: E402
from budget_order import FLOOR, KS, NEAR_DUP, SERVER_W, SETS, THRESHOLD, features, likeliest_by, load, miss, pfn  # noqa: E402

MODELS = ("minilm", "mpnet", "wordllama")
WINDOW = 50  # candidates per anchor the fit learns from, as eval/FINDINGS.md's fit


def fit(pools: list[offline.Pool]) -> np.ndarray:
    """Weighted logistic regression (each pool weighing the same) by Newton's method."""
    Xs, ys, ws = [], [], []
    for pl in pools:
        keep = pl.p[:, :WINDOW] < NEAR_DUP
        Xs.append(features(pl)[:, :WINDOW][keep])
        ys.append(pl.fn[:, :WINDOW][keep])
        ws.append(np.full(int(keep.sum()), 1.0 / max(int(keep.sum()), 1)))
    X, y, w = np.concatenate(Xs), np.concatenate(ys).astype(np.float64), np.concatenate(ws)
    w *= len(w) / w.sum()
    Xb = np.hstack([np.ones((len(X), 1)), X])
    b = np.zeros(Xb.shape[1])
    for _ in range(50):
        mu = 1 / (1 + np.exp(-np.clip(Xb @ b, -30, 30)))
        g = Xb.T @ (w * (mu - y)) + 1e-4 * b
        H = (Xb * (w * mu * (1 - mu))[:, None]).T @ Xb + 1e-4 * np.eye(len(b))
        step = np.linalg.solve(H, g)
        b -= step
        if np.abs(step).max() < 1e-8:
            break
    return b


def met(pl: offline.Pool, w: np.ndarray) -> list[bool]:
    score = pfn(pl, w)
    out = []
    for k in KS:
        naive = offline.measure(pl, pl.rank < FLOOR, k)
        r = offline.measure(pl, likeliest_by(pl, score, THRESHOLD, math.ceil(k / 2), k), k)
        out.append(miss(r, naive) <= 1)
    return out


def main() -> None:
    pools = {(m, n): load(m, n) for m in MODELS for n in SETS}
    everything = fit(list(pools.values()))
    print(f"coefficients (b0, b1, b2): shipped {SERVER_W.tolist()}, fitted on every set and model "
          f"{np.round(everything, 2).tolist()}\n")
    print("| set | leave-one-set-out fit (b0, b1, b2) | cells met of 18: shipped · leave-one-set-out · fitted on all |")
    print("|---|---|---|")
    total = np.zeros(3, dtype=int)
    for name in SETS:
        w = fit([pl for (m, n), pl in pools.items() if n != name])
        row = np.array([sum(sum(met(pools[(m, name)], c)) for m in MODELS) for c in (SERVER_W, w, everything)])
        total += row
        print(f"| {name} | {np.round(w, 2).tolist()} | {row[0]} · {row[1]} · {row[2]} |", flush=True)
    print(f"| all | | {total[0]} · {total[1]} · {total[2]} of {18 * len(SETS)} |")


if __name__ == "__main__":
    main()
