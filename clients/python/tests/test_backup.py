"""Client.list_snapshots, backup and restore (sync and asyncio) against real servers."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest

import hardneg
from hardneg import errors
from conftest import ServerProcess, _spawn, unit_rows


@pytest.fixture
def pair(own_server: ServerProcess, server_binary: str, tmp_path: Path,
         make_client: Callable[..., hardneg.Client]) -> Iterator[tuple[hardneg.Client, hardneg.Client]]:
    other = _spawn(server_binary, tmp_path / "other")
    a, b = make_client(own_server.target, timeout=30.0), make_client(other.target, timeout=30.0)
    yield a, b
    a.close()
    b.close()
    other.stop()


def test_backup_restore_round_trip_through_a_file_object(pair: tuple[hardneg.Client, hardneg.Client]) -> None:
    a, b = pair
    a.create_collection("docs", 16, index_params=hardneg.IndexParams(exact_threshold=64))
    ids = [f"d{i}" for i in range(300)]
    a.upsert("docs", ids, unit_rows(300, 16, 4), groups=[[f"g{i % 7}"] for i in range(300)], versions=list(range(300)))
    a.snapshot("docs")
    snaps = a.list_snapshots("docs")
    assert [(s.collection, s.item_count) for s in snaps] == [("docs", 300)] and snaps[0].bytes > 300 * 64

    buf = io.BytesIO()
    infos = a.backup("docs", buf, chunk_bytes=4096)
    assert [(i.collection, i.item_count, i.dim, i.metric) for i in infos] == [("docs", 300, 16, "cosine")]
    assert len(buf.getvalue()) > infos[0].bytes
    buf.seek(0)
    [restored] = b.restore(buf, collection="copy")
    assert restored.name == "copy" and restored.stats.item_count == 300
    x, y = a.get_items("docs", ids, include_vectors=True), b.get_items("copy", ids, include_vectors=True)
    np.testing.assert_array_equal(x.vectors, y.vectors)
    np.testing.assert_array_equal(x.versions, y.versions)
    assert [list(g) for g in x.groups] == [list(g) for g in y.groups]
    q = unit_rows(4, 16, 9)
    ra = a.mine("docs", anchor_vectors=q, num_negatives=5, seed=1)
    rb = b.mine("copy", anchor_vectors=q, num_negatives=5, seed=1)
    np.testing.assert_array_equal(ra.ids, rb.ids)
    np.testing.assert_array_equal(ra.scores, rb.scores)

    buf.seek(0)
    with pytest.raises(errors.FailedPrecondition, match="not empty"):
        b.restore(buf, collection="copy")


class _Pipe(io.RawIOBase):
    """A file object as a pipe or a socket reads: not seekable, and at most 64 KiB per
    read however much is asked for."""

    def __init__(self, data: bytes, seekable: bool) -> None:
        self._data, self._pos, self._seekable = data, 0, seekable

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._seekable

    def tell(self) -> int:
        if not self._seekable:
            raise io.UnsupportedOperation("tell")
        return self._pos

    def seek(self, pos: int, whence: int = 0) -> int:
        if not self._seekable:
            raise io.UnsupportedOperation("seek")
        self._pos = pos if whence == 0 else (self._pos + pos if whence == 1 else len(self._data) + pos)
        return self._pos

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        n = min(len(b), 65536, len(self._data) - self._pos)
        b[:n] = self._data[self._pos:self._pos + n]
        self._pos += n
        return n


@pytest.mark.parametrize("seekable", [True, False])
def test_restore_reads_pipes_and_short_reads(pair: tuple[hardneg.Client, hardneg.Client], seekable: bool) -> None:
    """A backup read from a pipe (not seekable, short reads) restores as from a path:
    records longer than one read are read whole, and an unseekable source is copied to
    a temporary file for the check that reads it first."""
    a, b = pair
    a.create_collection("piped", 64)
    a.upsert("piped", [f"p{i}" for i in range(3000)], unit_rows(3000, 64, 5))  # records over 64 KiB
    buf = io.BytesIO()
    a.backup("piped", buf, chunk_bytes=1 << 20)
    [restored] = b.restore(_Pipe(buf.getvalue(), seekable), collection=f"piped-{seekable}")
    assert restored.stats.item_count == 3000


def test_damaged_backup_is_data_loss_and_applies_nothing(pair: tuple[hardneg.Client, hardneg.Client], tmp_path: Path) -> None:
    a, b = pair
    a.create_collection("docs", 8)
    a.upsert("docs", [f"d{i}" for i in range(100)], unit_rows(100, 8))
    path = tmp_path / "b.hnb"
    a.backup(None, path)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    (tmp_path / "bad.hnb").write_bytes(bytes(data))
    with pytest.raises(errors.DataLoss, match="checksum mismatch"):
        b.restore(tmp_path / "bad.hnb")
    (tmp_path / "short.hnb").write_bytes(bytes(data[:-100]))
    with pytest.raises(errors.BackupFileError, match="truncated record"):
        b.restore(tmp_path / "short.hnb")
    assert b.list_collections() == [] and b.list_snapshots() == []


def test_failed_backup_leaves_no_file(pair: tuple[hardneg.Client, hardneg.Client], tmp_path: Path) -> None:
    a, _ = pair
    with pytest.raises(errors.NotFound):
        a.backup("nope", tmp_path / "x.hnb")
    assert not any(p.name.startswith("x.hnb") for p in tmp_path.iterdir())
    # A directory as the target: refused before anything is written next to it.
    a.create_collection("k", 8)
    (tmp_path / "dir").mkdir()
    with pytest.raises(IsADirectoryError, match="give a file name"):
        a.backup("k", tmp_path / "dir")
    assert not (tmp_path / "dir.partial").exists() and list((tmp_path / "dir").iterdir()) == []
    # A missing directory is named as the caller gave it (not as "x.hnb.partial").
    with pytest.raises(FileNotFoundError, match="no directory") as missing:
        a.backup("k", tmp_path / "none" / "x.hnb")
    assert ".partial" not in str(missing.value)
    (tmp_path / "plain").write_bytes(b"")
    with pytest.raises(NotADirectoryError, match="is a file, not a directory"):
        a.backup("k", tmp_path / "plain" / "x.hnb")
    with pytest.raises(TypeError, match="binary mode"):
        a.backup("k", io.StringIO())


def test_backup_to_a_pipe_a_device_or_a_link_writes_through_it(pair: tuple[hardneg.Client, hardneg.Client],
                                                              tmp_path: Path) -> None:
    """A target that is not a regular file is written, not replaced: the bytes reach the
    pipe's reader (as `hardneg backup /dev/stdout | ssh …` needs; a device node takes the
    same path, not tried here lest a regression replace one), and a symbolic link keeps pointing at the file it names, which is replaced."""
    import os
    import stat
    import threading

    a, b = pair
    a.create_collection("k", 8)
    a.upsert("k", ["x", "y"], unit_rows(2, 8, seed=3))
    whole = io.BytesIO()
    a.backup("k", whole)

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    a.backup("k", fifo)
    reader.join(30)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and len(got) == 1 and len(got[0]) == len(whole.getvalue())
    assert not (tmp_path / "fifo.partial").exists()
    b.restore(io.BytesIO(got[0]))
    assert sorted(b.get_items("k", ["x", "y"]).ids) == ["x", "y"]

    (tmp_path / "real.hnb").write_bytes(b"old")
    (tmp_path / "link.hnb").symlink_to("real.hnb")
    a.backup("k", tmp_path / "link.hnb")
    assert (tmp_path / "link.hnb").is_symlink() and os.readlink(tmp_path / "link.hnb") == "real.hnb"
    real = (tmp_path / "real.hnb").read_bytes()
    assert real.startswith(b"HNBACKUP") and len(real) == len(got[0])
    assert not any(p.name.endswith(".partial") for p in tmp_path.iterdir())


def test_restore_says_what_it_takes(pair: tuple[hardneg.Client, hardneg.Client], tmp_path: Path) -> None:
    """The backup's bytes, a text-mode file or a number are refused with a TypeError that
    says what restore takes, before anything is sent (not "embedded null byte" from
    open(), nor an error from deep inside the reader)."""
    a, b = pair
    a.create_collection("k", 4)
    a.upsert("k", ["x"], unit_rows(1, 4, 3))
    buf = io.BytesIO()
    a.backup("k", buf)
    for bad, text in ((buf.getvalue(), "io.BytesIO"), (bytearray(buf.getvalue()), "io.BytesIO"),
                      (io.StringIO("HNBACKUP"), "binary mode"), (3, "got int")):
        with pytest.raises(TypeError, match=text):
            b.restore(bad, collection="k")  # type: ignore[arg-type]
    assert [c.name for c in b.list_collections()] == []
    [done] = b.restore(io.BytesIO(buf.getvalue()), collection="k")
    assert done.stats.item_count == 1


def test_restore_of_several_collections_skips_existing_and_reports_what_it_restored(
    pair: tuple[hardneg.Client, hardneg.Client],
) -> None:
    a, b = pair
    for name in ("c1", "c2", "c3"):
        a.create_collection(name, 4)
        a.upsert(name, [f"{name}-{i}" for i in range(5)], unit_rows(5, 4, 1))
    buf = io.BytesIO()
    a.backup(None, buf)
    b.create_collection("c2", 4)
    b.upsert("c2", ["mine"], unit_rows(1, 4, 2))
    buf.seek(0)
    with pytest.raises(errors.FailedPrecondition, match="not empty") as exc:
        b.restore(buf)
    assert [c.name for c in exc.value.restored] == ["c1"]  # type: ignore[attr-defined]
    b.delete_collection("c1")
    buf.seek(0)
    done = b.restore(buf, skip_existing=True)
    assert [c.name for c in done] == ["c1", "c3"]
    assert b.get_items("c2", ["mine"]).ids == ["mine"] and b.get_collection("c2").stats.item_count == 1
    assert b.get_collection("c3").stats.item_count == 5


def _record_offsets(data: bytes) -> list[tuple[int, str]]:
    """(offset, part) of each record of a backup file, and the end record's offset."""
    import struct

    from hardneg.v1 import hardneg_pb2 as pb

    out, at = [], 12
    while at < len(data):
        (n,) = struct.unpack_from("<I", data, at)
        if n == 0xFFFFFFFF:
            out.append((at, "end"))
            break
        out.append((at, pb.BackupResponse.FromString(data[at + 4 : at + 4 + n]).WhichOneof("part") or ""))
        at += 4 + n
    return out


