"""Mine responses in columns (``MineRequest.columnar``): the client asks for them, and they
decode to exactly what the same results in rows decode to, through the real server."""

from __future__ import annotations

import dataclasses
import math
import uuid
from typing import Any, Iterator

import numpy as np
import pytest
from conftest import unit_rows

import hardneg
from hardneg import _codec as codec
from hardneg.errors import Internal
from hardneg.v1 import hardneg_pb2 as pb

DIM = 16


@pytest.fixture
def grouped(sync_client: hardneg.Client) -> Iterator[str]:
    """60 items in groups of three, with versions 0–5."""
    name = f"col-{uuid.uuid4().hex[:10]}"
    sync_client.create_collection(name, dim=DIM, metric="cosine")
    vecs = unit_rows(60, DIM, seed=3)
    ids = [f"i{j}" for j in range(60)]
    sync_client.upsert(name, ids, vecs, groups=[[f"g{j // 3}"] for j in range(60)], versions=np.arange(60) % 6)
    yield name
    sync_client.delete_collection(name, missing_ok=True)


def assert_same_result(got: hardneg.MineResult, want: hardneg.MineResult) -> None:
    """Every field equal, dtypes included (NaN equal to NaN)."""
    for f in dataclasses.fields(hardneg.MineResult):
        g, w = getattr(got, f.name), getattr(want, f.name)
        if w is None or g is None:
            assert g is None and w is None, f.name
        elif isinstance(w, np.ndarray):
            assert g.dtype == w.dtype and g.shape == w.shape, f"{f.name}: {g.dtype}{g.shape} vs {w.dtype}{w.shape}"
            np.testing.assert_array_equal(g, w, err_msg=f.name)
        elif isinstance(w, dict):
            assert list(g) == list(w), f.name
            for key in w:
                assert g[key].dtype == w[key].dtype, f"{f.name}[{key}]"
                np.testing.assert_array_equal(g[key], w[key], err_msg=f"{f.name}[{key}]")
        elif dataclasses.is_dataclass(w):
            assert_same_fields(g, w, f.name)
        else:
            assert g == w, f.name


def assert_same_fields(g: Any, w: Any, name: str) -> None:
    for f in dataclasses.fields(w):
        a, b = getattr(g, f.name), getattr(w, f.name)
        if isinstance(b, np.ndarray):
            assert a.dtype == b.dtype, f"{name}.{f.name}"
            np.testing.assert_array_equal(a, b, err_msg=f"{name}.{f.name}")
        else:
            assert a == b, f"{name}.{f.name}"


POLICIES = {
    # Positives (some unknown), a near-duplicate threshold, p_fn, a shortfall from a
    # hardness floor that cuts anchors short, same-group exclusion.
    "rules": dict(num_negatives=6, duplicate_threshold=0.9, relative_margin=0.0, max_rank=8),
    # Every anchor gets its k (the unpadded path), with vectors of the negatives.
    "full": dict(num_negatives=3, exclude_same_group=False),
    # Explained candidates and synthetic negatives, which stay in rows.
    "extras": dict(num_negatives=4, synthetic={"num_mixed": 2, "num_query_mixed": 1}),
    "closed_loop": dict(num_negatives=4, closed_loop=True),
}


