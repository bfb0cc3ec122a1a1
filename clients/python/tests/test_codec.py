"""Message building and parsing, without a server."""

from __future__ import annotations

from typing import Any

import grpc
import numpy as np
import pytest
from google.rpc import code_pb2, error_details_pb2, status_pb2

import hardneg
from hardneg import _codec as codec
from hardneg import errors
from hardneg._ingest import IngestState
from hardneg.v1 import hardneg_pb2 as pb


def test_vectors_round_trip_bit_exact() -> None:
    x = np.random.default_rng(1).standard_normal((7, 5)).astype(np.float64)
    items = codec.prepare_items([f"i{i}" for i in range(7)], x)
    batch = items.batch(0, 7)
    assert batch.dim == 5
    assert len(batch.vectors) == 7 * 5 * 4
    back = codec.decode_vectors(batch.vectors, 5)
    np.testing.assert_array_equal(back, x.astype(np.float32))
    assert back.dtype == np.float32


def test_big_endian_input_is_sent_little_endian() -> None:
    x = np.arange(6, dtype=">f4").reshape(2, 3)
    raw = codec.vector_bytes(x)
    assert raw == np.arange(6, dtype="<f4").tobytes()


@pytest.mark.parametrize(
    "ids, vectors, match",
    [
        (["a", "b"], np.zeros((3, 4)), "2 ids but 3 vectors"),
        (["a"], np.zeros(4), "1-D"),
        ("ab", np.zeros((2, 4)), "single string"),
        ([1, 2], np.zeros((2, 4)), "strings"),
    ],
)
def test_prepare_items_rejects_bad_shapes(ids: object, vectors: np.ndarray, match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        codec.prepare_items(ids, vectors)


def test_slices_respect_item_limit() -> None:
    n = 40_000
    items = codec.prepare_items([str(i) for i in range(n)], np.ones((n, 2), np.float32))
    spans = list(items.slices(codec.MAX_BATCH_ITEMS, 1 << 30))
    assert spans[0] == (0, 16_384)
    assert spans[-1][1] == n
    assert all(e - s <= 16_384 for s, e in spans)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))


def test_slices_respect_byte_limit() -> None:
    n, dim = 1000, 256  # 1 KiB of vector per item
    items = codec.prepare_items([f"id-{i}" for i in range(n)], np.ones((n, dim), np.float32))
    limit = 100_000
    spans = list(items.slices(codec.MAX_BATCH_ITEMS, limit))
    assert len(spans) > 1
    for s, e in spans:
        assert items.batch(s, e).ByteSize() <= limit
    assert sum(e - s for s, e in spans) == n


def test_groups_and_versions_columns() -> None:
    items = codec.prepare_items(["a", "b", "c"], np.ones((3, 2)), groups=[["g1", "g2"], None, "g3"], versions=7)
    b = items.batch(0, 3)
    assert [list(g.groups) for g in b.groups] == [["g1", "g2"], [], ["g3"]]
    assert list(b.versions) == [7, 7, 7]


def test_policy_message_sets_only_given_optionals() -> None:
    pol = hardneg.MiningPolicy(num_negatives=4, relative_margin=0.05, sampling_strategy="random", seed=3)
    msg = codec.policy_message(pol)
    assert msg.num_negatives == 4
    assert msg.HasField("relative_margin") and abs(msg.relative_margin - 0.05) < 1e-7
    assert not msg.HasField("absolute_margin")
    assert not msg.HasField("exclude_same_group")
    assert msg.sampling == pb.SAMPLING_STRATEGY_UNIFORM
    assert msg.rank_mode == pb.RANK_MODE_SURVIVING
    assert msg.seed == 3


def test_policy_rejects_unknown_names() -> None:
    with pytest.raises(TypeError, match="margin"):
        hardneg.MiningPolicy.from_kwargs(None, margin=0.1)
    with pytest.raises(ValueError, match="sampling_strategy") as bad:
        codec.policy_message(hardneg.MiningPolicy(sampling_strategy="best"))  # type: ignore[arg-type]
    assert "use one of top, random, uniform, softmax, simans, top1_sampled" in str(bad.value)


