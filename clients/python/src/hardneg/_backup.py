"""Backup files, shared by the sync and asyncio clients and the ``hardneg`` command.

A backup file holds what the server's ``Backup`` stream sent, message by message, so
that ``Restore`` can send it back unchanged:

    magic   b"HNBACKUP", then the file format version, u32 little-endian (2)
    records each a u32 little-endian length and a serialized ``BackupResponse``: for
            every collection its header, then the chunks of its encoding
    end     (version 2) the u32 0xFFFFFFFF, then the number of collections, u32; nothing
            may follow it

The chunks are the server's snapshot encoding of the collection; the header carries
their total size and CRC-32C. The client checks sizes while it writes and reads; the
server verifies size and checksum before it restores anything. The end record tells a
file cut between two collections (or right after its magic) from a whole one: a
version 2 file without it is refused before anything is restored. Version 1 files,
which have none, are still read.
"""

from __future__ import annotations

import datetime
import errno
import io
import os
import shutil
import stat
import struct
import tempfile
from dataclasses import dataclass
from typing import IO, Any, Iterator, Optional, Union

from google.protobuf.message import DecodeError

from hardneg import _codec as codec
from hardneg.errors import BackupFileError
from hardneg.types import BackupInfo, SnapshotFile
from hardneg.v1 import hardneg_pb2 as pb

MAGIC = b"HNBACKUP"
FILE_VERSION = 2
#: Versions this client reads.
READ_VERSIONS = (1, 2)
_LEN = struct.Struct("<I")
#: The length field that starts the end record (no record is this long).
END = 0xFFFFFFFF
#: Largest record accepted when reading (a chunk is at most 8 MiB on the server side).
MAX_RECORD = 64 * 1024 * 1024

PathOrFile = Union[str, "os.PathLike[str]", IO[bytes]]


def _time(ts: Any) -> datetime.datetime:
    return ts.ToDatetime(tzinfo=datetime.timezone.utc)


def backup_info(h: pb.BackupHeader) -> BackupInfo:
    return BackupInfo(
        collection=h.collection.name,
        item_count=h.item_count,
        bytes=h.size_bytes,
        sequence=h.sequence,
        taken_at=_time(h.taken_at),
        crc32c=h.crc32c,
        dim=h.collection.dim,
        metric=codec._METRIC_NAMES.get(h.collection.metric, "unspecified"),
    )


def snapshot_files(resp: pb.ListSnapshotsResponse) -> list[SnapshotFile]:
    return [
        SnapshotFile(
            collection=s.collection,
            sequence=s.sequence,
            bytes=s.bytes,
            created_at=_time(s.created_at),
            item_count=s.item_count,
        )
        for s in resp.snapshots
    ]


def backup_request(collection: Optional[str], chunk_bytes: int) -> pb.BackupRequest:
    if collection is not None:
        codec.check_name(collection, "collection")
        if not collection:
            # The server reads an empty name as every collection: an unset variable must
            # not back up everything.
            raise ValueError("collection is empty: pass None to back up every collection")
    return pb.BackupRequest(collection=collection or "", chunk_bytes=chunk_bytes)


class Sink:
    """Writes a Backup stream into a file, checking each collection's size."""

    def __init__(self, f: IO[bytes], progress: Any = None) -> None:
        self.f = f
        self.progress = progress
        self.done: list[BackupInfo] = []
        self._cur: Optional[pb.BackupHeader] = None
        self._got = 0
        f.write(MAGIC + _LEN.pack(FILE_VERSION))

    def add(self, msg: pb.BackupResponse) -> None:
        part = msg.WhichOneof("part")
        if part == "header":
            self._close_current()
            self._cur, self._got = msg.header, 0
        elif part == "chunk":
            if self._cur is None:
                raise BackupFileError("the server sent a chunk before any header")
            self._got += len(msg.chunk)
            if self.progress is not None:
                self.progress.update(len(msg.chunk))
        data = msg.SerializeToString()
        self.f.write(_LEN.pack(len(data)))
        self.f.write(data)

    def _close_current(self) -> None:
        if self._cur is None:
            return
        if self._got != self._cur.size_bytes:
            raise BackupFileError(
                f"backup of {self._cur.collection.name!r} ended after {self._got} of {self._cur.size_bytes} bytes"
            )
        self.done.append(backup_info(self._cur))
        self._cur = None

    def finish(self) -> list[BackupInfo]:
        self._close_current()
        self.f.write(_LEN.pack(END) + _LEN.pack(len(self.done)))
        return self.done


