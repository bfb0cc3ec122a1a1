"""Hard batches, synthetic negatives, closed-loop hardness and the refresh helper
through the real server, with both clients."""

from __future__ import annotations

import threading
import uuid
import warnings
from concurrent import futures
from typing import Any, Callable, Iterator

import grpc
import numpy as np
import pytest
from conftest import AsyncAsSync, ServerProcess, unit_rows

import hardneg
from hardneg.training import HardBatches, RefreshCallback
from hardneg.v1 import hardneg_pb2_grpc as pb_grpc


def _batches(client: hardneg.Client, *args: object, **kwargs: object) -> list[hardneg.HardBatch]:
    """Collects build_batches from either client (the asyncio one yields asynchronously)."""
    if isinstance(client, AsyncAsSync):

        async def collect() -> list[hardneg.HardBatch]:
            return [b async for b in client._client.build_batches(*args, **kwargs)]

        return client._loop.run_until_complete(collect())
    return list(client.build_batches(*args, **kwargs))


def _corpus(client: hardneg.Client, collection: str, n: int = 120) -> np.ndarray:
    x = unit_rows(n, 16, seed=41)
    client.upsert(collection, [f"d{i}" for i in range(n)], x, versions=np.zeros(n, dtype=np.int64))
    return x


@pytest.mark.parametrize("strategy", ["clusters", "neighbours", "neighbors"])
def test_build_batches_keeps_conflicts_apart(client: hardneg.Client, collection: str, strategy: str) -> None:
    _corpus(client, collection)
    anchors = [f"d{i}" for i in range(60)]
    # Every fifth anchor shares the positive d119; d1 reports d2 as a false negative.
    positives = [["d119"] if i % 5 == 0 else [f"d{60 + i}"] for i in range(60)]
    client.report_false_negatives(collection, {"d1": ["d2"]})
    kw = dict(positive_ids=positives, batch_size=8, strategy=strategy, epochs=2, seed=3, cluster_size=(4, 8), num_nearest=3, num_sampled=2)
    got = _batches(client, collection, anchors, **kw)
    assert got == _batches(client, collection, anchors, **kw)
    for epoch in (0, 1):
        rows = [r for b in got if b.epoch == epoch for r in b.rows]
        assert sorted(rows) == list(range(60))
    for b in got:
        assert 1 <= len(b) <= 8
        assert b.anchor_ids == [anchors[r] for r in b.rows]
        assert sum(1 for r in b.rows if r % 5 == 0) <= 1
        assert not {"d1", "d2"} <= set(b.anchor_ids)
    assert sum(b.deferred for b in got) == sum(b.swapped_in for b in got) > 0
    with pytest.raises(hardneg.errors.InvalidArgument) as e:
        _batches(client, collection, ["d1", "nope"], batch_size=2)
    assert [v.field for v in e.value.violations] == ["anchors[1].id"]
    with pytest.raises(hardneg.errors.InvalidArgument) as e:
        _batches(client, collection, ["d1"], batch_size=0, strategy="ring")
    assert {v.field for v in e.value.violations} == {"batch_size", "strategy"}


def test_build_batches_of_queries_not_in_the_collection(client: hardneg.Client, collection: str) -> None:
    x = _corpus(client, collection, 40)
    q = unit_rows(40, 16, seed=42)
    got = _batches(client, collection, [f"query{i}" for i in range(40)], anchor_vectors=q,
                   positive_ids=[[f"d{i % 20}"] for i in range(40)], batch_size=8, strategy="neighbours", num_nearest=3)
    assert sorted(r for b in got for r in b.rows) == list(range(40))
    for b in got:
        assert len({r % 20 for r in b.rows}) == len(b.rows)  # rows sharing a positive are apart
    with pytest.raises(hardneg.errors.InvalidArgument) as e:
        _batches(client, collection, ["a", "b"], anchor_vectors=x[:3], batch_size=2)
    assert [v.field for v in e.value.violations] == ["anchor_vectors"]


