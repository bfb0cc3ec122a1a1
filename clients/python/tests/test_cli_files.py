"""The ``hardneg`` command's input and output files and its one-attempt commands: a
damaged backup record is one line naming the record,
never a traceback; id text files lose a byte order mark and refuse ids with surrounding
whitespace; float Parquet ids are refused; a non-UTF-8 id file names the row and the
byte of the file; small usage and file errors name the flag or the file; the commands
docs/CLI.md lists as not retried make one attempt; the inspector's curl example works
on the corpus docs/CLI.md builds.
"""

from __future__ import annotations

import io
import json
import os
import re
import struct
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import hardneg
from hardneg import _backup, _cli
from hardneg.errors import BackupFileError
from hardneg.v1 import hardneg_pb2 as pb
from conftest import REPO_ROOT, ServerProcess, free_port, one_line_failure, unit_rows
from conftest import cli_run as run

N, DIM = 400, 8


@pytest.fixture
def name(sync_client: hardneg.Client) -> Iterator[str]:
    """A collection name of this test; whatever holds it is deleted afterwards."""
    n = f"rv-{uuid.uuid4().hex[:10]}"
    yield n
    sync_client.delete_collection(n, missing_ok=True)


@pytest.fixture
def vectors(tmp_path: Path) -> str:
    p = tmp_path / "v.npy"
    np.save(p, unit_rows(N, DIM, seed=5))
    return str(p)


IDS = [f"d{i}" for i in range(N)]


# F2 -----------------------------------------------------------------------------------------


@pytest.fixture
def backup_file(server: ServerProcess, sync_client: hardneg.Client, name: str, tmp_path: Path,
                capsys: pytest.CaptureFixture[str]) -> Path:
    sync_client.create_collection(name, DIM)
    sync_client.upsert(name, IDS, unit_rows(N, DIM, seed=5), groups=[[f"s{i // 2}"] for i in range(N)])
    path = tmp_path / "b.hnb"
    code, _, err = run(capsys, server, "backup", str(path), "-c", name)
    assert code == 0, err
    return path


def _damage_first_record(data: bytes) -> bytes:
    # Record 1 starts at byte 12 (after the magic and the version); its message at 16.
    # A varint of 11 continuation bytes is no valid protobuf.
    return data[:16] + b"\xff" * 11 + data[27:]