class _End:
    """The end record: the number of collections the file says it holds."""

    def __init__(self, count: int) -> None:
        self.count = count


def _read(f: IO[bytes], n: int) -> bytes:
    """Up to ``n`` bytes of ``f``: fewer only at its end (a pipe's or a socket's read
    may return less than asked for before that)."""
    parts: list[bytes] = []
    got = 0
    while got < n:
        more = f.read(n - got)
        if not more:  # the end (None: a non-blocking source with nothing yet counts too)
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _read_record(f: IO[bytes]) -> Union[bytes, _End, None]:
    head = _read(f, _LEN.size)
    if not head:
        return None
    if len(head) < _LEN.size:
        raise BackupFileError("truncated record length")
    (n,) = _LEN.unpack(head)
    if n == END:
        tail = _read(f, _LEN.size)
        if len(tail) < _LEN.size:
            raise BackupFileError("truncated end record")
        if f.read(1):
            raise BackupFileError("bytes after the end record")
        return _End(_LEN.unpack(tail)[0])
    if n > MAX_RECORD:
        raise BackupFileError(f"record of {n} bytes is too large")
    data = _read(f, n)
    if len(data) < n:
        raise BackupFileError(f"truncated record: {len(data)} of {n} bytes")
    return data


def _decode(data: bytes, number: int, offset: int) -> pb.BackupResponse:
    """Record ``number`` (1 for the first after the magic) of the file, which starts at
    byte ``offset``: a damaged one is a BackupFileError naming both, not protobuf's
    DecodeError."""
    try:
        return pb.BackupResponse.FromString(data)
    except DecodeError:
        raise BackupFileError(
            f"damaged record {number} at byte {offset}: not a valid BackupResponse message"
        ) from None


def _check_magic(f: IO[bytes]) -> int:
    """Reads the magic and returns the file's format version."""
    head = _read(f, len(MAGIC) + _LEN.size)
    if len(head) < len(MAGIC) + _LEN.size or head[: len(MAGIC)] != MAGIC:
        raise BackupFileError("not a hardneg backup file (bad magic)")
    (v,) = _LEN.unpack(head[len(MAGIC) :])
    if v not in READ_VERSIONS:
        raise BackupFileError(f"backup file version {v}; this client reads versions {', '.join(map(str, READ_VERSIONS))}")
    return v


def scan(f: IO[bytes]) -> list[BackupInfo]:
    """Reads the headers of every collection in a backup file (from its start), and
    checks that the file is whole: a version 2 file ends with its end record, which
    counts the collections. A file of no collection is whole when that record says so
    (a backup of a server that held none); a version 1 file must hold one."""
    version = _check_magic(f)
    out = []
    end: Optional[_End] = None
    number, offset = 0, len(MAGIC) + _LEN.size
    while (data := _read_record(f)) is not None:
        if isinstance(data, _End):
            end = data
            break
        number += 1
        msg = _decode(data, number, offset)
        if msg.WhichOneof("part") == "header":
            try:
                out.append(backup_info(msg.header))
            except (ValueError, OverflowError) as e:  # e.g. a timestamp out of range
                raise BackupFileError(f"damaged record {number} at byte {offset}: {e}") from None
        offset += _LEN.size + len(data)
    if version >= 2:
        if end is None:
            raise BackupFileError(
                f"the backup file is truncated: it ends after {len(out)} collection(s) without its end record"
            )
        if end.count != len(out):
            raise BackupFileError(f"the backup file's end record counts {end.count} collection(s); it holds {len(out)}")
    elif end is not None:
        raise BackupFileError("a version 1 backup file with an end record")
    elif not out:
        raise BackupFileError("the backup file holds no collection")
    return out