@pytest.mark.parametrize("policy", sorted(POLICIES))
@pytest.mark.parametrize("include_vectors", [False, True])
def test_columns_decode_to_what_rows_decode_to(sync_client: hardneg.Client, grouped: str, policy: str, include_vectors: bool) -> None:
    queries = unit_rows(12, DIM, seed=11)
    anchors = codec.AnchorBlock(
        [f"i{j}" if j % 3 == 0 else None for j in range(12)],
        queries,
        positive_ids=[[f"i{(5 * j + 1) % 60}", "missing"] if j % 2 else [f"i{(5 * j + 1) % 60}"] for j in range(12)],
        keys=[f"k{j}" for j in range(12)],
    ).rows(0, 12)
    pol = hardneg.MiningPolicy.from_kwargs(None, **POLICIES[policy])
    explain = 5 if policy == "extras" else 0
    stub = sync_client._stub()
    decoded = {}
    for columnar in (False, True):
        req = pb.MineRequest(collection=grouped, anchors=anchors, policy=codec.policy_message(pol),
                             include_vectors=include_vectors, explain=explain, columnar=columnar)
        resp = stub.Mine(req, timeout=30)
        assert resp.HasField("columns") == columnar
        if columnar:
            # Rows only for what is not in columns, and only when asked for.
            assert len(resp.results) == (12 if policy == "extras" else 0)
            assert all(not r.negatives for r in resp.results)
        decoded[columnar] = codec.mine_result(resp, pol.num_negatives, include_vectors, explain > 0, pol.synthetic is not None)
    rows, cols = decoded[False], decoded[True]
    assert_same_result(cols, rows)
    # The fixture reaches what it is meant to.
    assert rows.mask.any()
    if policy == "rules":
        assert not rows.mask.all() and (rows.shortfall > 0).any()
        assert np.isfinite(rows.p_fn[rows.mask]).all() and np.isfinite(rows.positive_scores).all()
        assert any(rows.unknown_positive_ids) and not all(rows.unknown_positive_ids)
        assert rows.removed["same_group"].any()
    if policy == "full":
        assert rows.mask.all()
    if policy == "extras":
        assert rows.explained is not None and len(rows.explained) > 0
        assert rows.synthetic is not None and len(rows.synthetic.anchors) > 0
    if policy == "closed_loop":
        assert np.isfinite(rows.hardness).all()


@pytest.fixture
def sent(sync_client: hardneg.Client, monkeypatch: pytest.MonkeyPatch) -> list[pb.MineRequest]:
    """The Mine requests the client sends (to the real server) during the test."""
    stub = sync_client._stub()
    real = stub.Mine
    seen: list[pb.MineRequest] = []

    def mine(req: pb.MineRequest, **kw: Any) -> pb.MineResponse:
        seen.append(req)
        return real(req, **kw)

    monkeypatch.setattr(stub, "Mine", mine)
    return seen


def test_the_client_asks_for_columns(sync_client: hardneg.Client, grouped: str, sent: list[pb.MineRequest]) -> None:
    seen = sent
    res = sync_client.mine(grouped, ["i0", "i1"], positive_ids=[["i2"], []], num_negatives=2)
    assert [r.columnar for r in seen] == [True]
    assert res.ids.shape == (2, 2) and res.mask.all()


