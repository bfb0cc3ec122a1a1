"""Bad arguments, as a new user would try them: each raises a ValueError or TypeError
naming the argument before any call is made, the same in Client and AsyncClient.

The clients here point at a port nothing listens on: an argument that slipped through
would surface as Unavailable instead of the expected error."""

from __future__ import annotations

import re
from typing import Any, Callable

import numpy as np
import pytest

import hardneg
from hardneg import errors
from conftest import unit_rows

NOWHERE = "127.0.0.1:1"


def drain(client: Any, stream: Any) -> list[Any]:
    """Reads a streaming method's iterator, or the asyncio client's async iterator on the
    adapter's loop."""
    if hasattr(stream, "__aiter__"):

        async def collect() -> list[Any]:
            return [x async for x in stream]

        return client._loop.run_until_complete(collect())  # type: ignore[no-any-return]
    return list(stream)
ONE = np.ones((1, 4), np.float32)

# (name, call, exception type, text the message must contain)
CASES: list[tuple[str, Callable[[hardneg.Client], Any], type, str]] = [
    ("create_collection name None", lambda c: c.create_collection(None, dim=4), TypeError, "name"),
    ("create_collection dim 0", lambda c: c.create_collection("x", dim=0), ValueError, "dim"),
    ("create_collection dim -1", lambda c: c.create_collection("x", dim=-1), ValueError, "dim"),
    ("create_collection dim huge", lambda c: c.create_collection("x", dim=1 << 40), ValueError, "dim"),
    ("create_collection dim str", lambda c: c.create_collection("x", dim="8"), ValueError, "dim"),
    ("create_collection dim float", lambda c: c.create_collection("x", dim=8.0), ValueError, "dim"),
    ("create_collection dim bool", lambda c: c.create_collection("x", dim=True), ValueError, "dim"),
    ("create_collection metric", lambda c: c.create_collection("x", dim=4, metric="hamming"), ValueError, "metric"),
    ("get_collection name int", lambda c: c.get_collection(5), TypeError, "name"),
    ("get_collection name None", lambda c: c.get_collection(None), TypeError, "name"),
    ("delete_collection name bytes", lambda c: c.delete_collection(b"c"), TypeError, "name"),
    ("upsert collection None", lambda c: c.upsert(None, ["a"], ONE), TypeError, "collection"),
    ("upsert ids str", lambda c: c.upsert("c", "a", ONE), TypeError, "ids"),
    ("upsert ids int", lambda c: c.upsert("c", [1], ONE), TypeError, "ids"),
    ("upsert 1-D vectors", lambda c: c.upsert("c", ["a"], np.ones(4, np.float32)), ValueError, "vectors"),
    ("upsert ids/vectors lengths", lambda c: c.upsert("c", ["a", "b"], ONE), ValueError, "ids"),
    ("upsert vectors None", lambda c: c.upsert("c", ["a"], None), TypeError, "got None"),
    ("upsert complex vectors", lambda c: c.upsert("c", ["a"], ONE.astype(np.complex64)), TypeError, "complex"),
    ("upsert ids None", lambda c: c.upsert("c", None, ONE), TypeError, "ids must be a sequence of strings, got None"),
    ("upsert ids int", lambda c: c.upsert("c", 5, ONE), TypeError, "ids must be a sequence of strings, got int"),
    ("upsert vectors generator", lambda c: c.upsert("c", ["a"], (r for r in ONE)), ValueError,
     "vectors: must be an array of shape (n, dim), got a generator"),
    ("upsert vectors dict", lambda c: c.upsert("c", ["a"], {"a": ONE[0]}), ValueError, "vectors: must be an array of shape (n, dim), got a dict"),
    ("upsert vectors rows of None", lambda c: c.upsert("c", ["a"], [[None, None, None, None]]), ValueError, "value 0 is NaN"),
    ("upsert vectors rows of dicts", lambda c: c.upsert("c", ["a"], [[{}, {}, {}, {}]]), ValueError,
     "vectors: cannot be read as an array of float32 (n, dim)"),
    ("delete ids None", lambda c: c.delete("c", None), TypeError, "ids must be a sequence of strings, got None"),
    ("get_items ids None", lambda c: c.get_items("c", None), TypeError, "ids must be a sequence of strings, got None"),
    ("ingest batches None", lambda c: c.ingest("c", None), TypeError, "batches must be an iterable"),
    ("ingest batches int", lambda c: c.ingest("c", 3), TypeError, "batches must be an iterable"),
    ("delete collection int", lambda c: c.delete(3, ["a"]), TypeError, "collection"),
    ("delete ids str", lambda c: c.delete("c", "a"), TypeError, "ids"),
    ("get_items include_vectors str", lambda c: c.get_items("c", ["a"], include_vectors="yes"), TypeError, "include_vectors"),
    ("get_items ids str", lambda c: c.get_items("c", "a"), TypeError, "ids"),
    ("mine collection None", lambda c: c.mine(None, anchor_ids=["a"]), TypeError, "collection"),
    ("mine no anchors", lambda c: c.mine("c"), ValueError, "anchor_ids"),
    ("mine anchor_ids str", lambda c: c.mine("c", anchor_ids="a"), TypeError, "anchor_ids"),
    ("mine k -1", lambda c: c.mine("c", anchor_ids=["a"], num_negatives=-1), ValueError, "num_negatives"),
    ("mine k str", lambda c: c.mine("c", anchor_ids=["a"], num_negatives="3"), ValueError, "num_negatives"),
    ("mine temperature NaN", lambda c: c.mine("c", anchor_ids=["a"], temperature=float("nan")), ValueError, "temperature"),
    ("mine range_min -1", lambda c: c.mine("c", anchor_ids=["a"], range_min=-1), ValueError, "range_min"),
    ("mine unknown keyword", lambda c: c.mine("c", anchor_ids=["a"], bogus=1), TypeError, "bogus"),
    ("mine explain -1", lambda c: c.mine("c", anchor_ids=["a"], explain=-1), ValueError, "explain"),
    ("get_calibration collection None", lambda c: c.get_calibration(None), TypeError, "collection"),
    ("refresh_queue limit -1", lambda c: c.refresh_queue("c", limit=-1), ValueError, "limit"),
    ("refresh_queue collection int", lambda c: c.refresh_queue(1), TypeError, "collection"),
    ("report_loss lengths", lambda c: c.report_loss("c", ["a", "b"], losses=[1.0]), ValueError, "losses"),
    ("report_loss NaN", lambda c: c.report_loss("c", ["a"], losses=[float("nan")]), ValueError, "losses"),
    ("report_loss keys str", lambda c: c.report_loss("c", "ab", losses=[1.0, 2.0]), TypeError, "keys"),
    ("report_loss no outcome", lambda c: c.report_loss("c", ["a"]), ValueError, "losses or solved"),
    ("report_loss both outcomes", lambda c: c.report_loss("c", ["a"], losses=[1.0], solved=[True]), errors.InvalidArgument, "not both"),
    ("report_false_negatives str", lambda c: c.report_false_negatives("c", "ab"), TypeError, "reports"),
    ("report_false_negatives triples", lambda c: c.report_false_negatives("c", [("k", "a", "b")]), TypeError, "reports"),
    ("report_false_negatives int id", lambda c: c.report_false_negatives("c", [("k", 1)]), TypeError, "reports"),
    ("report_false_negatives collection None", lambda c: c.report_false_negatives(None, {"k": ["a"]}), TypeError, "collection"),
    ("snapshot collection None", lambda c: c.snapshot(None), TypeError, "collection"),
    ("backup collection int", lambda c: c.backup(5, "/nonexistent-dir/x.hnb"), TypeError, "collection"),
    ("restore collection int", lambda c: c.restore("/nonexistent-dir/x.hnb", collection=5), TypeError, "collection"),
    ("ingest writer_id NUL", lambda c: c.ingest("c", [], writer_id="w\x00"), ValueError, "writer_id"),
    ("ingest writer_id int", lambda c: c.ingest("c", [], writer_id=7), TypeError, "writer_id"),
    ("ingest collection None", lambda c: c.ingest(None, []), TypeError, "collection"),
    ("build_batches collection None", lambda c: drain(c, c.build_batches(None, ["a"], batch_size=2)), TypeError, "collection"),
    ("build_batches batch_size 0", lambda c: drain(c, c.build_batches("c", ["a", "b"], batch_size=0)), ValueError, "batch_size"),
    ("list_snapshots collection int", lambda c: c.list_snapshots(7), TypeError, "collection"),
    ("build_batches flag str", lambda c: c.build_batches("c", ["a", "b"], batch_size=2, use_feedback="false"), TypeError, "use_feedback"),
    ("create_collection metric None", lambda c: c.create_collection("x", dim=4, metric=None), TypeError, "metric"),
    ("create_collection index_params int", lambda c: c.create_collection("x", dim=4, index_params=5), TypeError, "index_params"),
    ("create_collection index_params bad key", lambda c: c.create_collection("x", dim=4, index_params={"mm": 8}), TypeError, "mm"),
    ("mine policy list", lambda c: c.mine("c", anchor_ids=["a"], policy=[3]), TypeError, "policy"),
    ("mine policy dict bad key", lambda c: c.mine("c", anchor_ids=["a"], policy={"k": 3}), TypeError, "k"),
    ("mine explain str", lambda c: c.mine("c", anchor_ids=["a"], explain="yes"), TypeError, "explain"),
    ("mine explain float", lambda c: c.mine("c", anchor_ids=["a"], explain=2.7), TypeError, "explain"),
    ("mine include_vectors str", lambda c: c.mine("c", anchor_ids=["a"], include_vectors="no"), TypeError, "include_vectors"),
    ("ingest window float", lambda c: c.ingest("c", [], window=2.5), TypeError, "window"),
    ("ingest reconnect_timeout str", lambda c: c.ingest("c", [], reconnect_timeout="x"), TypeError, "reconnect_timeout"),
    # A value of the right type that is wrong is InvalidArgument naming the argument.
    ("mine positive_ids length", lambda c: c.mine("c", anchor_ids=["a", "b"], positive_ids=[["x"]]), errors.InvalidArgument, "positive_ids"),
    ("mine exclude_ids length", lambda c: c.mine("c", anchor_ids=["a", "b"], exclude_ids=[["x"]]), errors.InvalidArgument, "exclude_ids"),
    ("mine keys length", lambda c: c.mine("c", anchor_ids=["a", "b"], keys=["k"]), errors.InvalidArgument, "keys"),
    ("mine ids vs vectors", lambda c: c.mine("c", anchor_ids=["a", "b"], anchor_vectors=ONE), errors.InvalidArgument, "anchor_vectors"),
    ("mine positive_vectors rows", lambda c: c.mine("c", anchor_ids=["a", "b"], positive_vectors=ONE), errors.InvalidArgument, "positive_vectors"),
    ("mine no anchors: InvalidArgument", lambda c: c.mine("c"), errors.InvalidArgument, "anchor_ids"),
    ("mine empty anchor_ids", lambda c: c.mine("c", []), errors.InvalidArgument, "anchor_ids: is empty; give 1 or more anchors ("),
    ("mine empty anchor_vectors", lambda c: c.mine("c", None, np.zeros((0, 4), np.float32)), errors.InvalidArgument,
     "anchor_vectors: is empty; give 1 or more anchors ("),
    ("ingest window 0", lambda c: c.ingest("c", [], window=0), errors.InvalidArgument, "window"),
    ("ingest first_sequence 0", lambda c: c.ingest("c", [], first_sequence=0), errors.InvalidArgument, "first_sequence"),
    ("ingest first_sequence 2**64", lambda c: c.ingest("c", [], first_sequence=2**64), errors.InvalidArgument, "first_sequence"),
    ("ingest writer_id empty", lambda c: c.ingest("c", [], writer_id=""), errors.InvalidArgument, "writer_id"),
    ("ingest reconnect_timeout -1", lambda c: c.ingest("c", [], reconnect_timeout=-1), errors.InvalidArgument, "reconnect_timeout"),
    ("refresh_queue target_version 2**63", lambda c: c.refresh_queue("c", target_version=2**63), errors.InvalidArgument, "target_version"),
    ("report_loss losses strings", lambda c: c.report_loss("c", ["a"], losses=["1"]), TypeError, "losses must be numbers"),
    ("report_loss losses 2-d", lambda c: c.report_loss("c", ["a", "b", "c", "d"], losses=np.ones((2, 2))), errors.InvalidArgument, "losses: must be 1-d"),
    ("report_loss solved 2-d", lambda c: c.report_loss("c", ["a", "b", "c", "d"], solved=np.ones((2, 2), bool)), errors.InvalidArgument, "solved: must be 1-d"),
    ("report_loss loss beyond float32", lambda c: c.report_loss("c", ["a", "b"], losses=[1.0, 1e300]), errors.InvalidArgument, "losses[1]: is beyond float32"),
    ("report_loss loss inf", lambda c: c.report_loss("c", ["a", "b"], losses=[float("inf"), 1.0]), errors.InvalidArgument, "losses[0]: must be finite, got inf"),
    ("report_loss loss NaN (numpy)", lambda c: c.report_loss("c", ["a", "b"], losses=np.array([np.nan, 1.0])), errors.InvalidArgument, "losses[0]: must be finite, got nan"),
    ("refresh version float", lambda c: c.refresh("c", lambda ids: None, version=3.5), TypeError, "version must be an integer"),
    ("refresh version None", lambda c: c.refresh("c", lambda ids: None, version=None), TypeError, "version must be an integer"),
    ("refresh version 2**70", lambda c: c.refresh("c", lambda ids: None, version=2**70), errors.InvalidArgument, "version: must be a signed 64-bit"),
    ("refresh encode not callable", lambda c: c.refresh("c", 5, version=1), TypeError, "encode must be a function"),
    ("upsert lone surrogate id", lambda c: c.upsert("c", ["ok", "\ud800"], np.ones((2, 4), np.float32)), errors.InvalidArgument, "ids[1]"),
    ("report_false_negatives int key", lambda c: c.report_false_negatives("c", {0: ["a"]}), TypeError, "anchor keys"),
    ("restore not a backup", lambda c: c.restore(__file__), errors.BackupFileError, "not a hardneg backup"),
    # hardneg's own error for a bad value (a ValueError too), with the field named.
    ("create_collection metric misspelled", lambda c: c.create_collection("x", dim=4, metric="cosinus"), errors.InvalidArgument,
     "unknown metric 'cosinus'"),
    # float64 beyond float32 is infinite once converted: said so, before anything is sent.
    ("upsert float64 beyond float32", lambda c: c.upsert("c", ["a"], np.array([[1e300, 1, 1, 1]])), errors.InvalidArgument,
     'items.vectors[0]: item "a": value 0 is +Inf (or beyond float32, ±3.4e38); vectors must be finite (1 row holds'),
    # ids pair with rows by position: an unordered container would pair them at random.
    ("upsert ids set", lambda c: c.upsert("c", {"a", "b"}, np.eye(2, 4, dtype=np.float32)), TypeError, "order is arbitrary"),
    ("upsert ids dict", lambda c: c.upsert("c", {"a": 0, "b": 1}, np.eye(2, 4, dtype=np.float32)), TypeError, "not a dict"),
    ("upsert ids dict keys", lambda c: c.upsert("c", {"a": 0}.keys(), ONE), TypeError, "order is arbitrary"),
    ("upsert groups set", lambda c: c.upsert("c", ["a"], ONE, groups={"g"}), TypeError, "groups must hold one entry per item"),
    ("mine anchor_ids set", lambda c: c.mine("c", anchor_ids={"a", "b"}), TypeError, "order is arbitrary"),
    ("mine keys set", lambda c: c.mine("c", anchor_ids=["a", "b"], keys={"k", "l"}), TypeError, "order is arbitrary"),
    ("mine positive_ids set", lambda c: c.mine("c", anchor_ids=["a"], positive_ids={"p"}), TypeError, "anchors' order"),
    ("report_loss keys set", lambda c: c.report_loss("c", {"a", "b"}, losses=[1.0, 2.0]), TypeError, "order is arbitrary"),
    ("upsert group lone surrogate", lambda c: c.upsert("c", ["a"], ONE, groups=["\ud800"]), errors.InvalidArgument,
     "items.groups[0]: is not valid UTF-8 text"),
    # What numpy cannot read as (n, dim) floats names the field, as a hardneg error.
    ("upsert ragged vectors", lambda c: c.upsert("c", ["a", "b"], [[1, 2, 3, 4], [1, 2, 3]]), errors.InvalidArgument,
     "vectors: cannot be read as an array of float32 (n, dim): has rows of different lengths"),
    ("upsert text in vectors", lambda c: c.upsert("c", ["a"], [["a", "b", "c", "d"]]), errors.InvalidArgument,
     "vectors: holds text values; vectors must be floating point"),
    ("upsert numeric text in vectors", lambda c: c.upsert("c", ["a"], np.array([["1.0", "2", "3", "4"]])), errors.InvalidArgument,
     "vectors: holds text values; vectors must be floating point"),
    ("upsert token ids as vectors", lambda c: c.upsert("c", ["a"], np.array([[101, 2023, 102, 0]])), errors.InvalidArgument,
     "vectors: holds int64 values; vectors must be floating point (token ids rather than embeddings?)"),
    ("upsert int8-quantized embeddings", lambda c: c.upsert("c", ["a"], np.ones((1, 4), np.int8)), errors.InvalidArgument,
     "vectors: holds int8 values; vectors must be floating point (embeddings quantized to 8 bits? send the float embeddings"),
    ("upsert a mask as vectors", lambda c: c.upsert("c", ["a"], np.ones((1, 4), bool)), errors.InvalidArgument,
     "vectors: holds bool values; vectors must be floating point"),
    ("upsert booleans in a list", lambda c: c.upsert("c", ["a"], [[True, False, True, True]]), errors.InvalidArgument,
     "vectors: holds bool values"),
    ("mine int32 anchor_vectors", lambda c: c.mine("c", anchor_vectors=np.ones((1, 4), np.int32)), errors.InvalidArgument,
     "anchor_vectors: holds int32 values; vectors must be floating point (token ids rather than embeddings?)"),
    ("mine int guide_vectors", lambda c: c.mine("c", anchor_vectors=ONE, guide_vectors=np.ones((1, 4), np.int64)), errors.InvalidArgument,
     "guide_vectors: holds int64 values"),
    ("upsert bytes as vectors", lambda c: c.upsert("c", ["a"], ONE.tobytes()), errors.InvalidArgument,
     "vectors: must be an array of shape (n, dim), got bytes"),
    ("mine ragged anchor_vectors", lambda c: c.mine("c", anchor_vectors=[[1, 2], [1]]), errors.InvalidArgument, "rows of different lengths"),
    ("create_collection quantization", lambda c: c.create_collection("x", dim=4, index_params=hardneg.IndexParams(quantization="bogus")),
     errors.InvalidArgument, "index_params.quantization: unknown quantization 'bogus'"),
    ("report_false_negatives int", lambda c: c.report_false_negatives("c", 5), TypeError,
     "reports must be a mapping of anchor key to item ids or a sequence of (anchor key, item id) pairs, got int"),
    # As the server refuses it: a report names the items that are false negatives.
    ("report_false_negatives no items", lambda c: c.report_false_negatives("c", {"k": []}), errors.InvalidArgument,
     'reports["k"].item_ids: must name at least one item'),
    # As the server refuses it, without a round trip.
    ("mine max_rank at range_min", lambda c: c.mine("c", anchor_ids=["a"], range_min=5, range_max=20, max_rank=5),
     errors.InvalidArgument, "policy.max_rank: 5 is not above range_min (5)"),
    ("upsert NaN in one batch", lambda c: c.upsert("c", ["a", "b"], np.array([[1, 1, 1, 1], [1, np.nan, 1, 1]], np.float32)),
     errors.InvalidArgument, 'items.vectors[1]: item "b": value 1 is NaN; vectors must be finite (1 row holds values that are not finite); nothing was sent'),
]


