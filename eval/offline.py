"""Offline analysis of false-negative rules on the eval sets (numpy on cached embeddings, no server).

For every anchor the candidate pool is the top POOL corpus items by training-space
(MiniLM) similarity, the told positive left out. A rule removes candidates; the k best
survivors are the negatives. Measured per rule, as in docs/QUALITY.md:

  * FN rate: returned negatives that are held-out positives / all returned, and its ratio to
    naive top-k's;
  * hardness: median exact rank of the returned true negatives (0 = the item most similar to
    the anchor in the whole corpus, the told positive counted);
  * short: anchors with fewer than k survivors within the pool (the server would widen the
    search past the pool; offline that shows how deep a rule pushes).

Also: a logistic fit of p(false negative | sim to the positive, s − s⁺) over the top-WINDOW
candidates, pooled over the sets and per set, with reliability tables.
"""

from __future__ import annotations

import dataclasses

import numpy as np

POOL = 1000
WINDOW = 50


@dataclasses.dataclass
class Pool:
    """Per anchor (rows): the top POOL candidates, best first."""

    idx: np.ndarray  # (A, P) corpus indices
    s: np.ndarray  # (A, P) similarity to the anchor
    rank: np.ndarray  # (A, P) exact rank in the whole corpus (told positive counted)
    p: np.ndarray  # (A, P) similarity to the told positive
    fn: np.ndarray  # (A, P) bool: a held-out positive
    s_pos: np.ndarray  # (A,) s⁺ = similarity of the told positive to the anchor
    n_held: np.ndarray  # (A,) held-out positives of the anchor


def build_pool(E: np.ndarray, Q: np.ndarray, given: list[int], held: list[list[int]], pool: int = POOL) -> Pool:
    A = len(Q)
    pool = min(pool, len(E) - 1)
    idx = np.empty((A, pool), dtype=np.int64)
    s = np.empty((A, pool), dtype=np.float32)
    rank = np.empty((A, pool), dtype=np.int64)
    s_pos = np.empty(A, dtype=np.float32)
    p = np.empty((A, pool), dtype=np.float32)
    g = np.asarray(given)
    for lo in range(0, A, 256):
        hi = min(lo + 256, A)
        S = Q[lo:hi] @ E.T  # (b, N)
        PS = E[g[lo:hi]] @ E.T  # (b, N): similarity to the told positive
        for r in range(hi - lo):
            a = lo + r
            row = S[r]
            top = np.argpartition(-row, pool + 1)[: pool + 1]
            top = top[np.lexsort((top, -row[top]))]  # best first, ties by index
            ranks = np.arange(len(top))
            keep = top != g[a]
            idx[a] = top[keep][:pool]
            rank[a] = ranks[keep][:pool]
            s[a] = row[idx[a]]
            s_pos[a] = row[g[a]]
            p[a] = PS[r][idx[a]]
    fn = np.zeros_like(idx, dtype=bool)
    for a in range(A):
        if held[a]:
            fn[a] = np.isin(idx[a], held[a])
    return Pool(idx=idx, s=s, rank=rank, p=p, fn=fn, s_pos=s_pos, n_held=np.array([len(h) for h in held]))


def select(keep: np.ndarray, k: int) -> np.ndarray:
    """(A, P) bool of the k best surviving candidates per anchor."""
    c = np.cumsum(keep, axis=1)
    return keep & (c <= k)


def measure(pl: Pool, keep: np.ndarray, k: int) -> dict:
    sel = select(keep, k)
    n = int(sel.sum())
    fn = int((sel & pl.fn).sum())
    tn_ranks = pl.rank[sel & ~pl.fn]
    got = sel.sum(axis=1)
    return dict(
        negatives=n,
        fn=fn,
        fn_rate=fn / n if n else 0.0,
        anchors_with_fn=float(((sel & pl.fn).sum(axis=1) > 0).mean()),
        median_rank=float(np.median(tn_ranks)) if len(tn_ranks) else None,
        p90_rank=float(np.percentile(tn_ranks, 90)) if len(tn_ranks) else None,
        short=float((got < k).mean()),
    )


def logistic_fit(X: np.ndarray, y: np.ndarray, iters: int = 50, l2: float = 1e-4) -> np.ndarray:
    """Coefficients (intercept first) of a logistic regression by Newton's method."""
    Xb = np.hstack([np.ones((len(X), 1)), X])
    w = np.zeros(Xb.shape[1])
    for _ in range(iters):
        z = np.clip(Xb @ w, -30, 30)
        mu = 1 / (1 + np.exp(-z))
        g = Xb.T @ (mu - y) + l2 * w
        H = (Xb * (mu * (1 - mu))[:, None]).T @ Xb + l2 * np.eye(len(w))
        step = np.linalg.solve(H, g)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def predict(w: np.ndarray, X: np.ndarray) -> np.ndarray:
    z = np.clip(w[0] + X @ w[1:], -30, 30)
    return 1 / (1 + np.exp(-z))


BINS = [0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0001]


def reliability(pred: np.ndarray, y: np.ndarray, bins=BINS) -> list[dict]:
    rows = []
    for lo, hi in zip(bins, bins[1:]):
        m = (pred >= lo) & (pred < hi)
        if m.sum() == 0:
            continue
        rows.append(dict(bin=f"[{lo:.2f}, {min(hi, 1.0):.2f})", n=int(m.sum()), predicted=float(pred[m].mean()), observed=float(y[m].mean())))
    return rows


def features(pl: Pool, window: int = WINDOW) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) over each anchor's top `window` candidates: X = [sim to positive, s − s⁺]."""
    p = pl.p[:, :window].ravel()
    d = (pl.s[:, :window] - pl.s_pos[:, None]).ravel()
    y = pl.fn[:, :window].ravel().astype(float)
    return np.stack([p, d], axis=1), y