def test_restore_of_a_damaged_record_names_it_on_one_line(server: ServerProcess, sync_client: hardneg.Client,
                                                          backup_file: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.hnb"
    bad.write_bytes(_damage_first_record(backup_file.read_bytes()))
    before = {c.name for c in sync_client.list_collections()}
    code, _, err = run(capsys, server, "restore", str(bad), "-c", "rv-never")
    one_line_failure(code, err, "restore", f"{bad}: damaged record 1 at byte 12: not a valid BackupResponse message")
    # The client raises the documented error, not protobuf's DecodeError.
    with pytest.raises(BackupFileError, match="damaged record 1 at byte 12"):
        sync_client.restore(str(bad), "rv-never")
    assert {c.name for c in sync_client.list_collections()} == before


def test_no_single_byte_flip_escapes_as_another_error(backup_file: Path) -> None:
    data = backup_file.read_bytes()
    # Every byte of the magic, of the header record and of each record's length and
    # tag, and a stride through the chunks.
    offsets, pos = [], 12
    while pos + 4 <= len(data):
        (n,) = struct.unpack_from("<I", data, pos)
        if n == _backup.END:
            break
        offsets.append(pos)
        pos += 4 + n
    positions = set(range(min(len(data), offsets[1] if len(offsets) > 1 else len(data))))
    positions |= {p + k for p in offsets for k in range(8)} | set(range(0, len(data), 37))
    for p in sorted(x for x in positions if x < len(data)):
        for flip in (0xFF, 0x5A, 0x01, 0x80):
            b = bytearray(data)
            b[p] ^= flip
            try:
                _backup.scan(io.BytesIO(bytes(b)))
            except BackupFileError:
                pass  # anything else fails the test, naming the byte
            except Exception as e:  # pragma: no cover
                pytest.fail(f"byte {p} ^ {flip:#x}: {type(e).__name__}: {e}")


def _file(*messages: pb.BackupResponse) -> bytes:
    out = _backup.MAGIC + struct.pack("<I", 2)
    for m in messages:
        data = m.SerializeToString()
        out += struct.pack("<I", len(data)) + data
    return out + struct.pack("<II", _backup.END, sum(m.WhichOneof("part") == "header" for m in messages))


def test_a_header_out_of_range_and_a_damaged_later_record_name_their_record() -> None:
    header = pb.BackupResponse(header=pb.BackupHeader(collection=pb.Collection(name="c", dim=4), size_bytes=3))
    bad_time = pb.BackupResponse()
    bad_time.CopyFrom(header)
    bad_time.header.taken_at.nanos = -5  # ToDatetime raises ValueError
    with pytest.raises(BackupFileError, match=r"damaged record 1 at byte 12: .*Nanos"):
        _backup.scan(io.BytesIO(_file(bad_time, pb.BackupResponse(chunk=b"abc"))))
    good = _file(header, pb.BackupResponse(chunk=b"abc"))
    second = 12 + 4 + len(header.SerializeToString())
    broken = good[: second + 4] + b"\xff" * 5 + good[second + 9 :]
    for read in (lambda f: _backup.scan(f), lambda f: list(_backup.Reader(f).entries())):
        with pytest.raises(BackupFileError, match=f"damaged record 2 at byte {second}: "):
            read(io.BytesIO(broken))


# F7, F11, F12 (ids files) -------------------------------------------------------------------


def test_id_text_files_drop_a_bom_and_trailing_empty_lines_and_read_crlf(
        server: ServerProcess, sync_client: hardneg.Client, name: str, vectors: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(i.encode() for i in IDS) + b"\r\n\r\n\r\n")
    code, _, err = run(capsys, server, "ingest", name, vectors, "--ids", str(ids), "--create")
    assert code == 0, err
    got = sync_client.get_items(name, IDS)
    assert got.missing_ids == [] and sorted(got.ids) == sorted(IDS)
    # LF endings with two blank lines after the last id: once read as "401 ids for 400 vectors".
    ids.write_text("".join(i + "\n" for i in IDS) + "\n\n")
    sync_client.delete_collection(name)
    code, _, err = run(capsys, server, "ingest", name, vectors, "--ids", str(ids), "--create")
    assert code == 0, err
    assert sync_client.get_collection(name).stats.item_count == N


@pytest.mark.parametrize("lines, row, shown", [
    (["d0", " d1 ", *IDS[2:]], 1, "' d1 '"),
    ([*IDS[:399], "d399\t"], 399, "'d399\\t'"),
])
def test_ids_with_surrounding_whitespace_are_refused(server: ServerProcess, sync_client: hardneg.Client, name: str,
                                                     vectors: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     lines: list[str], row: int, shown: str) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("".join(x + "\n" for x in lines))
    code, _, err = run(capsys, server, "ingest", name, vectors, "--ids", str(ids), "--create")
    one_line_failure(code, err, "ingest", f"{ids}: the id of row {row} ({shown}) has leading or trailing whitespace")
    assert ".npy of strings or a Parquet column" in err
    assert name not in {c.name for c in sync_client.list_collections()}


def test_a_blank_line_before_the_last_id_is_still_refused(server: ServerProcess, name: str, vectors: str,
                                                          tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("".join(x + "\n" for x in [*IDS[:5], "", *IDS[5:399]]) + "\n")
    code, _, err = run(capsys, server, "ingest", name, vectors, "--ids", str(ids), "--create")
    one_line_failure(code, err, "ingest", "the id of row 5 is empty")


def test_a_non_utf8_id_file_names_the_row_and_the_byte_of_the_file(
        server: ServerProcess, name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    n = 3000  # past the text decoder's 8 KiB buffer
    np.save(tmp_path / "v.npy", unit_rows(n, DIM, seed=6))
    lines = [f"d{i}".encode() for i in range(n)]
    lines[2500] = b"d25\xff00"
    data = b"\xef\xbb\xbf" + b"\n".join(lines) + b"\n"
    (tmp_path / "ids.txt").write_bytes(data)
    code, _, err = run(capsys, server, "ingest", name, str(tmp_path / "v.npy"), "--ids", str(tmp_path / "ids.txt"),
                       "--create")
    at = data.index(b"\xff")  # 3 bytes of BOM, then 2,500 lines before it
    one_line_failure(code, err, "ingest", f"ids.txt: not UTF-8 text: row 2500 (invalid start byte at byte {at} of the file)")


def test_a_utf16_id_file_says_so(server: ServerProcess, name: str, vectors: str, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("".join(x + "\n" for x in IDS), encoding="utf-16")
    code, _, err = run(capsys, server, "ingest", name, vectors, "--ids", str(ids), "--create")
    one_line_failure(code, err, "ingest", "ids.txt: UTF-16 text (as Windows PowerShell writes it); save it as UTF-8")


# F8, F12 (parquet) --------------------------------------------------------------------------


def _parquet(tmp: Path, ids: Any) -> str:
    p = tmp / "c.parquet"
    pq.write_table(pa.table({"id": ids, "embedding": list(unit_rows(N, DIM, seed=5)),
                             "source": [[f"s{i // 2}"] for i in range(N)]}), p)
    return str(p)


def test_a_float_parquet_id_column_is_refused(server: ServerProcess, sync_client: hardneg.Client, name: str,
                                              tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _parquet(tmp_path, np.arange(N, dtype=np.float64))
    code, _, err = run(capsys, server, "ingest", name, path, "--create")
    one_line_failure(code, err, "ingest", "c.parquet: column 'id' holds double values; ids must be strings or integers")
    assert name not in {c.name for c in sync_client.list_collections()}
    path = _parquet(tmp_path, pa.array([i % 2 == 0 for i in range(N)]))
    code, _, err = run(capsys, server, "ingest", name, path, "--create")
    one_line_failure(code, err, "ingest", "column 'id' holds bool values; ids must be strings or integers")


def test_integer_and_binary_parquet_ids_become_text(server: ServerProcess, sync_client: hardneg.Client, name: str,
                                                    tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, server, "ingest", name, _parquet(tmp_path, np.arange(N, dtype=np.int64)), "--create")
    assert code == 0, err
    assert sync_client.get_items(name, ["0", "399"]).missing_ids == []
    sync_client.delete_collection(name)
    code, _, err = run(capsys, server, "ingest", name, _parquet(tmp_path, [i.encode() for i in IDS]), "--create")
    assert code == 0, err
    assert sync_client.get_items(name, ["d0", "d399"]).missing_ids == []


def test_a_missing_groups_column_lists_the_columns(server: ServerProcess, name: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, server, "ingest", name, _parquet(tmp_path, IDS), "--groups", "nope", "--create")
    one_line_failure(code, err, "ingest", "no column 'nope' for --groups (columns: id, embedding, source)")


# F12 (flags, backup files, TLS) -------------------------------------------------------------


def test_a_negative_explain_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli.main(["mine", "docs", "--anchor", "d10", "--explain", "-1"]) == 2
    _, err = capsys.readouterr()
    assert "usage:" in err and "argument --explain: must be 0 or more, got -1" in err and "Traceback" not in err


@pytest.mark.parametrize("command", ["backup", "restore"])
def test_an_empty_collection_flag_is_refused(server: ServerProcess, backup_file: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str], command: str) -> None:
    target = tmp_path / "all.hnb" if command == "backup" else backup_file
    code, out, err = run(capsys, server, command, str(target), "-c", "")
    one_line_failure(code, err, command, "-c/--collection: the collection name is empty; omit -c to")
    assert out == ""
    if command == "backup":
        assert not target.exists() and not Path(f"{target}.partial").exists()


def test_backup_write_errors_name_the_file(server: ServerProcess, backup_file: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    name = _backup.scan(io.BytesIO(backup_file.read_bytes()))[0].collection
    (tmp_path / "exists.hnb").write_bytes(b"")
    target = tmp_path / "exists.hnb" / "x.hnb"
    code, _, err = run(capsys, server, "backup", str(target), "-c", name)
    one_line_failure(code, err, "backup", f"{target}: {tmp_path / 'exists.hnb'} is not a directory")
    target = tmp_path / "nodir" / "x.hnb"
    code, _, err = run(capsys, server, "backup", str(target), "-c", name)
    one_line_failure(code, err, "backup", f"{target}: no directory '{tmp_path / 'nodir'}'")
    assert ".partial" not in err
    if not os.path.exists("/dev/full"):
        return
    # A full disk: the partial file is a link to /dev/full, whose writes fail with ENOSPC.
    target = tmp_path / "full.hnb"
    os.symlink("/dev/full", f"{target}.partial")
    code, _, err = run(capsys, server, "backup", str(target), "-c", name)
    one_line_failure(code, err, "backup", f"{target}: No space left on device (no file was written)")
    assert not os.path.lexists(f"{target}.partial") and not target.exists()


def test_tls_file_errors_name_the_flag_or_the_variable(server: ServerProcess, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    text = tmp_path / "ca.pem"
    text.write_text("not a certificate\n")
    code, _, err = run(capsys, server, "--tls-ca", str(text), "collections")
    one_line_failure(code, err, "collections", f"--tls-ca '{text}' holds no PEM data")
    assert "TLSConfig" not in err
    code, _, err = run(capsys, server, "--tls-ca", str(tmp_path / "none.pem"), "collections")
    one_line_failure(code, err, "collections", f"--tls-ca: TLS file {tmp_path / 'none.pem'}: not found")
    monkeypatch.setenv("HARDNEG_TLS_CA", str(text))
    code, _, err = run(capsys, server, "collections")
    one_line_failure(code, err, "collections", f"HARDNEG_TLS_CA '{text}' holds no PEM data")


# F13 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["delete", "docs", "--yes"], ["snapshot", "--list"], ["snapshot", "docs"],
                                  ["create", "docs", "--dim", "4"]])
def test_commands_documented_as_not_retried_make_one_attempt(capsys: pytest.CaptureFixture[str],
                                                             argv: list[str]) -> None:
    # docs/CLI.md: create, delete (its read of the item count included), snapshot, backup,
    # restore and health are not retried; a retried call takes about 9 s here.
    start = time.monotonic()
    code = _cli.main(["--addr", f"127.0.0.1:{free_port()}", *argv])
    took = time.monotonic() - start
    _, err = capsys.readouterr()
    one_line_failure(code, err, argv[0], "server unavailable")
    assert "attempts" not in err and took < 4.0, (took, err)
    doc = (REPO_ROOT / "docs" / "CLI.md").read_text()
    assert "`delete` (its read of the item count included)" in doc


def test_the_inspector_curl_example_works_on_the_cli_corpus(own_server: ServerProcess, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    cli_doc = (REPO_ROOT / "docs" / "CLI.md").read_text()
    corpus = next(b for b in re.findall(r"```python\n(.*?)```", cli_doc, re.S) if "corpus.parquet" in b)
    monkeypatch.chdir(tmp_path)
    exec(compile(corpus, "docs/CLI.md", "exec"), {})
    code, _, err = run(capsys, own_server, "ingest", "docs", "corpus.parquet", "--groups", "source", "--create")
    assert code == 0, err
    doc = (REPO_ROOT / "docs" / "INSPECTOR.md").read_text()
    body = re.search(r"curl -s localhost:9464/ui/api/mine .*?-d '(\{.*?\})'", doc, re.S).group(1)  # type: ignore[union-attr]
    req = urllib.request.Request(f"http://127.0.0.1:{own_server.http_port}/ui/api/mine", data=body.encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200
        res = json.load(resp)
    fates = [c["fate"] for c in res["results"][0]["explained"]]
    assert "CANDIDATE_FATE_MARGIN" in fates and res["results"][0]["negatives"]
    # The Python example beside it, with the counts its comment gives.
    with hardneg.Client(own_server.target, timeout=30.0) as client:
        res = client.mine("docs", anchor_ids=["d2"], positive_ids=[["d248"]], num_negatives=4, absolute_margin=0.06,
                          explain=True)
    t = res.explained
    assert [r["id"] for r in t.where(t["fate"] == "margin").rows()] == ["d187", "d295"]
    assert t.counts() == {"likely_false_negative": 2, "margin": 2, "positive": 1, "returned": 4, "self": 1}
    assert '"likely_false_negative": 2, "margin": 2, "positive": 1, "returned": 4, "self": 1' in doc


def test_an_object_array_of_ids_says_how_to_save_it(server: ServerProcess, name: str, vectors: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    ids = tmp_path / "ids.npy"
    np.save(ids, np.array(IDS, dtype=object), allow_pickle=True)
    code, _, err = run(capsys, server, "ingest", name, vectors, "--ids", str(ids), "--create")
    one_line_failure(code, err, "ingest",
                     "ids.npy: holds Python objects, not strings; ids must be strings or integers (save them with dtype=str)")


def test_parquet_vectors_of_lists_or_strings_are_refused(server: ServerProcess, sync_client: hardneg.Client, name: str,
                                                         tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One vector per token (lists of lists) would be flattened into one long vector,
    and strings parsed as numbers: neither is taken for an embedding."""
    p = tmp_path / "t.parquet"
    tokens = [[[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]] for _ in range(4)]
    pq.write_table(pa.table({"id": ["a", "b", "c", "d"], "embedding": tokens}), p)
    code, _, err = run(capsys, server, "ingest", name, str(p), "--create")
    one_line_failure(code, err, "ingest", "column 'embedding' holds list<element: list<element: double>> values; "
                                          "vectors must be lists of floating-point numbers, one list per row")
    pq.write_table(pa.table({"id": ["a", "b"], "embedding": [["1.5", "2"], ["0.5", "1"]]}), p)
    code, _, err = run(capsys, server, "ingest", name, str(p), "--create")
    one_line_failure(code, err, "ingest", "column 'embedding' holds list<element: string> values")
    assert name not in {c.name for c in sync_client.list_collections()}


@pytest.mark.parametrize("metric", ["dot", "l2"])
def test_a_norm_over_the_limit_is_refused_before_anything_is_sent(
        server: ServerProcess, sync_client: hardneg.Client, name: str, tmp_path: Path, metric: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Under dot and L2 the server refuses a norm over 1e9: a row in a later batch would
    leave the collection half-ingested, so the file is refused whole, naming its row."""
    x = unit_rows(3000, DIM, seed=9)
    x[2500] *= 1e10
    np.save(tmp_path / "big.npy", x)
    (tmp_path / "big.txt").write_text("".join(f"b{i}\n" for i in range(3000)))
    code, _, err = run(capsys, server, "ingest", name, str(tmp_path / "big.npy"), "--ids", str(tmp_path / "big.txt"),
                       "--create", "--metric", metric, "--batch-size", "1000")
    one_line_failure(code, err, "ingest", f"big.npy: row 2500 has norm 1e+10, above the limit: under {metric} the norm must be at most 1e+09")
    assert name not in {c.name for c in sync_client.list_collections()}
    # Under cosine the vector is normalised and taken.
    code, _, err = run(capsys, server, "ingest", name, str(tmp_path / "big.npy"), "--ids", str(tmp_path / "big.txt"),
                       "--create", "--batch-size", "1000")
    assert code == 0, err


def test_ids_in_another_order_are_a_new_ingest_not_a_resume(server: ServerProcess, sync_client: hardneg.Client,
                                                           name: str, vectors: str, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """An ids file fixed after an ingest (same ids, another order) is sent again, so each
    id holds the row the new file gives it; the same file again is skipped."""
    ids = tmp_path / "ids.txt"
    ids.write_text("".join(f"{i}\n" for i in IDS))
    code, _, err = run(capsys, server, "ingest", name, vectors, "--ids", str(ids), "--create")
    assert code == 0, err
    code, out, err = run(capsys, server, "ingest", name, vectors, "--ids", str(ids))
    assert code == 0 and "already acknowledged" in out, (out, err)
    ids.write_text("".join(f"{i}\n" for i in reversed(IDS)))
    code, out, err = run(capsys, server, "ingest", name, vectors, "--ids", str(ids))
    assert code == 0 and "already acknowledged" not in out, (out, err)
    x = np.load(vectors)
    got = sync_client.get_items(name, [IDS[0], IDS[-1]], include_vectors=True)
    np.testing.assert_allclose(got.vectors[0], x[-1], atol=1e-6)
    np.testing.assert_allclose(got.vectors[1], x[0], atol=1e-6)
    # Back to the first order: its writer sent these batches before, but the ids now
    # hold the other rows' vectors, so the file is sent again, not skipped.
    ids.write_text("".join(f"{i}\n" for i in IDS))
    code, out, err = run(capsys, server, "ingest", name, vectors, "--ids", str(ids))
    assert code == 0 and "already acknowledged" not in out, (out, err)
    got = sync_client.get_items(name, [IDS[0], IDS[-1]], include_vectors=True)
    np.testing.assert_allclose(got.vectors[0], x[0], atol=1e-6)
    np.testing.assert_allclose(got.vectors[1], x[-1], atol=1e-6)
    code, out, err = run(capsys, server, "ingest", name, vectors, "--ids", str(ids))
    assert code == 0 and "already acknowledged" in out, (out, err)  # now it holds them: skipped
    # Two ids swapped, then put back, in a file of 3,000 rows: every row is checked (a
    # sample of 1,024 rows spread over them never reads rows 1 and 2).
    big = tmp_path / "big.npy"
    xb = unit_rows(3000, DIM, seed=11)
    np.save(big, xb)
    first = [f"b{i}" for i in range(3000)]
    swapped = list(first)
    swapped[1], swapped[2] = swapped[2], swapped[1]
    for k, order in enumerate((first, swapped, first)):
        ids.write_text("".join(f"{i}\n" for i in order))
        code, out, err = run(capsys, server, "ingest", name, str(big), "--ids", str(ids))
        assert code == 0 and "already acknowledged" not in out, (k, out, err)
        got = sync_client.get_items(name, [order[1], order[2]], include_vectors=True)
        np.testing.assert_allclose(got.vectors, xb[[1, 2]], atol=1e-6)


def test_small_input_mistakes_are_named(server: ServerProcess, sync_client: hardneg.Client, name: str, vectors: str,
                                        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--vectors with a .npy is refused rather than ignored; an upper-case .NPY is read;
    a Parquet file with both a vector and an embedding column says which it takes; a
    long group is shown cut with an ellipsis, not a lost quote; --timeout inf says why."""
    ids = tmp_path / "ids.txt"
    ids.write_text("".join(f"{i}\n" for i in IDS))
    code, _, err = run(capsys, server, "ingest", name, vectors, "--ids", str(ids), "--vectors", "emb", "--create")
    one_line_failure(code, err, "ingest", "--vectors names a parquet column; a .npy file is the vectors")
    upper = tmp_path / "V.NPY"
    upper.write_bytes(Path(vectors).read_bytes())
    code, _, err = run(capsys, server, "ingest", name, str(upper), "--ids", str(ids), "--create")
    assert code == 0, err
    p = tmp_path / "both.parquet"
    x = unit_rows(4, DIM, seed=1)
    pq.write_table(pa.table({"id": ["a", "b", "c", "d"], "vector": list(x), "embedding": list(x[::-1]),
                             "g": [["ok"], ["ok"], ["ok"], ["g" * 300]]}), p)
    code, _, err = run(capsys, server, "ingest", name, str(p), "--groups", "g")
    assert code == 1
    assert "columns vector, embedding are all there: taking 'vector' (name another with --vectors)" in err, err
    assert f"group {'g' * 58!r}"[:-1] + "…" in err and "must be 1–256 bytes" in err, err
    with pytest.raises(SystemExit):
        _cli.build_parser().parse_args(["--timeout", "inf", "collections"])
    assert "must be a finite number, got 'inf'" in capsys.readouterr().err


def test_backup_to_stdout_keeps_the_summary_off_the_data(server: ServerProcess, sync_client: hardneg.Client, name: str,
                                                        tmp_path: Path) -> None:
    """`hardneg backup /dev/stdout -c NAME | …` (docs/CLI.md): stdout carries the backup
    alone, which restores; the summary goes to stderr, also with --json."""
    import subprocess
    import sys

    sync_client.create_collection(name, DIM)
    sync_client.upsert(name, IDS[:50], unit_rows(50, DIM, seed=2))
    for extra in ([], ["--json"]):
        p = subprocess.run([sys.executable, "-m", "hardneg._cli", "--addr", server.target, *extra, "backup", "/dev/stdout",
                            "-c", name], capture_output=True)
        assert p.returncode == 0, p.stderr
        assert p.stdout.startswith(b"HNBACKUP") and b"wrote /dev/stdout" not in p.stdout
        assert b"/dev/stdout" in p.stderr
        other = f"{name}-copy"
        try:
            sync_client.restore(io.BytesIO(p.stdout), other)
            assert len(sync_client.get_items(other, IDS[:50])) == 50
        finally:
            sync_client.delete_collection(other, missing_ok=True)