def test_policy_takes_the_proto_enum_names_the_server_speaks() -> None:
    """The server's warnings name enum values as the proto does (SAMPLING_STRATEGY_SOFTMAX):
    a user who copies one into a policy gets what it names."""
    msg = codec.policy_message(hardneg.MiningPolicy(sampling_strategy="SAMPLING_STRATEGY_SOFTMAX",  # type: ignore[arg-type]
                                                    rank_mode="RANK_MODE_RAW", stale_rule="STALE_RULE_RESCORE"))  # type: ignore[arg-type]
    assert msg.sampling == pb.SAMPLING_STRATEGY_SOFTMAX
    assert msg.rank_mode == pb.RANK_MODE_RAW
    assert msg.stale_rule == pb.STALE_RULE_RESCORE


def test_anchor_block_rows() -> None:
    vecs = np.eye(3, dtype=np.float32)
    anchors = codec.AnchorBlock(
        ["a", None, "c"],
        vecs,
        positive_ids=[["p1", "p2"], "p3", None],
        positive_vectors=[None, np.ones((2, 3)), np.ones(3)],
        exclude_ids=[[], ["x"], []],
        keys=[None, "k1", None],
    ).rows(0, 3)
    assert [a.id for a in anchors] == ["a", "", "c"]
    assert list(anchors[0].positive_ids) == ["p1", "p2"]
    assert list(anchors[1].positive_ids) == ["p3"]
    assert anchors[1].key == "k1"
    assert len(anchors[1].positive_vectors) == 2 * 3 * 4
    assert len(anchors[2].positive_vectors) == 3 * 4
    assert np.frombuffer(anchors[2].vector, "<f4").tolist() == [0.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="2 entries for 3 anchors"):
        codec.AnchorBlock(["a", "b", "c"], positive_ids=[["x"], ["y"]])


def test_mine_result_pads_shortfall() -> None:
    resp = pb.MineResponse()
    r0 = resp.results.add(positive_score=0.9, candidates_examined=10, shortfall=0)
    r0.negatives.add(id="n1", score=0.8, rank=1)
    r0.negatives.add(id="n2", score=0.7, rank=3)
    r0.removed.positive = 1
    r0.removed.margin = 2
    r1 = resp.results.add(candidates_examined=4, shortfall=1, widenings=2, exact_scan=True)
    r1.negatives.add(id="n3", score=0.1, rank=0)
    res = codec.mine_result(resp, 2, include_vectors=False)
    assert res.ids.tolist() == [["n1", "n2"], ["n3", None]]
    assert res.ranks.tolist() == [[1, 3], [0, -1]]
    assert res.mask.tolist() == [[True, True], [True, False]]
    assert np.isnan(res.scores[1, 1]) and np.isnan(res.positive_scores[1])
    assert res.positive_scores[0] == pytest.approx(0.9)
    assert res.negatives(1) == [("n3", pytest.approx(0.1), 0)]
    s = res.stats
    assert (s.positive, s.margin, s.candidates_examined, s.shortfall, s.widenings, s.exact_scans) == (1, 2, 14, 1, 2, 1)
    assert s.negatives_returned == 3