@pytest.mark.parametrize("kwargs, error, text", [
    ({"timeout": "5"}, TypeError, "timeout"), ({"timeout": 0}, ValueError, "timeout must be a number of seconds above 0"),
    ({"timeout": -1}, ValueError, "timeout"), ({"retry": 5}, TypeError, "retry"),
    ({"max_message_bytes": 0}, ValueError, "max_message_bytes must be at least 65,536"),
    ({"max_message_bytes": 1.5e6}, TypeError, "max_message_bytes must be an integer"),
])
def test_bad_client_settings_raise_when_made(kwargs: dict[str, Any], error: type, text: str) -> None:
    for cls in (hardneg.Client, hardneg.AsyncClient):
        with pytest.raises(error, match=text):
            cls(NOWHERE, **kwargs)


@pytest.mark.parametrize("target, text", [
    ("http://127.0.0.1:50051", "use '127.0.0.1:50051' with no tls argument"),
    ("https://miner.example:443/", "use 'miner.example:443' with tls=True"),
    ("grpc://localhost:50051", "without a URL scheme"),
])
def test_a_url_as_target_is_refused_with_the_host_port_to_use(target: str, text: str) -> None:
    # gRPC would read the scheme as part of a host name and fail only at the first call.
    for cls in (hardneg.Client, hardneg.AsyncClient):
        with pytest.raises(ValueError, match=re.escape(text)):
            cls(target)
    with pytest.raises(TypeError, match="target must be a string"):
        hardneg.Client(50051)  # type: ignore[arg-type]