def test_hard_batches_iterates_epochs(sync_client: hardneg.Client) -> None:
    name = f"hb-{uuid.uuid4().hex[:8]}"
    sync_client.create_collection(name, dim=16, metric="cosine")
    try:
        _corpus(sync_client, name, 80)
        ids = [f"d{i}" for i in range(40)]
        hb = HardBatches(sync_client, name, ids, positive_ids=[[f"d{40 + i}"] for i in range(40)], batch_size=8, epochs=2, seed=5)
        n0 = len(hb)
        first = list(hb)
        assert len(first) == n0 and sorted(r for b in first for r in b) == list(range(40))
        assert hb.epoch == 1 and [b.epoch for b in hb.last] == [0] * n0
        second = list(hb)
        assert sorted(r for b in second for r in b) == list(range(40))
        assert {b.epoch for b in hb.last} == {1}
        # Past the schedule: the last epoch's schedule with another seed.
        third = list(hb)
        assert {b.epoch for b in hb.last} == {1} and third != second
        hb.set_epoch(0)
        assert list(hb) == first
    finally:
        sync_client.delete_collection(name)


def test_mine_returns_synthetic_negatives(client: hardneg.Client, collection: str) -> None:
    _corpus(client, collection)
    plain = client.mine(collection, anchor_ids=["d3", "d4"], num_negatives=6)
    assert plain.synthetic is None and np.isnan(plain.hardness).all()
    res = client.mine(
        collection, anchor_ids=["d3", "d4"], num_negatives=6, seed=9,
        synthetic={"num_mixed": 3, "num_query_mixed": 2, "beta_max": 0.25},
    )
    assert res.ids.tolist() == plain.ids.tolist()
    sy = res.synthetic
    assert sy is not None and len(sy) == 10 and sy.vectors.shape == (10, 16)
    np.testing.assert_allclose(np.linalg.norm(sy.vectors, axis=1), 1, atol=1e-5)
    assert sy.anchors.tolist() == [0] * 5 + [1] * 5 and sy.shortfall.tolist() == [0, 0]
    for j in range(10):
        row = sy.anchors[j]
        assert sy.b_ids[j] in set(res.ids[row])
        if sy.kinds[j] == "query":
            assert sy.a_ids[j] == ["d3", "d4"][row] and 0 <= sy.coefficients[j] <= 0.25
        else:
            assert sy.a_ids[j] in set(res.ids[row]) and 0 <= sy.coefficients[j] <= 1
    assert sy.of(1).a_ids == sy.a_ids[5:]
    again = client.mine(collection, anchor_ids=["d3", "d4"], num_negatives=6, seed=9, synthetic=hardneg.SyntheticPolicy(num_mixed=3, num_query_mixed=2, beta_max=0.25))
    np.testing.assert_array_equal(again.synthetic.vectors, sy.vectors)  # type: ignore[union-attr]
    with pytest.raises(hardneg.errors.InvalidArgument) as e:
        client.mine(collection, anchor_ids=["d3"], synthetic={"num_mixed": 2, "alpha_max": 2})
    assert [v.field for v in e.value.violations] == ["policy.synthetic.alpha_max"]


def test_report_loss_moves_the_band(client: hardneg.Client, collection: str) -> None:
    _corpus(client, collection)
    kw = dict(anchor_ids=["d7"], num_negatives=3, closed_loop=True, closed_loop_depth=8)
    first = client.mine(collection, **kw)
    assert first.hardness.tolist() == [0.0] and first.band_shift.tolist() == [8]
    h = client.report_loss(collection, ["d7", "d7", "d8"], solved=[True, True, False])
    assert h.tolist() == [0.25, 0.5, 0.0]
    second = client.mine(collection, **kw)
    assert second.hardness.tolist() == [0.5] and second.band_shift.tolist() == [4]
    assert (second.ranks[0] < first.ranks[0]).all()
    assert client.report_loss(collection, ["a", "b"], losses=[1.0, 3.0]).tolist() == [0.25, 0.0]
    with pytest.raises(hardneg.errors.InvalidArgument):
        client.report_loss(collection, ["a"])
    with pytest.raises(hardneg.errors.InvalidArgument):
        client.report_loss(collection, ["a", "b"], losses=[1.0])