@dataclass
class Entry:
    """One collection of a backup file, positioned at its header."""

    info: BackupInfo
    header: pb.BackupHeader


class Reader:
    """Reads a backup file collection by collection, for Restore streams."""

    def __init__(self, f: IO[bytes], progress: Any = None) -> None:
        self.f = f
        self.progress = progress
        _check_magic(f)
        self._number, self._offset = 0, len(MAGIC) + _LEN.size
        self._next: Optional[pb.BackupResponse] = self._read()

    def _read(self) -> Optional[pb.BackupResponse]:
        data = _read_record(self.f)
        if data is None or isinstance(data, _End):
            return None
        self._number += 1
        msg = _decode(data, self._number, self._offset)
        self._offset += _LEN.size + len(data)
        return msg

    def entries(self) -> Iterator[Entry]:
        while self._next is not None:
            msg = self._next
            if msg.WhichOneof("part") != "header":
                raise BackupFileError("chunk without a header in the backup file")
            self._next = self._read()
            yield Entry(backup_info(msg.header), msg.header)

    def skip(self, entry: Entry) -> None:
        """Reads past ``entry``'s chunks without sending them."""
        while self._next is not None and self._next.WhichOneof("part") == "chunk":
            if self.progress is not None:
                self.progress.update(len(self._next.chunk))
            self._next = self._read()

    def requests(self, entry: Entry, name: Optional[str]) -> Iterator[pb.RestoreRequest]:
        """The Restore stream of ``entry``: its header (with the target name), then its
        chunks as the file holds them."""
        yield pb.RestoreRequest(header=entry.header, collection=name or "")
        while self._next is not None and self._next.WhichOneof("part") == "chunk":
            chunk = self._next.chunk
            if self.progress is not None:
                self.progress.update(len(chunk))
            yield pb.RestoreRequest(chunk=chunk)
            self._next = self._read()


def open_for_write(target: PathOrFile) -> tuple[IO[bytes], Any]:
    """Opens a path (written to a temporary name, renamed on success) or takes a file.
    Returns the file and a ``finish(ok)`` callable."""
    if hasattr(target, "write"):
        if isinstance(target, io.TextIOBase):
            raise TypeError("backup writes bytes: open the file in binary mode ('wb'), or pass a path")
        return target, lambda ok: None  # type: ignore[return-value]
    path = _path(target, "backup")
    if os.path.isdir(path):
        raise IsADirectoryError(f"backup target {path!r} is a directory; give a file name")
    if writes_through(path):
        # A pipe, a terminal, a device, /dev/stdout: written straight through; renaming
        # a file over it would replace the device node or the pipe, or lose the appends
        # of a shell's >> redirect (opened to append: truncating /dev/stdout would
        # empty the file a redirect names).
        through = open(path, "ab")

        def close(ok: bool) -> None:
            try:
                through.close()
            except OSError:
                if ok:
                    raise

        return through, close
    if os.path.islink(path):
        path = os.path.realpath(path)  # the file the link names is replaced; the link stays
    parent = os.path.dirname(path) or "."
    if os.path.exists(parent) and not os.path.isdir(parent):
        raise NotADirectoryError(errno.ENOTDIR, f"{parent!r} is a file, not a directory", path)
    if not os.path.isdir(parent):
        raise FileNotFoundError(errno.ENOENT, f"no directory {parent!r}", path)
    tmp = path + ".partial"
    f = open(tmp, "wb")

    def remove() -> None:
        try:
            os.remove(tmp)
        except FileNotFoundError:
            pass

    def finish(ok: bool) -> None:
        try:
            f.close()  # it flushes: a full disk can fail here too
        except OSError:
            remove()
            if ok:
                raise
            return  # failing already: that error is the one to report
        if ok:
            try:
                os.replace(tmp, path)
                return
            except OSError:
                remove()
                raise
        remove()

    return f, finish


def writes_through(target: Any) -> bool:
    """Whether a backup to ``target`` (a path) is written straight into it rather than
    to a temporary file renamed over it: a path under /dev/ or /proc/ (/dev/stdout,
    /dev/fd/N, whatever they lead to) or one that exists and is not a regular file (a
    pipe, a device)."""
    path = os.fspath(target)
    if os.path.abspath(path).startswith(("/dev/", "/proc/")):
        return True
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:  # not there yet (or a dangling link): a new regular file
        return False