def _row_by_row(resp: pb.MineResponse, k: int, include_vectors: bool) -> dict:
    """The padded arrays of a MineResponse filled one cell at a time: the oracle of
    codec.mine_result's column-wise decoding."""
    n = len(resp.results)
    k = max(k, max((len(r.negatives) for r in resp.results), default=0))
    out = {
        "ids": np.full((n, k), None, dtype=object),
        "scores": np.full((n, k), np.nan, dtype=np.float32),
        "ranks": np.full((n, k), -1, dtype=np.int64),
        "p_fn": np.full((n, k), np.nan, dtype=np.float32),
        "versions": np.zeros((n, k), dtype=np.int64),
        "stale": np.zeros((n, k), dtype=bool),
        "counts": np.zeros(n, dtype=np.int64),
        "positive_scores": np.full(n, np.nan, dtype=np.float32),
        "duplicate_threshold": np.full(n, np.nan, dtype=np.float32),
        "guide_positive_scores": np.full(n, np.nan, dtype=np.float32),
        "max_rank": np.zeros(n, dtype=np.int64),
        "floor_reached": np.zeros(n, dtype=bool),
        "rotation_restarted": np.zeros(n, dtype=bool),
        "rotation_served": np.zeros(n, dtype=np.int64),
        "shortfall": np.zeros(n, dtype=np.int64),
        "candidates_examined": np.zeros(n, dtype=np.int64),
        "widenings": np.zeros(n, dtype=np.int64),
        "exact_scan": np.zeros(n, dtype=bool),
    }
    removed = {rule: np.zeros(n, dtype=np.int64) for rule in hardneg.RULES}
    dim, rows = 0, []
    for i, r in enumerate(resp.results):
        out["counts"][i] = len(r.negatives)
        for j, neg in enumerate(r.negatives):
            out["ids"][i, j], out["scores"][i, j], out["ranks"][i, j] = neg.id, neg.score, neg.rank
            if neg.HasField("p_fn"):
                out["p_fn"][i, j] = neg.p_fn
            out["versions"][i, j], out["stale"][i, j] = neg.version, neg.stale
        for field, name in [("positive_score", "positive_scores"), ("duplicate_threshold", "duplicate_threshold"),
                            ("guide_positive_score", "guide_positive_scores")]:
            if r.HasField(field):
                out[name][i] = getattr(r, field)
        for name in ["max_rank", "floor_reached", "rotation_restarted", "rotation_served", "shortfall", "candidates_examined",
                     "widenings", "exact_scan"]:
            out[name][i] = getattr(r, name)
        for rule in hardneg.RULES:
            removed[rule][i] = getattr(r.removed, rule)
        v = np.frombuffer(r.negative_vectors, dtype=np.float32)
        if include_vectors and len(r.negatives):
            dim = v.size // len(r.negatives)
        rows.append(v)
    if include_vectors:
        out["vectors"] = np.full((n, k, dim), np.nan, dtype=np.float32)
        for i, v in enumerate(rows):
            out["vectors"][i, : v.size // max(dim, 1)] = v.reshape(-1, dim) if dim else v[:0]
    out["removed"] = removed
    out["unknown_positive_ids"] = [list(r.unknown_positive_ids) for r in resp.results]
    return out


@pytest.mark.parametrize("include_vectors", [False, True])
def test_mine_result_matches_row_by_row_decoding(include_vectors: bool) -> None:
    rng = np.random.default_rng(7)
    dim = 3
    resp = pb.MineResponse()
    for i in range(40):
        r = resp.results.add(candidates_examined=int(rng.integers(0, 500)), shortfall=int(rng.integers(0, 3)),
                             widenings=int(rng.integers(0, 4)), exact_scan=bool(rng.integers(0, 2)),
                             max_rank=int(rng.integers(0, 2**32)), floor_reached=bool(rng.integers(0, 2)),
                             rotation_restarted=bool(rng.integers(0, 2)), rotation_served=int(rng.integers(0, 9)))
        for field in ["positive_score", "duplicate_threshold", "guide_positive_score"]:
            if rng.integers(0, 2):
                setattr(r, field, float(rng.standard_normal()))
        for rule in hardneg.RULES:
            setattr(r.removed, rule, int(rng.integers(0, 1000)))
        r.unknown_positive_ids.extend([f"u{i}"] * int(rng.integers(0, 2)))
        m = 0 if i % 7 == 3 else int(rng.integers(1, 7))  # some anchors return nothing
        for j in range(m):
            neg = r.negatives.add(id=f"n{i}-{j}", score=float(rng.standard_normal()), rank=int(rng.integers(0, 10_000)),
                                  version=int(rng.integers(-5, 5)), stale=bool(rng.integers(0, 2)))
            if rng.integers(0, 2):
                neg.p_fn = float(rng.random())
        if include_vectors:
            r.negative_vectors = rng.standard_normal((m, dim)).astype("<f4").tobytes()
    want = _row_by_row(resp, 4, include_vectors)
    got = codec.mine_result(resp, 4, include_vectors)
    assert got.ids.shape == (40, 6)
    for name, w in want.items():
        g = getattr(got, name)
        if name == "removed":
            assert list(g) == list(w)
            for rule in w:
                np.testing.assert_array_equal(g[rule], w[rule], err_msg=rule)
                assert g[rule].dtype == w[rule].dtype
        elif name == "unknown_positive_ids":
            assert g == w
        else:
            assert g.dtype == w.dtype, name
            np.testing.assert_array_equal(g, w, err_msg=name)
    if not include_vectors:
        assert got.vectors is None


def test_mine_result_of_an_empty_response() -> None:
    res = codec.mine_result(pb.MineResponse(), 8, include_vectors=True)
    assert res.ids.shape == (0, 8) and res.vectors is not None and res.vectors.shape == (0, 8, 0)
    assert all(v.shape == (0,) for v in res.removed.values())


def test_report_requests_split_at_limit() -> None:
    many = [f"i{i}" for i in range(codec.MAX_REPORT_IDS + 10)]
    reqs = codec.report_requests("c", {"a": many, "b": ["x"]})
    assert len(reqs) == 2
    assert sum(len(r.item_ids) for q in reqs for r in q.reports) == len(many) + 1
    assert all(sum(len(r.item_ids) for r in q.reports) <= codec.MAX_REPORT_IDS for q in reqs)
    pairs = codec.report_requests("c", [("a", "x"), ("a", "y"), ("b", "z")])
    assert [(r.anchor_key, list(r.item_ids)) for r in pairs[0].reports] == [("a", ["x", "y"]), ("b", ["z"])]


class _FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str, trailing: tuple) -> None:
        self._code, self._details, self._trailing = code, details, trailing

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple:
        return self._trailing


