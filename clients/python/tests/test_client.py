"""Round-trips through a real miner-server, with the sync and the asyncio client."""

from __future__ import annotations

import time
import uuid
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from conftest import ServerProcess, unit_rows

import hardneg
from hardneg import errors
from hardneg.v1 import hardneg_pb2 as pb


def test_collection_lifecycle(client: hardneg.Client) -> None:
    name = f"life-{uuid.uuid4().hex[:8]}"
    info = client.create_collection(name, dim=8, metric="dot", index_params=hardneg.IndexParams(m=8))
    assert (info.name, info.dim, info.metric) == (name, 8, "dot")
    assert info.index_params.m == 8
    assert info.index_params.ef_search > 0  # defaults filled in
    assert info.stats.item_count == 0
    with pytest.raises(errors.AlreadyExists):
        client.create_collection(name, dim=8, metric="dot")
    assert client.create_collection(name, dim=8, metric="dot", exist_ok=True).name == name
    assert name in [c.name for c in client.list_collections()]
    assert client.get_collection(name).dim == 8
    client.delete_collection(name)
    with pytest.raises(errors.NotFound):
        client.get_collection(name)
    with pytest.raises(errors.NotFound):
        client.delete_collection(name)
    client.delete_collection(name, missing_ok=True)


def test_quantization_option(client: hardneg.Client) -> None:
    """Cosine and dot collections search on int8 codes by default, l2 on floats; none can
    be chosen, int8 on l2 is refused naming the field, and search scores are exact on
    either path."""
    prefix = f"quant-{uuid.uuid4().hex[:6]}"
    created = []
    try:
        for metric, params, want in [
            ("cosine", None, "int8"),
            ("dot", hardneg.IndexParams(quantization="int8"), "int8"),
            ("l2", None, "none"),
            ("cosine", hardneg.IndexParams(quantization="none"), "none"),
        ]:
            name = f"{prefix}-{len(created)}"
            info = client.create_collection(name, dim=16, metric=metric, index_params=params)
            created.append(name)
            assert info.index_params.quantization == want
            assert client.get_collection(name).index_params.quantization == want
        with pytest.raises(errors.InvalidArgument) as exc:
            client.create_collection(f"{prefix}-bad", dim=16, metric="l2", index_params=hardneg.IndexParams(quantization="int8"))
        assert [v.field for v in exc.value.violations] == ["index_params.quantization"]
        with pytest.raises(ValueError):
            client.create_collection(f"{prefix}-bad", dim=16, metric="l2", index_params=hardneg.IndexParams(quantization="int4"))
        # Graph search on codes (exact_threshold 1): returned scores are the exact inner
        # products of the stored vectors, as on floats.
        rows = unit_rows(300, 16)
        for q in ("int8", "none"):
            name = f"{prefix}-s{q}"
            client.create_collection(name, dim=16, metric="cosine", index_params=hardneg.IndexParams(exact_threshold=1, quantization=q))
            created.append(name)
            client.upsert(name, [f"i{i}" for i in range(300)], rows)
            assert client.get_collection(name).stats.graph_search
            # The collection measures its first-pass lead in the background once the
            # graph is built: doubling from 2 × ef_search, with the recall found there.
            deadline = time.monotonic() + 60
            while (st := client.get_collection(name).stats).first_pass_lead == 0:
                assert time.monotonic() < deadline, st
                time.sleep(0.01)
            assert st.first_pass_lead in (128, 256, 512, 1024, 2048) and 0 < st.lead_recall <= 1, st
            res = client.mine(name, anchor_ids=["i0"], num_negatives=5, pfn_budget=0, exclude_near_duplicates=False)
            sims = rows @ rows[0]
            sims[0] = -np.inf
            want = np.argsort(-sims, kind="stable")[:5]
            assert res.ids[0].tolist() == [f"i{i}" for i in want]
            np.testing.assert_allclose(res.scores[0], sims[want], atol=1e-5)
    finally:
        for name in created:
            client.delete_collection(name, missing_ok=True)


def test_list_is_sorted(client: hardneg.Client) -> None:
    prefix = f"sort-{uuid.uuid4().hex[:6]}"
    for suffix in ("b", "a", "c"):
        client.create_collection(f"{prefix}-{suffix}", dim=2, metric="l2")
    try:
        names = [c.name for c in client.list_collections() if c.name.startswith(prefix)]
        assert names == [f"{prefix}-a", f"{prefix}-b", f"{prefix}-c"]
    finally:
        for suffix in ("a", "b", "c"):
            client.delete_collection(f"{prefix}-{suffix}")


