"""The false-negative defence through the real server: the default near-duplicate rule,
the hardness floor, p_fn weights and the collection's calibration."""

from __future__ import annotations

import numpy as np
import pytest

import hardneg
from conftest import unit_rows


def _corpus(client: hardneg.Client, collection: str) -> np.ndarray:
    """Stores p (the positive), copy (cosine ≈ 0.9 to p, near the query) and 60 random
    items; returns the query."""
    x = unit_rows(60, 16, seed=11)
    p = unit_rows(1, 16, seed=12)[0]
    noise = unit_rows(1, 16, seed=13)[0]
    copy = p + 0.45 * (noise - (noise @ p) * p)
    copy /= np.linalg.norm(copy)
    assert 0.85 < float(copy @ p) < 0.95
    client.upsert(collection, ["p", "copy"] + [f"d{i}" for i in range(60)], np.vstack([p, copy, x]))
    q = p + copy
    return q / np.linalg.norm(q)


def test_default_policy_drops_near_duplicates_of_the_positive(client: hardneg.Client, collection: str) -> None:
    q = _corpus(client, collection)
    res = client.mine(collection, anchor_vectors=q[None, :], positive_ids=[["p"]], num_negatives=4)
    assert "copy" not in res.ids[0].tolist()
    assert res.removed["duplicate"][0] == 1 and res.stats.duplicate == 1
    assert res.duplicate_threshold[0] == pytest.approx(0.80)
    off = client.mine(
        collection, anchor_vectors=q[None, :], positive_ids=[["p"]], num_negatives=4, exclude_near_duplicates=False
    )
    assert off.ids[0, 0] == "copy" and np.isnan(off.duplicate_threshold[0])
    # duplicate_margin: the threshold is s⁺ + δ when that is lower than 0.80.
    rel = client.mine(collection, anchor_vectors=q[None, :], positive_ids=[["p"]], num_negatives=4, duplicate_margin=-0.5)
    assert rel.duplicate_threshold[0] == pytest.approx(rel.positive_scores[0] - 0.5, abs=1e-5)
    assert rel.removed["duplicate"][0] >= 1
    # Excluding p by id (not as a positive) excludes its near-duplicate copy with it.
    ex = client.mine(collection, anchor_vectors=q[None, :], exclude_ids=[["p"]], num_negatives=4)
    assert "copy" not in ex.ids[0].tolist() and ex.removed["excluded_duplicate"][0] == 1


def test_p_fn_and_weights(client: hardneg.Client, collection: str) -> None:
    q = _corpus(client, collection)
    res = client.mine(
        collection,
        anchor_vectors=np.vstack([q, q]),
        positive_ids=[["p"], []],
        num_negatives=70,
        exclude_near_duplicates=False,
        in_batch_exclusion=False,
    )
    c = int(res.counts[0])
    assert res.p_fn.shape == res.ids.shape and res.p_fn.dtype == np.float32
    assert np.all((res.p_fn[0, :c] > 0) & (res.p_fn[0, :c] < 1))
    assert res.ids[0, 0] == "copy" and res.p_fn[0, 0] == res.p_fn[0, :c].max()
    assert np.all(np.isnan(res.p_fn[1])) and np.all(np.isnan(res.p_fn[0, c:]))
    w = res.weights
    np.testing.assert_allclose(w[0, :c], 1 - res.p_fn[0, :c], rtol=1e-6)
    assert np.all(w[0, c:] == 0)
    assert np.all(w[1, : res.counts[1]] == 1)


def test_hardness_floor_reports_instead_of_going_deep(client: hardneg.Client, collection: str) -> None:
    q = _corpus(client, collection)
    # The copy scores above s⁺ − 0.5 and the margin removes the hardest ones; with the
    # floor at raw rank 3 the search stops there.
    res = client.mine(
        collection, anchor_vectors=q[None, :], positive_ids=[["p"]], num_negatives=5, absolute_margin=0.6, max_rank=3
    )
    assert res.floor_reached[0] and res.max_rank[0] == 3 and res.shortfall[0] > 0
    assert np.all(res.ranks[0, : res.counts[0]] < 3)
    assert res.stats.floors_reached == 1
    deep = client.mine(
        collection, anchor_vectors=q[None, :], positive_ids=[["p"]], num_negatives=5, absolute_margin=0.6, max_rank=2**32 - 1
    )
    assert not deep.floor_reached[0] and deep.max_rank[0] == 2**32 - 1 and deep.shortfall[0] == 0
    default = client.mine(collection, anchor_vectors=q[None, :], num_negatives=5)
    assert default.max_rank[0] == 200


def test_calibration_and_quantile_thresholds(client: hardneg.Client, collection: str) -> None:
    x = unit_rows(400, 16, seed=21)
    ids = [f"d{i}" for i in range(400)]
    client.upsert(collection, ids, x)
    client.mine(collection, anchor_ids=ids[:40], positive_ids=[[ids[i + 40]] for i in range(40)], num_negatives=10)
    cal = client.get_calibration(collection)
    ps = cal["positive_similarities"]
    assert cal["positive_scores"]["count"] == 40 and ps["count"] >= 400 and ps["window"] == min(ps["count"], 4096)
    assert list(ps["quantiles"]) == [0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99]
    assert ps["quantiles"][0.01] <= ps["quantiles"][0.5] <= ps["quantiles"][0.99]
    res = client.mine(collection, anchor_ids=["d100"], positive_ids=[["d101"]], num_negatives=3, duplicate_quantile=0.5)
    assert ps["quantiles"][0.25] <= res.duplicate_threshold[0] <= ps["quantiles"][0.75]


