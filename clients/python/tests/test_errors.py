"""Bad input raises typed errors naming the offending field; nothing of the batch lands."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest
from conftest import unit_rows

import hardneg
from hardneg import errors


def _assert_field(err: errors.InvalidArgument, *fragments: str) -> None:
    assert err.code is not None and err.code.name == "INVALID_ARGUMENT"
    assert err.violations, "the server sent no BadRequest field violations"
    assert err.field
    assert err.reason
    for f in fragments:
        assert f in err.field, f"{f!r} not in field {err.field!r}"


@pytest.mark.parametrize(
    "mutate, fragments",
    [
        (lambda ids, x: x.__setitem__((3, 0), np.nan), ("vectors", "3")),
        (lambda ids, x: x.__setitem__((2, 5), np.inf), ("vectors", "2")),
        (lambda ids, x: x.__setitem__(4, 0.0), ("vectors", "4")),  # zero vector under cosine
        (lambda ids, x: ids.__setitem__(6, ids[1]), ("ids", "6")),  # duplicate id in the batch
        (lambda ids, x: ids.__setitem__(0, ""), ("ids", "0")),
    ],
    ids=["nan", "inf", "zero-under-cosine", "duplicate-id", "empty-id"],
)
def test_bad_item_names_the_item_and_applies_nothing(
    client: hardneg.Client, collection: str, mutate: object, fragments: tuple[str, ...]
) -> None:
    ids = [f"d{i}" for i in range(8)]
    x = unit_rows(8, 16, seed=11)
    mutate(ids, x)  # type: ignore[operator]
    with pytest.raises(errors.InvalidArgument) as exc:
        client.upsert(collection, ids, x)
    _assert_field(exc.value, *fragments)
    assert client.get_collection(collection).stats.item_count == 0


def test_wrong_dimension(client: hardneg.Client, collection: str) -> None:
    with pytest.raises(errors.InvalidArgument) as exc:
        client.upsert(collection, ["a"], np.ones((1, 15), np.float32))
    _assert_field(exc.value, "dim")


def test_mine_bad_vector_and_policy(client: hardneg.Client, collection: str) -> None:
    client.upsert(collection, ["a", "b"], unit_rows(2, 16))
    with pytest.raises(errors.InvalidArgument) as exc:
        client.mine(collection, anchor_vectors=np.ones((1, 8), np.float32))
    # The anchors' vectors go in one column; the error names the argument it came from.
    _assert_field(exc.value, "anchor_vectors")
    assert "anchor_columns" not in str(exc.value) and "has 8 floats per anchor" in str(exc.value)
    with pytest.raises(errors.InvalidArgument) as exc:
        client.mine(collection, anchor_ids=["a"], positive_vectors=np.ones((1, 2, 8), np.float32))
    _assert_field(exc.value, "positive_vectors")
    with pytest.raises(errors.InvalidArgument) as exc:
        client.mine(collection, anchor_vectors=np.vstack([unit_rows(1, 16), np.full((1, 16), np.nan, np.float32)]))
    _assert_field(exc.value, "anchors[1]")
    with pytest.raises(errors.InvalidArgument) as exc:
        client.mine(collection, anchor_ids=["a"], num_negatives=5000)
    _assert_field(exc.value, "num_negatives")


def test_bad_collection_definition(client: hardneg.Client) -> None:
    with pytest.raises(errors.InvalidArgument) as exc:
        client.create_collection("bad-dim", dim=0)
    _assert_field(exc.value, "dim")
    with pytest.raises(errors.InvalidArgument) as exc:
        client.create_collection("bad name with spaces", dim=4)
    _assert_field(exc.value, "name")


def test_unknown_collection_is_not_found(client: hardneg.Client) -> None:
    with pytest.raises(errors.NotFound):
        client.upsert("no-such-collection", ["a"], np.ones((1, 4), np.float32))
    with pytest.raises(errors.NotFound):
        client.mine("no-such-collection", anchor_ids=["a"])
    with pytest.raises(LookupError):  # NotFound is also a LookupError
        client.get_items("no-such-collection", ["a"])


def test_unreachable_server_is_unavailable(make_client: Callable[..., hardneg.Client]) -> None:
    from conftest import free_port

    # One attempt: with retries, the call's deadline may cut the last one short, and then
    # the error is DEADLINE_EXCEEDED with this refusal as its cause (test_retry.py).
    target = f"127.0.0.1:{free_port()}"
    c = make_client(target, timeout=30.0, retry=hardneg.RetryPolicy(max_attempts=1))
    with pytest.raises(errors.Unavailable) as exc:
        c.list_collections()
    assert exc.value.attempts == 1
    assert str(exc.value).startswith(f"UNAVAILABLE: no server answered at {target} (is miner-server running there?): ")
    with pytest.raises(errors.Unavailable) as exc:  # not retried
        c.create_collection("c", dim=4)
    assert f"no server answered at {target}" in str(exc.value)


@pytest.mark.parametrize(
    "field, value",
    [
        ("num_negatives", 0),
        ("num_negatives", -1),
        ("num_negatives", 1025),
        ("num_negatives", 10**10),
        ("num_negatives", 2.5),
        ("num_negatives", True),
        ("range_min", -1),
        ("range_min", 2**20 + 1),
        ("range_max", -1),
        ("range_max", 10**10),
        ("seed", -1),
        ("seed", 2**64),
        ("max_candidates", -1),
        ("max_candidates", 2**32),
        ("ef_search", 65537),
        ("ef_search", "64"),
        ("absolute_margin", float("nan")),
        ("absolute_margin", -0.1),
        ("relative_margin", 1.5),
        ("max_score", 1e39),
        ("min_score", "0.1"),
        ("temperature", float("inf")),
        ("exclude_same_group", "yes"),
        ("widen", 1),
        ("sampling_strategy", "hardest"),
        ("rank_mode", "rank"),
    ],
)
def test_bad_policy_field_is_named_before_sending(
    client: hardneg.Client, collection: str, field: str, value: object
) -> None:
    client.upsert(collection, ["a", "b", "c"], unit_rows(3, 16))
    with pytest.raises(errors.InvalidArgument) as exc:
        client.mine(collection, anchor_ids=["a"], **{field: value})
    assert exc.value.field == f"policy.{field}"
    assert exc.value.reason
    assert isinstance(exc.value, ValueError)


def test_policy_accepts_numpy_scalars_and_limits(client: hardneg.Client, collection: str) -> None:
    client.upsert(collection, [f"d{i}" for i in range(20)], unit_rows(20, 16))
    res = client.mine(
        collection,
        anchor_ids=["d0"],
        num_negatives=np.int64(3),
        range_max=np.uint32(10),
        absolute_margin=np.float32(0.0),
        seed=2**64 - 1,
        exclude_same_group=np.bool_(True),
    )
    assert res.counts.tolist() == [3]
    assert client.mine(collection, anchor_ids=["d0"], num_negatives=1024).counts[0] == 19