def test_upsert_of_no_rows_is_a_no_op(client: hardneg.Client, collection: str) -> None:
    # [] (a list of no rows) is what np.zeros((0, dim)) is: nothing sent, nothing applied.
    for vectors in ([], np.zeros((0, 16), np.float32)):
        res = client.upsert(collection, [], vectors)
        assert (res.inserted, res.replaced, res.batches) == (0, 0, 0)
    assert client.get_collection(collection).stats.item_count == 0
    with pytest.raises(errors.InvalidArgument, match="ids"):
        client.upsert(collection, ["a"], [])


def test_upsert_get_items_round_trip(client: hardneg.Client, collection: str) -> None:
    x = unit_rows(50, 16, seed=1)
    ids = [f"doc-{i}" for i in range(50)]
    groups = [[f"src-{i % 5}"] if i % 2 == 0 else [] for i in range(50)]
    res = client.upsert(collection, ids, x, groups=groups, versions=np.arange(50) * 10)
    assert (res.inserted, res.replaced, res.batches) == (50, 0, 1)
    assert res.sequence > 0

    got = client.get_items(collection, ["doc-3", "nope", "doc-0"], include_vectors=True)
    assert got.ids == ["doc-3", "doc-0"]
    assert got.missing_ids == ["nope"]
    assert got.vectors is not None and got.vectors.dtype == np.float32
    np.testing.assert_allclose(got.vectors, x[[3, 0]], rtol=1e-6, atol=1e-6)
    assert got.groups == [[], ["src-0"]]
    assert got.versions.tolist() == [30, 0]

    without = client.get_items(collection, ["doc-1"])
    assert without.vectors is None and without.ids == ["doc-1"]

    none = client.get_items(collection, ["nope", "nada"], include_vectors=True)
    assert none.ids == [] and none.missing_ids == ["nope", "nada"]
    assert none.vectors is not None and none.vectors.shape == (0, 16)  # stacks with any (n, dim)

    again = client.upsert(collection, ids[:10], x[:10] * 2.0)
    assert (again.inserted, again.replaced) == (0, 10)
    assert again.sequence > res.sequence
    info = client.get_collection(collection)
    assert info.stats.item_count == 50
    assert info.stats.last_applied_sequence >= again.sequence


def test_cosine_vectors_are_stored_normalised(client: hardneg.Client, collection: str) -> None:
    x = unit_rows(3, 16, seed=2) * np.array([[2.0], [0.5], [10.0]], dtype=np.float32)
    client.upsert(collection, ["a", "b", "c"], x)
    got = client.get_items(collection, ["a", "b", "c"], include_vectors=True)
    assert got.vectors is not None
    np.testing.assert_allclose(np.linalg.norm(got.vectors, axis=1), 1.0, rtol=1e-5)


def test_large_upsert_is_split(
    server: ServerProcess, make_client: Callable[..., hardneg.Client], collection: str
) -> None:
    n = 20_000
    x = unit_rows(n, 16, seed=3)
    ids = [f"big-{i}" for i in range(n)]
    # A small byte budget forces splits by size as well as by the 16,384-item limit.
    c = make_client(server.target, max_batch_bytes=256 * 1024)
    res = c.upsert(collection, ids, x)
    assert res.inserted == n
    assert res.batches >= n * 16 * 4 // (256 * 1024)
    assert c.get_collection(collection).stats.item_count == n
    got = c.get_items(collection, ids[::997], include_vectors=True)
    assert got.vectors is not None
    np.testing.assert_allclose(got.vectors, x[::997], atol=1e-6)


