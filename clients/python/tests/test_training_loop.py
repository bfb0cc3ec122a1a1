"""The training-loop features through the real server: the freshness rule, negative
versions and the refresh queue."""

from __future__ import annotations

import numpy as np
import pytest

import hardneg
from conftest import unit_rows


def _versioned(client: hardneg.Client, collection: str) -> np.ndarray:
    """Stores 80 random items d0… with version i % 8; returns the vectors."""
    x = unit_rows(80, 16, seed=31)
    client.upsert(collection, [f"d{i}" for i in range(80)], x, versions=np.arange(80) % 8)
    return x


def test_freshness_rule_and_negative_versions(client: hardneg.Client, collection: str) -> None:
    x = _versioned(client, collection)
    q = x[5:6]
    plain = client.mine(collection, anchor_vectors=q, num_negatives=10)
    assert plain.versions.dtype == np.int64
    assert [int(i[1:]) % 8 for i in plain.ids[0]] == plain.versions[0].tolist()
    assert (plain.versions[0] < 6).any() and not plain.stale.any()
    # Newest version 7, max_staleness 1: only versions 6 and 7 survive.
    skip = client.mine(collection, anchor_vectors=q, num_negatives=10, max_staleness=1)
    assert (skip.versions[0][skip.mask[0]] >= 6).all() and skip.removed["stale"][0] > 0
    assert skip.stats.stale == skip.removed["stale"][0]
    # rescore keeps the plain negatives for a fresh vector and marks the stale ones.
    re = client.mine(collection, anchor_vectors=q, num_negatives=10, max_staleness=1, stale_rule="rescore")
    assert re.ids[0].tolist() == plain.ids[0].tolist()
    assert re.stale[0].tolist() == (plain.versions[0] < 6).tolist()
    # An anchor mined from its stored item has no fresh vector: stale candidates go.
    by_id = client.mine(collection, anchor_ids=["d5"], num_negatives=10, min_version=6, stale_rule="rescore")
    assert (by_id.versions[0][by_id.mask[0]] >= 6).all() and not by_id.stale.any()
    with pytest.raises(hardneg.errors.InvalidArgument) as e:
        client.mine(collection, anchor_vectors=q, max_staleness=-1)
    assert [v.field for v in e.value.violations] == ["policy.max_staleness"]
    with pytest.raises(hardneg.errors.InvalidArgument):
        client.mine(collection, anchor_vectors=q, stale_rule="sometimes")


def test_refresh_queue_puts_served_stale_items_first(client: hardneg.Client, collection: str) -> None:
    x = _versioned(client, collection)
    served = client.mine(collection, anchor_vectors=x[:4], num_negatives=5)
    rq = client.refresh_queue(collection, limit=100)
    assert rq.target_version == 7 and rq.due == 70 and len(rq) == 70
    assert (rq.staleness == 7 - rq.versions).all()
    prio = rq.staleness * (1 + rq.recent_exposures)
    assert (np.diff(prio) <= 0).all()
    hot = set(served.ids[served.mask].tolist())
    assert rq.ids[0] in hot and rq.recent_exposures[0] > 0
    for i, n in zip(rq.ids, rq.recent_exposures):
        assert (n > 0) == (i in hot)
    few = client.refresh_queue(collection, limit=2, target_version=1)
    assert few.due == 10 and len(few) == 2 and (few.versions == 0).all()
    with pytest.raises(hardneg.errors.InvalidArgument):
        client.refresh_queue(collection, limit=-1)


def test_rotation_serves_new_negatives_until_the_window_is_exhausted(client: hardneg.Client, collection: str) -> None:
    x = _versioned(client, collection)
    seen: set[str] = set()
    kw = dict(num_negatives=3, rotate=True, rank_mode="raw", range_max=8, keys=["a"])
    for call in range(2):
        res = client.mine(collection, anchor_vectors=x[:1], **kw)
        ids = res.ids[0][res.mask[0]].tolist()
        assert not seen & set(ids) and not res.rotation_restarted[0]
        seen |= set(ids)
        assert res.rotation_served[0] == len(seen)
    # 8 items in the raw window, 6 served: the third call serves the last 2 and restarts.
    last = client.mine(collection, anchor_vectors=x[:1], **kw)
    assert last.rotation_restarted[0] and last.counts[0] == 3 and last.removed["rotation"][0] > 0
    assert last.rotation_served[0] == 1 and last.stats.rotation == last.removed["rotation"][0]
    with pytest.raises(hardneg.errors.InvalidArgument) as e:
        client.mine(collection, anchor_vectors=x[:1], rotate=True)
    assert [v.field for v in e.value.violations] == ["anchors[0].key"]


def test_exposure_cap_holds(client: hardneg.Client, collection: str) -> None:
    x = _versioned(client, collection)
    anchors = np.repeat(x[:2], 10, axis=0)
    res = client.mine(collection, anchor_vectors=anchors, num_negatives=4, max_exposures=2, in_batch_exclusion=False)
    ids, counts = np.unique(res.ids[res.mask].astype(str), return_counts=True)
    assert counts.max() <= 2 and res.stats.exposure > 0
    free = client.mine(collection, anchor_vectors=anchors, num_negatives=4, in_batch_exclusion=False)
    assert np.unique(free.ids[free.mask].astype(str), return_counts=True)[1].max() > 2
    with pytest.raises(hardneg.errors.InvalidArgument):
        client.mine(collection, anchor_vectors=x[:1], max_exposures=-1)