def test_rows_from_a_server_without_columns_still_decode(sync_client: hardneg.Client, grouped: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that predates the field ignores it and answers in rows."""
    stub = sync_client._stub()
    real = stub.Mine

    def old_server(req: pb.MineRequest, **kw: Any) -> pb.MineResponse:
        old = pb.MineRequest()
        old.CopyFrom(req)
        old.columnar = False
        return real(old, **kw)

    want = sync_client.mine(grouped, ["i0", "i4"], positive_ids=[["i2"], ["missing"]], num_negatives=5)
    monkeypatch.setattr(stub, "Mine", old_server)
    got = sync_client.mine(grouped, ["i0", "i4"], positive_ids=[["i2"], ["missing"]], num_negatives=5)
    assert_same_result(got, want)


def _columns(n_anchors: int = 2) -> pb.MineResponse:
    rules = len(pb.RuleCounts.DESCRIPTOR.fields)
    f32 = lambda *v: np.asarray(v, "<f4").tobytes()  # noqa: E731
    u32 = lambda *v: np.asarray(v, "<u4").tobytes()  # noqa: E731
    c = pb.MineColumns(
        counts=u32(1, 0), ids=["a"], scores=f32(0.5), ranks=u32(3), p_fn=f32(math.nan), versions=np.asarray([2], "<i8").tobytes(),
        stale=b"\x00", positive_scores=f32(0.7, math.nan), candidates_examined=np.asarray([4, 0], "<u8").tobytes(),
        shortfall=u32(1, 2), widenings=u32(0, 0), exact_scan=b"\x00\x01", max_rank=u32(200, 200), floor_reached=b"\x00\x00",
        duplicate_threshold=f32(math.nan, math.nan), guide_positive_scores=f32(math.nan, math.nan), rotation_restarted=b"\x00\x00",
        rotation_served=u32(0, 0), hardness=f32(math.nan, math.nan), band_shift=u32(0, 0), rules=rules,
        removed=u32(*range(2 * rules)), unknown_positive_counts=u32(0, 1), unknown_positive_ids=["gone"],
    )
    return pb.MineResponse(columns=c)


def test_a_hand_built_columnar_response_decodes() -> None:
    res = codec.mine_result(_columns(), 2, include_vectors=False)
    assert res.ids.tolist() == [["a", None], [None, None]]
    assert res.mask.tolist() == [[True, False], [False, False]]
    assert res.ranks.tolist() == [[3, -1], [-1, -1]] and res.versions.tolist() == [[2, 0], [0, 0]]
    assert np.isnan(res.p_fn).all() and res.scores[0, 0] == np.float32(0.5)
    assert res.exact_scan.tolist() == [False, True] and res.unknown_positive_ids == [[], ["gone"]]
    rules = len(pb.RuleCounts.DESCRIPTOR.fields)
    # RuleCounts field numbers: self 1, positive 2, …, margin 8, …, excluded_duplicate 12.
    assert res.removed["self"].tolist() == [0, rules] and res.removed["margin"].tolist() == [7, rules + 7]
    assert res.removed["excluded_duplicate"].tolist() == [11, rules + 11]


@pytest.mark.parametrize(
    "field, value",
    [("scores", b"\x00" * 8), ("counts", np.asarray([1, 1], "<u4").tobytes()), ("removed", b"\x00" * 4), ("shortfall", b"")],
)
def test_a_malformed_columnar_response_is_an_error(field: str, value: bytes) -> None:
    resp = _columns()
    setattr(resp.columns, field, value)
    with pytest.raises(Internal, match="malformed Mine response"):
        codec.mine_result(resp, 2, include_vectors=False)


def test_no_negatives_keep_the_shapes(sync_client: hardneg.Client) -> None:
    """An empty collection: vectors are (n, k, dim) NaN, explain tables empty with every
    anchor untruncated, synthetic vectors (0, dim); a split call whose last request
    finds nothing joins with the others."""
    name = f"col-empty-{uuid.uuid4().hex[:8]}"
    sync_client.create_collection(name, dim=DIM)
    try:
        q = unit_rows(3, DIM, seed=5)
        res = sync_client.mine(name, anchor_vectors=q, num_negatives=3, include_vectors=True, explain=True,
                               synthetic={"num_mixed": 1})
        assert res.vectors is not None and res.vectors.shape == (3, 3, DIM) and np.isnan(res.vectors).all()
        assert res.explained is not None and len(res.explained) == 0
        assert res.explain_truncated is not None and res.explain_truncated.tolist() == [False] * 3
        assert res.synthetic is not None and res.synthetic.vectors.shape == (0, DIM)
        assert res.shortfall.tolist() == [3, 3, 3] and not res.mask.any()
    finally:
        sync_client.delete_collection(name)
    name = f"col-split-{uuid.uuid4().hex[:8]}"
    sync_client.create_collection(name, dim=DIM)
    try:
        ids = [f"s{i}" for i in range(30)]
        sync_client.upsert(name, ids, unit_rows(30, DIM, seed=6))
        q = unit_rows(1025, DIM, seed=7)
        res = sync_client.mine(name, anchor_vectors=q, exclude_ids=[[]] * 1024 + [ids], in_batch_exclusion=False,
                               num_negatives=4, include_vectors=True)
        assert res.vectors is not None and res.vectors.shape == (1025, 4, DIM)
        assert res.mask[:1024].all() and not res.mask[1024].any() and np.isnan(res.vectors[1024]).all()
    finally:
        sync_client.delete_collection(name)


def test_a_split_call_explains_as_many_candidates_for_every_anchor(sync_client: hardneg.Client) -> None:
    name = f"col-explain-{uuid.uuid4().hex[:8]}"
    sync_client.create_collection(name, dim=DIM, index_params=hardneg.IndexParams(exact_threshold=1000))
    try:
        sync_client.upsert(name, [f"e{i}" for i in range(300)], unit_rows(300, DIM, seed=9))
        res = sync_client.mine(name, anchor_vectors=unit_rows(1100, DIM, seed=8), num_negatives=100, explain=True,
                               in_batch_exclusion=False)
        assert res.explained is not None and res.explain_truncated is not None
        per_anchor = np.bincount(res.explained.anchor, minlength=1100)
        # 65,536 // 1,024 = 64 for every anchor, the second request's 76 included,
        # where 100 would fit in a request of 76 anchors.
        assert per_anchor.tolist() == [64] * 1100 and res.explain_truncated.all()
    finally:
        sync_client.delete_collection(name)


def test_vectors_that_would_not_fit_in_a_message(server_binary: str, tmp_path: Any) -> None:
    """At the server's smallest message limit (1 MiB): a Mine whose negatives' vectors
    would not fit is refused before any mining (naming include_vectors, with the answer's
    size) and leaves the rotation state as it was; a client with a larger limit then
    sends it in parts, and one with the same limit splits it before sending: both get it
    all. Upserts at that limit go in batches of many items."""
    from conftest import _spawn

    srv = _spawn(server_binary, tmp_path / "small", ("--grpc-max-msg-bytes=1048576",))
    try:
        with hardneg.Client(srv.target, timeout=30.0) as big, hardneg.Client(srv.target, timeout=30.0, max_message_bytes=1 << 20) as small:
            small.create_collection("wide", dim=1024)
            up = small.upsert("wide", [f"w{i}" for i in range(1000)], unit_rows(1000, 1024, seed=12))
            assert 4 <= up.batches <= 8, up  # 4 MiB of vectors, not one item per batch
            small.create_collection("v", dim=DIM)
            small.upsert("v", [f"v{i}" for i in range(3000)], unit_rows(3000, DIM, seed=10))
            q = unit_rows(300, DIM, seed=11)
            kw = dict(anchor_vectors=q, num_negatives=64, rotate=True, include_vectors=True)
            res = big.mine("v", keys=[f"k{i}" for i in range(300)], **kw)  # 300 × 64 × 16 × 4 = 1.2 MiB
            # The server refused the whole request before mining (naming include_vectors,
            # with its size); the client sent it again in parts.
            assert res.vectors is not None and res.vectors.shape == (300, 64, DIM) and res.mask.all()
            # Nothing was served to the keys by the refused request: the split one started
            # every key's rotation cycle afresh.
            assert res.rotation_served.tolist() == [64] * 300
            res = small.mine("v", keys=[f"s{i}" for i in range(300)], **kw)  # split before sending
            assert res.vectors is not None and res.vectors.shape == (300, 64, DIM) and res.mask.all()
            assert res.rotation_served.tolist() == [64] * 300
    finally:
        srv.stop()


def test_requests_that_would_not_fit_in_a_message(server_binary: str, tmp_path: Any) -> None:
    """Anchors whose request alone is over a message (vectors of many dimensions, many
    positive vectors): a client whose limit is the server's (1 MiB) splits the call
    before sending; one with a larger limit is refused unread, takes the server's limit
    and sends the call again in parts; both get every row, the same as mining the parts
    one by one. One anchor that alone does not fit is refused naming it, and nothing is
    sent."""
    from conftest import _spawn

    srv = _spawn(server_binary, tmp_path / "req", ("--grpc-max-msg-bytes=1048576",))
    try:
        with hardneg.Client(srv.target, timeout=60.0) as big, hardneg.Client(srv.target, max_message_bytes=1 << 20) as small:
            small.create_collection("wide", dim=1024)
            small.upsert("wide", [f"w{i}" for i in range(500)], unit_rows(500, 1024, seed=31))
            q = unit_rows(400, 1024, seed=32)  # 400 × 4 KiB: 1.6 MiB of anchor vectors
            kw = dict(anchor_vectors=q, num_negatives=4, in_batch_exclusion=False)
            parts = [small.mine("wide", anchor_vectors=q[i:i + 100], num_negatives=4, in_batch_exclusion=False)
                     for i in range(0, 400, 100)]
            want = [row for p in parts for row in p.ids.tolist()]
            assert small.mine("wide", **kw).ids.tolist() == want
            assert big._core.max_request_bytes == 64 << 20
            assert big.mine("wide", **kw).ids.tolist() == want  # refused unread, then split
            assert big._core.max_request_bytes == 1 << 20
            assert big.mine("wide", **kw).ids.tolist() == want  # split before sending from then on
            # 300 positive vectors of 4 KiB for one anchor: 1.2 MiB that no split can make smaller.
            pos = [unit_rows(1, 1024, seed=33), unit_rows(300, 1024, seed=34)]
            for c in (small, big):
                with pytest.raises(hardneg.errors.InvalidArgument) as exc:
                    c.mine("wide", anchor_vectors=unit_rows(2, 1024, seed=35), positive_vectors=pos)
                assert exc.value.field == "anchors[1]" and "over the largest message of 1,048,576 bytes" in str(exc.value)
    finally:
        srv.stop()


def test_answers_with_long_ids_that_would_not_fit_in_a_message(server_binary: str, tmp_path: Any) -> None:
    """Long ids make an answer too large for the server's message (1 MiB) without any
    vectors: the server refuses the request naming the field, with the answer's size,
    and the client asks again in as many parts as that size needs, for Mine and
    GetItems alike; the caller gets every row, in order."""
    from conftest import _spawn

    srv = _spawn(server_binary, tmp_path / "ids", ("--grpc-max-msg-bytes=1048576",))
    try:
        with hardneg.Client(srv.target, timeout=60.0) as c, hardneg.Client(srv.target, max_message_bytes=1 << 20) as small:
            c.create_collection("long", dim=DIM)
            ids = [f"{i:0480d}" for i in range(2000)]  # 480-byte ids
            small.upsert("long", ids, unit_rows(2000, DIM, seed=21))
            anchors = ids[:64]
            # (In-batch exclusion off: it applies within each request of a split call.)
            whole = c.mine("long", anchors, num_negatives=64, in_batch_exclusion=False)  # 64 × 64 × 480 bytes: 2 MB
            parts = [c.mine("long", anchors[i:i + 8], num_negatives=64, in_batch_exclusion=False) for i in range(0, 64, 8)]
            assert whole.mask.all() and whole.ids.shape == (64, 64)
            assert whole.ids.tolist() == [row for p in parts for row in p.ids.tolist()]
            got = c.get_items("long", ids, include_vectors=True)  # 2,000 × 480 bytes: about 1 MB with the rest
            assert got.ids == ids and got.vectors.shape == (2000, DIM)
            # A client with the server's limit sends the ids themselves (1.1 MB) in parts.
            missing = [f"m{i:0480d}" for i in range(300)]
            got = small.get_items("long", ids + missing, include_vectors=True)
            assert got.ids == ids and got.missing_ids == missing and got.vectors.shape == (2000, DIM)
            # One anchor whose answer alone is too large cannot be split: the error stands.
            c.create_collection("wide", dim=1024)
            small.upsert("wide", [f"w{i}" for i in range(400)], unit_rows(400, 1024, seed=22))
            with pytest.raises(hardneg.errors.InvalidArgument) as exc:
                c.mine("wide", ["w0", "w1"], num_negatives=300, include_vectors=True)  # 300 × 4 KiB per anchor
            assert exc.value.field == "include_vectors" and "-grpc-max-msg-bytes 1048576" in str(exc.value)
            assert "ask for fewer negatives or leave include_vectors off" in str(exc.value)
    finally:
        srv.stop()


# --- anchors in columns (MineRequest.anchor_columns) -----------------------------------


def _mixed_block(n: int = 12) -> codec.AnchorBlock:
    """Anchors that differ in every field: some with ids, some vector-only; 0–2 positive
    ids (some unknown), positive vectors for some, exclude ids and groups for some."""
    queries = unit_rows(n, DIM, seed=21)
    extra = unit_rows(2 * n, DIM, seed=22)
    return codec.AnchorBlock(
        [f"i{j}" if j % 3 == 0 else None for j in range(n)],
        queries,
        positive_ids=[[f"i{(5 * j + 1) % 60}", "missing"][: j % 3] for j in range(n)],
        positive_vectors=[extra[2 * j : 2 * j + j % 3] if j % 3 else None for j in range(n)],
        exclude_ids=[[f"i{(7 * j + 2) % 60}"] if j % 2 else [] for j in range(n)],
        groups=[[f"g{j % 5}"] if j % 4 == 0 else None for j in range(n)],
        keys=[f"k{j}" if j % 2 else None for j in range(n)],
    )


def test_anchor_columns_mine_what_rows_mine(sync_client: hardneg.Client, grouped: str) -> None:
    block = _mixed_block()
    pol = hardneg.MiningPolicy.from_kwargs(None, num_negatives=5, duplicate_threshold=0.9, exclude_same_group=True)
    stub = sync_client._stub()
    decoded = {}
    for form in ("rows", "columns", "rows again"):
        req = pb.MineRequest(collection=grouped, policy=codec.policy_message(pol), columnar=True)
        if form == "columns":
            req.anchor_columns.CopyFrom(block.columns(0, len(block)))
        else:
            req.anchors.extend(block.rows(0, len(block)))
        decoded[form] = codec.mine_result(stub.Mine(req, timeout=30), pol.num_negatives, False)
    assert_same_result(decoded["rows again"], decoded["rows"])  # the comparison below can see a difference
    assert_same_result(decoded["columns"], decoded["rows"])
    res = decoded["rows"]
    # The fixture reaches what it is meant to: unknown positives on some anchors only,
    # positive vectors giving s⁺ to vector-only anchors without positive ids, excluded ids.
    assert any(res.unknown_positive_ids) and not all(res.unknown_positive_ids)
    assert np.isfinite(res.positive_scores[[j for j in range(12) if j % 3 == 2]]).all()
    assert res.removed["excluded"].any() or res.removed["same_group"].any()


def test_a_part_of_the_columns_holds_those_anchors_rows() -> None:
    block = _mixed_block()
    for lo, hi in ((0, 12), (3, 7), (11, 12)):
        cols = block.columns(lo, hi)
        assert cols.count == hi - lo
        rows = block.rows(lo, hi)
        u32 = lambda b: np.frombuffer(b, "<u4").tolist()  # noqa: E731
        if cols.ids:
            assert list(cols.ids) == [r.id for r in rows]
        assert cols.vectors == b"".join(r.vector for r in rows)
        pcounts = u32(cols.positive_id_counts) if cols.positive_ids else [0] * (hi - lo)
        assert pcounts == [len(r.positive_ids) for r in rows]
        assert list(cols.positive_ids) == [p for r in rows for p in r.positive_ids]
        assert cols.positive_vectors == b"".join(r.positive_vectors for r in rows)
        if cols.positive_vectors:
            assert u32(cols.positive_vector_counts) == [len(r.positive_vectors) // (4 * DIM) for r in rows]


def test_the_client_sends_anchor_columns(sync_client: hardneg.Client, grouped: str, sent: list[pb.MineRequest]) -> None:
    seen = sent
    sync_client.mine(grouped, ["i0", "i1", "i2"], positive_ids=[["i2"], [], ["i7", "i8"]], keys=["a", "b", "c"], num_negatives=2)
    assert len(seen) == 1 and not seen[0].anchors and seen[0].anchor_columns.count == 3
    assert list(seen[0].anchor_columns.positive_ids) == ["i2", "i7", "i8"]


def test_a_server_without_anchor_columns_gets_rows(sync_client: hardneg.Client, grouped: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that predates anchor_columns ignores the field, so it sees no anchors and
    refuses the request (the real server's refusal, below); the client then sends rows,
    to that server and from then on."""
    stub = sync_client._stub()
    real = stub.Mine
    sent: list[str] = []

    def old_server(req: pb.MineRequest, **kw: Any) -> pb.MineResponse:
        sent.append("columns" if req.HasField("anchor_columns") else "rows")
        old = pb.MineRequest()
        old.CopyFrom(req)
        old.ClearField("anchor_columns")
        return real(old, **kw)

    args = dict(positive_ids=[["i2"], ["missing"]], keys=["x", "y"], num_negatives=5)
    want = sync_client.mine(grouped, ["i0", "i4"], **args)
    core = sync_client._core
    monkeypatch.setattr(core, "anchor_columns", True)
    monkeypatch.setattr(stub, "Mine", old_server)
    got = sync_client.mine(grouped, ["i0", "i4"], **args)
    assert sent == ["columns", "rows"]
    assert_same_result(got, want)
    sync_client.mine(grouped, ["i0", "i4"], **args)
    assert sent == ["columns", "rows", "rows"]


def test_anchors_missing_some_guide_queries_go_in_rows() -> None:
    """A guide query of NaNs means "use the stored guide vector": a column cannot say
    that for some anchors only, so those anchors go in rows."""
    q = unit_rows(3, DIM, seed=1)
    g = unit_rows(3, 4, seed=2)
    g[1] = np.nan
    block = codec.AnchorBlock(anchor_vectors=q, guide_vectors=g)
    assert not block.columnar
    assert [len(r.guide_vector) for r in block.rows(0, 3)] == [16, 0, 16]
    g[:] = np.nan
    block = codec.AnchorBlock(anchor_vectors=q, guide_vectors=g)
    assert block.columnar and block.columns(0, 3).guide_vectors == b""
    block = codec.AnchorBlock(anchor_vectors=q, guide_vectors=unit_rows(3, 4, seed=2))
    assert block.columnar and len(block.columns(0, 3).guide_vectors) == 3 * 4 * 4


def test_a_split_call_draws_as_one_request(client: hardneg.Client) -> None:
    """Each request of a split call says where its anchors sit in the call (anchor_offset),
    so sampling draws for an anchor by its place in the call: the anchors of one call draw
    independently (before, anchor i and anchor i + 1,024 drew the same ranks), and the
    call draws as the same anchors mined in calls with those offsets."""
    name = f"col-draw-{uuid.uuid4().hex[:8]}"
    client.create_collection(name, dim=DIM, index_params=hardneg.IndexParams(exact_threshold=1000))
    try:
        client.upsert(name, [f"d{i}" for i in range(200)], unit_rows(200, DIM, seed=11))
        q = np.repeat(unit_rows(1, DIM, seed=12), 2048, axis=0)
        kw = dict(num_negatives=5, seed=3, sampling_strategy="random", range_max=100, in_batch_exclusion=False)
        whole = client.mine(name, anchor_vectors=q, **kw)
        same = sum(whole.ids[i].tolist() == whole.ids[i + 1024].tolist() for i in range(1024))
        assert same < 10, f"{same} of 1,024 anchors drew what the anchor 1,024 places before drew"
        # The same anchors as two calls with their offsets draw the same negatives.
        for lo in (0, 1024, 1500):
            part = client.mine(name, anchor_vectors=q[lo : lo + 300], anchor_offset=lo, **kw)
            assert part.ids.tolist() == whole.ids[lo : lo + 300].tolist()
        with pytest.raises(ValueError, match="anchor_offset"):
            client.mine(name, anchor_vectors=q[:1], anchor_offset=-1, **kw)
        with pytest.raises(TypeError, match="anchor_offset"):
            client.mine(name, anchor_vectors=q[:1], anchor_offset=1.5, **kw)
    finally:
        client.delete_collection(name)