def test_a_split_upsert_with_a_bad_value_applies_nothing(
    server: ServerProcess, make_client: Callable[..., hardneg.Client], collection: str
) -> None:
    """Non-finite values and ids given twice are refused before any batch of a split
    upsert is sent, named by the caller's row; a batch the server refuses for another
    reason names the caller's row and says which rows were applied."""
    n = 1000
    ids = [f"s{i}" for i in range(n)]
    c = make_client(server.target, max_batch_bytes=8 * 1024)  # about 110 rows per batch
    x = unit_rows(n, 16, seed=8)
    x[900, 7] = np.nan
    x[950, 2] = np.inf
    with pytest.raises(errors.InvalidArgument) as exc:
        c.upsert(collection, ids, x)
    assert exc.value.field == "items.vectors[900]" and exc.value.reason == 'item "s900": value 7 is NaN; vectors must be finite'
    assert [v.field for v in exc.value.violations] == ["items.vectors[900]", "items.vectors[950]"]
    assert "nothing was sent" in str(exc.value) and exc.value.applied_rows == 0  # type: ignore[attr-defined]
    with pytest.raises(errors.InvalidArgument) as exc:
        c.upsert(collection, ids[:500] + ["s3"] + ids[501:], unit_rows(n, 16, seed=8))
    assert exc.value.field == "items.ids[500]" and "items.ids[3]" in exc.value.reason
    assert c.get_collection(collection).stats.item_count == 0

    # So is a zero vector under cosine: the client asks the collection's metric.
    x = unit_rows(n, 16, seed=8)
    x[900] = 0
    with pytest.raises(errors.InvalidArgument) as exc:
        c.upsert(collection, ids, x)
    assert exc.value.field == "items.vectors[900]" and "zero vector" in exc.value.reason, exc.value
    assert "nothing was sent" in str(exc.value) and exc.value.applied_rows == 0  # type: ignore[attr-defined]
    assert c.get_collection(collection).stats.item_count == 0
    # Sent in one request, a refused upsert applied nothing, and says so the same way.
    with pytest.raises(errors.InvalidArgument) as exc:
        c.upsert(collection, ["one", "two"], np.stack([unit_rows(1, 16, seed=9)[0], np.zeros(16, np.float32)]))
    assert exc.value.field == "items.vectors[1]" and exc.value.applied_rows == 0  # type: ignore[attr-defined]
    assert c.get_collection(collection).stats.item_count == 0