def test_a_file_cut_between_collections_restores_nothing(pair: tuple[hardneg.Client, hardneg.Client], tmp_path: Path) -> None:
    """A file cut at a record boundary (before a collection's header, or just before the
    end record) is refused as truncated before anything is restored; a version 1 file
    (no end record) still restores."""
    a, b = pair
    for name in ("c1", "c2", "c3"):
        a.create_collection(name, 4)
        a.upsert(name, [f"{name}-{i}" for i in range(50)], unit_rows(50, 4, 3))
    whole = tmp_path / "all.hnb"
    a.backup(None, whole)
    data = whole.read_bytes()
    records = _record_offsets(data)
    headers = [at for at, part in records if part == "header"]
    assert len(headers) == 3 and records[-1][1] == "end" and records[-1][0] + 8 == len(data)
    for cut, why in ((headers[1], "truncated"), (headers[2], "truncated"), (records[-1][0], "truncated"), (12, "truncated")):
        (tmp_path / "cut.hnb").write_bytes(data[:cut])
        with pytest.raises(errors.BackupFileError, match=why):
            b.restore(tmp_path / "cut.hnb")
        assert b.list_collections() == []
    (tmp_path / "tail.hnb").write_bytes(data + b"x")
    with pytest.raises(errors.BackupFileError, match="after the end record"):
        b.restore(tmp_path / "tail.hnb")
    miscounted = bytearray(data)
    miscounted[-4:] = (2).to_bytes(4, "little")
    (tmp_path / "count.hnb").write_bytes(bytes(miscounted))
    with pytest.raises(errors.BackupFileError, match="counts 2 collection"):
        b.restore(tmp_path / "count.hnb")
    assert b.list_collections() == []
    # The same collections as a version 1 file: no end record.
    v1 = bytearray(data[: records[-1][0]])
    v1[8:12] = (1).to_bytes(4, "little")
    (tmp_path / "v1.hnb").write_bytes(bytes(v1))
    assert [c.name for c in b.restore(tmp_path / "v1.hnb")] == ["c1", "c2", "c3"]


