"""Self-checks of eval/offline.py against brute-force loops (numpy only).

Run: eval/.venv/bin/python eval/test_offline.py   (or with pytest where it is installed)
"""

from __future__ import annotations

import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import offline  # noqa: E402


def _data(seed=1, n=400, a=30, d=16):
    rng = np.random.default_rng(seed)
    E = rng.normal(size=(n, d)).astype(np.float32)
    E /= np.linalg.norm(E, axis=1, keepdims=True)
    Q = rng.normal(size=(a, d)).astype(np.float32)
    Q /= np.linalg.norm(Q, axis=1, keepdims=True)
    given = rng.integers(0, n, size=a).tolist()
    held = [sorted(set(rng.integers(0, n, size=3).tolist()) - {g}) for g in given]
    return E, Q, given, held


def test_pool_matches_brute_force():
    E, Q, given, held = _data()
    pl = offline.build_pool(E, Q, given, held, pool=50)
    for a in range(len(Q)):
        s = E @ Q[a]
        order = sorted(range(len(E)), key=lambda i: (-s[i], i))
        want = [i for i in order if i != given[a]][:50]
        assert pl.idx[a].tolist() == want
        for j, i in enumerate(want):
            assert pl.rank[a, j] == order.index(i)
            assert abs(pl.s[a, j] - s[i]) < 1e-6
            assert abs(pl.p[a, j] - float(E[i] @ E[given[a]])) < 1e-5
            assert pl.fn[a, j] == (i in held[a])
        assert abs(pl.s_pos[a] - s[given[a]]) < 1e-6


def test_measure_matches_brute_force():
    E, Q, given, held = _data(seed=2)
    pl = offline.build_pool(E, Q, given, held, pool=40)
    rng = np.random.default_rng(3)
    keep = rng.random(pl.fn.shape) < 0.3
    k = 5
    m = offline.measure(pl, keep, k)
    fn = n = short = 0
    ranks = []
    for a in range(len(Q)):
        chosen = [j for j in range(pl.fn.shape[1]) if keep[a, j]][:k]
        n += len(chosen)
        fn += sum(pl.fn[a, j] for j in chosen)
        ranks += [pl.rank[a, j] for j in chosen if not pl.fn[a, j]]
        short += len(chosen) < k
    assert m["negatives"] == n and m["fn"] == fn
    assert m["median_rank"] == float(np.median(ranks))
    assert abs(m["short"] - short / len(Q)) < 1e-12


def test_logistic_fit_recovers_coefficients():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(200_000, 2))
    w = np.array([-3.0, 2.0, -1.5])
    y = (rng.random(len(X)) < offline.predict(w, X)).astype(float)
    got = offline.logistic_fit(X, y)
    assert np.abs(got - w).max() < 0.05, got
    rows = offline.reliability(offline.predict(got, X), y)
    assert sum(r["n"] for r in rows) == len(X)
    for r in rows:
        if r["n"] > 2000:
            assert abs(r["predicted"] - r["observed"]) < 0.02, r


def test_evalsets_leaves_eval_modules_unshadowed():
    """Importing evalsets (which loads bench/py/data.py) must not put bench/py, whose
    offline.py has the same name, ahead of eval/ for later imports (findings.py imports
    evalsets first, then offline)."""
    import subprocess

    here = pathlib.Path(__file__).resolve().parent
    code = (f"import sys; sys.path.insert(0, {str(here)!r}); import evalsets, offline; "
            "print(offline.__file__); assert hasattr(offline, 'build_pool')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert pathlib.Path(r.stdout.strip()) == here / "offline.py", r.stdout


if __name__ == "__main__":
    tests = [v for k, v in sorted(globals().items()) if k.startswith("test_")]
    failed = 0
    for t in tests:
        try:
            t()
        except AssertionError as e:
            failed += 1
            print(f"FAIL {t.__name__}: {e}")
    print(f"{len(tests) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