def test_refresh_starts_on_a_collection_of_one_version(client: hardneg.Client, collection: str) -> None:
    # A freshly ingested corpus has one version (0): refreshing to version 10 re-encodes
    # what is older than 10, not what is older than the newest version (nothing).
    x = _corpus(client, collection, 50)
    seen: list[list[str]] = []

    def encode(ids: list[str]) -> np.ndarray:
        seen.append(ids)
        return x[[int(i[1:]) for i in ids]]

    cb = RefreshCallback(client, collection, encode, every=10, limit=20)
    q = cb(10)
    assert q is not None and len(q) == 20 and q.due == 50 and cb.refreshed == 20
    assert (client.get_items(collection, seen[0]).versions == 10).all()
    q = cb(20)  # the 30 left at version 0 come before the 20 at version 10
    assert q is not None and len(q) == 20 and q.due == 50 and not set(q.ids) & set(seen[0])
    q = client.refresh(collection, encode, version=21, limit=100)
    assert q.due == 50 and len(q) == 50


def test_refresh_callback_refuses_a_step_that_goes_back(client: hardneg.Client, collection: str) -> None:
    # A step counted within each epoch restarts at 1: the items refreshed at step 20
    # carry version 20 and would never be due below it, so the callback says so.
    x = _corpus(client, collection, 30)
    cb = RefreshCallback(client, collection, lambda ids: x[[int(i[1:]) for i in ids]], every=10, limit=30)
    assert cb(10) is not None and cb(20) is not None and cb.refreshed == 60
    assert cb(20) is None and cb(25) is None  # the same step again, or no multiple of every
    with pytest.raises(ValueError, match="step went back to 10 after a refresh at step 20: pass the global step"):
        cb(10)
    assert cb.refreshed == 60
    assert cb(30) is not None and cb.refreshed == 90


def test_refresh_re_encodes_the_queue(client: hardneg.Client, collection: str) -> None:
    x = _corpus(client, collection, 50)
    client.upsert(collection, ["d0"], x[:1], versions=[5])  # the newest version is 5
    seen: list[list[str]] = []

    def encode(ids: list[str]) -> np.ndarray:
        seen.append(ids)
        return x[[int(i[1:]) for i in ids]]

    cb = RefreshCallback(client, collection, encode, every=10, limit=20)
    assert cb(5) is None and not seen
    q = cb(10)
    # due: every item below version 10 (the 49 at version 0 and d0 at version 5)
    assert q is not None and len(q) == 20 and q.due == 50 and cb.refreshed == 20
    got = client.get_items(collection, seen[0])
    assert (got.versions == 10).all()
    q2 = client.refresh(collection, encode, version=11, limit=100, target_version=10)
    # Below version 10: the 29 left at version 0 and d0 (version 5).
    assert q2.due == 30 and len(q2) == 30 and not set(q2.ids) & set(seen[0])


def test_refresh_keeps_groups(client: hardneg.Client, collection: str) -> None:
    """A refresh re-encodes items without touching their groups: queries kept out of
    the negatives by a group stay so."""
    x = unit_rows(6, 16, seed=41)
    ids = [f"g{i}" for i in range(6)]
    groups = [["queries"], ["queries", "q1"], [], ["docs"], [], ["docs"]]
    client.upsert(collection, ids, x, groups=groups)

    def encode(some: list[str]) -> np.ndarray:
        return x[[int(i[1:]) for i in some]]

    q = client.refresh(collection, encode, version=3, limit=100)
    assert sorted(q.ids) == ids
    got = client.get_items(collection, ids)
    assert dict(zip(got.ids, got.groups)) == dict(zip(ids, groups))
    assert (got.versions == 3).all()


class _Tensor:
    """Stands in for a torch tensor (detach, cpu, numpy, dtype), which numpy cannot read
    directly on a GPU."""

    dtype = "torch.float32"

    def __init__(self, a: np.ndarray) -> None:
        self._a = a

    def detach(self) -> "_Tensor":
        return self

    def cpu(self) -> "_Tensor":
        return self

    def numpy(self) -> np.ndarray:
        return self._a

    def __array__(self, *args: object, **kwargs: object) -> np.ndarray:
        raise TypeError("can't convert cuda:0 device type tensor to numpy")


