"""The ``hardneg`` command with the malformed files and flags a new user tries: every
case exits 1 with one line on stderr naming the file, row, column or field (2 and a
usage message for a bad flag value), never a traceback, and applies nothing: a failed
``ingest --create`` leaves no collection, and a failed ingest into an existing
collection leaves its items as they were, even when the bad row is in a later batch.
The server's state is checked through both clients (``client`` fixture).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import ServerProcess, one_line_failure, unit_rows
from conftest import cli_run as run

import hardneg
from hardneg import _cli

N, DIM = 6, 4


def good() -> np.ndarray:
    return unit_rows(N, DIM, seed=3)


def ids_file(tmp: Path, lines: list[str], name: str = "ids.txt") -> str:
    p = tmp / name
    p.write_text("".join(x + "\n" for x in lines))
    return str(p)


def npy(tmp: Path, arr: np.ndarray, name: str = "v.npy") -> str:
    p = tmp / name
    np.save(p, arr)
    return str(p)


def parquet(tmp: Path, columns: dict[str, Any], name: str = "v.parquet") -> str:
    p = tmp / name
    pq.write_table(pa.table(columns), p)
    return str(p)


IDS = [f"d{i}" for i in range(N)]


def _with(arr: np.ndarray, row: int, value: float) -> np.ndarray:
    arr = arr.copy()
    arr[row] = value
    return arr


def _truncated(tmp: Path) -> str:
    p = Path(npy(tmp, good(), "t.npy"))
    p.write_bytes(p.read_bytes()[:-20])
    return str(p)


def _garbage(tmp: Path, name: str) -> str:
    p = tmp / name
    p.write_bytes(b"this is not a vector file\n" * 8)
    return str(p)


def _bytes(tmp: Path, name: str, data: bytes) -> str:
    p = tmp / name
    p.write_bytes(data)
    return str(p)


def _empty(tmp: Path, name: str) -> str:
    p = tmp / name
    p.write_bytes(b"")
    return str(p)


def _directory(tmp: Path, name: str) -> str:
    p = tmp / name
    p.mkdir()
    return str(p)


# Each case: the arguments after `ingest COLLECTION` (built in a temporary directory)
# and what the error line must say. --batch-size 2 puts the bad row in a later batch.
INGEST_CASES: list[Any] = [
    pytest.param(lambda t: [npy(t, good()[0]), "--ids", ids_file(t, IDS)], "expected a 2-d array (rows × dim), got shape (4,)",
                 id="npy-1-d"),
    pytest.param(lambda t: [npy(t, good()[:, None, :]), "--ids", ids_file(t, IDS)], "got shape (6, 1, 4)", id="npy-3-d"),
    pytest.param(lambda t: [npy(t, np.arange(N * DIM).reshape(N, DIM)), "--ids", ids_file(t, IDS)],
                 "holds int64 values; vectors must be floating point (token ids rather than embeddings?)", id="npy-int"),
    pytest.param(lambda t: [npy(t, good() > 0), "--ids", ids_file(t, IDS)], "holds bool values", id="npy-bool"),
    pytest.param(lambda t: [npy(t, good().astype(str)), "--ids", ids_file(t, IDS)], "holds <U32 values", id="npy-strings"),
    pytest.param(lambda t: [npy(t, good().astype(np.complex64)), "--ids", ids_file(t, IDS)], "holds complex64 values",
                 id="npy-complex"),
    pytest.param(lambda t: [npy(t, np.array([[1.0, "a"]] * N, dtype=object)), "--ids", ids_file(t, IDS)],
                 "holds Python objects, not numbers", id="npy-object"),
    pytest.param(lambda t: [npy(t, _with(good(), 5, np.nan)), "--ids", ids_file(t, IDS), "--batch-size", "2"],
                 "row 5 holds NaN or infinite values", id="npy-nan-row-in-last-batch"),
    pytest.param(lambda t: [npy(t, _with(good(), 2, np.inf)), "--ids", ids_file(t, IDS)], "row 2 holds NaN or infinite",
                 id="npy-inf-row"),
    pytest.param(lambda t: [npy(t, _with(good().astype(np.float64), 1, 1e39)), "--ids", ids_file(t, IDS)],
                 "row 1 holds NaN or infinite values (or values beyond float32)", id="npy-beyond-float32"),
    pytest.param(lambda t: [npy(t, _with(good(), 4, 0.0)), "--ids", ids_file(t, IDS), "--batch-size", "2"],
                 "row 4 is a zero vector, which has no direction under cosine", id="npy-zero-row"),
    pytest.param(lambda t: [npy(t, np.zeros((0, DIM), np.float32)), "--ids", ids_file(t, [])], "holds no rows",
                 id="npy-empty"),
    pytest.param(lambda t: [npy(t, np.zeros((N, 0), np.float32)), "--ids", ids_file(t, IDS)], "vectors of dimension 0",
                 id="npy-dim-0"),
    pytest.param(lambda t: [_garbage(t, "g.npy"), "--ids", ids_file(t, IDS)], "not a .npy file (no NumPy header)",
                 id="npy-garbage"),
    pytest.param(lambda t: [_truncated(t), "--ids", ids_file(t, IDS)], "truncated or damaged .npy file", id="npy-truncated"),
    pytest.param(lambda t: [_directory(t, "d.npy"), "--ids", ids_file(t, IDS)], "d.npy: is a directory, not a file",
                 id="npy-directory"),
    pytest.param(lambda t: [str(t / "missing.npy"), "--ids", ids_file(t, IDS)], "missing.npy: no such file",
                 id="npy-missing"),
    pytest.param(lambda t: [npy(t, good()), "--ids", ids_file(t, ["a", "b", "c", "a", "e", "f"]), "--batch-size", "2"],
                 "id 'a' is given twice (rows 0 and 3)", id="ids-repeated-across-batches"),
    pytest.param(lambda t: [npy(t, good()), "--ids", ids_file(t, ["a", "b", "c", "d", "", "f"]), "--batch-size", "2"],
                 "the id of row 4 is empty", id="ids-empty-line"),
    pytest.param(lambda t: [npy(t, good()), "--ids", npy(t, good(), "ids.npy")], "holds float32 values; ids must be",
                 id="ids-npy-of-floats"),
    pytest.param(lambda t: [npy(t, good()), "--ids", npy(t, np.array([b"\xff\xfe"] + [b"ok"] * (len(IDS) - 1)), "ids.npy")],
                 "ids.npy: the id of row 0 is not UTF-8", id="ids-npy-not-utf8"),
    pytest.param(lambda t: [npy(t, good()), "--ids", npy(t, np.array(IDS).reshape(len(IDS), 1), "ids.npy")],
                 "holds an array of shape", id="ids-npy-2-d"),
    pytest.param(lambda t: [npy(t, good()), "--ids", _directory(t, "ids")], "ids: is a directory", id="ids-directory"),
    pytest.param(lambda t: [npy(t, good()), "--ids", ids_file(t, IDS[:5] + ["x" * 600]), "--batch-size", "2"],
                 "the id of row 5 is longer than 512 bytes", id="ids-too-long"),
    pytest.param(lambda t: [npy(t, good()), "--ids", _bytes(t, "ids.txt", b"a\nb\n\xff\xfe\nd\ne\nf\n")],
                 "ids.txt: not UTF-8 text", id="ids-not-utf8"),
    pytest.param(lambda t: [npy(t, good()), "--ids", ids_file(t, IDS), "--writer-id", "w" * 200],
                 "--writer-id must be 1 to 128 bytes", id="writer-id-too-long"),
    pytest.param(lambda t: [parquet(t, {"vector": good().tolist()})], "no column 'id' for --ids (columns: vector)",
                 id="parquet-no-id"),
    pytest.param(lambda t: [parquet(t, {"id": IDS, "emb": good().tolist()})],
                 "no column vector, embedding or embeddings; name it with --vectors (columns: id, emb)",
                 id="parquet-no-vector"),
    pytest.param(lambda t: [parquet(t, {"id": IDS, "vector": good().tolist()}), "--vectors", "embedding"],
                 "no column 'embedding' for --vectors", id="parquet-misnamed-vector-flag"),
    pytest.param(lambda t: [parquet(t, {"id": IDS, "vector": np.arange(N * DIM).reshape(N, DIM).tolist()})],
                 "column 'vector' holds lists of int64 values; vectors must be floating point (token ids rather than embeddings?)",
                 id="parquet-int"),
    pytest.param(lambda t: [parquet(t, {"id": IDS, "vector": [r[: 3 + i % 2].tolist() for i, r in enumerate(good())]})],
                 "column 'vector' holds vectors of different lengths (3 in row 0, 4 in row 1)", id="parquet-ragged"),
    pytest.param(lambda t: [parquet(t, {"id": IDS, "vector": good().tolist()[:5] + [None]})],
                 "row 5 of column 'vector' is null", id="parquet-null-vector"),
    pytest.param(lambda t: [parquet(t, {"id": IDS, "vector": [r.tolist()[:3] + [None] for r in good()]})],
                 "column 'vector': row 0 holds NaN", id="parquet-null-in-vector"),  # a null element reads as NaN
    pytest.param(lambda t: [parquet(t, {"id": IDS, "vector": [["x"] * DIM] * N})],
                 "column 'vector' holds list<element: string> values; vectors must be lists of floating-point numbers",
                 id="parquet-list-of-text"),
    pytest.param(lambda t: [parquet(t, {"id": IDS[:5] + [None], "vector": good().tolist()})],
                 "row 5 of column 'id' is null", id="parquet-null-id"),
    pytest.param(lambda t: [parquet(t, {"id": ["a", "b", "a", "c", "d", "e"], "vector": good().tolist()})],
                 "column 'id': id 'a' is given twice (rows 0 and 2)", id="parquet-repeated-id"),
    pytest.param(lambda t: [parquet(t, {"id": IDS, "vector": ["0.1,0.2,0.3,0.4"] * N})],
                 "column 'vector' holds string values; vectors must be lists of floating-point numbers",
                 id="parquet-vector-as-text"),
    pytest.param(lambda t: [parquet(t, {"id": IDS, "vector": _with(good(), 3, np.nan).tolist()}), "--batch-size", "2"],
                 "column 'vector': row 3 holds NaN", id="parquet-nan-row"),
    pytest.param(lambda t: [parquet(t, {"id": pa.array([], pa.string()), "vector": pa.array([], pa.list_(pa.float32()))})],
                 "column 'vector': holds no rows", id="parquet-empty"),
    pytest.param(lambda t: [parquet(t, {"id": IDS, "vector": good().tolist(), "g": list(range(N))}), "--groups", "g"],
                 "row 0 of column 'g' is not a list of strings", id="parquet-groups-not-lists"),
    pytest.param(lambda t: [parquet(t, {"id": IDS, "vector": good().tolist()}), "--groups", "grp"],
                 "no column 'grp' for --groups", id="parquet-missing-groups-column"),
    pytest.param(lambda t: [_garbage(t, "g.parquet")], "g.parquet: not a readable Parquet file", id="parquet-garbage"),
    pytest.param(lambda t: [_directory(t, "d.parquet")], "d.parquet: is a directory", id="parquet-directory"),
    pytest.param(lambda t: [_garbage(t, "v.csv")], "unsupported file type (use .npy or .parquet)", id="csv"),
]


@pytest.mark.parametrize("make, want", INGEST_CASES)
def test_ingest_of_a_bad_file_creates_nothing(server: ServerProcess, client: hardneg.Client, capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path, make: Callable[[Path], list[str]], want: str) -> None:
    name = "cli-bad-new"
    client.delete_collection(name, missing_ok=True)
    code, _, err = run(capsys, server, "-q", "ingest", name, *make(tmp_path), "--create")
    one_line_failure(code, err, "ingest", want)
    assert name not in {c.name for c in client.list_collections()}


@pytest.mark.parametrize("make, want", [p for p in INGEST_CASES if p.id in {
    "npy-nan-row-in-last-batch", "npy-zero-row", "ids-repeated-across-batches", "ids-empty-line", "parquet-nan-row",
    "parquet-repeated-id", "npy-int"}])
def test_ingest_of_a_bad_file_leaves_an_existing_collection_alone(
        server: ServerProcess, client: hardneg.Client, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        make: Callable[[Path], list[str]], want: str) -> None:
    name = "cli-bad-kept"
    client.delete_collection(name, missing_ok=True)
    client.create_collection(name, DIM, "cosine")
    client.upsert(name, ["x", "y"], unit_rows(2, DIM, seed=9))
    try:
        code, _, err = run(capsys, server, "-q", "ingest", name, *make(tmp_path))
        one_line_failure(code, err, "ingest", want)
        info = client.get_collection(name)
        assert info.stats.item_count == 2
        assert sorted(client.get_items(name, ["x", "y", *IDS, "a"]).ids) == ["x", "y"]
    finally:
        client.delete_collection(name, missing_ok=True)


def test_ingest_checks_the_dimension_before_sending(server: ServerProcess, client: hardneg.Client,
                                                    capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    name = "cli-bad-dim"
    client.delete_collection(name, missing_ok=True)
    client.create_collection(name, 8, "cosine")
    try:
        code, _, err = run(capsys, server, "-q", "ingest", name, npy(tmp_path, good()), "--ids", ids_file(tmp_path, IDS))
        one_line_failure(code, err, "ingest", f"vectors of dim 4, collection '{name}' has dim 8")
        assert client.get_collection(name).stats.item_count == 0
    finally:
        client.delete_collection(name, missing_ok=True)


def test_zero_rows_are_fine_outside_cosine(server: ServerProcess, client: hardneg.Client,
                                          capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    name = "cli-zero-dot"
    client.delete_collection(name, missing_ok=True)
    try:
        code, _, err = run(capsys, server, "-q", "ingest", name, npy(tmp_path, _with(good(), 4, 0.0)), "--ids",
                           ids_file(tmp_path, IDS), "--create", "--metric", "dot")
        assert code == 0, err
        assert client.get_collection(name).stats.item_count == N
    finally:
        client.delete_collection(name, missing_ok=True)


@pytest.fixture
def mined(server: ServerProcess, client: hardneg.Client) -> Any:
    name = "cli-bad-mine"
    client.delete_collection(name, missing_ok=True)
    client.create_collection(name, DIM, "cosine")
    client.upsert(name, IDS, good())
    yield name
    client.delete_collection(name, missing_ok=True)


MINE_CASES: list[Any] = [
    pytest.param(lambda t: ["--anchor", "d0", "-k", "0"], "policy.num_negatives: must be 1–1,024, got 0", id="k-0"),
    pytest.param(lambda t: ["--anchor", "d0", "-k", "5000"], "policy.num_negatives: must be 1–1,024, got 5000", id="k-huge"),
    pytest.param(lambda t: ["--anchor", "d0", "--set", "num_negatives=three"], "policy.num_negatives: must be an integer",
                 id="set-word-for-number"),
    pytest.param(lambda t: ["--anchor", "d0", "--set", "seed=-1"], "policy.seed: must be 0–", id="set-negative-seed"),
    pytest.param(lambda t: ["--anchor", "d0", "--set", "relative_margin=nan"], "policy.relative_margin: must be a finite",
                 id="set-nan"),
    pytest.param(lambda t: ["--anchor", "d0", "--set", "rank_mode=best"], "policy.rank_mode: unknown rank mode 'best'",
                 id="set-unknown-enum"),
    pytest.param(lambda t: ["--anchor", "d0", "--set", "max_score="], "policy.max_score: must be a number or None",
                 id="set-empty-value"),
    pytest.param(lambda t: ["--anchor", "d0", "--set", "num_negatives"], "expected FIELD=VALUE", id="set-no-equals"),
    pytest.param(lambda t: ["--anchor", ""], "anchors[0]: needs an id or a vector", id="empty-anchor"),
    pytest.param(lambda t: ["--anchor", "nope"], 'anchors[0].id: item "nope" is not in the collection', id="unknown-anchor"),
    pytest.param(lambda t: ["--vectors", npy(t, good()[:, None, :])], "got shape (6, 1, 4)", id="vectors-3-d"),
    pytest.param(lambda t: ["--vectors", npy(t, np.ones((2, 8), np.float32))],
                 "anchor_vectors: has 8 floats per anchor (2 anchors); the collection's dimension is 4", id="vectors-wrong-dim"),
    pytest.param(lambda t: ["--vectors", npy(t, _with(good(), 4, np.nan))], "row 4 holds NaN", id="vectors-nan"),
    pytest.param(lambda t: ["--vectors", npy(t, np.array([[1.0, "a"]] * 2, dtype=object))], "holds Python objects",
                 id="vectors-object"),
    pytest.param(lambda t: ["--vectors", npy(t, good().astype(str))], "holds <U32 values", id="vectors-strings"),
    pytest.param(lambda t: ["--vectors", npy(t, np.arange(8).reshape(2, 4))], "holds int64 values", id="vectors-int"),
    pytest.param(lambda t: ["--vectors", _garbage(t, "g.npy")], "not a .npy file", id="vectors-garbage"),
    pytest.param(lambda t: ["--vectors", _directory(t, "d.npy")], "d.npy: is a directory", id="vectors-directory"),
    pytest.param(lambda t: ["--vectors", npy(t, np.zeros((0, DIM), np.float32))], "holds no rows", id="vectors-empty"),
    pytest.param(lambda t: ["--vectors", npy(t, good()), "--anchor", "d0"], "not both", id="anchors-and-vectors"),
]


@pytest.mark.parametrize("make, want", MINE_CASES)
def test_mine_with_bad_flags(server: ServerProcess, client: hardneg.Client, mined: str, capsys: pytest.CaptureFixture[str],
                             tmp_path: Path, make: Callable[[Path], list[str]], want: str) -> None:
    code, out, err = run(capsys, server, "mine", mined, *make(tmp_path))
    one_line_failure(code, err, "mine", want)
    assert out == ""
    assert client.get_collection(mined).stats.item_count == N


RESTORE_CASES: list[Any] = [
    pytest.param(lambda t: _empty(t, "empty.hnb"), "empty.hnb: not a hardneg backup file", id="empty"),
    pytest.param(lambda t: _garbage(t, "g.hnb"), "g.hnb: not a hardneg backup file (bad magic)", id="garbage"),
    pytest.param(lambda t: npy(t, good()), "v.npy: not a hardneg backup file", id="a-npy-file"),
    pytest.param(lambda t: _directory(t, "backups"), "backups: is a directory, not a file", id="directory"),
    pytest.param(lambda t: str(t / "nope.hnb"), "nope.hnb: no such file", id="missing"),
]


@pytest.mark.parametrize("make, want", RESTORE_CASES)
def test_restore_of_a_bad_file_applies_nothing(server: ServerProcess, client: hardneg.Client,
                                               capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                               make: Callable[[Path], str], want: str) -> None:
    before = {c.name for c in client.list_collections()}
    code, _, err = run(capsys, server, "-q", "restore", make(tmp_path))
    one_line_failure(code, err, "restore", want)
    assert {c.name for c in client.list_collections()} == before


@pytest.mark.parametrize("argv", [
    ["--timeout", "0", "collections"],
    ["--timeout", "-5", "collections"],
    ["--timeout", "nan", "collections"],
    ["--timeout", "soon", "collections"],
    ["ingest", "c", "v.npy", "--batch-size", "0"],
    ["ingest", "c", "v.npy", "--batch-size", "-10"],
    ["ingest", "c", "v.npy", "--version", "one"],
    ["ingest", "c", "v.npy", "--version", str(2**70)],
    ["ingest", "c", "v.npy", "--metric", "hamming"],
    ["mine", "c", "-k", "ten"],
    ["mine", "c", "--explain", "lots"],
    ["mine", "c", "--explain", "-1"],
])
def test_bad_flag_values_are_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    assert _cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert "usage:" in err and "error:" in err and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("hardneg")


def test_a_version_beyond_int64_is_a_value_error(client: hardneg.Client) -> None:
    # It used to escape as numpy's OverflowError.
    with pytest.raises(ValueError, match="versions must fit in a signed 64-bit integer"):
        client.upsert("anything", ["a"], good()[:1], versions=2**70)
    with pytest.raises(ValueError, match="versions must fit in a signed 64-bit integer"):
        client.upsert("anything", ["a", "b"], good()[:2], versions=[1, -(2**64)])


@pytest.mark.parametrize("flag, value", [("--m", "-1"), ("--ef-construction", "-3"), ("--ef-search", str(2**40)),
                                         ("--exact-threshold", "-1")])
def test_create_with_index_parameters_out_of_range(server: ServerProcess, client: hardneg.Client,
                                                   capsys: pytest.CaptureFixture[str], flag: str, value: str) -> None:
    # protobuf's "Value out of range" used to be the whole message.
    code, _, err = run(capsys, server, "create", "cli-bad-params", "--dim", "4", flag, value)
    field = "index_params." + flag[2:].replace("-", "_")
    one_line_failure(code, err, "create", f"invalid argument: invalid collection [{field}: must be an integer 0–")
    assert "cli-bad-params" not in {c.name for c in client.list_collections()}


def test_index_params_out_of_range_through_the_client(client: hardneg.Client) -> None:
    with pytest.raises(hardneg.errors.InvalidArgument, match=r"index_params.m: must be an integer 0–4,294,967,295, got -1"):
        client.create_collection("cli-bad-params", 4, "cosine", index_params=hardneg.IndexParams(m=-1))
