"""hardneg.training's helpers with bad constructor arguments: HardBatches (and so
HardBatchSampler and HardBatchDataset, which build one) and RefreshCallback fail when
they are made, with a ValueError or TypeError naming the argument, instead of at the
first iteration or refresh inside a training loop; an AsyncClient, which a training
loop cannot iterate, is refused the same way. Client.build_batches' request
checks (duplicate anchors, cluster sizes and neighbour counts that cannot fit a batch)
run before any call. The torch classes' own cases are in test_training_torch.py.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import pytest
from conftest import unit_rows

import hardneg
from hardneg.training import HardBatches, RefreshCallback

IDS = [f"i{k}" for k in range(12)]


@pytest.fixture
def items(sync_client: hardneg.Client) -> Iterator[tuple[hardneg.Client, str]]:
    # The helpers run in a plain training loop: they take a hardneg.Client, and refuse
    # an AsyncClient (test_the_helpers_refuse_an_async_client).
    client, name = sync_client, "train-bad-inputs"
    client.delete_collection(name, missing_ok=True)
    client.create_collection(name, 8, "cosine")
    client.upsert(name, IDS, unit_rows(len(IDS), 8))
    yield client, name
    client.delete_collection(name, missing_ok=True)


BAD_HARD_BATCHES: list[Any] = [
    pytest.param({"batch_size": 0}, ValueError, r"batch_size: must be an integer 1–4,096, got 0", id="batch-size-0"),
    pytest.param({"batch_size": -4}, ValueError, r"batch_size: must be an integer 1–4,096, got -4", id="batch-size-negative"),
    pytest.param({"batch_size": 2.5}, ValueError, r"batch_size: must be an integer", id="batch-size-float"),
    pytest.param({"batch_size": 10_000}, ValueError, r"batch_size: must be an integer 1–4,096", id="batch-size-huge"),
    pytest.param({"epochs": 0}, ValueError, r"epochs: must be an integer 1–10,000, got 0", id="epochs-0"),
    pytest.param({"epochs": -3}, ValueError, r"epochs: must be an integer 1–10,000, got -3", id="epochs-negative"),
    pytest.param({"strategy": "random"}, ValueError, r"strategy: unknown strategy 'random'", id="unknown-strategy"),
    pytest.param({"strategy": "neighbour"}, ValueError, r"unknown strategy 'neighbour'; use clusters or neighbours",
                 id="misspelt-strategy"),
    pytest.param({"seed": -1}, ValueError, r"seed: must be an integer", id="seed-negative"),
    pytest.param({"cluster_size": 9}, ValueError, r"cluster_size_start: must be 0–batch_size \(4\), got 9",
                 id="cluster-larger-than-batch"),
    pytest.param({"cluster_size": (2, 8)}, ValueError, r"cluster_size_end: must be 0–batch_size \(4\), got 8",
                 id="cluster-end-larger-than-batch"),
    pytest.param({"strategy": "neighbours", "num_nearest": 3, "num_sampled": 2}, ValueError,
                 r"1 \+ num_nearest \+ num_sampled \(6\) must fit in batch_size \(4\)", id="neighbours-overflow"),
    pytest.param({"num_nearest": -1}, ValueError, r"num_nearest: must be an integer", id="num-nearest-negative"),
    pytest.param({"strategy": "neighbours", "num_nearest": 1, "num_sampled": 1, "sample_range": (5, 2)}, ValueError,
                 r"sample_range_max: 1 neighbours cannot be sampled from the 0 ranks of sample_range \(5, 2\)",
                 id="sample-range-reversed"),
    pytest.param({"strategy": "neighbours", "num_nearest": 1, "num_sampled": 2, "sample_range": (3, 4)}, ValueError,
                 r"2 neighbours cannot be sampled from the 1 ranks of sample_range \(3, 4\) \(\[3, 4\)\)",
                 id="sample-range-too-narrow"),
    pytest.param({"strategy": "neighbours", "num_nearest": 1, "num_sampled": 1, "sample_range": (0, 2)}, ValueError,
                 r"sample_range_min: a start of 0 is read as num_nearest \(1\)", id="sample-range-start-0"),
    pytest.param({"batch_sise": 4}, TypeError, r"unknown argument\(s\) of HardBatches: batch_sise", id="misspelt-option"),
    pytest.param({"anchor_ids": ["i1", "i2", "i1"]}, ValueError, r"anchors\[2\].id: 'i1' is also anchors\[0\]",
                 id="duplicate-anchor"),
    pytest.param({"anchor_ids": ["i1", ""]}, ValueError, r"anchors\[1\].id: must not be empty", id="empty-anchor-id"),
    pytest.param({"anchor_ids": []}, ValueError, r"anchors: must hold 1–65,536 anchors, got 0", id="no-anchors"),
    pytest.param({"anchor_ids": "i1"}, TypeError, r"anchor_ids must be a sequence of strings, not a single string",
                 id="anchor-ids-string"),
    pytest.param({"anchor_ids": [1, 2]}, TypeError, r"anchor_ids must be strings, got int", id="anchor-ids-ints"),
    pytest.param({"positive_ids": [["i3"]]}, ValueError, r"positive_ids: has 1 entries for 4 anchors",
                 id="positives-per-anchor"),
    pytest.param({"collection": ""}, ValueError, r"collection must be a non-empty string, got ''", id="empty-collection"),
    pytest.param({"collection": None}, ValueError, r"collection must be a non-empty string, got None",
                 id="no-collection"),
    pytest.param({"client": None}, TypeError, r"client must be a hardneg.Client, got None", id="no-client"),
]


@pytest.mark.parametrize("change, error, match", BAD_HARD_BATCHES)
def test_hard_batches_refuses_bad_arguments_when_made(
    items: tuple[hardneg.Client, str], change: dict[str, Any], error: type, match: str
) -> None:
    client, name = items
    args: dict[str, Any] = {"client": client, "collection": name, "anchor_ids": IDS[:4], "batch_size": 4}
    args.update(change)
    with pytest.raises(error, match=match):
        HardBatches(args.pop("client"), args.pop("collection"), args.pop("anchor_ids"), **args)


def test_the_helpers_refuse_an_async_client(items: tuple[hardneg.Client, str], server: Any) -> None:
    _, name = items
    from hardneg.aio import AsyncClient

    ac = AsyncClient(server.target)
    with pytest.raises(TypeError, match="HardBatches needs a hardneg.Client; a hardneg.aio.AsyncClient cannot"):
        HardBatches(ac, name, IDS[:4], batch_size=2)
    with pytest.raises(TypeError, match="RefreshCallback needs a hardneg.Client; a hardneg.aio.AsyncClient"):
        RefreshCallback(ac, name, _encode)


def test_hard_batches_made_right_still_iterates(sync_client: hardneg.Client) -> None:
    client, name = sync_client, "train-bad-inputs-ok"
    client.delete_collection(name, missing_ok=True)
    client.create_collection(name, 8, "cosine")
    client.upsert(name, IDS, unit_rows(len(IDS), 8))
    # A generator of positives is read once, at construction, and still reaches the server.
    hb = HardBatches(client, name, IDS[:8], positive_ids=([f"i{k + 8}"] if k < 4 else [] for k in range(8)),
                     batch_size=4, epochs=2)
    rows = sorted(r for b in hb for r in b)
    assert rows == list(range(8))
    assert hb.positive_ids == [["i8"], ["i9"], ["i10"], ["i11"], [], [], [], []]
    client.delete_collection(name)


@pytest.mark.parametrize("epoch, error", [(-1, ValueError), ("1", TypeError), (1.5, TypeError), (True, TypeError)])
def test_set_epoch_refuses_what_is_not_an_epoch(items: tuple[hardneg.Client, str], epoch: Any, error: type) -> None:
    client, name = items
    hb = HardBatches(client, name, IDS[:4], batch_size=2)
    with pytest.raises(error, match="epoch must be"):
        hb.set_epoch(epoch)
    assert hb.epoch == 0


def test_build_batches_checks_before_any_call() -> None:
    # Nothing listens on the target: a check made by the server would be Unavailable.
    with hardneg.Client("127.0.0.1:1", timeout=5.0) as c:
        for kwargs, match in (
            ({"anchor_ids": ["a", "a"], "batch_size": 2}, r"anchors\[1\].id: 'a' is also anchors\[0\]"),
            ({"anchor_ids": ["a", "b"], "batch_size": 2, "cluster_size": 3}, r"cluster_size_start: must be 0–batch_size"),
            ({"anchor_ids": ["a", "b"], "batch_size": 2, "strategy": "neighbours", "num_nearest": 2},
             r"must fit in batch_size \(2\)"),
        ):
            with pytest.raises(hardneg.errors.InvalidArgument, match=match):
                next(iter(c.build_batches("docs", **kwargs)))


def _encode(ids: list[str]) -> np.ndarray:
    return unit_rows(len(ids), 8)


BAD_REFRESH: list[Any] = [
    pytest.param({"every": 0}, ValueError, r"every must be at least 1, got 0", id="every-0"),
    pytest.param({"every": -5}, ValueError, r"every must be at least 1, got -5", id="every-negative"),
    pytest.param({"every": 2.5}, TypeError, r"every must be an integer, got 2.5", id="every-float"),
    pytest.param({"every": "100"}, TypeError, r"every must be an integer, got '100'", id="every-string"),
    pytest.param({"limit": -1}, ValueError, r"limit must be 0 \(the server's default\) to 65,536, got -1",
                 id="limit-negative"),
    pytest.param({"limit": 100_000}, ValueError, r"limit must be 0 \(the server's default\) to 65,536", id="limit-huge"),
    pytest.param({"limit": None}, TypeError, r"limit must be an integer, got None", id="limit-none"),
    pytest.param({"encode": None}, TypeError, r"encode must be a callable from ids to vectors, got None", id="no-encode"),
    pytest.param({"encode": np.zeros((2, 8))}, TypeError, r"encode must be a callable", id="vectors-not-encoder"),
    pytest.param({"collection": ""}, ValueError, r"collection must be a non-empty string", id="empty-collection"),
    pytest.param({"client": object()}, TypeError, r"client must be a hardneg.Client", id="not-a-client"),
]


@pytest.mark.parametrize("change, error, match", BAD_REFRESH)
def test_refresh_callback_refuses_bad_arguments_when_made(
    items: tuple[hardneg.Client, str], change: dict[str, Any], error: type, match: str
) -> None:
    client, name = items
    args: dict[str, Any] = {"client": client, "collection": name, "encode": _encode}
    args.update(change)
    with pytest.raises(error, match=match):
        RefreshCallback(args.pop("client"), args.pop("collection"), args.pop("encode"), **args)


def test_refresh_callback_refuses_a_step_that_is_not_an_integer(items: tuple[hardneg.Client, str]) -> None:
    client, name = items
    cb = RefreshCallback(client, name, _encode, every=1)
    for step in ("3", 2.0, None):
        with pytest.raises(TypeError, match="step must be an integer"):
            cb(step)  # type: ignore[arg-type]
    assert cb.refreshed == 0 and cb.last is None