@pytest.mark.parametrize("details, says, limit", [
    ("grpc: received message larger than max (1509009 vs. 1048576)",
     "the request is 1,509,009 bytes and the server takes at most 1,048,576 (its -grpc-max-msg-bytes)", 1048576),
    ("grpc: trying to send message larger than max (1527455 vs. 1048576)",
     "the answer is 1,527,455 bytes and the server sends at most 1,048,576 (its -grpc-max-msg-bytes); ask for fewer", None),
    ("Stream removed (CLIENT: Received message larger than max (1354183 vs. 1048576))",
     "the answer is 1,354,183 bytes and this client takes at most 1,048,576 (max_message_bytes)", None),
    ("CLIENT: Sent message larger than max (2097152 vs. 1048576)",
     "the request is 2,097,152 bytes and this client sends at most 1,048,576 (max_message_bytes)", 1048576),
])
def test_a_message_over_a_limit_names_the_limit(details: str, says: str, limit: Any) -> None:
    """gRPC's "larger than max" names neither side's setting: the error says which limit
    the request or the answer met and what to do; only a request's limit is one that
    later requests can be cut to fit."""
    err = errors.from_rpc_error(_FakeRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, details, ()))
    assert isinstance(err, errors.ResourceExhausted) and says in str(err), str(err)
    assert errors._message_limit(err) == limit


def test_invalid_argument_carries_field_violations() -> None:
    st = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message="bad batch")
    br = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field="items.vectors[3]", description="not finite"),
            error_details_pb2.BadRequest.FieldViolation(field="items.ids[5]", description="duplicate id"),
        ]
    )
    st.details.add().Pack(br)
    err = errors.from_rpc_error(
        _FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "bad batch", (("grpc-status-details-bin", st.SerializeToString()),))
    )
    assert isinstance(err, errors.InvalidArgument) and isinstance(err, ValueError)
    assert err.field == "items.vectors[3]"
    assert err.reason == "not finite"
    assert [v.field for v in err.violations] == ["items.vectors[3]", "items.ids[5]"]
    assert "items.ids[5]: duplicate id" in str(err)


def test_invalid_argument_text_says_each_field_once():
    st = status_pb2.Status(code=grpc.StatusCode.INVALID_ARGUMENT.value[0],
                           message="items.vectors[3]: has 3 floats; the collection's dimension is 4 (2 items affected)")
    br = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field="items.vectors[3]", description="has 3 floats"),
            error_details_pb2.BadRequest.FieldViolation(field="items.vectors[7]", description="has 5 floats"),
        ]
    )
    st.details.add().Pack(br)
    err = errors.from_rpc_error(
        _FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, st.message, (("grpc-status-details-bin", st.SerializeToString()),))
    )
    text = str(err)
    assert text.count("items.vectors[3]") == 1, text
    assert "items.vectors[7]: has 5 floats" in text


@pytest.mark.parametrize(
    "code, cls",
    [
        (grpc.StatusCode.NOT_FOUND, errors.NotFound),
        (grpc.StatusCode.ALREADY_EXISTS, errors.AlreadyExists),
        (grpc.StatusCode.UNAUTHENTICATED, errors.Unauthenticated),
        (grpc.StatusCode.PERMISSION_DENIED, errors.PermissionDenied),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, errors.ResourceExhausted),
        (grpc.StatusCode.FAILED_PRECONDITION, errors.FailedPrecondition),
        (grpc.StatusCode.UNAVAILABLE, errors.Unavailable),
    ],
)
def test_status_codes_map_to_types(code: grpc.StatusCode, cls: type) -> None:
    err = errors.from_rpc_error(_FakeRpcError(code, "msg", ()))
    assert type(err) is cls
    assert isinstance(err, errors.HardnegError)
    assert err.code == code and err.message == "msg"