def test_a_collection_whose_items_all_score_high_is_mined_on_its_scale(client: hardneg.Client, collection: str) -> None:
    # 400 unit vectors lifted along one direction: every cosine becomes about (s + 4) / 5,
    # the background about 0.8, as some models' scores are.
    x = unit_rows(400, 16, seed=5)
    x[:, 0] = 0.0
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    lifted = x.copy()
    lifted[:, 0] += 2.0
    lifted /= np.linalg.norm(lifted, axis=1, keepdims=True)
    ids = [f"d{i}" for i in range(400)]
    client.upsert(collection, ids, lifted)
    scale = client.get_calibration(collection)["scale"]
    assert 0.75 < scale["background_similarity"] < 0.85
    assert scale["default_duplicate_threshold"] > 0.9
    res = client.mine(collection, anchor_ids=ids[:20], positive_ids=[[ids[i + 20]] for i in range(20)], num_negatives=8)
    assert np.all(res.shortfall == 0)
    assert np.allclose(res.duplicate_threshold, scale["default_duplicate_threshold"])
    # As embedded, the same items keep the default 0.80.
    plain = collection + "-plain"
    client.create_collection(plain, dim=16, metric="cosine")
    try:
        client.upsert(plain, ids, x)
        scale = client.get_calibration(plain)["scale"]
        assert abs(scale["background_similarity"]) < 0.05
        assert scale["default_duplicate_threshold"] == pytest.approx(0.8)
    finally:
        client.delete_collection(plain)


def test_policy_values_are_checked(client: hardneg.Client, collection: str) -> None:
    client.upsert(collection, ["a", "b"], unit_rows(2, 16))
    with pytest.raises(hardneg.errors.InvalidArgument) as e:
        client.mine(collection, anchor_ids=["a"], duplicate_quantile=1.5)
    assert [v.field for v in e.value.violations] == ["policy.duplicate_quantile"]
    with pytest.raises(hardneg.errors.InvalidArgument) as e:
        client.mine(collection, anchor_ids=["a"], diversity_threshold=-2.0)  # outside cosine's range: the server
    assert [v.field for v in e.value.violations] == ["policy.diversity_threshold"]


def test_guide_margin_masks_what_the_guide_ranks_above_the_positive(client: hardneg.Client, collection: str) -> None:
    guide = collection + "-guide"
    client.create_collection(guide, dim=4, metric="cosine")
    try:
        x = unit_rows(40, 16, seed=31)
        q = x[0] + 0.1 * x[1]
        # In the training space "fn" is the hardest candidate; the guide puts it closer to
        # the anchor (0.95) than the positive (0.8): a likely false negative.
        fn = q / np.linalg.norm(q) + 0.05 * x[2]
        ids = ["p", "fn"] + [f"d{i}" for i in range(40)]
        client.upsert(collection, ids, np.vstack([x[3], fn, x]))
        g = unit_rows(42, 4, seed=32) * np.array([0.1, 1, 1, 1], dtype=np.float32)  # away from e1
        g[0] = [0.8, 0.6, 0, 0]
        g[1] = [0.95, 0.31, 0, 0]
        client.upsert(guide, ids, g)
        ga = np.array([[1, 0, 0, 0]], dtype=np.float32)
        # The false-negative budget (on by default) is off to isolate the guide rule.
        plain = client.mine(collection, anchor_vectors=q[None, :], positive_ids=[["p"]], num_negatives=3, pfn_budget=0)
        assert plain.ids[0, 0] == "fn" and np.isnan(plain.guide_positive_scores[0])
        res = client.mine(
            collection,
            anchor_vectors=q[None, :],
            positive_ids=[["p"]],
            guide_vectors=ga,
            num_negatives=3,
            guide_collection=guide,
            guide_margin=0.0,
            pfn_budget=0,
        )
        assert "fn" not in res.ids[0].tolist()
        assert res.removed["guide"][0] >= 1 and res.stats.guide >= 1
        assert res.guide_positive_scores[0] == pytest.approx(0.8, abs=1e-5)
        with pytest.raises(hardneg.errors.InvalidArgument) as e:
            client.mine(collection, anchor_vectors=q[None, :], guide_vectors=ga, guide_margin=-1.0, guide_collection=guide)
        assert [v.field for v in e.value.violations] == ["policy.guide_margin"]
    finally:
        client.delete_collection(guide, missing_ok=True)


def test_false_negative_budget_is_on_by_default_and_counted(client: hardneg.Client, collection: str) -> None:
    x = unit_rows(40, 16, seed=41)
    q = x[0] + 0.1 * x[1]
    # "fn" is the hardest candidate (s ≈ 1), and about as close to the positive as the anchor
    # is (≈ 0.7, below the 0.80 near-duplicate threshold): p_fn ≈ σ(−6.83 + 6.87·0.7 +
    # 4.56·0.3) ≈ 0.3, so the default false-negative budget drops it and counts it.
    p = q / np.linalg.norm(q) + 1.0 * x[3]
    fn = q / np.linalg.norm(q) + 0.05 * x[2]
    ids = ["p", "fn"] + [f"d{i}" for i in range(40)]
    client.upsert(collection, ids, np.vstack([p, fn, x]))
    res = client.mine(collection, anchor_vectors=q[None, :], positive_ids=[["p"]], num_negatives=3)
    assert "fn" not in res.ids[0].tolist()
    assert 1 <= res.removed["likely_false_negative"][0] <= 4 and res.stats.likely_false_negative >= 1
    off = client.mine(collection, anchor_vectors=q[None, :], positive_ids=[["p"]], num_negatives=3, pfn_budget=0)
    assert off.ids[0, 0] == "fn" and off.removed["likely_false_negative"][0] == 0
    assert off.p_fn[0, 0] >= 0.01
