"""The ``hardneg`` command: talk to a hardneg server from a shell (docs/CLI.md).

``hardneg serve [FLAG ...]`` runs the miner-server that this install carries (or
``$HARDNEG_SERVER_BIN``, or ``miner-server`` on PATH) in the foreground, passing every
flag through. The other commands are clients of a running server: ``collections``,
``create``, ``info``, ``ingest``, ``mine``, ``snapshot``, ``backup``, ``restore``, ``delete`` and
``health``. The server address, TLS files and token come from flags or the environment
(``HARDNEG_ADDR``, ``HARDNEG_TOKEN``, ``HARDNEG_TLS_CA``, ``HARDNEG_TLS_CERT``,
``HARDNEG_TLS_KEY``, ``HARDNEG_TLS_SERVER_NAME``, ``HARDNEG_TLS``). ``--json`` prints machine-readable output.

Exit status: 0 success, 1 failure (one line on stderr naming the problem), 2 usage
error, 130 interrupted, 141 the output pipe closed early; ``serve`` exits with the
server's status (0 after a clean stop on Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import dataclasses
import datetime
import errno
import hashlib
import json
import logging
import math
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import warnings
from typing import Any, Iterator, Optional, Sequence

import numpy as np

from hardneg import errors
from hardneg.errors import BackupFileError
from hardneg._server import ServerNotFound, find_binary

DEFAULT_ADDR = "localhost:50051"

#: A one-line explanation per status code, printed before the server's message.
_CODE_HINTS = {
    errors.InvalidArgument: "invalid argument",
    errors.NotFound: "not found",
    errors.AlreadyExists: "already exists",
    errors.Unauthenticated: "not authenticated (set --token or HARDNEG_TOKEN)",
    errors.PermissionDenied: "permission denied (the token's role does not allow this)",
    errors.ResourceExhausted: "server busy or request too large",
    errors.FailedPrecondition: "refused",
    errors.Unavailable: "server unavailable",
    errors.DeadlineExceeded: "timed out",
    errors.Cancelled: "cancelled",
    errors.DataLoss: "damaged data",
    errors.Internal: "server error",
}


class CommandError(Exception):
    """A failure to report on one line with exit status 1."""


# --- output --------------------------------------------------------------------------------


def _plain(obj: Any) -> Any:
    """Dataclasses, numpy values and datetimes as JSON-ready values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, datetime.datetime):
        return obj.isoformat()
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _print_json(obj: Any) -> None:
    json.dump(_plain(obj), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(h) for h in header]] + [["" if v is None else str(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for r in cells:
        sys.stdout.write("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() + "\n")


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)  # pragma: no cover


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a command that can say how far it got (the text)."""


class Progress:
    """A progress bar on stderr (``update(n)``/``close()``, like tqdm)."""

    def __init__(self, desc: str, total: Optional[int], unit: str, enabled: bool = True) -> None:
        self.desc, self.total, self.unit, self.enabled = desc, total, unit, enabled
        self.n = 0
        self._shown = 0.0

    @property
    def _unit(self) -> str:
        return "" if self.unit == "B" else " " + self.unit

    def _fmt(self, v: int) -> str:
        return _size(v) if self.unit == "B" else f"{v:,}"

    def _draw(self, end: str = "") -> None:
        if self.total:
            frac = min(self.n / self.total, 1.0)
            bar = "#" * int(30 * frac)
            text = f"{self.desc} [{bar:<30}] {self._fmt(self.n)}/{self._fmt(self.total)}{self._unit} {100 * frac:3.0f}%"
        else:
            text = f"{self.desc} {self._fmt(self.n)}{self._unit}"
        sys.stderr.write("\r" + text + end)
        sys.stderr.flush()

    def update(self, n: int) -> None:
        self.n += n
        if self.enabled and time.monotonic() - self._shown >= 0.2:
            self._shown = time.monotonic()
            self._draw()

    def close(self) -> None:
        if self.enabled:
            self._draw("\n")
            self.enabled = False


# --- client --------------------------------------------------------------------------------


def _opt(args: argparse.Namespace, name: str, env: str, default: Any = None) -> Any:
    v = getattr(args, name, None)
    if v is None:
        v = os.environ.get(env) or default
    return v


#: The TLS files: TLSConfig field, argument, flag, environment variable.
_TLS_FILES = (("ca_file", "tls_ca", "--tls-ca", "HARDNEG_TLS_CA"),
              ("cert_file", "tls_cert", "--tls-cert", "HARDNEG_TLS_CERT"),
              ("key_file", "tls_key", "--tls-key", "HARDNEG_TLS_KEY"))


def _client(args: argparse.Namespace, retry: bool = True) -> Any:
    """The client of the command's server. ``retry=False``: calls are made once, for
    the commands docs/CLI.md lists as not retried, except against a server that
    answers that it is recovering its storage, which every call waits for."""
    from hardneg.client import Client
    from hardneg.types import RetryPolicy, TLSConfig

    files: dict[str, Optional[str]] = {}
    where: dict[str, str] = {}  # TLSConfig field -> the flag or variable that gave it
    for field, attr, flag, env in _TLS_FILES:
        files[field] = _opt(args, attr, env)
        where[field] = flag if getattr(args, attr, None) is not None else env
    ca, cert, key = files["ca_file"], files["cert_file"], files["key_file"]
    name = _opt(args, "tls_server_name", "HARDNEG_TLS_SERVER_NAME")
    on = getattr(args, "tls", False) or os.environ.get("HARDNEG_TLS", "") in ("1", "true", "yes")
    if bool(cert) != bool(key):
        raise CommandError("--tls-cert and --tls-key go together (mutual TLS)")
    for field, path in files.items():
        if path and not os.path.isfile(path):
            raise CommandError(f"{where[field]}: TLS file {path}: not found")
    tls: Any = None
    if ca or cert or name or on:
        tls = TLSConfig(ca_file=ca, cert_file=cert, key_file=key, server_name=name)
    timeout = getattr(args, "timeout", None)
    try:
        return Client(
            _opt(args, "addr", "HARDNEG_ADDR", DEFAULT_ADDR),
            token=_opt(args, "token", "HARDNEG_TOKEN") or None,  # empty: none, as an empty $HARDNEG_TOKEN
            tls=tls,
            timeout=timeout,
            # One attempt, but a server that answers that it recovers is waited for
            # (it runs nothing before it has recovered, so waiting is safe for any call).
            **({} if retry else {"retry": RetryPolicy(max_attempts=1)}),
        )
    except ValueError as e:
        # The client names a TLS file by its TLSConfig field; the user gave a flag.
        msg = str(e)
        for field, label in where.items():
            msg = msg.replace(f"TLSConfig.{field}", label)
        raise CommandError(msg) from None


# --- commands ------------------------------------------------------------------------------


def cmd_collections(args: argparse.Namespace) -> None:
    cols = _client(args).list_collections()
    if args.json:
        return _print_json(cols)
    _table(
        ["NAME", "DIM", "METRIC", "ITEMS", "SEARCH"],
        [[c.name, c.dim, c.metric, c.stats.item_count, "graph" if c.stats.graph_search else "exact"] for c in cols],
    )


def _show_collection(c: Any, args: argparse.Namespace) -> None:
    if args.json:
        return _print_json(c)
    p, s = c.index_params, c.stats
    for k, v in [
        ("name", c.name),
        ("dim", c.dim),
        ("metric", c.metric),
        ("items", s.item_count),
        ("tombstones", s.tombstone_count),
        ("search", "graph" if s.graph_search else "exact"),
        ("first-pass lead", f"{s.first_pass_lead} (recall@10 {s.lead_recall:.4f})" if s.first_pass_lead else "not measured"),
        ("storage", "memory only (ephemeral)" if c.ephemeral else "stored"),
        ("last sequence", s.last_applied_sequence),
        ("vector memory", _size(s.vector_bytes)),
        ("m", p.m),
        ("ef_construction", p.ef_construction),
        ("ef_search", p.ef_search),
        ("exact_threshold", p.exact_threshold),
        ("quantization", p.quantization or "unspecified"),
    ]:
        sys.stdout.write(f"{k + ':':<17}{v}\n")


def cmd_create(args: argparse.Namespace) -> None:
    from hardneg.types import IndexParams

    params = IndexParams(
        m=args.m,
        ef_construction=args.ef_construction,
        ef_search=args.ef_search,
        exact_threshold=args.exact_threshold,
        quantization=args.quantization,
    )
    try:
        c = _client(args, retry=False).create_collection(args.name, args.dim, args.metric, index_params=params,
                                                         exist_ok=args.exist_ok, ephemeral=args.ephemeral)
    except ValueError as e:
        if isinstance(e, errors.HardnegError):
            raise
        raise CommandError(str(e)) from None
    _show_collection(c, args)


def cmd_info(args: argparse.Namespace) -> None:
    _show_collection(_client(args).get_collection(args.name), args)


# ingest ---------------------------------------------------------------------------------------


def _check_file(path: str, stream_ok: bool = False) -> None:
    """Refuses a path that is missing or a directory, and one that is not a regular file
    (a pipe, /dev/stdin) unless ``stream_ok``."""
    if os.path.isdir(path):
        raise CommandError(f"{path}: is a directory, not a file")
    if not os.path.exists(path):
        raise CommandError(f"{path}: no such file")
    if not stream_ok and not os.path.isfile(path):
        raise CommandError(f"{path}: not a regular file (a pipe or a device); save it to a file first")


def _load_npy(path: str, objects: str = "not numbers") -> Any:
    """A .npy file's array (memory-mapped), or a CommandError saying what the file is
    (``objects``: what to say of an array of Python objects)."""
    _check_file(path)
    with open(path, "rb") as f:
        if f.read(6) != b"\x93NUMPY":
            raise CommandError(f"{path}: not a .npy file (no NumPy header)")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as e:
        if "object" in str(e).lower() or "pickle" in str(e).lower():
            raise CommandError(f"{path}: holds Python objects, {objects}") from None
        raise CommandError(f"{path}: truncated or damaged .npy file ({e})") from None


def _shown(value: Any, width: int) -> str:
    """repr(value), cut to about ``width`` characters with an ellipsis (a cut repr would
    lose its closing quote or bracket and read as the whole value)."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _check_vectors(path: str, vectors: Any) -> tuple[int, int]:
    """vectors must be a 2-d array of floating-point numbers with rows and columns, all
    finite as float32: checked before anything is created or sent. Returns the first
    zero row, which cosine refuses, and the first row whose norm is over the server's
    limit (1e9), which dot and L2 refuse (-1 for none)."""
    from hardneg._codec import norm_outliers

    kind = vectors.dtype.kind
    if kind != "f":
        hint = " (token ids rather than embeddings?)" if kind in "iu" else ""
        raise CommandError(f"{path}: holds {vectors.dtype} values; vectors must be floating point{hint}")
    if vectors.ndim != 2:
        raise CommandError(f"{path}: expected a 2-d array (rows × dim), got shape {vectors.shape}")
    n, dim = vectors.shape
    if n == 0:
        raise CommandError(f"{path}: holds no rows")
    if dim == 0:
        raise CommandError(f"{path}: holds vectors of dimension 0")
    zero, large = -1, -1
    step = max(1, (64 << 20) // (4 * dim))  # one pass over a memory-mapped file, 64 MiB at a time
    for start in range(0, n, step):
        with np.errstate(over="ignore"):
            block = np.asarray(vectors[start : start + step], dtype=np.float32)
        bad = np.flatnonzero(~np.isfinite(block).all(axis=1))
        if bad.size:
            raise CommandError(f"{path}: row {start + int(bad[0])} holds NaN or infinite values (or values beyond float32)")
        zeros, over = norm_outliers(block)
        if zero < 0 and zeros:
            zero = start + zeros[0]
        if large < 0 and over:
            large = start + over[0]
    return zero, large


#: The server's limit on an item id (internal/engine MaxIDBytes).
_MAX_ID_BYTES = 512


def _check_ids(where: str, ids: list[str]) -> None:
    """Ids must be non-empty, at most _MAX_ID_BYTES of UTF-8 without NUL, each given once
    (set operations first: a million ids take a fraction of a second)."""
    unique = set(ids)
    if "" in unique:
        raise CommandError(f"{where}: the id of row {ids.index('')} is empty")
    if max(map(len, unique), default=0) > _MAX_ID_BYTES // 4 or "\x00" in "".join(unique):
        for i, v in enumerate(ids):
            if len(v.encode()) > _MAX_ID_BYTES or "\x00" in v:
                raise CommandError(f"{where}: the id of row {i} is longer than {_MAX_ID_BYTES} bytes or holds a NUL byte")
    if len(unique) != len(ids):
        seen: dict[str, int] = {}
        for i, v in enumerate(ids):
            j = seen.setdefault(v, i)
            if j != i:
                raise CommandError(f"{where}: id {v!r} is given twice (rows {j} and {i})")


#: Line ends of an id text file, as Python's universal newlines read them.
_LINE_END = re.compile(r"\r\n|\r|\n")
_LINE_END_BYTES = re.compile(rb"\r\n|\r|\n")


def _read_id_lines(path: str) -> list[str]:
    """The ids of a text file, one per line: UTF-8 (a leading byte order mark is not
    part of the first id), lines ended by LF, CRLF or CR; empty lines at the end of the
    file are dropped. An id with leading or trailing whitespace is refused: it is
    almost always a stray space or tab that would make the id match nothing."""
    _check_file(path)
    with open(path, "rb") as f:
        data = f.read()
    skip = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        text = data[skip:].decode("utf-8")
    except UnicodeDecodeError as e:
        if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            raise CommandError(f"{path}: UTF-16 text (as Windows PowerShell writes it); save it as UTF-8") from None
        at = skip + e.start  # e.start counts from the end of the BOM
        row = len(_LINE_END_BYTES.findall(data, skip, at))
        raise CommandError(f"{path}: not UTF-8 text: row {row} ({e.reason} at byte {at} of the file)") from None
    ids = _LINE_END.split(text)
    while ids and ids[-1] == "":
        ids.pop()
    for i, v in enumerate(ids):
        if v != v.strip():
            raise CommandError(
                f"{path}: the id of row {i} ({_shown(v, 70)}) has leading or trailing whitespace, which an id text file "
                "cannot hold: remove it, or give such ids as a .npy of strings or a Parquet column"
            )
    return ids


def _load_ids(path: str, n: int) -> list[str]:
    if path.lower().endswith(".npy"):
        arr = _load_npy(path, "not strings; ids must be strings or integers (save them with dtype=str)")
        if arr.dtype.kind not in "iuUS":
            raise CommandError(f"{path}: holds {arr.dtype} values; ids must be strings or integers")
        if arr.ndim != 1:
            raise CommandError(f"{path}: holds an array of shape {arr.shape}; ids are one per row (1-d)")
        ids = []
        for i, v in enumerate(arr.tolist()):
            if isinstance(v, bytes):
                try:
                    v = v.decode()
                except UnicodeDecodeError as e:
                    raise CommandError(f"{path}: the id of row {i} is not UTF-8 ({e.reason} at byte {e.start})") from None
            ids.append(str(v))
    else:
        ids = _read_id_lines(path)
    if len(ids) != n:
        raise CommandError(f"{path}: {len(ids)} ids for {n} vectors")
    _check_ids(path, ids)
    return ids


def _parquet_vectors(path: str, col: str, values: list[Any]) -> Any:
    lengths: dict[int, int] = {}
    for i, v in enumerate(values):
        if v is None:
            raise CommandError(f"{path}: row {i} of column {col!r} is null")
        if not isinstance(v, (list, tuple)):
            raise CommandError(f"{path}: row {i} of column {col!r} is a {type(v).__name__}, not a list of numbers")
        lengths.setdefault(len(v), i)
    if len(lengths) > 1:
        (a, i), (b, j) = sorted(lengths.items(), key=lambda kv: kv[1])[:2]
        raise CommandError(f"{path}: column {col!r} holds vectors of different lengths ({a} in row {i}, {b} in row {j})")
    try:
        with np.errstate(over="ignore"):  # beyond float32 becomes inf, refused by _check_vectors
            return np.asarray(values, dtype=np.float32).reshape(len(values), -1 if values else 0)
    except (TypeError, ValueError, OverflowError) as e:
        raise CommandError(f"{path}: column {col!r} does not hold numbers ({e})") from None


def _load_source(args: argparse.Namespace) -> tuple[list[str], Any, Optional[list[Any]], tuple[int, int]]:
    """Reads and checks ids, vectors (a 2-d float array, memory-mapped for .npy) and
    groups: a file that would fail part-way is refused before anything is sent. The
    last value holds the first zero vector's row and the first row whose norm is over
    1e9 (-1 for none): which of them the collection refuses depends on its metric."""
    path = args.file
    _check_file(path)
    groups = None
    if path.lower().endswith(".npy"):
        vectors = _load_npy(path)
        zero = _check_vectors(path, vectors)
        if not args.ids:
            raise CommandError("--ids FILE is required for .npy input (one id per line, or a .npy of strings)")
        ids = _load_ids(args.ids, vectors.shape[0])
        if args.groups:
            raise CommandError("--groups names a parquet column; .npy input has none")
        if args.vectors:
            raise CommandError("--vectors names a parquet column; a .npy file is the vectors")
    elif path.lower().endswith(".parquet"):
        try:
            import pyarrow.parquet as pq
            import pyarrow.types as pa_types
        except ImportError:
            raise CommandError("reading .parquet needs pyarrow: pip install 'hardneg[parquet]'") from None
        try:
            table = pq.read_table(path)
        except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid is a ValueError
            raise CommandError(f"{path}: not a readable Parquet file ({e})") from None
        names = table.column_names
        id_col = args.ids or "id"
        present = [c for c in ("vector", "embedding", "embeddings") if c in names]
        vec_col = args.vectors or (present[0] if present else None)
        if not args.vectors and len(present) > 1:
            sys.stderr.write(f"hardneg ingest: {path}: columns {', '.join(present)} are all there: taking {vec_col!r} "
                             "(name another with --vectors)\n")
        if vec_col is None:
            raise CommandError(f"{path}: no column vector, embedding or embeddings; name it with --vectors "
                               f"(columns: {', '.join(names)})")
        for what, col in (("--ids", id_col), ("--vectors", vec_col)):
            if col not in names:
                raise CommandError(f"{path}: no column {col!r} for {what} (columns: {', '.join(names)})")
        id_type = table.schema.field(id_col).type
        if pa_types.is_dictionary(id_type):
            id_type = id_type.value_type
        # Strings and integers, as for .npy ids; binary is read as UTF-8 (a float column
        # would give ids like "0.0" that no later lookup by "0" finds).
        kinds = ("is_string", "is_large_string", "is_string_view", "is_binary", "is_large_binary",
                 "is_fixed_size_binary", "is_binary_view", "is_integer")
        if not any(getattr(pa_types, k, lambda t: False)(id_type) for k in kinds):
            raise CommandError(f"{path}: column {id_col!r} holds {id_type} values; ids must be strings or integers")
        raw_ids = table.column(id_col).to_pylist()
        ids = []
        for i, v in enumerate(raw_ids):
            if v is None:
                raise CommandError(f"{path}: row {i} of column {id_col!r} is null")
            if isinstance(v, bytes):
                try:
                    v = v.decode()
                except UnicodeDecodeError as e:
                    raise CommandError(
                        f"{path}: row {i} of column {id_col!r} is not UTF-8 ({e.reason} at byte {e.start})"
                    ) from None
            ids.append(str(v))
        _check_ids(f"{path}: column {id_col!r}", ids)
        vtype = table.schema.field(vec_col).type
        value_type = getattr(vtype, "value_type", None)
        if value_type is not None and (pa_types.is_integer(value_type) or pa_types.is_boolean(value_type)):
            raise CommandError(f"{path}: column {vec_col!r} holds lists of {value_type} values; "
                               "vectors must be floating point (token ids rather than embeddings?)")
        if value_type is None or not pa_types.is_floating(value_type):
            # Lists of lists (one vector per token, say) would be flattened into one long
            # vector, and lists of strings parsed as numbers: neither is an embedding.
            raise CommandError(f"{path}: column {vec_col!r} holds {vtype} values; vectors must be lists of "
                               "floating-point numbers, one list per row")
        vectors = _parquet_vectors(path, vec_col, table.column(vec_col).to_pylist())
        zero = _check_vectors(f"{path}: column {vec_col!r}", vectors)
        if args.groups:
            if args.groups not in names:
                raise CommandError(f"{path}: no column {args.groups!r} for --groups (columns: {', '.join(names)})")
            groups = table.column(args.groups).to_pylist()
            for i, g in enumerate(groups):
                if g is None:
                    continue
                if not isinstance(g, (list, tuple)) or not all(isinstance(x, str) for x in g):
                    raise CommandError(f"{path}: row {i} of column {args.groups!r} is not a list of strings: {_shown(g, 60)}")
                # The server's limits, checked now: a later batch refused would leave
                # the collection half-ingested.
                from hardneg import _codec as codec

                if len(g) > codec.MAX_ITEM_GROUPS:
                    raise CommandError(f"{path}: row {i} of column {args.groups!r} has {len(g)} groups; "
                                       f"at most {codec.MAX_ITEM_GROUPS}")
                for x in g:
                    if not codec.valid_group(x):
                        raise CommandError(f"{path}: row {i} of column {args.groups!r}: group {_shown(x, 60)} must be "
                                           f"1–{codec.MAX_GROUP_BYTES} bytes of UTF-8 without NUL")
    else:
        raise CommandError(f"{path}: unsupported file type (use .npy or .parquet)")
    return ids, vectors, groups, zero


#: Rows read back per request when a resumed ingest checks the rows it would skip.
_RESUME_CHUNK = 4096


def _rows_elsewhere(client: Any, collection: str, ids: list[str], vectors: Any, skipped: int, metric: str) -> int:
    """How many of the first ``skipped`` rows the collection does not hold with the
    file's vectors (absent, or replaced since this writer sent them): 0 when a resumed
    ingest may skip them. Every row is read back, in requests of _RESUME_CHUNK: a
    sample would miss two ids swapped by an ids file put back in an order sent before."""
    bad = 0
    for lo in range(0, skipped, _RESUME_CHUNK):
        hi = min(lo + _RESUME_CHUNK, skipped)
        got = client.get_items(collection, ids[lo:hi], include_vectors=True)
        if got.missing_ids:
            bad += len(got.missing_ids)
            continue
        want = np.asarray(vectors[lo:hi], dtype=np.float64)
        if metric == "cosine":
            want /= np.linalg.norm(want, axis=1, keepdims=True)
        have = np.asarray(got.vectors, dtype=np.float64)
        scale = np.maximum(np.abs(want).max(axis=1, keepdims=True), 1e-30)
        bad += int((np.abs(have - want) > 1e-5 * scale).any(axis=1).sum())
    return bad


def _mute_reuse_warning(record: logging.LogRecord) -> bool:
    """A logging filter that drops the client's warning about a writer id used again
    (the ingest command's resume probe asks for that on purpose) and passes the rest."""
    return not (record.levelno == logging.WARNING and "was not applied: the server already holds" in record.msg)


def ingest_spec(ids_opt: Optional[str], vectors_opt: Optional[str], groups_opt: Optional[str], version: int,
                ids: Sequence[str]) -> str:
    """What of an ingest's options and ids enters its writer id (writer_id_for). The ids
    themselves, in order, do: an ids file regenerated in another order (or with other
    ids) over the same vectors is another ingest, which must not be skipped as sent."""
    h = hashlib.sha256()
    for i in ids:
        h.update(i.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return f"{ids_opt}|{vectors_opt}|{groups_opt}|{version}|{h.hexdigest()[:24]}"


def writer_id_for(collection: str, path: str, rows: int, ids_spec: str, generation: int = 0) -> str:
    """The stream writer id of an ingest: the same for a re-run over the same file.
    ``generation`` counts the earlier writers of the same ingest whose rows the
    collection no longer holds (it was deleted and created again)."""
    st = os.stat(path)
    parts = [collection, os.path.realpath(path), str(st.st_size), str(st.st_mtime_ns), str(rows), ids_spec]
    if generation:
        parts.append(f"generation {generation}")
    return "cli-" + hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]


def _row_bytes(dim: int) -> int:
    """What one row may take in a batch message: its floats and up to 1 KiB of id,
    groups and framing."""
    return 4 * dim + 1024


def batch_rows(dim: int, requested: int) -> int:
    """Rows per stream batch: small enough that the client never splits a batch, so
    batch k always carries sequence k + 1 and a re-run can resume by sequence."""
    return max(1, min(requested, 16_384, (8 << 20) // _row_bytes(dim)))


def rows_under(limit: int, dim: int) -> int:
    """Rows per batch whose messages fit a server's -grpc-max-msg-bytes of limit."""
    from hardneg._codec import batch_bytes_under

    return max(1, batch_bytes_under(limit) // _row_bytes(dim))


def _too_large(e: errors.HardnegError, rows: int, dim: int) -> Optional[int]:
    """For a batch the server refused unread for its size: the rows per batch that fit
    (None for any other error). The client's hint, which names Client arguments the
    command does not have, becomes one that names --batch-size."""
    limit = errors._message_limit(e)
    if limit is None:
        return None
    from hardneg._ingest import SIZE_HINT

    fit = rows_under(limit, dim)
    cut = e.message.find(SIZE_HINT)
    if cut >= 0:
        e.message = e.message[:cut]
    e.message += (f" (the server takes messages of at most {limit:,} bytes, a batch of {rows:,} rows of {dim} floats "
                  f"needs up to {rows * _row_bytes(dim):,}: pass --batch-size {fit:,} or less)")
    return fit


def cmd_ingest(args: argparse.Namespace) -> None:
    if args.writer_id is not None and (not 1 <= len(args.writer_id.encode()) <= 128 or "\x00" in args.writer_id):
        raise CommandError("--writer-id must be 1 to 128 bytes without NUL")
    ids, vectors, groups, (zero, large) = _load_source(args)
    n, dim = vectors.shape
    client = _client(args)
    col = None
    try:
        col = client.get_collection(args.collection)
    except errors.NotFound:
        if not args.create:
            raise
    if col is not None and col.dim != dim:
        raise CommandError(f"{args.file}: vectors of dim {dim}, collection {args.collection!r} has dim {col.dim}")
    if col is not None and args.metric is not None and col.metric != args.metric:
        raise CommandError(f"--metric {args.metric}: collection {args.collection!r} exists with metric {col.metric}")
    metric = col.metric if col is not None else args.metric or "cosine"
    if zero >= 0 and metric == "cosine":
        raise CommandError(f"{args.file}: row {zero} is a zero vector, which has no direction under cosine")
    if large >= 0 and metric != "cosine":
        from hardneg._codec import _norm64

        raise CommandError(f"{args.file}: row {large} has norm {_norm64(np.asarray(vectors[large], dtype=np.float32)):.7g}, above the limit: "
                           f"under {metric} the norm must be at most 1e+09 so that scores stay finite")
    created = col is None
    if col is None:
        col = client.create_collection(args.collection, dim, metric)
    rows = batch_rows(dim, args.batch_size)
    spec = ingest_spec(args.ids, args.vectors, args.groups, args.version, ids)
    generation = 0
    writer = args.writer_id or writer_id_for(args.collection, args.file, rows, spec)
    nb = (n + rows - 1) // rows

    def batch(k: int) -> tuple[Any, ...]:
        s = slice(k * rows, min((k + 1) * rows, n))
        v = np.ascontiguousarray(vectors[s], dtype=np.float32)
        g = None if groups is None else groups[s]
        return (ids[s], v, g, args.version)

    start, skipped = 0, 0
    result = None
    while n > 0:
        # Batch 0 goes first on its own: if this writer already sent it, the server
        # acknowledges it as a duplicate and says where the writer stands (asked on
        # purpose here, so the client's warning about a writer id used again is muted).
        hlog = logging.getLogger("hardneg")
        hlog.addFilter(_mute_reuse_warning)
        try:
            first = client.ingest(args.collection, [batch(0)], writer_id=writer, first_sequence=1, window=1)
        except errors.HardnegError as e:
            fit = _too_large(e, rows, dim)
            if fit is None or fit >= rows:
                raise
            # A server started with a smaller -grpc-max-msg-bytes refused the first batch
            # unread: nothing was applied, so the batches shrink to fit (the writer id
            # follows the rows per batch, and a re-run shrinks them the same way).
            sys.stderr.write(f"hardneg ingest: the server takes messages of at most {errors._message_limit(e):,} "
                             f"bytes: sending {fit:,} rows per batch instead of {rows:,}\n")
            rows = fit
            nb = (n + rows - 1) // rows
            if args.writer_id is None:
                writer = writer_id_for(args.collection, args.file, rows, spec, generation)
            continue
        finally:
            hlog.removeFilter(_mute_reuse_warning)
        result = first
        if not first.duplicates:
            start = 1
            break
        start = min(first.next_sequence - 1, nb)
        skipped = min(start * rows, n)
        # Writer positions outlive collections: the rows to skip must still be there
        # (a collection deleted and created again holds none of them), and hold this
        # file's vectors (an ids file put back in an order ingested before, after
        # another order was, maps the ids to other rows than the writer sent).
        absent = _rows_elsewhere(client, args.collection, ids, vectors, skipped, col.metric)
        if not absent:
            break
        if args.writer_id is not None:
            removed = created and client.get_collection(args.collection).stats.item_count == 0
            if removed:
                # Nothing of this run was applied: the collection it created goes again.
                client.delete_collection(args.collection, missing_ok=True)
            raise CommandError(
                f"writer {writer!r} already sent the first {skipped:,} rows, but {absent:,} of them are not in "
                f"{args.collection!r} as this file has them (deleted, replaced, the collection created again, or "
                f"the writer id used for another collection); pass a new --writer-id to send them"
                + (f" ({args.collection!r}, created by this run, was removed again)" if removed else "")
            )
        generation += 1
        writer = writer_id_for(args.collection, args.file, rows, spec, generation)
        start, skipped = 0, 0
    bar = Progress(f"ingest {args.collection}", n, "items", enabled=not args.quiet)
    bar.update(min(start * rows, n))
    if start < nb:
        try:
            result = client.ingest(
                args.collection,
                (batch(k) for k in range(start, nb)),
                writer_id=writer,
                first_sequence=start + 1,
                progress=bar,
            )
        except errors.HardnegError as e:
            # Say what is safe and how to go on: the same command resumes after the
            # last durable batch (the writer id comes from the same arguments).
            bar.close()
            _too_large(e, rows, dim)
            got = getattr(e, "ingest_result", None)
            done = min(max(start, got.durable_sequence if got is not None else 0) * rows, n)
            e.message += (f" ({done:,} of {n:,} rows are durable in {args.collection!r}; the same command run again "
                          f"sends the rest)")
            raise
        except KeyboardInterrupt:
            bar.close()
            raise Interrupted(f"{min(bar.n, n):,} of {n:,} rows were acknowledged by {args.collection!r}; the same "
                              f"command run again sends the rest") from None
    bar.close()
    out = {
        "collection": args.collection,
        "rows": n,
        "skipped_rows": skipped,
        "sent_rows": n - skipped if n else 0,
        "writer_id": writer,
        "batches": nb,
        "next_sequence": result.next_sequence if result else 1,
    }
    if args.json:
        return _print_json(out)
    msg = f"ingested {n:,} rows into {args.collection!r}"
    if skipped:
        msg += f" ({skipped:,} already acknowledged by an earlier run, skipped)"
    sys.stdout.write(msg + f"; writer {writer}\n")


# mine -----------------------------------------------------------------------------------------


_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def _policy_value(field: Any, raw: str) -> Any:
    """The value of ``--set FIELD=VALUE`` for a MiningPolicy field: true/false (also
    1/0, yes/no, on/off) for a yes-or-no field, a JSON object for ``synthetic``, else a
    number or the text itself; none or null for unset."""
    from hardneg.types import SyntheticPolicy

    low = raw.strip().lower()
    if low in ("none", "null"):
        return None
    kind = str(field.type)
    if "bool" in kind:
        if low in _TRUE or low in _FALSE:
            return low in _TRUE
        raise CommandError(f"--set {field.name}={raw}: expected true or false")
    if field.name == "synthetic":
        names = ", ".join(f.name for f in dataclasses.fields(SyntheticPolicy))
        try:
            obj = json.loads(raw)
            if not isinstance(obj, dict):
                raise ValueError(f"got a JSON {type(obj).__name__}")
            unknown = sorted(set(obj) - {f.name for f in dataclasses.fields(SyntheticPolicy)})
            if unknown:
                raise ValueError(f"unknown field(s) {', '.join(unknown)}")
            return SyntheticPolicy(**obj)
        except (ValueError, TypeError) as e:
            raise CommandError(
                f"--set synthetic={raw}: expected a JSON object of SyntheticPolicy fields ({names}), "
                f'e.g. synthetic=\'{{"num_mixed": 4}}\': {e}'
            ) from None
    for conv in (int, float):
        try:
            return conv(raw)
        except ValueError:
            pass
    return raw


def cmd_mine(args: argparse.Namespace) -> None:
    from hardneg.types import MiningPolicy

    anchor_ids: list[Optional[str]] = []
    positives: list[list[str]] = []
    for a in args.anchor or []:
        aid, _, pos = a.partition(":")
        anchor_ids.append(aid)
        positives.append([p for p in pos.split(",") if p])
    vectors = None
    if args.vectors:
        if anchor_ids:
            raise CommandError("give anchors by --anchor or by --vectors, not both")
        vectors = _load_npy(args.vectors)
        if vectors.ndim == 1:
            vectors = vectors[None, :]
        _check_vectors(args.vectors, vectors)
        vectors = np.asarray(vectors, dtype=np.float32)
        anchor_ids = [None] * len(vectors)
        positives = [[] for _ in anchor_ids]
    if not anchor_ids:
        raise CommandError("no anchors: give --anchor ID[:POSITIVE,...] (repeatable) or --vectors FILE.npy")
    known = {f.name: f for f in dataclasses.fields(MiningPolicy)}
    policy: dict[str, Any] = {}
    for kv in args.set or []:
        k, sep, v = kv.partition("=")
        if not sep or k not in known:
            raise CommandError(f"--set {kv!r}: expected FIELD=VALUE with a MiningPolicy field ({', '.join(sorted(known))})")
        policy[k] = _policy_value(known[k], v)
    if args.k is not None:
        if "num_negatives" in policy and policy["num_negatives"] != args.k:
            raise CommandError(f"-k {args.k} and --set num_negatives={policy['num_negatives']} disagree: give one of them")
        policy["num_negatives"] = args.k
    policy.setdefault("num_negatives", 10)
    res = _client(args).mine(
        args.collection,
        anchor_ids=anchor_ids if vectors is None else None,
        anchor_vectors=vectors,
        positive_ids=positives,
        policy=MiningPolicy(**policy),
        explain=args.explain if args.explain else False,
    )
    label = [a if a is not None else f"#{i}" for i, a in enumerate(anchor_ids)]
    for i, unknown in enumerate(res.unknown_positive_ids):
        if unknown:
            sys.stderr.write(f"hardneg mine: anchor {label[i]}: positive(s) not in {args.collection!r}: {', '.join(unknown)}\n")
    truncated = (
        [label[i] for i in range(len(anchor_ids)) if res.explain_truncated[i]]
        if res.explain_truncated is not None
        else []
    )
    negatives = []
    for i in range(len(anchor_ids)):
        for j in range(int(res.counts[i])):
            negatives.append(
                {"anchor": label[i], "rank": int(res.ranks[i, j]), "id": res.ids[i, j], "score": float(res.scores[i, j])}
            )
    removed = []
    if res.explained is not None:
        for r in res.explained.rows():
            if r["fate"] != "returned":
                removed.append({"anchor": label[r["anchor"]], "id": r["id"], "score": r["score"], "rank": r["rank"], "rule": r["fate"]})
    summary = [
        {
            "anchor": label[i],
            "returned": int(res.counts[i]),
            "shortfall": int(res.shortfall[i]),
            "positive_score": float(res.positive_scores[i]),
            "candidates_examined": int(res.candidates_examined[i]),
        }
        for i in range(len(anchor_ids))
    ]
    synthetic = []
    if res.synthetic is not None:
        sn = res.synthetic
        for j in range(len(sn)):
            synthetic.append({"anchor": label[int(sn.anchors[j])], "kind": sn.kinds[j], "a": sn.a_ids[j], "b": sn.b_ids[j],
                              "coefficient": float(sn.coefficients[j])})
    if args.json:
        out: dict[str, Any] = {"negatives": negatives, "anchors": summary}
        if args.explain:
            out["removed"] = removed
            out["explain_truncated"] = truncated
        if res.synthetic is not None:
            out["synthetic"] = synthetic
        return _print_json(out)
    _table(["ANCHOR", "RANK", "NEGATIVE", "SCORE"], [[n["anchor"], n["rank"], n["id"], f"{n['score']:.4f}"] for n in negatives])
    for s in summary:
        if s["shortfall"]:
            sys.stdout.write(f"{s['anchor']}: {s['shortfall']} short of {policy['num_negatives']}\n")
    if args.explain:
        cut = f"; more were judged for {', '.join(truncated)} than --explain {args.explain} lists" if truncated else ""
        sys.stdout.write(f"\ncandidates not returned ({len(removed)}{cut}):\n")
        _table(
            ["ANCHOR", "RANK", "CANDIDATE", "SCORE", "RULE"],
            [[r["anchor"], "" if r["rank"] < 0 else r["rank"], r["id"], "" if math.isnan(r["score"]) else f"{r['score']:.4f}", r["rule"]] for r in removed],
        )
    if res.synthetic is not None:
        sys.stdout.write(f"\nsynthetic negatives ({len(synthetic)}; vectors through the Python client):\n")
        _table(["ANCHOR", "KIND", "A", "B", "COEFFICIENT"],
               [[x["anchor"], x["kind"], x["a"], x["b"], f"{x['coefficient']:.3f}"] for x in synthetic])


# snapshots and backups ------------------------------------------------------------------------


def cmd_snapshot(args: argparse.Namespace) -> None:
    client = _client(args, retry=False)
    if args.list:
        snaps = client.list_snapshots(args.name)
        if args.json:
            return _print_json(snaps)
        return _table(
            ["COLLECTION", "SEQUENCE", "ITEMS", "SIZE", "CREATED"],
            [[s.collection, s.sequence, s.item_count, _size(s.bytes), s.created_at.isoformat(timespec="seconds")] for s in snaps],
        )
    if not args.name:
        raise CommandError("name the collection to snapshot (or --list)")
    info = client.snapshot(args.name)
    if args.json:
        return _print_json({"collection": args.name, **_plain(info)})
    sys.stdout.write(f"snapshot of {args.name!r} at sequence {info.sequence}: {_size(info.bytes)}\n")


def _write_error(path: str, e: OSError) -> str:
    """An error writing the file ``path`` (its ``.partial`` twin, in fact), naming it."""
    if e.errno == errno.ENOTDIR:
        parts = os.path.normpath(path).split(os.sep)
        for k in range(1, len(parts)):
            head = os.sep.join(parts[:k]) or os.sep
            if os.path.exists(head) and not os.path.isdir(head):
                return f"{path}: {head} is not a directory"
    if e.strerror is None:
        return str(e)
    return f"{path}: {e.strerror}" + (" (no file was written)" if e.errno == errno.ENOSPC else "")


def _check_collection_flag(args: argparse.Namespace, instead: str) -> None:
    """``-c ""`` (an unset shell variable, say) is refused rather than read as no -c."""
    if args.collection == "":
        raise CommandError(f"-c/--collection: the collection name is empty; {instead}")


def cmd_backup(args: argparse.Namespace) -> None:
    _check_collection_flag(args, "omit -c to back up every collection")
    from hardneg import _backup

    # Written through a pipe or device (/dev/stdout | ssh …), the backup may be on
    # stdout itself: the summary goes to stderr then.
    out = sys.stderr if _backup.writes_through(args.file) else sys.stdout
    bar = Progress("backup", None, "B", enabled=not args.quiet)
    try:
        infos = _client(args, retry=False).backup(args.collection, args.file, progress=bar)
    except OSError as e:
        if isinstance(e, errors.HardnegError):  # Unavailable is a ConnectionError
            raise
        raise CommandError(_write_error(args.file, e)) from None
    finally:
        bar.close()
    if args.json:
        with contextlib.redirect_stdout(out):
            return _print_json({"file": args.file, "collections": infos})
    for i in infos:
        out.write(f"backed up {i.collection!r}: {i.item_count:,} items, {_size(i.bytes)}, sequence {i.sequence}\n")
    if not infos:
        out.write("the server holds no collection: the backup is empty (restoring it restores nothing)\n")
    out.write(f"wrote {args.file}\n")


def cmd_restore(args: argparse.Namespace) -> None:
    _check_collection_flag(args, "omit -c to restore under the names in the file")
    _check_file(args.file, stream_ok=True)
    with contextlib.ExitStack() as stack:
        src = args.file
        if not os.path.isfile(src):
            # A pipe (cat x.hnb | hardneg restore /dev/stdin, <(…)) is read twice — checked
            # whole, then sent — and once more for the names: copied to a file first,
            # removed however the command ends (SIGTERM and SIGHUP too).
            stack.enter_context(_exit_on_signals(signal.SIGTERM, signal.SIGHUP))
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="hardneg-restore-"))
            try:
                with open(src, "rb") as f, open(os.path.join(tmp, "backup.hnb"), "wb") as out:
                    shutil.copyfileobj(f, out)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                raise CommandError(f"{args.file}: copying the pipe to {tmp} (a restore reads its file twice): "
                                   f"{e.strerror}; set TMPDIR to a volume with room for the backup") from None
            src = os.path.join(tmp, "backup.hnb")
        _restore_from(args, src)


@contextlib.contextmanager
def _exit_on_signals(*signums: int) -> Iterator[None]:
    """Within the block, the signals end the command as SystemExit (128 + signal), so
    that cleanups run; outside it they act as before."""
    def stop(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    old = {s: signal.signal(s, stop) for s in signums}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _restore_from(args: argparse.Namespace, src: str) -> None:
    """cmd_restore on the regular file src (args.file, or the copy of a pipe)."""
    from hardneg._backup import scan

    def names() -> list[str]:
        """The names the file's collections restore under (read only when needed)."""
        if args.collection is not None:
            return [args.collection]
        with open(src, "rb") as f:
            return [i.collection for i in scan(f)]

    bar = Progress("restore", None, "B", enabled=not args.quiet)
    try:
        cols = _client(args, retry=False).restore(src, args.collection, skip_existing=args.skip_existing,
                                                  progress=bar)
    except (BackupFileError, errors.HardnegError, OSError) as e:
        bar.close()
        done = getattr(e, "restored", [])
        for c in done:
            sys.stdout.write(f"restored {c.name!r}: {c.stats.item_count:,} items\n")
        msg = f"{args.file}: {e}" if isinstance(e, BackupFileError) else _error_line(e)
        total = len(names()) if done or isinstance(e, errors.FailedPrecondition) else 1
        if total > 1:
            msg += (f" ({len(done)} of {total} collections restored before it; "
                    + ("the same command run again restores the others, " if args.skip_existing else
                       "--skip-existing restores the others and leaves those that hold items or are ephemeral, ")
                    + "`hardneg delete NAME --yes` removes one)")
        raise CommandError(msg) from None
    finally:
        bar.close()
    restored = {c.name for c in cols}
    skipped = [n for n in names() if n not in restored] if args.skip_existing else []
    if args.json:
        return _print_json({"file": args.file, "collections": cols, "skipped": skipped})
    for c in cols:
        sys.stdout.write(f"restored {c.name!r}: {c.stats.item_count:,} items\n")
    if not cols and not skipped:
        sys.stdout.write(f"{args.file} holds no collection (a backup of a server that held none): nothing restored\n")
    for n in skipped:
        sys.stdout.write(f"skipped {n!r}: the server holds a collection of that name with items, or an ephemeral one\n")


def cmd_delete(args: argparse.Namespace) -> None:
    client = _client(args, retry=False)  # its read of the item count too: one attempt
    try:
        info = client.get_collection(args.name)
    except errors.NotFound:
        if args.missing_ok:
            if args.json:
                _print_json({"deleted": None, "missing": args.name, "items": 0})
            else:
                sys.stdout.write(f"no collection {args.name!r}; nothing deleted\n")
            return
        raise
    if not args.yes:
        raise CommandError(f"would delete {args.name!r} and its {info.stats.item_count:,} items: pass --yes")
    client.delete_collection(args.name, missing_ok=args.missing_ok)
    if args.json:
        return _print_json({"deleted": args.name, "items": info.stats.item_count})
    sys.stdout.write(f"deleted {args.name!r} ({info.stats.item_count:,} items)\n")


def cmd_health(args: argparse.Namespace) -> None:
    import grpc

    client = _client(args, retry=False)
    service = args.service
    # grpc.health.v1.HealthCheckRequest{service}: field 1, length-delimited.
    name = service.encode()
    req = b"\x0a" + _varint(len(name)) + name if name else b""
    check = client.channel.unary_unary("/grpc.health.v1.Health/Check")
    try:
        resp = check(req, timeout=args.timeout or 10.0, metadata=client._core.config.metadata())
    except grpc.RpcError as e:
        raise errors.from_rpc_error(e) from None
    # HealthCheckResponse{status}: field 1, varint; absent means UNKNOWN (0).
    status = resp[1] if len(resp) >= 2 and resp[0] == 0x08 else 0
    names = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}
    text = names.get(status, str(status))
    if args.json:
        _print_json({"service": service, "status": text})
    else:
        sys.stdout.write(f"{service or 'server'}: {text}\n")
    if status != 1:
        raise SystemExit(1)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


# --- parser --------------------------------------------------------------------------------


def _int64(raw: str) -> int:
    """An argparse type: a signed 64-bit integer."""
    try:
        v = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {raw!r}") from None
    if not -(2**63) <= v < 2**63:
        raise argparse.ArgumentTypeError(f"must fit in a signed 64-bit integer, got {raw}")
    return v


def _non_negative_int(raw: str) -> int:
    """An argparse type: an integer of 0 or more (a usage error otherwise)."""
    try:
        v = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {raw!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {raw}")
    return v


def _positive(conv: Any) -> Any:
    """An argparse type: a number above 0 (a usage error otherwise)."""

    def parse(raw: str) -> Any:
        try:
            v = conv(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {conv.__name__} value: {raw!r}") from None
        if not v > 0:
            raise argparse.ArgumentTypeError(f"must be above 0, got {raw!r}")
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {raw!r} (leave the flag out for no limit)")
        return v

    parse.__name__ = f"positive {conv.__name__}"
    return parse


def _connection_options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("connection (flags override the environment)")
    S = argparse.SUPPRESS
    g.add_argument("--addr", default=S, help=f"server host:port ($HARDNEG_ADDR; default {DEFAULT_ADDR})")
    g.add_argument("--token", default=S, help="bearer token ($HARDNEG_TOKEN)")
    g.add_argument("--tls", action="store_true", default=S, help="use TLS with the system roots ($HARDNEG_TLS=1)")
    g.add_argument("--tls-ca", default=S, help="CA bundle of the server certificate, PEM ($HARDNEG_TLS_CA)")
    g.add_argument("--tls-cert", default=S, help="client certificate for mutual TLS, PEM ($HARDNEG_TLS_CERT)")
    g.add_argument("--tls-key", default=S, help="client key for mutual TLS, PEM ($HARDNEG_TLS_KEY)")
    g.add_argument("--tls-server-name", default=S, help="name to check the server certificate against ($HARDNEG_TLS_SERVER_NAME)")
    g.add_argument("--timeout", type=_positive(float), default=S, help="deadline of each call in seconds")
    g.add_argument("--json", action="store_true", default=S, help="print JSON on stdout")
    g.add_argument("-q", "--quiet", action="store_true", default=S, help="no progress bar")
    g.add_argument("--progress", action="store_true", default=S, help="a progress bar on stderr even when it is not a terminal")
    return p


def build_parser() -> argparse.ArgumentParser:
    conn = _connection_options()
    p = argparse.ArgumentParser(
        prog="hardneg",
        description="Command line of the hardneg hard-negative mining service (docs/CLI.md).",
        parents=[conn],
    )
    from hardneg import __version__

    p.add_argument("--version", action="version", version=f"hardneg {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help: str, fn: Any) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help, parents=[conn])
        sp.set_defaults(fn=fn)
        return sp

    sub.add_parser("serve", help="run the miner-server in the foreground (flags are passed through)", add_help=False)
    add("collections", "list the collections", cmd_collections)

    sp = add("create", "create a collection", cmd_create)
    sp.add_argument("name")
    sp.add_argument("--dim", type=int, required=True, help="vector dimension")
    sp.add_argument("--metric", default="cosine", choices=["cosine", "dot", "l2"])
    sp.add_argument("--m", type=int, default=0, help="HNSW links per node (0: server default)")
    sp.add_argument("--ef-construction", type=int, default=0)
    sp.add_argument("--ef-search", type=int, default=0)
    sp.add_argument("--exact-threshold", type=int, default=0, help="live items below which search is exact")
    sp.add_argument(
        "--quantization",
        choices=["", "none", "int8"],
        default="",
        metavar="{none,int8}",
        help="graph search on int8 codes with exact re-scoring, or on floats (default: int8 for cosine/dot, none for l2)",
    )
    sp.add_argument("--exist-ok", action="store_true", help="succeed if an identical collection exists")
    sp.add_argument("--ephemeral", action="store_true",
                    help="keep it in the server's memory only: no log writes or snapshots, lost at a restart")

    sp = add("info", "show a collection's parameters and statistics", cmd_info)
    sp.add_argument("name")

    sp = add("ingest", "stream vectors from a .npy or .parquet file into a collection (resumable)", cmd_ingest)
    sp.add_argument("collection")
    sp.add_argument("file", help="FILE.npy (rows × dim) or FILE.parquet")
    sp.add_argument("--ids", help=".npy: a file of ids (one per line, or a .npy of strings); .parquet: the id column (default id)")
    sp.add_argument("--vectors", help=".parquet: the vector column (default vector or embedding)")
    sp.add_argument("--groups", help=".parquet: a column of group lists")
    sp.add_argument("--version", type=_int64, default=0, help="version stamp of every item (e.g. the encoder step)")
    sp.add_argument("--batch-size", type=_positive(int), default=1024, help="rows per batch (fewer for wide vectors)")
    sp.add_argument("--writer-id", help="stream writer id (default: derived from the collection, the file's path, size and modification time, the batch size, --ids, --vectors, --groups, --version and the ids in their order)")
    sp.add_argument("--create", action="store_true", help="create the collection if it does not exist")
    sp.add_argument("--metric", choices=["cosine", "dot", "l2"],
                    help="metric for --create (default cosine); with an existing collection it must be the collection's")

    sp = add("mine", "mine hard negatives and print them as a table", cmd_mine)
    sp.add_argument("collection")
    sp.add_argument("--anchor", action="append", metavar="ID[:POS,...]", help="an anchor id and its positive ids (repeatable)")
    sp.add_argument("--vectors", metavar="FILE.npy", help="anchor vectors (n × dim) instead of anchor ids")
    sp.add_argument("-k", type=int, default=None, help="negatives per anchor (default 10; the same as --set num_negatives=K)")
    sp.add_argument("--set", action="append", metavar="FIELD=VALUE", help="a MiningPolicy field, e.g. relative_margin=0.05 (repeatable)")
    sp.add_argument("--explain", type=_non_negative_int, nargs="?", const=100, default=0, metavar="N",
                    help="also show removed candidates with the rule that removed each (N per anchor, default 100; capped at 1,024 and at 65,536 ÷ the anchors per request)")

    sp = add("snapshot", "write a snapshot of a collection now, or list snapshots", cmd_snapshot)
    sp.add_argument("name", nargs="?")
    sp.add_argument("--list", action="store_true", help="list the snapshot files (of NAME, or all)")

    sp = add("backup", "write a consistent backup of a running server's collection(s) to a file", cmd_backup)
    sp.add_argument("file")
    sp.add_argument("-c", "--collection", help="the collection (default: every collection)")

    sp = add("restore", "restore the collection(s) of a backup file into the server", cmd_restore)
    sp.add_argument("file")
    sp.add_argument("-c", "--collection", help="a new name (the file must hold one collection)")
    sp.add_argument("--skip-existing", action="store_true",
                    help="leave collections the server already holds with items as they are; restore the others")

    sp = add("delete", "delete a collection and its stored data", cmd_delete)
    sp.add_argument("name")
    sp.add_argument("--yes", action="store_true", help="required: confirms the deletion")
    sp.add_argument("--missing-ok", action="store_true", help="succeed when there is no such collection")

    sp = add("health", "ask the server's health service (exit 0 when SERVING)", cmd_health)
    sp.add_argument("--service", default="hardneg.v1.MinerService", help="service to ask about ('' for the server)")
    return p


def _serve(rest: list[str]) -> int:
    try:
        binary = find_binary(instead="build it from the repository with make build (bin/miner-server)")
    except ServerNotFound as e:
        if any(a in ("-h", "-help", "--help") for a in rest):
            # The flags are the server's own, so only the binary can list them.
            sys.stdout.write(
                "usage: hardneg serve [miner-server flags ...]\n\n"
                "Runs the miner-server in the foreground with the flags given; "
                "with a binary, hardneg serve --help lists its flags.\n\n"
                f"{e}\n"
            )
            return 0
        sys.stderr.write(f"hardneg serve: {e}\n")
        return 1
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(binary, [binary, *rest])
    return 0  # pragma: no cover  (execv does not return)


def _error_line(e: BaseException) -> str:
    if isinstance(e, errors.DeadlineExceeded) and isinstance(e.__cause__, errors.Unavailable):
        # The deadline cut short a retry of a refused call: the refusal is the news.
        return f"{_error_line(e.__cause__)} (still so when the deadline passed, after {e.attempts} attempts)"
    if isinstance(e, errors.HardnegError):
        hint = next((h for cls, h in _CODE_HINTS.items() if type(e) is cls), "error")
        message = getattr(e, "message", "")
        # The field violations name what was wrong when the message does not.
        unsaid = [v for v in getattr(e, "violations", ()) if v.field not in message]
        if unsaid:
            message += " [" + "; ".join(f"{v.field}: {v.description or v.reason}" for v in unsaid) + "]"
        return f"{hint}: {message}" if message else hint
    if isinstance(e, (FileNotFoundError, IsADirectoryError, PermissionError)) and getattr(e, "filename", None):
        return f"{e.filename}: {e.strerror}"
    return str(e)


class _RecoveryNotice(logging.Handler):
    """Prints the client's notice that it waits for a server recovering its storage
    (the ``hardneg.recovery`` logger; a call may wait minutes, and silence would look
    like a hang): one line on stderr, at most every 10 s."""

    def __init__(self, command: str) -> None:
        super().__init__(logging.INFO)
        self.command = command
        self.last = -float("inf")

    def emit(self, record: logging.LogRecord) -> None:
        now = time.monotonic()
        if now - self.last >= 10.0:
            self.last = now
            sys.stderr.write(f"hardneg {self.command}: {record.getMessage()}\n")


def main(argv: Optional[Sequence[str]] = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "serve":
        return _serve(args_list[1:])
    parser = build_parser()
    if not args_list:
        parser.print_usage(sys.stderr)
        sys.stderr.write("hardneg: error: a command is required (hardneg --help lists them)\n")
        return 2
    try:
        args = parser.parse_args(args_list)
    except SystemExit as e:
        return int(e.code or 0)
    if not hasattr(args, "fn"):
        parser.print_usage(sys.stderr)
        sys.stderr.write("hardneg: error: a command is required (hardneg --help lists them)\n")
        return 2
    if args.command == "snapshot" and not args.list and not args.name:
        parser.print_usage(sys.stderr)
        sys.stderr.write("hardneg snapshot: error: name the collection to snapshot (or --list)\n")
        return 2
    for name in ("json", "quiet", "progress"):
        if not hasattr(args, name):
            setattr(args, name, False)
    if not hasattr(args, "timeout"):
        args.timeout = None
    # Progress bars go to stderr when it is a terminal (or on request), never with -q.
    args.quiet = args.quiet or not (args.progress or sys.stderr.isatty())

    def show_warning(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        # A warning (the server's MineResponse.warnings come as PolicyWarning) is one
        # line naming the command, like an error, not Python's file:line report.
        sys.stderr.write(f"hardneg {args.command}: warning: {message}\n")

    # The client's notices that it waits for a recovering server go to stderr, and
    # only there; nothing else of the library's logging changes.
    waiting = _RecoveryNotice(args.command)
    rlog = logging.getLogger("hardneg.recovery")
    level, propagate = rlog.level, rlog.propagate
    rlog.addHandler(waiting)
    rlog.setLevel(logging.INFO)
    rlog.propagate = False
    try:
        return _run_command(args, show_warning)
    finally:
        rlog.removeHandler(waiting)
        rlog.setLevel(level)
        rlog.propagate = propagate


def _run_command(args: argparse.Namespace, show_warning: Any) -> int:
    """Runs the parsed command; returns its exit status (docs/CLI.md)."""
    try:
        with warnings.catch_warnings():
            warnings.showwarning = show_warning
            args.fn(args)
    except SystemExit as e:
        return int(e.code or 0)
    except KeyboardInterrupt as e:
        detail = f" ({e})" if isinstance(e, Interrupted) else ""
        sys.stderr.write(f"hardneg {args.command}: interrupted{detail}\n")
        return 130
    except BrokenPipeError:
        # The reader of stdout went away (`hardneg … | head`): stop quietly, as a tool
        # killed by SIGPIPE does; what is still buffered goes nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (errors.HardnegError, CommandError, BackupFileError, OSError, ValueError, TypeError) as e:
        sys.stderr.write(f"hardneg {args.command}: {_error_line(e)}\n")
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
