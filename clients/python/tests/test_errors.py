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
    _assert_field(exc.value, "anchors[0]")
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

    c = make_client(f"127.0.0.1:{free_port()}", timeout=2.0)
    with pytest.raises(errors.Unavailable):
        c.list_collections()