@pytest.mark.parametrize("target, dialled", [
    ("localhost", "localhost:50051"), ("10.0.0.7", "10.0.0.7:50051"), ("[::1]", "[::1]:50051"),
    ("miner.example", "miner.example:50051"), ("localhost:6000", "localhost:6000"),
    ("dns:///miner.example:7000", "dns:///miner.example:7000"), ("unix:/tmp/miner.sock", "unix:/tmp/miner.sock"),
])
def test_a_host_without_a_port_dials_the_servers_default_port(target: str, dialled: str) -> None:
    # gRPC alone would dial 443 for a bare host and fail only at the first call.
    for cls in (hardneg.Client, hardneg.AsyncClient):
        assert cls(target)._core.config.target == dialled


def test_policy_and_index_params_may_be_dicts(client: hardneg.Client) -> None:
    name = "dict-args"
    client.delete_collection(name, missing_ok=True)
    info = client.create_collection(name, dim=4, index_params={"exact_threshold": 10})
    assert info.index_params.exact_threshold == 10
    client.upsert(name, ["a", "b", "c"], np.eye(3, 4, dtype=np.float32) + 0.1)
    res = client.mine(name, anchor_ids=["a"], policy={"num_negatives": 2})
    assert res.counts.tolist() == [2]
    client.delete_collection(name)


