"""Self-checks of eval/experiment.py, and its --quick run end to end (the real server, the
Python client, torch and all-MiniLM-L6-v2; about a minute once eval/cache is warm).

Run: eval/.venv/bin/python eval/test_experiment.py   (or with pytest where it is installed)
Needs `make build` (bin/miner-server) and the eval venv (`make eval` or `make experiment`).
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import evalsets  # noqa: E402
import experiment  # noqa: E402


def test_evaluate_matches_hand_computed():
    # 3 queries, 12 documents on a line of angles: the ranking of each query is known.
    ang = np.linspace(0, 1.5, 12)
    d = np.stack([np.cos(ang), np.sin(ang)], 1)
    q = d[[0, 5, 11]]
    # query 0 ranks 0,1,2,…; query 1 ranks 5, then 4/6, …; query 2 ranks 11,10,9,…
    rel = [[0, 11], [5], [0]]
    r = experiment.evaluate(q, d, rel)
    disc = 1 / np.log2(np.arange(2, 12))
    ndcg0 = disc[0] / (disc[0] + disc[1])  # 0 at rank 1, 11 not in the top 10
    ndcg1 = 1.0
    ndcg2 = 0.0  # document 0 is the 12th for query 2
    assert abs(r["ndcg@10"] - (ndcg0 + ndcg1 + ndcg2) / 3) < 1e-9, r
    assert abs(r["recall@10"] - (0.5 + 1 + 0) / 3) < 1e-9, r


def _toy():
    # Bodies 0–19; summaries share bodies in chains so that components span several queries.
    corpus = [f"body {i} " + "x" * i for i in range(20)]
    queries = ["q a", "q b", "q c", "q d", "q e"]
    given = [0, 2, 4, 8, 12]
    held = [[1], [3, 1], [5], [9], [13]]
    by_body = {i: [f"s{i}"] for i in range(20)}
    by_body[1].append("q a")
    by_body[3].append("q b")
    by_body[1].append("q b")  # q a and q b share body 1: one component
    by_body[6] = ["s6", "q c"]  # an unlabelled body of q c
    by_body[7] = ["s7", "s6"]  # s6 joins q c's component through body 6, and brings body 7
    ds = evalsets.Dataset(name="toy", description="", corpus=corpus, queries=queries, given=given, held=held)
    return ds, by_body


def test_split_holds_out_whole_components():
    ds, by_body = _toy()
    for seed in range(20):
        sp = experiment.Split(ds, by_body, heldout=2, eval_corpus=0, train_corpus=0, seed=seed)
        held_q = set(sp.eval_queries)
        # q a and q b are one component: both or neither
        assert ("q a" in held_q) == ("q b" in held_q), held_q
        held_bodies = {i for r in sp.eval_relevant for i in r}
        if "q c" in held_q:
            # q c's component holds s6 and s7: their bodies are held out, they are not trained on
            held_bodies |= {6, 7}
            assert "s6" not in sp.train_queries and "s7" not in sp.train_queries
            assert 6 not in sp.train_bodies and 7 not in sp.train_bodies
        assert not held_bodies & set(sp.train_bodies), (seed, held_bodies)
        assert not held_bodies & set(sp.train_pos)
        assert not held_q & set(sp.train_queries)
        assert set(sp.eval_bodies) == set(range(20))  # eval_corpus=0: every body
        # the labelled training queries train on their told positive
        for s, b in zip(sp.train_queries, sp.train_pos):
            if s in ds.queries:
                assert b == ds.given[ds.queries.index(s)]


def test_comparisons_need_disjoint_seed_ranges():
    def s(*v):
        v = np.array(v)
        return {"mean": v.mean(), "std": v.std(ddof=1), "min": v.min(), "max": v.max()}

    summary = {"in-batch": {"ndcg@10": s(0.50, 0.52, 0.51), "recall@10": s(0.6, 0.7, 0.65)},
               "hardneg-online": {"ndcg@10": s(0.53, 0.55, 0.54), "recall@10": s(0.64, 0.66, 0.69)}}
    base = {"ndcg@10": 0.505, "recall@10": 0.5}
    c = {(x["metric"], x["a"], x["b"]): x["outside"] for x in experiment.comparisons(summary, base, 3)}
    assert c[("ndcg@10", "in-batch", "hardneg-online")] is True
    assert c[("recall@10", "in-batch", "hardneg-online")] is False
    assert c[("ndcg@10", "in-batch", "untrained")] is False  # 0.505 lies inside [0.50, 0.52]
    assert c[("recall@10", "hardneg-online", "untrained")] is True
    one = experiment.comparisons(summary, base, 1)
    assert not any(x["outside"] for x in one)
    v = experiment.verdict(summary, experiment.comparisons(summary, base, 3))
    assert "hardneg better than a baseline outside the seed spread: (iii) vs (i) (ndcg@10)" in v, v


def test_write_doc_replaces_only_the_section():
    with tempfile.TemporaryDirectory() as t:
        p = pathlib.Path(t) / "d.md"
        p.write_text("# head\n\ntext\n")
        experiment.write_doc(p, "one")
        experiment.write_doc(p, "two")
        src = p.read_text()
        assert src.startswith("# head\n\ntext\n"), src
        assert src.count(experiment.BEGIN) == 1 and "two" in src and "one" not in src, src


def test_quick_run_end_to_end():
    binary = HERE.parent / "bin" / "miner-server"
    assert binary.exists(), "run `make build` first: the experiment runs the real bin/miner-server"
    with tempfile.TemporaryDirectory() as t:
        doc = pathlib.Path(t) / "TRAINING.md"
        doc.write_text("# Training\n")
        r = subprocess.run([sys.executable, str(HERE / "experiment.py"), "--quick", "--out", t, "--doc", str(doc)],
                           capture_output=True, text=True, timeout=600, env=dict(os.environ, HF_HUB_OFFLINE="1"))
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        res = json.loads((pathlib.Path(t) / "results.json").read_text())
        assert [x["config"] for x in res["runs"]] == list(experiment.CONFIGS)
        for x in res["runs"]:
            assert 0 <= x["ndcg@10"] <= 1 and 0 <= x["recall@10"] <= 1, x
            assert x["steps"] == 3 and np.isfinite(x["final_loss"]), x
            online = x["config"].startswith("hardneg")
            # online configurations spend time in the server; the others never call it
            assert (x["mining_s_per_step"] > 0) == online, x
            assert (x["negatives_per_step"] > 0) == (x["config"] != "in-batch"), x
            if online:
                assert x["refreshed"] > 0, x
        assert (pathlib.Path(t) / "results.png").stat().st_size > 1000
        src = doc.read_text()
        assert "QUICK SMOKE RUN" in src and experiment.BEGIN in src and experiment.END in src


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