def test_ingest_state_splits_and_acks() -> None:
    st = IngestState("c", writer_id="w", first_sequence=1, window=2, max_batch_items=3)
    st.feed((["a", "b", "c", "d"], np.ones((4, 2))))
    st.feed({"delete_ids": ["a"]})
    reqs = [st.take() for _ in range(2)]
    assert [r.sequence for r in reqs] == [1, 2]
    assert [len(r.items.ids) for r in reqs] == [3, 1]
    assert list(reqs[1].delete_ids) == []
    assert not st.window_open()
    assert st.has_buffered()
    st.on_response(pb.UpsertStreamResponse(writer_id="w", sequence=1, durable_sequence=1))
    assert [r.sequence for r in st.unacked()] == [2]
    third = st.take()
    assert third.sequence == 3 and list(third.delete_ids) == ["a"]
    # A durable_sequence ahead of the acknowledged sequence acknowledges both.
    st.on_response(pb.UpsertStreamResponse(writer_id="w", sequence=2, durable_sequence=3, duplicate=True))
    assert st.unacked() == []
    st.source_done = True
    assert st.finished()
    r = st.close()
    assert (r.batches, r.items, r.deleted_ids, r.duplicates, r.durable_sequence, r.next_sequence) == (3, 4, 1, 1, 3, 4)