def test_none_leaves_every_policy_field_at_its_default(client: hardneg.Client) -> None:
    """None means "the default" for every MiningPolicy field, those whose default is a
    value (num_negatives 1, seed 0, sampling_strategy "top", ...) too: a trainer that
    passes its configuration through (max_exposures=cfg.get(...)) gets the defaults."""
    import dataclasses

    valued = [f.name for f in dataclasses.fields(hardneg.MiningPolicy) if f.default is not None]
    assert {"num_negatives", "seed", "sampling_strategy", "max_exposures", "closed_loop_depth"} <= set(valued)
    assert hardneg.MiningPolicy(**{name: None for name in valued}) == hardneg.MiningPolicy()
    name = "none-policy"
    client.delete_collection(name, missing_ok=True)
    client.create_collection(name, dim=4)
    try:
        client.upsert(name, ["a", "b", "c", "d"], np.eye(4, dtype=np.float32) + 0.1)
        plain = client.mine(name, anchor_ids=["a"])
        for field in valued:
            res = client.mine(name, anchor_ids=["a"], **{field: None})
            assert res.ids[0].tolist() == plain.ids[0].tolist(), field
        res = client.mine(name, anchor_ids=["a"], policy={"num_negatives": None, "seed": None}, num_negatives=2)
        assert res.counts.tolist() == [2]
    finally:
        client.delete_collection(name)