def test_a_backup_of_no_collection_restores_nothing(pair: tuple[hardneg.Client, hardneg.Client], tmp_path: Path) -> None:
    a, b = pair
    assert a.backup(None, tmp_path / "empty.hnb") == []
    assert b.restore(tmp_path / "empty.hnb") == [] and b.list_collections() == []
    with pytest.raises(errors.BackupFileError, match="holds 0 collections"):
        b.restore(tmp_path / "empty.hnb", collection="x")


def test_an_empty_collection_name_is_refused_not_read_as_every_collection(pair: tuple[hardneg.Client, hardneg.Client],
                                                                           tmp_path: Path) -> None:
    # The server reads an empty name as "every collection"; a variable left empty must not
    # back up (or restore under) every name. None is how to ask for that.
    a, b = pair
    a.create_collection("e1", 4)
    with pytest.raises(ValueError, match="collection is empty: pass None"):
        a.backup("", tmp_path / "x.hnb")
    assert not any(p.name.startswith("x.hnb") for p in tmp_path.iterdir())
    a.backup("e1", tmp_path / "e1.hnb")
    with pytest.raises(ValueError, match="collection is empty: pass None"):
        b.restore(tmp_path / "e1.hnb", collection="")
    assert "e1" not in [c.name for c in b.list_collections()]