def test_refresh_leaves_items_deleted_while_it_encodes_deleted(
    client: hardneg.Client, sync_client: hardneg.Client, collection: str
) -> None:
    """An item deleted while ``encode`` runs (a model's forward pass takes a while) stays
    deleted, and one whose groups changed keeps the new ones: the refresh looks again
    before it writes."""
    x = unit_rows(6, 16, seed=43)
    ids = [f"r{i}" for i in range(6)]
    groups = [["a"], [], ["b"], [], ["c"], []]
    client.upsert(collection, ids, x, groups=groups)

    def encode(some: list[str]) -> np.ndarray:
        sync_client.delete(collection, ["r1", "r4"])
        sync_client.upsert(collection, ["r2"], x[2:3], groups=[["b", "new"]])  # groups changed meanwhile
        return _Tensor(x[[int(i[1:]) for i in some]])  # as a model returns them

    q = client.refresh(collection, encode, version=7, limit=100)
    assert sorted(q.ids) == ids
    got = client.get_items(collection, ids, include_vectors=True)
    assert sorted(got.missing_ids) == ["r1", "r4"]
    groups[2] = ["b", "new"]
    assert dict(zip(got.ids, got.groups)) == {i: g for i, g in zip(ids, groups) if i not in ("r1", "r4")}
    assert (got.versions == 7).all()
    assert np.allclose(got.vectors, x[[int(i[1:]) for i in got.ids]], atol=1e-6)


def test_build_batches_checks_its_arguments_when_called(client: hardneg.Client, collection: str) -> None:
    """A mistake fails at the call, before the training loop iterates."""
    with pytest.raises(hardneg.errors.InvalidArgument, match="batch_size"):
        client.build_batches(collection, ["d0", "d1"], batch_size=0)


def test_build_batches_waits_at_most_the_client_timeout_for_each_batch(
        own_server: ServerProcess, make_client: Callable[..., hardneg.Client]) -> None:
    """A server that stops answering mid-training ends the stream with DeadlineExceeded
    after the client's timeout (before, the stream waited for gRPC's keepalive, about a
    minute, and then failed UNAVAILABLE); a live server's stream is not cut short by it,
    and a caller that stops reading early ends the stream."""
    c = make_client(own_server.target, timeout=2)
    c.create_collection("t", dim=16)
    _corpus(c, "t")
    anchors = [f"d{i}" for i in range(60)]
    assert len(_batches(c, "t", anchors, batch_size=8, epochs=3)) >= 3 * 60 // 8
    if not isinstance(c, AsyncAsSync):
        it = c.build_batches("t", anchors, batch_size=8, epochs=1000)
        next(it)
        it.close()
    # A server that takes the call and never answers it (an in-process gRPC server whose
    # BuildBatches waits until the test ends).
    release = threading.Event()

    class Stalled(pb_grpc.MinerServiceServicer):
        def BuildBatches(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            release.wait(60)
            return iter(())

    stalled = grpc.server(futures.ThreadPoolExecutor(4))
    pb_grpc.add_MinerServiceServicer_to_server(Stalled(), stalled)
    port = stalled.add_insecure_port("127.0.0.1:0")
    stalled.start()
    try:
        s = make_client(f"127.0.0.1:{port}", timeout=2)
        with pytest.raises(hardneg.errors.DeadlineExceeded, match="no batch came from the server within the client's timeout of 2 s"):
            _batches(s, "t", anchors, batch_size=8)
    finally:
        release.set()
        stalled.stop(None)
    assert len(_batches(c, "t", anchors, batch_size=8)) >= 60 // 8

def test_hard_batches_warns_when_conflicts_shrink_its_batches(sync_client: hardneg.Client, collection: str) -> None:
    # Forty rows sharing one positive can never share a batch: every batch holds one row,
    # which an in-batch-negative loss learns nothing from, and the sampler says so.
    _corpus(sync_client, collection)
    anchors = [f"d{i}" for i in range(40)]
    hb = HardBatches(sync_client, collection, anchors, positive_ids=[["d119"]] * 40, batch_size=8)
    with pytest.warns(UserWarning, match=r"epoch 0: 40 batches of 1\.0 rows on average for batch_size 8"):
        assert [len(b) for b in hb] == [1] * 40
    spread = HardBatches(sync_client, collection, anchors, positive_ids=[[f"d{60 + i}"] for i in range(40)], batch_size=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sum(len(b) for b in spread) == 40