@pytest.mark.parametrize("call,exc,text", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_argument_raises_before_any_call(
    make_client: Callable[..., hardneg.Client], call: Callable[[hardneg.Client], Any], exc: type, text: str
) -> None:
    client = make_client(NOWHERE, timeout=5.0)
    with pytest.raises(exc) as info:
        call(client)
    assert not isinstance(info.value, errors.Unavailable)
    assert text in str(info.value), f"{text!r} not in {info.value}"


@pytest.mark.parametrize("name", ["", "a/b", "a b", "x" * 129, "c\x00"])
def test_malformed_collection_name_is_invalid_argument_from_the_server(client: hardneg.Client, name: str) -> None:
    # The server, not the client, owns the name rule; a malformed name is never NOT_FOUND.
    with pytest.raises(errors.InvalidArgument) as info:
        client.get_items(name, ["a"])
    assert info.value.field == "collection"
    with pytest.raises(errors.InvalidArgument) as info:
        client.get_collection(name)
    assert info.value.field == "name"


def test_a_bad_id_in_a_later_request_of_a_split_call_applies_nothing(client: hardneg.Client, collection: str) -> None:
    """Calls over 16,384 ids go as several requests: an id the server would refuse in a
    later one is refused before the first is sent, named by the caller's row."""
    client.upsert(collection, ["a", "b"], np.eye(2, 16, dtype=np.float32))
    ids = ["a", "b"] + [f"z{i}" for i in range(17_000)]
    ids[17_000] = ""
    for call, field in (
        (lambda: client.delete(collection, ids), "ids[17000]"),
        (lambda: client.get_items(collection, ids), "ids[17000]"),
        (lambda: client.report_loss(collection, ids, losses=np.ones(len(ids))), "keys[17000]"),
        (lambda: client.report_false_negatives(collection, {"a": ids[2:]}), 'reports["a"].item_ids[16998]'),
    ):
        with pytest.raises(errors.InvalidArgument) as exc:
            call()
        assert exc.value.violations[0].field == field and "nothing was sent" in str(exc.value), exc.value
    assert client.get_items(collection, ["a", "b"]).ids == ["a", "b"]
    dup = ["a", "b"] + [f"z{i}" for i in range(17_000)]
    dup[17_001] = "z5"  # a later request would refuse it after the first was applied
    with pytest.raises(errors.InvalidArgument) as exc:
        client.delete(collection, dup)
    assert exc.value.violations[0].field == "ids[17001]" and "duplicates ids[7]" in str(exc.value)
    assert client.get_items(collection, ["a", "b"]).ids == ["a", "b"]


@pytest.mark.parametrize("metric, spoil, field, text", [
    ("cosine", lambda ids, x, g: ids.__setitem__(19_000, "x" * 600), "items.ids[19000]", "is 600 bytes; at most 512"),
    ("cosine", lambda ids, x, g: ids.__setitem__(19_000, "z\x00"), "items.ids[19000]", "must not contain NUL"),
    ("cosine", lambda ids, x, g: g.__setitem__(19_000, ["g" * 300]), "items.groups[19000].groups[0]",
     'item "i19000": groups must be 1–256 bytes of UTF-8 without NUL'),
    ("cosine", lambda ids, x, g: g.__setitem__(19_000, [f"g{j}" for j in range(65)]), "items.groups[19000]",
     'item "i19000" has 65 groups; at most 64'),
    ("cosine", lambda ids, x, g: x.__setitem__(19_000, 0), "items.vectors[19000]",
     'item "i19000": is a zero vector, which has no direction under cosine'),
    ("dot", lambda ids, x, g: x.__setitem__(19_000, 1e9), "items.vectors[19000]",
     'item "i19000": has norm 2.828427e+09, above the limit: under dot the norm must be at most 1e+09'),
    ("l2", lambda ids, x, g: x.__setitem__(19_000, 1e9), "items.vectors[19000]", "under l2 the norm must be at most 1e+09"),
])
def test_a_bad_item_in_a_later_batch_of_a_split_upsert_applies_nothing(
    client: hardneg.Client, metric: str, spoil: Callable[..., None], field: str, text: str
) -> None:
    """An upsert of more than 16,384 items goes as several requests: what the server
    would refuse in a later one (an id, a group, a vector's norm under the collection's
    metric) is refused before the first is sent, named by the caller's row as the
    server names it."""
    name = f"split-{metric}"
    client.delete_collection(name, missing_ok=True)
    client.create_collection(name, dim=8, metric=metric)
    try:
        ids = [f"i{i}" for i in range(20_000)]
        x = np.random.default_rng(0).standard_normal((20_000, 8)).astype(np.float32)
        groups: list[list[str]] = [["g"]] * 20_000
        spoil(ids, x, groups)
        with pytest.raises(errors.InvalidArgument) as exc:
            client.upsert(name, ids, x, groups=groups)
        assert exc.value.violations[0].field == field, exc.value
        assert text in str(exc.value) and "nothing was sent" in str(exc.value), exc.value
        assert exc.value.applied_rows == 0  # type: ignore[attr-defined]
        assert client.get_collection(name).stats.item_count == 0
    finally:
        client.delete_collection(name)


def test_a_split_upsert_stores_what_only_another_metric_refuses(client: hardneg.Client) -> None:
    """A zero vector is refused under cosine only, a norm over 1e9 under dot and L2 only:
    the client's check asks the collection's metric and lets through what it takes."""
    for metric, value in (("dot", 0.0), ("cosine", 1e9)):
        name = f"split-ok-{metric}"
        client.delete_collection(name, missing_ok=True)
        client.create_collection(name, dim=8, metric=metric)
        try:
            x = np.random.default_rng(1).standard_normal((20_000, 8)).astype(np.float32)
            x[19_000] = value
            res = client.upsert(name, [f"i{i}" for i in range(20_000)], x)
            assert res.batches == 2 and res.inserted == 20_000
        finally:
            client.delete_collection(name)


def test_sets_are_fine_where_order_does_not_matter(client: hardneg.Client, collection: str) -> None:
    """A set pairs nothing with rows where its order means nothing: ids to delete or
    read, an item's groups, an anchor's positives, a report's items."""
    client.upsert(collection, ["a", "b", "c"], np.eye(3, 16, dtype=np.float32) + 0.1, groups=[{"g1", "g2"}, None, ("g3",)])
    assert sorted(client.get_items(collection, {"a", "b"}).ids) == ["a", "b"]
    res = client.mine(collection, anchor_ids=["a"], positive_ids=[{"b"}], num_negatives=1)
    assert res.ids[0].tolist() == ["c"]
    assert client.report_false_negatives(collection, {"k": {"b", "c"}}) == 2
    assert client.delete(collection, {"a", "c"}).deleted == 2
    # A 2-d memoryview of float32 reads as numpy reads it.
    client.upsert(collection, ["m"], memoryview(np.ones((1, 16), np.float32)))
    assert client.get_items(collection, ["m", "b"]).ids == ["m", "b"]


def test_a_bad_loss_in_a_later_request_of_a_split_call_applies_nothing(client: hardneg.Client, collection: str) -> None:
    """A loss that is finite in float64 but not in float32 (the wire's type), in the
    second request of a split report, is refused before the first is sent."""
    keys = [f"k{i}" for i in range(20_000)]
    losses = np.full(20_000, -1.0)
    losses[19_000] = 1e300
    with pytest.raises(errors.InvalidArgument) as exc:
        client.report_loss(collection, keys, losses=losses)
    assert exc.value.violations[0].field == "losses[19000]"
    # k0 is where a key nobody reported on is: one solved outcome takes both to the same.
    assert client.report_loss(collection, ["k0", "never"], solved=[True, True]).tolist() == [0.25, 0.25]


def test_report_loss_takes_torch_like_tensors(client: hardneg.Client, collection: str) -> None:
    """A loss straight from a training step (requires grad, bfloat16, on a device) is
    detached and copied to the host; checked without importing torch."""

    class Tensor:
        def __init__(self, values: np.ndarray, dtype: str) -> None:
            self.values, self.dtype = values, dtype

        def detach(self) -> "Tensor":
            return self

        def cpu(self) -> "Tensor":
            return self

        def float(self) -> "Tensor":
            return Tensor(self.values.astype(np.float32), "torch.float32")

        def numpy(self) -> np.ndarray:
            if self.dtype == "torch.bfloat16":
                raise TypeError("Got unsupported ScalarType BFloat16")
            return self.values

    h = client.report_loss(collection, ["t1", "t2"], losses=Tensor(np.array([0.0, 5.0]), "torch.bfloat16"))
    assert h.tolist() == [0.25, 0.0]
    h = client.report_loss(collection, ["t1"], solved=Tensor(np.array([True]), "torch.bool"))
    assert h.tolist() == [0.5]


class FakeTensor:
    """What the client sees of a torch tensor straight from a training step (requires
    grad, bfloat16): numpy() refuses both until detached and cast; no torch import."""

    def __init__(self, values: np.ndarray, dtype: str, grad: bool = False) -> None:
        self.values, self.dtype, self.grad = values, dtype, grad

    def detach(self) -> "FakeTensor":
        return FakeTensor(self.values, self.dtype)

    def cpu(self) -> "FakeTensor":
        return self

    def float(self) -> "FakeTensor":
        return FakeTensor(self.values.astype(np.float32), "torch.float32", self.grad)

    def numpy(self) -> np.ndarray:
        if self.grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        if self.dtype == "torch.bfloat16":
            raise TypeError("Got unsupported ScalarType BFloat16")
        return self.values


def test_vectors_may_be_tensors_from_a_training_step(client: hardneg.Client, collection: str) -> None:
    """Anchor encodings of the current step (requiring grad, bfloat16) mine as their
    float32 values do; upsert takes them too."""
    x = unit_rows(20, 16, seed=3)
    client.upsert(collection, [f"t{i}" for i in range(20)], FakeTensor(x.astype(np.float64), "torch.bfloat16", grad=True))
    assert np.allclose(client.get_items(collection, ["t5"], include_vectors=True).vectors[0], x[5], atol=1e-6)
    q = x[:2] + 0.01
    want = client.mine(collection, anchor_vectors=q.astype(np.float32), num_negatives=3)
    got = client.mine(collection, anchor_vectors=FakeTensor(q, "torch.bfloat16", grad=True), num_negatives=3)
    assert got.ids.tolist() == want.ids.tolist()


@pytest.mark.parametrize("ids, vectors, groups", [
    (["a", "b"], np.ones((1, 8), np.float32), None),  # ids and rows disagree
    (["a"], np.ones((1, 8), np.float32), [["g"], ["h"]]),  # ids and group lists disagree
    (["a"], np.ones(8, np.float32), None),  # 1-D
    (["a"], np.ones((1, 8), np.int8), None),  # not floating point
    (["\ud800"], np.ones((1, 8), np.float32), None),  # not UTF-8
], ids=["rows", "groups", "1-D", "int8", "surrogate"])
def test_every_upsert_refused_before_sending_says_nothing_was_applied(
    client: hardneg.Client, ids: list[str], vectors: np.ndarray, groups: Any
) -> None:
    name = "refused-shapes"
    client.delete_collection(name, missing_ok=True)
    client.create_collection(name, dim=8)
    try:
        with pytest.raises(errors.InvalidArgument) as exc:
            client.upsert(name, ids, vectors, groups=groups)
        assert exc.value.applied_rows == 0  # type: ignore[attr-defined]
        assert client.get_collection(name).stats.item_count == 0
    finally:
        client.delete_collection(name)


@pytest.mark.parametrize("fill", ["\x01", "x", "é"])
def test_a_long_refusal_reaches_the_client_naming_the_field(client: hardneg.Client, fill: str) -> None:
    """Sixteen anchors with ids of the longest length allowed that are not in the
    collection: the server quotes each id in its refusal, and ids of control characters
    (escaped four bytes each) made trailers of over 8 KiB, which this client's channel
    refuses, so the refusal came as Internal or ResourceExhausted without the field."""
    name = f"longref_{ord(fill)}"
    client.create_collection(name, 4, "cosine")
    try:
        ids = [f"{i:03d}" + fill * (509 // len(fill.encode())) for i in range(16)]
        for _ in range(3):
            with pytest.raises(errors.InvalidArgument) as info:
                client.mine(name, ids, num_negatives=1)
            assert info.value.field == "anchors[0].id", info.value
            assert "is not in the collection" in str(info.value)
    finally:
        client.delete_collection(name)