def test_a_later_batch_the_server_refuses_names_the_row_and_the_rows_applied(
    sync_client: hardneg.Client, collection: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the client cannot foresee (here a batch spoiled on its way: its fourth
    request gets a NaN before the real server sees it) is refused by the server batch
    by batch; the error names the caller's row and says how many rows were applied."""
    n = 1000
    ids = [f"s{i}" for i in range(n)]
    sync_client.max_batch_bytes = 8 * 1024  # about 110 rows per batch
    stub = sync_client._stub()
    real = stub.Upsert
    calls: list[int] = []

    def spoil(req: pb.UpsertRequest, **kw: object) -> pb.UpsertResponse:
        calls.append(len(req.items.ids))
        if len(calls) == 4:
            x = np.frombuffer(req.items.vectors, np.float32).copy()
            x[16 * 5 + 3] = np.nan  # the batch's row 5, value 3
            req.items.vectors = x.tobytes()
        return real(req, **kw)

    monkeypatch.setattr(stub, "Upsert", spoil)
    with pytest.raises(errors.InvalidArgument) as exc:
        sync_client.upsert(collection, ids, unit_rows(n, 16, seed=8))
    err = exc.value
    applied = sum(calls[:3])
    row = applied + 5
    assert err.field == f"items.vectors[{row}]" and "value 3 is NaN" in err.reason, err
    assert err.applied_rows == applied  # type: ignore[attr-defined]
    assert f"the {applied:,} rows before it were applied" in str(err), err
    assert sync_client.get_collection(collection).stats.item_count == applied


def test_delete(client: hardneg.Client, collection: str) -> None:
    client.upsert(collection, ["a", "b", "c"], unit_rows(3, 16))
    res = client.delete(collection, ["a", "zzz", "c"])
    assert (res.deleted, res.not_found) == (2, 1)
    assert client.get_items(collection, ["a", "b", "c"]).ids == ["b"]
    assert client.get_collection(collection).stats.item_count == 1


def _brute_force_top(x: np.ndarray, ids: list[str], q: np.ndarray, k: int, skip: set[str]) -> list[str]:
    scores = (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (q / np.linalg.norm(q))
    order = np.argsort(-scores, kind="stable")
    return [ids[i] for i in order if ids[i] not in skip][:k]


def test_mine_by_id_matches_brute_force(client: hardneg.Client, collection: str) -> None:
    x = unit_rows(300, 16, seed=4)
    ids = [f"d{i}" for i in range(300)]
    client.upsert(collection, ids, x)
    # The positive of d0 is its nearest neighbour, so the search meets (and drops) it.
    pos = _brute_force_top(x, ids, x[0], 1, {"d0"})[0]
    # pfn_budget=0: the false-negative budget (on by default) would drop some of the top 5.
    res = client.mine(collection, anchor_ids=["d0", "d1"], positive_ids=[[pos], []], num_negatives=5, pfn_budget=0)
    assert res.ids.shape == (2, 5) and res.scores.dtype == np.float32
    assert res.ids[0].tolist() == _brute_force_top(x, ids, x[0], 5, {"d0", pos})
    # In-batch exclusion (default on): anchor 1 never gets anchor 0's id or positive.
    assert res.ids[1].tolist() == _brute_force_top(x, ids, x[1], 5, {"d0", "d1", pos})
    assert np.all(np.diff(res.scores, axis=1) <= 1e-6)  # hardest first
    expect = x[1] @ x[[ids.index(i) for i in res.ids[1]]].T
    np.testing.assert_allclose(res.scores[1], expect, atol=1e-5)
    assert res.positive_scores[0] == pytest.approx(float(x[0] @ x[ids.index(pos)]), abs=1e-5)
    assert np.isnan(res.positive_scores[1])
    assert res.counts.tolist() == [5, 5] and res.shortfall.tolist() == [0, 0]
    assert res.removed["self"].tolist() == [1, 1]
    assert res.removed["positive"][0] == 1
    assert res.stats.negatives_returned == 10
    assert res.stats.candidates_examined >= res.stats.negatives_returned
    assert np.all(res.ranks >= 0)


def test_mine_vector_anchor_with_margin_and_vectors(client: hardneg.Client, collection: str) -> None:
    x = unit_rows(200, 16, seed=5)
    ids = [f"d{i}" for i in range(200)]
    client.upsert(collection, ids, x)
    q = x[7] + 0.05 * unit_rows(1, 16, seed=6)[0]
    res = client.mine(
        collection,
        anchor_vectors=q[None, :],
        positive_ids=[["d7"]],
        include_vectors=True,
        policy=hardneg.MiningPolicy(num_negatives=3, absolute_margin=0.1),
    )
    s_pos = float(res.positive_scores[0])
    assert res.counts[0] == 3
    assert np.all(res.scores[0] < s_pos - 0.1 + 1e-6)
    assert "d7" not in res.ids[0].tolist()
    assert res.vectors is not None and res.vectors.shape == (1, 3, 16)
    got = client.get_items(collection, list(res.ids[0]), include_vectors=True)
    np.testing.assert_allclose(res.vectors[0], got.vectors, atol=1e-6)


def test_mine_score_band_and_shortfall(client: hardneg.Client, collection: str) -> None:
    x = unit_rows(50, 16, seed=7)
    client.upsert(collection, [f"d{i}" for i in range(50)], x)
    res = client.mine(collection, anchor_ids=["d0"], num_negatives=10, max_score=0.2, min_score=0.1)
    c = int(res.counts[0])
    assert np.all((res.scores[0, :c] <= 0.2 + 1e-6) & (res.scores[0, :c] >= 0.1 - 1e-6))
    assert res.shortfall[0] == 10 - c
    if c < 10:  # padded, not filled with junk
        assert res.ids[0, c] is None and res.ranks[0, c] == -1


def test_mine_random_sampling_is_reproducible(client: hardneg.Client, collection: str) -> None:
    x = unit_rows(100, 16, seed=8)
    client.upsert(collection, [f"d{i}" for i in range(100)], x)
    kw = dict(anchor_ids=["d0", "d1"], num_negatives=3, range_max=30, sampling_strategy="random", seed=42)
    a = client.mine(collection, **kw)
    b = client.mine(collection, **kw)
    assert a.ids.tolist() == b.ids.tolist()
    assert np.all(a.ranks < 32)


def test_report_false_negatives_excludes_item(client: hardneg.Client, collection: str) -> None:
    x = unit_rows(40, 16, seed=9)
    client.upsert(collection, [f"d{i}" for i in range(40)], x)
    first = client.mine(collection, anchor_ids=["d0"], num_negatives=2)
    top = first.ids[0, 0]
    assert client.report_false_negatives(collection, {"d0": [top]}) == 1
    assert client.report_false_negatives(collection, [("d0", top)]) == 0  # already known
    after = client.mine(collection, anchor_ids=["d0"], num_negatives=2)
    assert top not in after.ids[0].tolist()
    assert after.removed["feedback"][0] == 1
    off = client.mine(collection, anchor_ids=["d0"], num_negatives=2, use_feedback=False)
    assert off.ids[0, 0] == top


def test_snapshot(client: hardneg.Client, collection: str) -> None:
    up = client.upsert(collection, ["a", "b"], unit_rows(2, 16))
    snap = client.snapshot(collection)
    assert snap.sequence >= up.sequence
    assert snap.bytes > 0


@pytest.mark.parametrize(
    "change, diff",
    [
        (dict(dim=16), "dim 8 (requested 16)"),
        (dict(metric="cosine"), "metric dot (requested cosine)"),
        (dict(index_params=hardneg.IndexParams(m=12)), "index_params.m 8 (requested 12)"),
        (dict(index_params=hardneg.IndexParams(ef_construction=64)), "index_params.ef_construction 100 (requested 64)"),
        (
            dict(index_params=hardneg.IndexParams(exact_threshold=hardneg.EXACT_ONLY)),
            f"index_params.exact_threshold 1000 (requested {hardneg.EXACT_ONLY})",
        ),
        (
            dict(index_params=hardneg.IndexParams(m=8, ef_construction=100, exact_threshold=1000, quantization="none")),
            "index_params.quantization int8 (requested none)",
        ),
    ],
    ids=["dim", "metric", "m", "ef_construction", "exact_threshold", "quantization"],
)
def test_exist_ok_refuses_a_different_definition(client: hardneg.Client, change: dict, diff: str) -> None:
    name = f"exist-{uuid.uuid4().hex[:8]}"
    params = hardneg.IndexParams(m=8, ef_construction=100, exact_threshold=1000)
    client.create_collection(name, dim=8, metric="dot", index_params=params)
    try:
        args = dict(dim=8, metric="dot", index_params=params)
        args.update(change)
        with pytest.raises(errors.AlreadyExists) as exc:
            client.create_collection(name, exist_ok=True, **args)
        assert diff in str(exc.value)
        # The same definition, or one leaving index parameters to the server, is accepted.
        assert client.create_collection(name, dim=8, metric="dot", index_params=params, exist_ok=True).dim == 8
        assert client.create_collection(name, dim=8, metric="ip", exist_ok=True).index_params.m == 8
    finally:
        client.delete_collection(name)


def test_a_split_mine_names_the_callers_anchor_row(client: hardneg.Client, collection: str) -> None:
    """Mine splits more than 1,024 anchors into several requests of even sizes (1,500 as
    750 + 750); a refusal of a later request names the caller's anchor row, not the row
    within that request."""
    x = unit_rows(50, 16, seed=31)
    client.upsert(collection, [f"m{i}" for i in range(50)], x)
    ids = ["m1"] * 1200 + ["nope"] + ["m2"] * 299
    with pytest.raises(errors.InvalidArgument) as exc:
        client.mine(collection, anchor_ids=ids, num_negatives=2)
    assert exc.value.field == "anchors[1200].id", exc.value
    assert "request 2 of 2, anchors 750–1,499; the requests for the 750 anchors before it were answered" in str(exc.value)
    v = unit_rows(1500, 16, seed=32)
    v[1300] = 0  # a zero vector under cosine: the server's to refuse
    with pytest.raises(errors.InvalidArgument) as exc:
        client.mine(collection, anchor_vectors=v, num_negatives=2)
    assert exc.value.field == "anchors[1300].vector" and [f.field for f in exc.value.violations] == ["anchors[1300].vector"]
    # One request: the server's fields as they are.
    with pytest.raises(errors.InvalidArgument) as exc:
        client.mine(collection, anchor_ids=["m1", "nope"], num_negatives=2)
    assert exc.value.field == "anchors[1].id" and "request" not in str(exc.value)


def test_split_upsert_defers_durability_to_its_last_batch() -> None:
    """Every batch of a split upload but the last is sent with defer_durability, so the
    last batch's fsync makes the whole upload durable (UpsertRequest.defer_durability)."""
    from hardneg import _core
    from hardneg.v1 import hardneg_pb2 as pb

    core = _core.Core("localhost:1", token=None, tls=None, timeout=None, max_message_bytes=4 << 20,
                      max_batch_bytes=64 * 1024, options=(), retry=None)
    x = unit_rows(3000, 16, seed=4)
    op = core.upsert("c", [f"d{i}" for i in range(3000)], x, None, None)
    sent = []
    rpc = next(op)
    try:
        while True:
            sent.append(rpc.request)
            rpc = op.send(pb.UpsertResponse(inserted=len(rpc.request.items.ids), sequence=len(sent)))
    except StopIteration as stop:
        res = stop.value
    assert len(sent) >= 3 and res.batches == len(sent) and res.inserted == 3000
    assert [r.defer_durability for r in sent] == [True] * (len(sent) - 1) + [False]


def test_single_batch_upsert_is_durable_when_acknowledged(client: hardneg.Client, collection: str) -> None:
    res = client.upsert(collection, ["one"], unit_rows(1, 16, seed=5))
    assert (res.inserted, res.batches) == (1, 1)


def test_deletes_fit_a_server_with_a_smaller_message_limit(server_binary: str, tmp_path: Path) -> None:
    """Deletes of long ids split by bytes as well as by count, and take a smaller server
    limit the way upserts do; a call that cannot split says which limit it met and what
    to do, not only gRPC's "received message larger than max"."""
    from conftest import _spawn

    srv = _spawn(server_binary, tmp_path / "small", ("--grpc-max-msg-bytes=1048576",))
    try:
        ids = [f"{j:05d}" + "x" * 500 for j in range(3000)]  # 1.5 MB of ids, each legal
        with hardneg.Client(srv.target, timeout=30.0) as c:
            c.create_collection("d", dim=4)
            c.upsert("d", ids, unit_rows(3000, 4, seed=4))
        with hardneg.Client(srv.target, timeout=30.0) as fresh:  # has not met the limit yet
            with pytest.raises(errors.ResourceExhausted) as exc:
                fresh.report_false_negatives("d", {k: [ids[0]] for k in ids})
            msg = str(exc.value)
            assert "the server takes at most 1,048,576 (its -grpc-max-msg-bytes); send fewer items per call" in msg, msg
            res = fresh.delete("d", ids[:2500] + ["missing"])
            assert (res.deleted, res.not_found) == (2500, 1) and res.batches >= 2, res
            # A split delete checks every id before the first request.
            with pytest.raises(errors.InvalidArgument, match=r"ids\[500\]: duplicates"):
                fresh.delete("d", ids[2500:] + ids[2500:2501])
            assert fresh.get_collection("d").stats.item_count == 500
    finally:
        srv.stop()


def test_upserts_fit_a_server_with_a_smaller_message_limit(server_binary: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server started with -grpc-max-msg-bytes below the client's batches refuses the
    first one unread (RESOURCE_EXHAUSTED); the client takes the server's limit from then
    on and sends the rest in batches that fit: every item arrives, and the checks of a
    split upsert run before anything is applied."""
    from conftest import _spawn

    srv = _spawn(server_binary, tmp_path / "small", ("--grpc-max-msg-bytes=1048576",))
    try:
        with hardneg.Client(srv.target, timeout=30.0) as c:
            assert c.max_batch_bytes == 16 * 1024 * 1024
            c.create_collection("u", dim=64)
            x = unit_rows(12_000, 64, seed=3)  # 3 MiB of vectors: one batch for this client
            res = c.upsert("u", [f"u{i}" for i in range(12_000)], x)
            assert res.inserted == 12_000 and res.batches >= 4, res
            assert c.max_batch_bytes < 1 << 20
            got = c.get_items("u", ["u0", "u11999"], include_vectors=True)
            assert got.vectors is not None
            np.testing.assert_allclose(got.vectors, x[[0, 11_999]], atol=1e-6)
            # Refused as a whole, before the first batch is applied: the upsert became a
            # split one only once the server said its limit.
            with hardneg.Client(srv.target, timeout=30.0) as fresh:
                ids = [f"w{i}" for i in range(12_000)]
                ids[11_000] = "x" * 600
                with pytest.raises(errors.InvalidArgument) as exc:
                    fresh.upsert("u", ids, x)
                assert exc.value.field == "items.ids[11000]" and exc.value.applied_rows == 0  # type: ignore[attr-defined]
            assert c.get_collection("u").stats.item_count == 12_000
        # Two upserts at once on one client, both cutting their batches before either is
        # refused: whichever meets the limit second re-cuts its own batches too.
        with hardneg.Client(srv.target, timeout=30.0) as shared:
            import threading

            from hardneg import _codec

            shared.create_collection("t", dim=64)
            errs: list[BaseException] = []
            both_cut = threading.Barrier(2, timeout=30)
            real_slices = _codec.PreparedItems.slices

            def slices(self: _codec.PreparedItems, max_items: int, max_bytes: int, start: int = 0) -> Any:
                out = list(real_slices(self, max_items, max_bytes, start))
                if start == 0 and max_bytes > 1 << 20:  # the first cut, at the client's 16 MiB
                    both_cut.wait()
                return iter(out)

            monkeypatch.setattr(_codec.PreparedItems, "slices", slices)

            def up(tag: str) -> None:
                try:
                    shared.upsert("t", [f"{tag}{i}" for i in range(12_000)], x)
                except BaseException as e:  # noqa: BLE001 - reported below
                    errs.append(e)

            threads = [threading.Thread(target=up, args=(tag,)) for tag in ("p", "q")]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            assert not errs, errs
            assert shared.get_collection("t").stats.item_count == 24_000
            monkeypatch.undo()
        # A stream cannot shrink its batches in flight: the refusal says what to give
        # the client and where to resume, and that works.
        with hardneg.Client(srv.target, timeout=30.0) as fresh:
            fresh.create_collection("s", dim=64)
            with pytest.raises(errors.ResourceExhausted) as rexc:
                fresh.ingest("s", [([f"s{i}" for i in range(12_000)], x)], writer_id="w1")
            msg = str(rexc.value)
            assert "the server takes messages of at most 1,048,576 bytes" in msg, msg
            assert "max_batch_bytes=917,504" in msg and "writer_id='w1', first_sequence=1" in msg, msg
        with hardneg.Client(srv.target, timeout=30.0, max_batch_bytes=917_504) as fitted:
            res2 = fitted.ingest("s", [([f"s{i}" for i in range(12_000)], x)], writer_id="w1", first_sequence=1)
            assert res2.items == 12_000
            assert fitted.get_collection("s").stats.item_count == 12_000
    finally:
        srv.stop()


def test_a_policy_field_without_effect_is_a_policy_warning(client: hardneg.Client, collection: str) -> None:
    x = unit_rows(100, 16, seed=9)
    client.upsert(collection, [f"d{i}" for i in range(100)], x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a policy whose fields all act warns of nothing
        plain = client.mine(collection, anchor_ids=["d0"], policy={"num_negatives": 4})
    with pytest.warns(hardneg.PolicyWarning) as got:
        res = client.mine(collection, anchor_ids=["d0"], policy={"num_negatives": 4, "temperature": 0.5,
                                                                 "exclude_near_duplicates": False, "duplicate_threshold": 0.9})
    assert sorted(str(w.message).split(":")[0] for w in got) == ["policy.duplicate_threshold", "policy.temperature"]
    assert "has no effect unless sampling is SAMPLING_STRATEGY_SOFTMAX" in str(got[0].message) + str(got[1].message)
    # served as if the fields were unset (temperature; the near-duplicate rules are off in both answers'
    # policies only where asked, so compare with near-duplicates off)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        off = client.mine(collection, anchor_ids=["d0"], policy={"num_negatives": 4, "exclude_near_duplicates": False})
    assert res.ids.tolist() == off.ids.tolist() and plain.ids.shape == res.ids.shape
    # the client sends stale_rule "skip" by default (no warning above); "rescore" without a version
    # bound, and a synthetic range without the count it shapes, are named
    with pytest.warns(hardneg.PolicyWarning) as got:
        res = client.mine(collection, anchor_ids=["d0"], policy={"num_negatives": 4, "stale_rule": "rescore",
                                                                 "synthetic": {"num_query_mixed": 1, "alpha_min": 0.2}})
    assert sorted(str(w.message).split(":")[0] for w in got) == ["policy.stale_rule", "policy.synthetic.alpha_min"]
    assert res.ids.tolist() == plain.ids.tolist()
