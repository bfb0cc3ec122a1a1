"""Checks of codes_study: the recall it reads and the codes it builds."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import codes_study as cs  # noqa: E402
import data as datamod  # noqa: E402


@pytest.fixture(scope="module")
def small():
    base, _ = datamod.synthetic_vectors(3000, 64, seed=3, stream=1)
    queries, _ = datamod.synthetic_vectors(100, 64, seed=3, stream=2)
    return base, queries, datamod.exact_topk(base, queries, 10)


def test_float_scores_find_the_exact_top_10_at_n_10(small):
    base, queries, gt = small
    r = cs.recall_by_n(queries, base, gt)
    assert r[10] == pytest.approx(1.0)


def test_recall_counts_only_the_true_top_10_within_n(small):
    base, queries, gt = small
    # Negated scores put every true top-10 row last: none is within the first N ≤ n − 10.
    hits = cs.recall_by_n(queries, -base, gt)
    assert all(v == 0 for v in hits.values())


def test_coarser_codes_lose_more_recall(small):
    base, queries, gt = small
    r = {name: cs.recall_by_n(*cs.encoded(name, base, queries), gt) for name in ("int8", "int4", "binary-sym")}
    assert r["int8"][40] >= 0.98
    assert r["int8"][10] > r["int4"][10] > r["binary-sym"][10]
    for name in r:  # more re-ranked candidates never lose recall
        vals = [r[name][n] for n in cs.NS]
        assert vals == sorted(vals)


def test_quantizers_stay_within_half_a_step(small):
    base, _, _ = small
    for levels in (127, 7):
        deq = cs.sym_quantize(base, levels)
        step = np.abs(base).max(axis=1, keepdims=True) / levels
        assert np.all(np.abs(deq - base) <= step / 2 + 1e-6)
        assert len(np.unique(np.rint(deq / step))) <= 2 * levels + 1
    lo, hi = base.min(axis=0), base.max(axis=0)
    deq = cs.dim_quantize(base, lo, hi, 4)
    assert np.all(np.abs(deq - base) <= (hi - lo) / 15 / 2 + 1e-6)