def test_deletes_ride_on_the_last_upsert_request() -> None:
    st = IngestState("c", writer_id="w", first_sequence=5, window=8)
    st.feed(hardneg.Batch(ids=["a"], vectors=np.ones((1, 2)), delete_ids=["z"]))
    req = st.take()
    assert req.sequence == 5 and list(req.items.ids) == ["a"] and list(req.delete_ids) == ["z"]


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: codec._as_id_list(np.array([b"x1", b"x2"])), TypeError, "numpy array of \\|S2"),
        (lambda: codec._as_id_list(np.arange(3)), TypeError, "numpy array of int64"),
        (lambda: codec._as_id_list(np.array([["q1"]])), TypeError, "1-d sequence of strings"),
        (lambda: codec._as_id_list(np.array(["n1", None], dtype=object)), TypeError, "got NoneType"),
        (lambda: codec._as_id_list(b"ab"), TypeError, "not bytes"),
        (lambda: codec.AnchorBlock(["d0", "d1"], positive_ids="d2"), TypeError, "positive_ids must hold one entry per anchor"),
        (lambda: codec.AnchorBlock(["d0"], keys=[5]), TypeError, "keys must be strings"),
        (lambda: codec.AnchorBlock([0, 1]), TypeError, "anchor_ids must be strings"),
        (lambda: codec.prepare_items(["a"], np.ones((1, 2)), groups="xyz"), TypeError, "groups must hold one entry per item"),
        (lambda: codec.prepare_items(["a"], np.ones((1, 2)), versions=[1.7]), TypeError, "versions must be integers"),
        (lambda: codec.prepare_items(["a"], np.ones((1, 2)), versions=2.9), TypeError, "versions must be integers"),
        (lambda: codec.prepare_items(["a"], np.ones((1, 2)), versions="7"), TypeError, "versions must be integers"),
        (lambda: codec.prepare_items(["a"], np.ones((1, 2)), versions=np.array([2**63], np.uint64)), errors.InvalidArgument, "signed 64-bit"),
        (lambda: codec.prepare_items(["a", "b"], np.ones((2, 2)), versions=[-1, 2**63]), errors.InvalidArgument, "signed 64-bit"),
    ],
)
def test_ids_groups_and_versions_are_never_coerced(call: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        call()


def test_numpy_string_ids_and_integer_versions_pass() -> None:
    assert codec._as_id_list(np.array(["a", "b"])) == ["a", "b"]
    assert codec._as_id_list(np.array(["a", None], dtype=object), missing_ok=True) == ["a", None]
    items = codec.prepare_items(np.array(["a", "b"]), np.ones((2, 2)), versions=np.array([1, 2], np.uint32))
    assert items.versions is not None and items.versions.tolist() == [1, 2]
    assert codec._versions([], 0).tolist() == [] and codec._versions(np.array([]), 0).tolist() == []
    assert codec.report_loss_requests("c", [], None, []) == []


@pytest.mark.parametrize(
    "change, match",
    [
        ({"exclude_near_duplicates": "no"}, "exclude_near_duplicates must be True, False or None"),
        ({"use_feedback": "false"}, "use_feedback must be True, False or None"),
        ({"duplicate_threshold": "x"}, "duplicate_threshold must be a number"),
        ({"cluster_size": (1, 2, 3)}, "cluster_size must be an int or a"),
        ({"sample_range": (5,)}, "sample_range must be a"),
    ],
)
def test_build_batches_flags_and_pairs_are_typed(change: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = dict(batch_size=2, strategy="clusters", epochs=1, first_epoch=0, num_epochs=0, seed=0,
                                cluster_size=None, num_nearest=0, num_sampled=0, sample_range=None,
                                exclude_near_duplicates=None, duplicate_threshold=None, duplicate_margin=None,
                                use_feedback=None, anchor_vectors=None)
    args.update(change)
    with pytest.raises(TypeError, match=match):
        codec.build_batches_request("c", ["a", "b"], None, **args)


def test_report_loss_solved_must_be_booleans() -> None:
    with pytest.raises(TypeError, match="solved must be booleans"):
        codec.report_loss_requests("c", ["a", "b"], None, ["False", "no"])
    req = codec.report_loss_requests("c", ["a", "b"], None, [1, 0])[0]
    assert [o.solved for o in req.outcomes] == [True, False]


@pytest.mark.parametrize("ids, unique", [
    (["a", "b", "c"], True),
    (np.array(["a", "b"]), True),
    ([], True),
    (["a", "a"], False),
    (["a", "a"], True),                   # duplicate
    (["a", ""], False),                   # empty
    (["a", "x\x00y"], False),             # NUL
    (["a", "é" * 300], False),            # 300 characters, 600 bytes
    (["a", "é" * 200], False),            # non-ASCII within the limit
    (["a", "x" * 512], False),
    (["a", "x" * 513], False),
    (["a", "\ud800"], False),             # a lone surrogate: not UTF-8
    (["a", None], False),
])
def test_check_ids_fast_path_agrees_with_the_loop(ids: Any, unique: bool) -> None:
    """The check in C for plain ASCII ids passes exactly what the per-id loop passes,
    and leaves every refusal (with its field) to the loop."""
    def outcome(check: Any) -> str:
        try:
            check()
        except errors.InvalidArgument as e:
            return "refused: " + e.violations[0].field + " " + e.violations[0].description
        return "passed"

    with_fast = outcome(lambda: codec.check_ids(ids, "ids", unique=unique))
    orig = codec._ids_plainly_valid
    codec._ids_plainly_valid = lambda ids, unique: False  # type: ignore[assignment]
    try:
        loop_only = outcome(lambda: codec.check_ids(ids, "ids", unique=unique))
    finally:
        codec._ids_plainly_valid = orig  # type: ignore[assignment]
    assert with_fast == loop_only


@pytest.mark.parametrize("ids", [["a", "b"], ["é", "ü"], ["a", "\ud800"], ["a", None], ["a", 3], []])
def test_id_lists_fast_path_agrees_with_the_loop(ids: list[Any]) -> None:
    """_as_id_list's check in C for ASCII strings gives what the per-entry loop gives."""
    def outcome(fast: bool) -> str:
        orig = codec._all_ascii_str
        if not fast:
            codec._all_ascii_str = lambda xs: False  # type: ignore[assignment]
        try:
            return repr(codec._as_id_list(ids, "ids"))
        except (TypeError, errors.InvalidArgument) as e:
            return type(e).__name__ + ": " + str(e)
        finally:
            codec._all_ascii_str = orig  # type: ignore[assignment]

    assert outcome(True) == outcome(False)
    if all(isinstance(x, str) for x in ids) and "\ud800" not in ids:  # lengths of valid text only
        assert list(codec._utf8_lens(ids)) == [len(x.encode()) for x in ids]


def test_synthetic_beta_of_one_is_refused() -> None:
    # β = 1 mixes in nothing of the negative: the "synthetic negative" is the query.
    pol = hardneg.MiningPolicy(synthetic=hardneg.SyntheticPolicy(num_query_mixed=2, beta_min=1.0, beta_max=1.0))
    with pytest.raises(hardneg.errors.InvalidArgument, match=r"policy\.synthetic\.beta_max: must be below 1"):
        codec.validate_policy(pol)
    codec.validate_policy(hardneg.MiningPolicy(synthetic=hardneg.SyntheticPolicy(num_query_mixed=2, beta_max=0.99)))


def test_report_pairs_with_a_list_of_ids_say_how_to_give_several() -> None:
    with pytest.raises(TypeError, match=r"a \(anchor key, item id\) pair holds one item id; for several give a mapping"):
        codec.report_requests("c", [("d1", ["d2", "d3"])])
    reqs = codec.report_requests("c", {"d1": ["d2", "d3"]})
    assert [list(r.reports[0].item_ids) for r in reqs] == [["d2", "d3"]]
