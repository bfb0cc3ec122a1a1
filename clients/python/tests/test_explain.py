"""mine(..., explain=...) against a real server, through both clients."""

from __future__ import annotations

import numpy as np
import pytest

import hardneg

from conftest import unit_rows


def test_explain_lists_each_candidate_with_its_rule(client: hardneg.Client, collection: str) -> None:
    x = unit_rows(200, 16, seed=11)
    ids = [f"d{i}" for i in range(200)]
    client.upsert(collection, ids, x)
    res = client.mine(
        collection,
        anchor_ids=["d0", "d1"],
        positive_ids=[["d2"], []],
        num_negatives=3,
        absolute_margin=0.0,
        explain=True,
    )
    t = res.explained
    assert isinstance(t, hardneg.ExplainTable)
    assert t.columns == ("anchor", "id", "score", "rank", "fate")
    assert set(t["fate"].tolist()) <= set(hardneg.FATES)
    for a in range(2):
        mine = t.where(t["anchor"] == a)
        counts = mine.counts()
        # Every listed fate agrees with the per-rule counters (nothing truncated here).
        assert not res.explain_truncated[a]
        assert len(mine) == res.candidates_examined[a]
        for rule in hardneg.RULES:
            assert counts.get(rule, 0) == res.removed[rule][a], rule
        returned = mine.where(mine["fate"] == "returned")
        assert sorted(returned["id"].tolist()) == sorted(res.ids[a, : res.counts[a]].tolist())
        assert counts.get("self") == 1
    # The id rules run before scoring: no score, rank -1.
    selfrow = t.where((t["anchor"] == 0) & (t["fate"] == "self"))
    assert selfrow["id"].tolist() == ["d0"] and np.isnan(selfrow["score"][0]) and selfrow["rank"][0] == -1
    # Scored rows carry the similarity to the anchor.
    scored = t.where((t["anchor"] == 1) & ~np.isnan(t["score"]))
    want = x[1] @ x[[ids.index(i) for i in scored["id"]]].T
    np.testing.assert_allclose(scored["score"], want, atol=1e-5)
    rows = t.rows()
    assert len(rows) == len(t) and set(rows[0]) == set(t.columns)


def test_explain_is_bounded_and_off_by_default(client: hardneg.Client, collection: str) -> None:
    client.upsert(collection, [f"d{i}" for i in range(60)], unit_rows(60, 16, seed=12))
    res = client.mine(collection, anchor_ids=["d0"], num_negatives=5)
    assert res.explained is None and res.explain_truncated is None
    res = client.mine(collection, anchor_ids=["d0"], num_negatives=5, explain=4)
    assert res.explained is not None and len(res.explained) == 4
    assert res.explain_truncated is not None and res.explain_truncated.tolist() == [True]
    with pytest.raises(hardneg.errors.InvalidArgument):
        client.mine(collection, anchor_ids=["d0"], explain=-1)