def open_for_read(source: PathOrFile) -> tuple[IO[bytes], bool]:
    """Opens a path or takes a file; returns the file and whether to close it."""
    if hasattr(source, "read"):
        if isinstance(source, io.TextIOBase):
            raise TypeError("restore reads bytes: open the file in binary mode ('rb'), or pass a path")
        return source, False  # type: ignore[return-value]
    return open(_path(source, "restore"), "rb"), True


def _path(value: Any, what: str) -> str:
    """value as a file system path, or a TypeError saying what ``what`` takes."""
    if isinstance(value, (bytearray, memoryview)) or (isinstance(value, bytes) and (b"\0" in value or value.startswith(MAGIC))):
        raise TypeError(f"{what} takes a path or a binary file object, not a file's bytes"
                        + (": wrap them in io.BytesIO(...)" if what == "restore" else ""))
    try:
        return os.fspath(value)
    except TypeError:
        raise TypeError(f"{what} takes a path or a binary file object, got {type(value).__name__}") from None


def _seekable(f: Any) -> bool:
    try:
        return bool(f.seekable())
    except (AttributeError, ValueError, OSError):
        return False


def progress_bar(progress: Any, total: Optional[int], desc: str) -> Any:
    """``True``: a tqdm bar in bytes; an object with ``update(n)``/``close()``: itself."""
    if progress is False or progress is None:
        return None
    if progress is True:
        from hardneg._ingest import tqdm_bar

        return tqdm_bar(total, "B", desc)
    return progress


class Restore:
    """One restore of a backup file: opens it, checks the target name against its
    collections, and hands out each collection's Restore stream."""

    def __init__(self, source: PathOrFile, collection: Optional[str], progress: Any) -> None:
        if collection is not None:
            codec.check_name(collection, "collection")
            if not collection:
                raise ValueError("collection is empty: pass None to restore under the names the file holds")
        self.f, self._close = open_for_read(source)
        self.error: Optional[BaseException] = None
        self.bar = None
        try:
            if not _seekable(self.f):
                # The file is read twice (checked whole first): a pipe or a socket is
                # copied to a temporary file.
                spool = tempfile.TemporaryFile()
                try:
                    shutil.copyfileobj(self.f, spool)
                    spool.seek(0)
                except BaseException:
                    spool.close()
                    raise
                if self._close:
                    self.f.close()
                self.f, self._close = spool, True
            start = self.f.tell()
            infos = scan(self.f)
            self.f.seek(start)
            if collection and len(infos) != 1:
                names = ", ".join(i.collection for i in infos)
                raise BackupFileError(
                    f"the backup file holds {len(infos)} collections ({names}); a new name applies to one"
                )
            self.bar = progress_bar(progress, sum(i.bytes for i in infos), "restore")
            self.reader = Reader(self.f, self.bar)
        except BaseException:
            self.close()
            raise
        self.collection = collection

    def entries(self) -> Iterator[Entry]:
        return self.reader.entries()

    def target(self, entry: Entry) -> str:
        """The name ``entry`` is restored under."""
        return self.collection or entry.info.collection

    def skip(self, entry: Entry) -> None:
        self.reader.skip(entry)

    def failed(self, err: BaseException, restored: list[Any]) -> BaseException:
        """The error a restore ends with: the file's own error if reading it failed
        (gRPC reports that only as a cancelled call), else ``err``; ``restored`` lists
        the collections restored before it."""
        e = self.error if self.error is not None else err
        e.restored = restored  # type: ignore[attr-defined]
        return e

    def requests(self, entry: Entry) -> Iterator[pb.RestoreRequest]:
        """The entry's Restore stream; an error reading the file is kept in ``error``
        (gRPC would report it only as a cancelled call)."""
        try:
            yield from self.reader.requests(entry, self.collection)
        except Exception as e:  # not GeneratorExit: gRPC closing a call it ended itself
            self.error = e
            raise

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self._close:
            self.f.close()
