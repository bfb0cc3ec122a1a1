"""Translation between numpy/Python values and hardneg.v1 messages.

Shared by the sync and asyncio clients; nothing here does I/O. Vectors cross the wire
as little-endian float32 bytes: encoding is one ``np.ascontiguousarray(...).tobytes()``
per batch and decoding one ``np.frombuffer``, never per-element Python work.
"""

from __future__ import annotations

import json
import math
import numbers
import operator
import re
from dataclasses import dataclass
from collections.abc import ItemsView, Iterable, KeysView, ValuesView
from collections.abc import Set as AbstractSet
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence, Union

import numpy as np

from hardneg.errors import FieldViolation, Internal, InvalidArgument
from hardneg.types import (
    RULES,
    CollectionInfo,
    CollectionStats,
    ExplainTable,
    IndexParams,
    Items,
    MineResult,
    HardBatch,
    MiningPolicy,
    RefreshQueue,
    SyntheticNegatives,
    SyntheticPolicy,
)
from hardneg.v1 import hardneg_pb2 as pb

# Limits of the hardneg.v1 API (see the proto's header comment).
MAX_BATCH_ITEMS = 16_384
MAX_ANCHORS = 1_024
MAX_NEGATIVES = 1_024
MAX_POSITIVES = 1_024  # positive ids, and positive vectors, per anchor
MAX_RANGE = 1 << 20  # range_min and range_max
MAX_EF_SEARCH = 65_536
MAX_REPORT_IDS = 16_384
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
# Client-side bound on one write batch: well below the server's default message limit so
# that one batch never monopolises a stream, and big enough to amortise per-call costs.
DEFAULT_MAX_BATCH_BYTES = 16 * 1024 * 1024

_F32 = np.dtype("<f4")

METRICS = {
    "cosine": pb.METRIC_COSINE,
    "dot": pb.METRIC_DOT,
    "ip": pb.METRIC_DOT,
    "l2": pb.METRIC_L2,
}
_METRIC_NAMES = {pb.METRIC_COSINE: "cosine", pb.METRIC_DOT: "dot", pb.METRIC_L2: "l2"}
QUANTIZATIONS = {"": pb.QUANTIZATION_UNSPECIFIED, "none": pb.QUANTIZATION_NONE, "int8": pb.QUANTIZATION_INT8}
_QUANTIZATION_NAMES = {v: k for k, v in QUANTIZATIONS.items()}

SAMPLING = {
    "top": pb.SAMPLING_STRATEGY_TOP,
    "random": pb.SAMPLING_STRATEGY_UNIFORM,
    "uniform": pb.SAMPLING_STRATEGY_UNIFORM,
    "softmax": pb.SAMPLING_STRATEGY_SOFTMAX,
    "simans": pb.SAMPLING_STRATEGY_SIMANS,
    "top1_sampled": pb.SAMPLING_STRATEGY_TOP1_SAMPLED,
}
RANK_MODES = {"surviving": pb.RANK_MODE_SURVIVING, "raw": pb.RANK_MODE_RAW}
STALE_RULES = {"skip": pb.STALE_RULE_SKIP, "rescore": pb.STALE_RULE_RESCORE}
# The names above are the ones to use; the proto's own enum names (which the server's
# warnings speak: "unless sampling is SAMPLING_STRATEGY_SOFTMAX") are taken as well.
_SAMPLING_NAMES = ", ".join(SAMPLING)
for _names, _enum in ((SAMPLING, pb.SamplingStrategy), (RANK_MODES, pb.RankMode), (STALE_RULES, pb.StaleRule)):
    for _value in set(_names.values()):
        _names.setdefault(_enum.Name(_value), _value)
MAX_REFRESH_LIMIT = 65_536

Groups = Optional[Sequence[Optional[Sequence[str]]]]


def encode_vectors(vectors: Any, field: str = "vectors") -> tuple[np.ndarray, int]:
    """Returns ``vectors`` as a C-contiguous little-endian float32 2-D array and its dim.

    No copy is made when the input already is one. A torch tensor may come straight from
    a training step (on any device, requiring grad, bfloat16). What numpy cannot read as
    a 2-D array of numbers (ragged rows, strings, bytes), and an integer or boolean
    array (token ids or masks rather than embeddings, as the CLI says), is an
    InvalidArgument naming ``field``; numbers written as Python ints are fine.
    """
    if vectors is None:
        raise TypeError(f"{field} must be an array of shape (n, dim), got None")
    vectors = host_array(vectors)
    if isinstance(vectors, np.ndarray) and vectors.dtype.kind == "c":
        # (numpy itself refuses Python complex numbers in a list)
        raise TypeError(f"{field} must be real numbers, got complex values")
    if isinstance(vectors, (str, bytes, bytearray)):
        raise bad_argument(field, f"must be an array of shape (n, dim), got {type(vectors).__name__} "
                                  "(for raw float32 bytes use np.frombuffer(data, np.float32).reshape(-1, dim))")
    if isinstance(vectors, (Iterator, Mapping, AbstractSet)):
        # numpy makes a 0-d object array of these, then fails to read it as a number
        raise bad_argument(field, f"must be an array of shape (n, dim), got a {type(vectors).__name__} "
                                  "(pass a list of rows or np.stack(rows))")
    kind = vectors.dtype.kind if isinstance(vectors, np.ndarray) else None
    if kind is None and isinstance(vectors, (list, tuple)):
        # numpy would parse numeric text and read True as 1.0: look at what the list holds
        try:
            with np.errstate(over="ignore"):
                raw = np.asarray(vectors)
        except (ValueError, OverflowError):  # ragged rows: reported below
            pass
        else:
            vectors, kind = raw, raw.dtype.kind
            if kind in "iu":
                kind = None  # numbers typed as Python ints
    if kind is not None and kind not in "fO":
        hint = ""
        if kind in "iu":
            hint = (" (embeddings quantized to 8 bits? send the float embeddings: the collection keeps its own int8 codes)"
                    if vectors.dtype.itemsize == 1 else " (token ids rather than embeddings?)")
        what = {"b": "bool", "U": "text", "S": "bytes"}.get(kind, str(getattr(vectors, "dtype", kind)))
        raise bad_argument(field, f"holds {what} values; vectors must be floating point{hint}")
    try:
        with np.errstate(over="ignore"):  # beyond float32 becomes ±inf, refused as not finite
            arr = np.ascontiguousarray(vectors, dtype=_F32)
    except ValueError as e:  # ragged rows, text that is not a number
        why = str(e).split(". ", 1)[0] if "inhomogeneous" not in str(e) else "has rows of different lengths"
        raise bad_argument(field, f"cannot be read as an array of float32 (n, dim): {why}") from None
    except TypeError:  # rows of objects that are not numbers (None, dicts, generators)
        raise bad_argument(field, f"cannot be read as an array of float32 (n, dim): its rows hold values that are not "
                                  f"numbers (a {type(vectors).__name__} of them)") from None
    if arr.ndim == 1 and arr.size == 0:
        return arr.reshape(0, 0), 0  # no rows ([]), as np.zeros((0, dim)) is
    if arr.ndim == 1:
        raise InvalidArgument(f"{field} must be 2-D (n, dim); got a 1-D array (use x[None, :] for one vector)",
                              violations=[FieldViolation(field, "is 1-D; want (n, dim)")])
    if arr.ndim != 2:
        raise InvalidArgument(f"{field} must be 2-D (n, dim), got shape {arr.shape}",
                              violations=[FieldViolation(field, f"has shape {arr.shape}; want (n, dim)")])
    return arr, int(arr.shape[1])


def batch_iterator(batches: Any) -> Iterator[Any]:
    """An iterator over ``ingest``'s batches; a TypeError for what cannot hold batches."""
    if batches is None or isinstance(batches, (str, bytes, bytearray, Mapping)) or not hasattr(batches, "__iter__"):
        raise TypeError("batches must be an iterable of hardneg.Batch, dicts or (ids, vectors[, groups[, versions]]) "
                        f"tuples, got {type(batches).__name__}")
    return iter(batches)


def vector_bytes(vectors: Any) -> bytes:
    """Little-endian float32 bytes of a 2-D array (row-major)."""
    return np.ascontiguousarray(vectors, dtype=_F32).tobytes()


def decode_vectors(data: bytes, dim: int) -> np.ndarray:
    """A read-only ``(n, dim)`` float32 view of little-endian float32 bytes."""
    if dim <= 0:
        return np.empty((0, 0), dtype=np.float32)
    return np.frombuffer(data, dtype=_F32).reshape(-1, dim)


MAX_DIM = 8192
"""The largest collection dimension the server accepts."""


_NAME_BAD = re.compile(r"[^A-Za-z0-9_.-]")
MAX_NAME_LEN = 128


def name_problem(name: str) -> Optional[str]:
    """Why the server would refuse ``name`` as a collection name (1–128 characters of
    [A-Za-z0-9_.-], not '.' or '..'), or None. Calls leave this check to the server;
    work that would be wasted on a refusal (encoding a dataset) checks first."""
    rule = f"must be 1–{MAX_NAME_LEN} characters of [A-Za-z0-9_.-], not '.' or '..'"
    if not name:
        return "is empty; " + rule
    if len(name.encode()) > MAX_NAME_LEN:
        return f"is {len(name.encode())} bytes; " + rule
    if name in (".", ".."):
        return f"is {name!r}; " + rule
    m = _NAME_BAD.search(name)
    if m:
        return f"holds {m.group()!r} at byte {len(name[:m.start()].encode())}; " + rule
    return None


def check_name(value: Any, arg: str) -> str:
    """Returns ``value`` when it is a string; a collection name of another type is a
    TypeError naming ``arg``, raised before any call is made (the server checks the
    name's characters)."""
    if not isinstance(value, str):
        raise TypeError(f"{arg} must be a string, got {type(value).__name__}")
    return value


# Collections whose order is arbitrary: refused wherever entries pair with rows.
_UNORDERED = (AbstractSet, Mapping, KeysView, ValuesView, ItemsView)


def _as_id_list(ids: Any, what: str = "ids", *, missing_ok: bool = False, field: str = "", ordered: bool = False) -> list[str]:
    """A sequence of strings (a list, tuple, 1-d numpy array of str) as a list; with
    ``missing_ok`` an entry may be ``None`` (kept). Anything else is a TypeError: ids
    are never converted with ``str()``, which would turn b"x" into "b'x'". With
    ``ordered`` (ids that pair with rows: vectors, positives, losses) a set or a mapping
    is refused too, since its order is arbitrary. ``field`` (default ``what``) names a
    bad entry in the error."""
    if isinstance(ids, str):
        raise TypeError(f"{what} must be a sequence of strings, not a single string")
    if isinstance(ids, bytes):
        raise TypeError(f"{what} must be a sequence of strings, not bytes")
    if ids is None:
        raise TypeError(f"{what} must be a sequence of strings, got None")
    if ordered and isinstance(ids, _UNORDERED):
        raise TypeError(f"{what} must be an ordered sequence of strings (a list, tuple or array), not a "
                        f"{type(ids).__name__}: its order is arbitrary")
    if isinstance(ids, np.ndarray):
        if ids.ndim != 1:
            raise TypeError(f"{what} must be a 1-d sequence of strings, got an array of shape {ids.shape}")
        if ids.dtype.kind == "U":
            return ids.tolist()  # type: ignore[no-any-return]
        if ids.dtype.kind != "O":
            raise TypeError(f"{what} must be strings, got a numpy array of {ids.dtype}")
        ids = ids.tolist()
    try:
        out = list(ids)
    except TypeError:
        raise TypeError(f"{what} must be a sequence of strings, got {type(ids).__name__}") from None
    if _all_ascii_str(out):
        return out  # every entry a string of ASCII text: nothing to check one by one
    for i, x in enumerate(out):
        if not isinstance(x, str):
            if missing_ok and x is None:
                continue
            raise TypeError(f"{what} must be strings, got {type(x).__name__}")
        _text(x, f"{field or what}[{i}]")
    return out


def _all_ascii_str(xs: list[Any]) -> bool:
    """Whether every entry of xs is a string of ASCII characters (valid UTF-8 as it
    stands), found by one join in C instead of a check per entry."""
    try:
        return "".join(xs).isascii()
    except TypeError:  # an entry that is not a string
        return False


def _utf8_lens(ss: list[str]) -> np.ndarray:
    """The UTF-8 byte length of each string of ss."""
    if _all_ascii_str(ss):
        return np.fromiter(map(len, ss), dtype=np.int64, count=len(ss))
    return np.fromiter((_utf8_len(s) for s in ss), dtype=np.int64, count=len(ss))


def _text(s: str, field: str) -> str:
    """s, refused (naming field) when it is not valid UTF-8 text (a lone surrogate)."""
    if not s.isascii():
        try:
            s.encode()
        except UnicodeEncodeError as e:
            raise bad_argument(field, f"is not valid UTF-8 text ({e.reason} at {e.start})") from None
    return s


def _utf8_len(s: str) -> int:
    return len(s) if s.isascii() else len(s.encode())


@dataclass
class PreparedItems:
    """Validated columns of an upsert, ready to be cut into batches."""

    ids: list[str]
    vectors: np.ndarray
    dim: int
    groups: Optional[list[list[str]]]
    versions: Optional[np.ndarray]

    def __len__(self) -> int:
        return len(self.ids)

    def cost(self) -> np.ndarray:
        """Approximate encoded bytes of each item (vector, id, groups, version, framing)."""
        n = len(self.ids)
        c = np.full(n, 4 * self.dim + 16, dtype=np.int64)
        c += _utf8_lens(self.ids)
        if self.groups is not None:
            c += np.fromiter((sum(_utf8_len(g) + 3 for g in gs) + 3 for gs in self.groups), dtype=np.int64, count=n)
        return c

    def slices(self, max_items: int, max_bytes: int, start: int = 0) -> Iterator[tuple[int, int]]:
        """Yields ``[start, end)`` ranges each under ``max_items`` items and ``max_bytes``,
        from row ``start`` on."""
        n = len(self.ids)
        if n <= start:
            return
        cum = np.cumsum(self.cost())
        base = int(cum[start - 1]) if start else 0
        while start < n:
            # Last index whose cumulative cost since start fits into max_bytes.
            end = int(np.searchsorted(cum, base + max_bytes, side="right"))
            end = max(end, start + 1)  # a single oversized item still goes alone
            end = min(end, start + max_items, n)
            yield start, end
            base = int(cum[end - 1])
            start = end

    def batch(self, start: int, end: int) -> pb.ItemBatch:
        b = pb.ItemBatch(ids=self.ids[start:end], dim=self.dim, vectors=self.vectors[start:end].tobytes())
        if self.groups is not None:
            b.groups.extend(pb.GroupList(groups=g) for g in self.groups[start:end])
        if self.versions is not None:
            b.versions.extend(self.versions[start:end].tolist())
        return b


def check_item_values(ids: list[str], vectors: np.ndarray) -> None:
    """Refuses, before anything is sent, what the server would refuse in any batch of an
    upsert: non-finite values (as float32: a float64 beyond its range is infinite there),
    with fields named by the caller's row. A split upsert also goes through
    check_split_items, so that it applies all of its batches or none."""
    finite = np.isfinite(vectors)
    if not finite.all():
        rows = np.flatnonzero(~finite.all(axis=1))
        bad = []
        for i in rows[:100].tolist():
            j = int(np.flatnonzero(~finite[i])[0])
            x = float(vectors[i, j])
            shown = "NaN" if math.isnan(x) else ("+Inf" if x > 0 else "-Inf")  # as the server says it
            bad.append(FieldViolation(f"items.vectors[{i}]", f"item {json.dumps(ids[i], ensure_ascii=False)}: value {j} is {shown}"
                                      f"{'' if shown == 'NaN' else ' (or beyond float32, ±3.4e38)'}; vectors must be finite"))
        raise _refused(bad, "1 row holds values that are not finite" if len(rows) == 1
                       else f"{len(rows):,} rows hold values that are not finite")


def batch_bytes_under(limit: int) -> int:
    """A max_batch_bytes whose batches fit in messages of at most ``limit`` bytes (a
    server's -grpc-max-msg-bytes), leaving room for what a batch's estimate leaves out."""
    return max(1024, limit - min(1 << 20, limit // 8))


MAX_ID_BYTES = 512
MAX_GROUP_BYTES = 256
MAX_ITEM_GROUPS = 64
MAX_NORM = 1e9
"""Under dot and L2 the server refuses a vector whose norm is above this."""


def valid_group(name: str) -> bool:
    """Whether the server takes name as a group: 1–MAX_GROUP_BYTES bytes of UTF-8 without NUL."""
    return bool(name) and "\x00" not in name and len(name.encode()) <= MAX_GROUP_BYTES


def check_split_items(items: PreparedItems) -> tuple[list[int], list[int]]:
    """Refuses, before anything is sent, what the server would refuse in a later batch
    of a split upsert and the caller's metric does not decide: ids (empty, over 512 bytes,
    holding NUL, given twice) and groups (over 64 per item, a name empty, over 256 bytes
    or holding NUL), named by the caller's row as the server names them. Non-finite
    values are check_item_values'. Returns the rows that are zero vectors and the rows
    whose norm is over MAX_NORM, which only the collection's metric refuses
    (check_split_norms)."""
    check_ids(items.ids, "items.ids", unique=True)
    if items.groups is not None:
        bad: list[FieldViolation] = []
        count = 0
        for i, gs in enumerate(items.groups):
            why: list[tuple[str, str]] = []
            if len(gs) > MAX_ITEM_GROUPS:
                why.append((f"items.groups[{i}]", f"item {json.dumps(items.ids[i], ensure_ascii=False)} has {len(gs)} groups; "
                                                  f"at most {MAX_ITEM_GROUPS}"))
            for j, g in enumerate(gs):
                if not valid_group(g):
                    why.append((f"items.groups[{i}].groups[{j}]", f"item {json.dumps(items.ids[i], ensure_ascii=False)}: groups "
                                                                  f"must be 1–{MAX_GROUP_BYTES} bytes of UTF-8 without NUL"))
            count += len(why)
            bad.extend(FieldViolation(f, d) for f, d in why[:max(0, 100 - len(bad))])
        if bad:
            raise _refused(bad, f"{count:,} refused")
    return norm_outliers(items.vectors)


def norm_outliers(v: np.ndarray) -> tuple[list[int], list[int]]:
    """The rows of a float32 array that are zero vectors and those whose norm is over
    MAX_NORM (found in float32, confirmed in float64 as the server computes)."""
    with np.errstate(over="ignore", under="ignore"):
        sq = np.einsum("ij,ij->i", v, v)
    zero = [i for i in np.flatnonzero(sq == 0).tolist() if _norm64(v[i]) == 0]
    large = [i for i in np.flatnonzero(~(sq <= 0.99 * MAX_NORM**2)).tolist() if _norm64(v[i]) > MAX_NORM]
    return zero, large


def _norm64(row: np.ndarray) -> float:
    """The norm of a float32 row, computed in float64 (the server's arithmetic)."""
    return float(np.sqrt(np.sum(np.square(row.astype(np.float64)))))


def check_split_norms(items: PreparedItems, zero: list[int], large: list[int], metric: str) -> None:
    """Refuses the rows check_split_items found as the server would under ``metric``: a
    zero vector under cosine, a norm over MAX_NORM under dot and L2."""
    bad: list[FieldViolation] = []
    if metric == "cosine":
        for i in zero:
            bad.append(FieldViolation(f"items.vectors[{i}]", f"item {json.dumps(items.ids[i], ensure_ascii=False)}: is a zero vector, "
                                                             "which has no direction under cosine"))
    else:
        for i in large:
            n = _norm64(items.vectors[i])
            bad.append(FieldViolation(f"items.vectors[{i}]", f"item {json.dumps(items.ids[i], ensure_ascii=False)}: has norm {n:.7g}, above the limit: "
                                                             f"under {metric} the norm must be at most 1e+09 so that scores stay finite"))
    if bad:
        bad.sort(key=lambda fv: int(fv.field[len("items.vectors["):-1]))
        raise _refused(bad[:100], "1 row refused" if len(bad) == 1 else f"{len(bad):,} rows refused")


def check_ids(ids: Sequence[str], field: str, *, unique: bool = False) -> None:
    """Refuses, before anything is sent, ids the server would refuse (empty, over 512
    bytes of UTF-8, holding NUL; with ``unique``, given twice), named by the caller's
    row: a call split into several requests so applies all of them or none for these."""
    if _ids_plainly_valid(ids, unique):
        return
    bad: list[FieldViolation] = []
    count = 0
    seen: dict[str, int] = {}
    for i, x in enumerate(ids):
        why = ""
        if unique and x and seen.setdefault(x, i) != i:
            why = f"duplicates {field}[{seen[x]}] ({x!r})"
        elif not x:
            why = "must not be empty"
        elif "\x00" in x:
            why = "must not contain NUL"
        else:
            try:
                n = len(x.encode())
            except UnicodeEncodeError:
                why = "is not valid UTF-8"
            else:
                if n > MAX_ID_BYTES:
                    why = f"is {n} bytes; at most {MAX_ID_BYTES}"
        if why:
            count += 1
            if len(bad) < 100:
                bad.append(FieldViolation(f"{field}[{i}]", why))
    if bad:
        raise _refused(bad, f"{count:,} refused")


def _ids_plainly_valid(ids: Sequence[str], unique: bool) -> bool:
    """Whether check_ids would pass ids, found in C for the common case (ASCII strings
    of 1 to MAX_ID_BYTES characters without NUL, distinct when unique); False leaves
    the answer, and the violations, to check_ids's loop."""
    if not isinstance(ids, (list, tuple)):
        return False  # an iterator is read once, by the loop
    try:
        joined = "".join(ids)
    except TypeError:
        return False
    if len(ids) == 0:
        return True
    if not joined.isascii() or "\x00" in joined:
        return False
    lengths = list(map(len, ids))
    if min(lengths) < 1 or max(lengths) > MAX_ID_BYTES:
        return False
    return not unique or len(set(ids)) == len(ids)


def _refused(violations: list[FieldViolation], count: str) -> InvalidArgument:
    first = violations[0]
    return InvalidArgument(f"{first.field}: {first.description} ({count}); nothing was sent", violations=violations)


def prepare_items(ids: Any, vectors: Any, groups: Groups = None, versions: Any = None) -> PreparedItems:
    """Checks the shapes of an upsert's columns (the server checks their values)."""
    id_list = _as_id_list(ids, field="items.ids", ordered=True)
    arr, dim = encode_vectors(vectors)
    if arr.shape[0] != len(id_list):
        raise InvalidArgument(
            f"got {len(id_list)} ids but {arr.shape[0]} vectors",
            violations=[FieldViolation("items.vectors", f"{arr.shape[0]} rows for {len(id_list)} ids")],
        )
    group_list: Optional[list[list[str]]] = None
    if groups is not None:
        if isinstance(groups, (str, bytes)):
            raise TypeError("groups must hold one entry per item (a list of group names, one name or None), not a single string")
        if isinstance(groups, _UNORDERED):
            raise TypeError(f"groups must hold one entry per item in the items' order, not a {type(groups).__name__}")
        group_list = [[] if g is None else ([_text(g, f"items.groups[{i}]")] if isinstance(g, str)
                                           else _as_id_list(g, "groups", field=f"items.groups[{i}].groups"))
                      for i, g in enumerate(groups)]
        if len(group_list) != len(id_list):
            raise InvalidArgument(f"got {len(id_list)} ids but {len(group_list)} group lists",
                                  violations=[FieldViolation("items.groups", f"{len(group_list)} lists for {len(id_list)} ids")])
    ver: Optional[np.ndarray] = None
    if versions is not None:
        ver = _versions(versions, len(id_list))
        if ver.shape[0] != len(id_list):
            raise InvalidArgument(f"got {len(id_list)} ids but {ver.shape[0]} versions",
                                  violations=[FieldViolation("items.versions", f"{ver.shape[0]} values for {len(id_list)} ids")])
    return PreparedItems(ids=id_list, vectors=arr, dim=dim, groups=group_list, versions=ver)


def _versions(versions: Any, n: int) -> np.ndarray:
    """Item versions as int64: integers (Python or numpy), one for all or one per item;
    a fraction, a string or a value beyond int64 is refused, not rounded or wrapped."""
    def beyond() -> InvalidArgument:
        return InvalidArgument("versions must fit in a signed 64-bit integer",
                               violations=[FieldViolation("items.versions", "does not fit in a signed 64-bit integer")])

    if isinstance(versions, (bool, np.bool_)) or (np.isscalar(versions) and not isinstance(versions, (int, np.integer))):
        raise TypeError(f"versions must be integers, got {type(versions).__name__}")
    if np.isscalar(versions):
        v = int(versions)  # type: ignore[arg-type]
        if not -(2**63) <= v < 2**63:
            raise beyond()
        return np.full(n, v, dtype=np.int64)
    # A list stays Python objects: numpy would turn ints beyond int64 into floats.
    arr = np.asarray(versions, dtype=object) if isinstance(versions, (list, tuple)) else np.asarray(versions)
    if arr.size == 0:
        return np.empty(0, dtype=np.int64)
    if arr.dtype.kind == "O":  # Python ints, possibly beyond int64
        vals = arr.reshape(-1).tolist()
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in vals):
            raise TypeError("versions must be integers")
        if any(not -(2**63) <= int(v) < 2**63 for v in vals):
            raise beyond()
        return np.asarray(vals, dtype=np.int64)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"versions must be integers, got {arr.dtype}")
    if arr.dtype.kind == "u" and arr.size and int(arr.max()) >= 2**63:
        raise beyond()
    return arr.astype(np.int64).reshape(-1)


_ROW_FIELD = re.compile(r"^(items\.[a-z_]+)\[(\d+)\]")
_ANCHOR_FIELD = re.compile(r"^(anchors)\[(\d+)\]")


def _in_split(err: InvalidArgument, row_field: "re.Pattern[str]", start: int, suffix: str) -> InvalidArgument:
    """``err`` of one request of a split call, with the row index of each field that
    ``row_field`` matches shifted by ``start`` (the caller's rows) and ``suffix`` added
    to its message."""
    return _renamed(err, lambda field: row_field.sub(lambda m: f"{m.group(1)}[{int(m.group(2)) + start}]", field), suffix)


def _renamed(err: InvalidArgument, rename: Callable[[str], str], suffix: str = "") -> InvalidArgument:
    """``err`` with ``rename`` applied to its fields and to its message (the server's
    message starts with the first field), and `` (suffix)`` added to the message."""
    violations = [FieldViolation(rename(v.field), v.description, v.reason) for v in err.violations]
    message = rename(err.message) + (f" ({suffix})" if suffix else "")
    out = InvalidArgument(message, code=err.code, details=err.details, violations=violations)
    out.attempts = err.attempts
    for k, v in vars(err).items():  # what the client added (applied_rows, …)
        if k not in vars(out):
            setattr(out, k, v)
    return out


# MineRequest.anchor_columns fields and the Client.mine arguments they come from.
_COLUMN_ARG = {
    "count": "anchor_ids", "ids": "anchor_ids", "vectors": "anchor_vectors", "keys": "keys",
    "guide_vectors": "guide_vectors", "positive_ids": "positive_ids", "positive_id_counts": "positive_ids",
    "exclude_ids": "exclude_ids", "exclude_id_counts": "exclude_ids", "groups": "groups", "group_counts": "groups",
    "positive_vectors": "positive_vectors", "positive_vector_counts": "positive_vectors",
    "guide_positive_vectors": "guide_positive_vectors", "guide_positive_vector_counts": "guide_positive_vectors",
}
_COLUMN_FIELD = re.compile(r"\banchor_columns\.([a-z_]+)")


def column_args(err: InvalidArgument) -> InvalidArgument:
    """The server's refusal of a Mine request sent in anchor columns, with each
    ``anchor_columns.FIELD`` it names as the :meth:`hardneg.Client.mine` argument the
    column came from (``anchor_columns.vectors`` → ``anchor_vectors``)."""
    if not any(_COLUMN_FIELD.search(v.field) for v in err.violations) and not _COLUMN_FIELD.search(err.message):
        return err
    return _renamed(err, lambda text: _COLUMN_FIELD.sub(lambda m: _COLUMN_ARG.get(m.group(1), m.group(0)), text))


def anchor_too_large(size: int, limit: int, row: int, n: int) -> InvalidArgument:
    """The refusal of a Mine call one of whose anchors alone makes a request over the
    message limit (its vectors, positive vectors, ids)."""
    field = f"anchors[{row}]"
    why = (f"this anchor alone makes a Mine request of {size:,} bytes, over the largest message of {limit:,} bytes "
           f"({n:,} anchors in the call): send fewer positive_vectors or exclude_ids for it, or raise the client's "
           f"max_message_bytes and the server's -grpc-max-msg-bytes")
    return InvalidArgument(f"{field}: {why}", violations=[FieldViolation(field, why, "REQUEST_TOO_LARGE")])


def in_split_upsert(err: InvalidArgument, start: int, end: int, batch: int, batches: int) -> InvalidArgument:
    """The server's refusal of batch ``batch`` (rows ``[start, end)``) of a split upsert,
    with its fields renamed to the caller's rows and what was applied said."""
    applied = f"the {start:,} rows before it were applied" if start else "nothing was applied"
    out = _in_split(err, _ROW_FIELD, start, f"batch {batch + 1} of {batches}, rows {start:,}–{end - 1:,}; {applied}")
    out.applied_rows = start  # type: ignore[attr-defined]
    return out


def in_split_mine(err: InvalidArgument, start: int, end: int, part: int, parts: int) -> InvalidArgument:
    """The server's refusal of request ``part`` (anchors ``[start, end)``) of a Mine
    split into requests of :data:`MAX_ANCHORS`, with its fields renamed to the caller's
    anchor rows."""
    before = f"the requests for the {start:,} anchors before it were answered" if start else "no request was answered"
    return _in_split(err, _ANCHOR_FIELD, start, f"request {part + 1} of {parts}, anchors {start:,}–{end - 1:,}; {before}")


def chunks(seq: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def part_size(n: int, need: int, limit: int) -> int:
    """How many of ``n`` rows go in each part of a request whose answer the server
    refused as ``need`` bytes, over its ``limit`` (RESPONSE_TOO_LARGE): as many parts as
    that size needs with a quarter of room, at least two (at most ``n``)."""
    parts = min(n, max(2, -(-need * 5 // (limit * 4))))
    return -(-n // parts)


def id_chunks(ids: Sequence[str], size: int, max_bytes: int) -> Iterator[Sequence[str]]:
    """``ids`` in runs of at most ``size`` ids and about ``max_bytes`` bytes of them (each
    run at least one id), so that a request of long ids fits in a message."""
    start, total = 0, 0
    for i, x in enumerate(ids):
        n = len(x.encode("utf-8", "surrogatepass")) + 4  # its bytes and field framing
        if i > start and (i - start >= size or total + n > max_bytes):
            yield ids[start:i]
            start, total = i, 0
        total += n
    if start < len(ids):
        yield ids[start:]


# --- collections -------------------------------------------------------------------------


def create_collection_request(
    name: str, dim: int, metric: str, index_params: Optional[IndexParams], ephemeral: bool = False
) -> pb.CreateCollectionRequest:
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a name (cosine, dot or l2), got {type(metric).__name__}")
    if not isinstance(ephemeral, bool):
        raise TypeError(f"ephemeral must be a bool, got {type(ephemeral).__name__}")
    if isinstance(index_params, Mapping):
        index_params = IndexParams(**index_params)
    elif index_params is not None and not isinstance(index_params, IndexParams):
        raise TypeError(f"index_params must be a hardneg.IndexParams or a dict of its fields, got {type(index_params).__name__}")
    try:
        m = METRICS[metric.lower()]
    except KeyError:
        raise InvalidArgument(f"unknown metric {metric!r}; use one of cosine, dot, l2",
                              violations=[FieldViolation("metric", f"unknown metric {metric!r}; use one of cosine, dot, l2")]) from None
    given = index_params or IndexParams()
    checks = [("dim", dim, 1, MAX_DIM)] + [(f"index_params.{f}", getattr(given, f), 0, 2**32 - 1)
                                           for f in ("m", "ef_construction", "ef_search", "exact_threshold")]
    violations = [bad for bad in (_int_violation(*c) for c in checks) if bad is not None]
    if violations:
        raise InvalidArgument("invalid collection", violations=violations)
    p = index_params or IndexParams()
    if not isinstance(p.quantization, str):
        raise TypeError(f"index_params.quantization must be a name ('', none or int8), got {type(p.quantization).__name__}")
    try:
        q = QUANTIZATIONS[p.quantization.lower()]
    except KeyError:
        raise bad_argument("index_params.quantization",
                           f"unknown quantization {p.quantization!r}; use '' (server default), none or int8") from None
    return pb.CreateCollectionRequest(
        name=name,
        dim=dim,
        metric=m,
        index_params=pb.IndexParams(
            m=p.m,
            ef_construction=p.ef_construction,
            ef_search=p.ef_search,
            exact_threshold=p.exact_threshold,
            quantization=q,
        ),
        ephemeral=ephemeral,
    )


def definition_differences(existing: CollectionInfo, req: pb.CreateCollectionRequest) -> list[str]:
    """How an existing collection differs from the one ``req`` would create.

    Index parameters left at 0 in the request (server default) match any value.
    """
    diffs = []
    if existing.ephemeral != req.ephemeral:
        diffs.append(f"ephemeral {existing.ephemeral} (requested {req.ephemeral})")
    if existing.dim != req.dim:
        diffs.append(f"dim {existing.dim} (requested {req.dim})")
    wanted = _METRIC_NAMES.get(req.metric, "unspecified")
    if existing.metric != wanted:
        diffs.append(f"metric {existing.metric} (requested {wanted})")
    for name in ("m", "ef_construction", "ef_search", "exact_threshold"):
        want = getattr(req.index_params, name)
        have = getattr(existing.index_params, name)
        if want and want != have:
            diffs.append(f"index_params.{name} {have} (requested {want})")
    want_q = _QUANTIZATION_NAMES.get(req.index_params.quantization, "")
    if want_q and want_q != existing.index_params.quantization:
        diffs.append(f"index_params.quantization {existing.index_params.quantization or 'unspecified'} (requested {want_q})")
    return diffs


def collection_info(c: pb.Collection) -> CollectionInfo:
    return CollectionInfo(
        name=c.name,
        dim=c.dim,
        metric=_METRIC_NAMES.get(c.metric, "unspecified"),
        index_params=IndexParams(
            m=c.index_params.m,
            ef_construction=c.index_params.ef_construction,
            ef_search=c.index_params.ef_search,
            exact_threshold=c.index_params.exact_threshold,
            quantization=_QUANTIZATION_NAMES.get(c.index_params.quantization, ""),
        ),
        stats=CollectionStats(
            item_count=c.stats.item_count,
            tombstone_count=c.stats.tombstone_count,
            last_applied_sequence=c.stats.last_applied_sequence,
            vector_bytes=c.stats.vector_bytes,
            graph_search=c.stats.graph_search,
            first_pass_lead=c.stats.first_pass_lead,
            lead_recall=c.stats.lead_recall,
        ),
        ephemeral=c.ephemeral,
    )


# --- items -------------------------------------------------------------------------------


def items_from_batches(responses: Sequence[pb.GetItemsResponse], include_vectors: bool) -> Items:
    ids: list[str] = []
    groups: list[list[str]] = []
    versions: list[np.ndarray] = []
    vecs: list[np.ndarray] = []
    missing: list[str] = []
    dim = 0
    for r in responses:
        b = r.items
        n = len(b.ids)
        ids.extend(b.ids)
        if len(b.groups) == n:
            groups.extend(list(g.groups) for g in b.groups)
        else:
            groups.extend([] for _ in range(n))
        if len(b.versions) == n:
            versions.append(np.asarray(b.versions, dtype=np.int64))
        else:
            versions.append(np.zeros(n, dtype=np.int64))
        dim = dim or b.dim  # the server sends the collection's dim even with no items
        if include_vectors and n:
            vecs.append(decode_vectors(b.vectors, b.dim))
        missing.extend(r.missing_ids)
    vectors: Optional[np.ndarray] = None
    if include_vectors:
        vectors = np.concatenate(vecs, axis=0) if vecs else np.empty((0, dim), dtype=np.float32)
    return Items(
        ids=ids,
        vectors=vectors,
        groups=groups,
        versions=np.concatenate(versions) if versions else np.empty(0, dtype=np.int64),
        missing_ids=missing,
    )


# --- mining ------------------------------------------------------------------------------


# Per integer field of MiningPolicy: (smallest, largest, allows None). The bounds are the
# server's (internal/mining/policy.go) where it has one, else the wire type's.
_POLICY_INTS: dict[str, tuple[int, int, bool]] = {
    "num_negatives": (1, MAX_NEGATIVES, False),
    "range_min": (0, MAX_RANGE, False),
    "range_max": (0, MAX_RANGE, True),
    "seed": (0, 2**64 - 1, False),
    "max_candidates": (0, 2**32 - 1, False),
    "ef_search": (0, MAX_EF_SEARCH, False),
    "max_rank": (0, 2**32 - 1, False),
    "min_version": (-(2**63), 2**63 - 1, True),
    "max_staleness": (0, 2**63 - 1, True),
    "max_exposures": (0, 2**32 - 1, False),
    "closed_loop_depth": (0, MAX_RANGE, False),
    "pfn_budget": (0, MAX_NEGATIVES, True),
}
_POLICY_FLOATS = (
    "max_score",
    "min_score",
    "absolute_margin",
    "relative_margin",
    "duplicate_threshold",
    "temperature",
    "simans_a",
    "simans_b",
    "diversity_threshold",
    "duplicate_quantile",
    "duplicate_zscore",
    "guide_margin",
    "guide_duplicate_threshold",
    "duplicate_margin",
    "pfn_threshold",
)
_POLICY_BOOLS = (
    "exclude_same_group",
    "in_batch_exclusion",
    "use_feedback",
    "widen",
    "exclude_near_duplicates",
    "rotate",
    "closed_loop",
)
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _policy_violations(policy: MiningPolicy) -> list[FieldViolation]:
    """Type and range errors of each policy field, named ``policy.<field>``."""
    out: list[FieldViolation] = []

    def bad(name: str, why: str) -> None:
        out.append(FieldViolation(field=f"policy.{name}", description=why))

    for name, (lo, hi, nullable) in _POLICY_INTS.items():
        v = getattr(policy, name)
        if v is None and nullable:
            continue
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
            bad(name, f"must be an integer, got {type(v).__name__}")
        elif not lo <= int(v) <= hi:
            bad(name, f"must be {lo}–{hi:,}, got {int(v)}")
    for name in _POLICY_FLOATS:
        v = getattr(policy, name)
        if v is None:
            continue
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
            bad(name, f"must be a number or None, got {type(v).__name__}")
        elif not (math.isfinite(float(v)) and abs(float(v)) <= _FLOAT32_MAX):
            bad(name, f"must be a finite float32, got {float(v)!r}")
        elif name == "absolute_margin" and v < 0:
            bad(name, "must not be negative")
        elif name in ("relative_margin", "duplicate_quantile", "pfn_threshold") and not 0 <= v <= 1:
            bad(name, f"must be in [0, 1], got {float(v)!r}")
    if policy.guide_collection is not None and not isinstance(policy.guide_collection, str):
        bad("guide_collection", f"must be a collection name or None, got {type(policy.guide_collection).__name__}")
    if policy.guide_margin is not None and isinstance(policy.guide_margin, numbers.Real) and policy.guide_margin < 0:
        bad("guide_margin", "must not be negative")
    if policy.duplicate_quantile is not None and policy.duplicate_zscore is not None:
        bad("duplicate_zscore", "set duplicate_quantile or duplicate_zscore, not both")
    for name in _POLICY_BOOLS:
        v = getattr(policy, name)
        if v is not None and not isinstance(v, (bool, np.bool_)):
            bad(name, f"must be True, False or None, got {type(v).__name__}")
    if policy.sampling_strategy not in SAMPLING:
        bad("sampling_strategy", f"unknown strategy {policy.sampling_strategy!r}; use one of {_SAMPLING_NAMES}")
    if policy.rank_mode not in RANK_MODES:
        bad("rank_mode", f"unknown rank mode {policy.rank_mode!r}; use surviving or raw")
    if policy.stale_rule not in STALE_RULES:
        bad("stale_rule", f"unknown stale rule {policy.stale_rule!r}; use skip or rescore")
    mr, rmin = policy.max_rank, policy.range_min
    if (isinstance(mr, numbers.Integral) and isinstance(rmin, numbers.Integral) and not isinstance(mr, bool)
            and 0 < mr < 2**32 - 1 and rmin >= mr):
        # as the server checks it: a negative's raw rank is at least its rank in the window
        bad("max_rank", f"{int(mr)} is not above range_min ({int(rmin)}): the hardness floor ends the search before "
                        "the rank window starts")
    out.extend(_synthetic_violations(policy.synthetic))
    return out


_SYNTHETIC_FIELDS = {f for f in SyntheticPolicy.__dataclass_fields__}


def synthetic_policy(value: Any) -> Optional[SyntheticPolicy]:
    """A :class:`SyntheticPolicy` from ``None``, itself or a dict of its fields."""
    if value is None or isinstance(value, SyntheticPolicy):
        return value
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - _SYNTHETIC_FIELDS)
        if unknown:
            raise InvalidArgument(
                "invalid mining policy",
                violations=[FieldViolation(field=f"policy.synthetic.{u}", description="unknown field") for u in unknown],
            )
        return SyntheticPolicy(**value)
    raise InvalidArgument(
        "invalid mining policy",
        violations=[FieldViolation(field="policy.synthetic", description=f"must be a SyntheticPolicy, a dict or None, got {type(value).__name__}")],
    )


def _synthetic_violations(value: Any) -> list[FieldViolation]:
    out: list[FieldViolation] = []
    try:
        sy = synthetic_policy(value)
    except InvalidArgument as e:
        return list(e.violations)
    if sy is None:
        return out
    for name in ("num_mixed", "num_query_mixed", "pool"):
        v = getattr(sy, name)
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral) or not 0 <= int(v) <= MAX_NEGATIVES:
            out.append(FieldViolation(field=f"policy.synthetic.{name}", description=f"must be an integer 0–{MAX_NEGATIVES:,}, got {v!r}"))
    for name in ("alpha_min", "alpha_max", "beta_min", "beta_max"):
        v = getattr(sy, name)
        if v is None:
            continue
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real) or not 0 <= float(v) <= 1:
            out.append(FieldViolation(field=f"policy.synthetic.{name}", description=f"must be a number in [0, 1] or None, got {v!r}"))
        elif name.startswith("beta") and float(v) == 1:
            out.append(FieldViolation(field=f"policy.synthetic.{name}", description=f"must be below 1 (β = 1 mixes in nothing "
                                      f"of the negative: the result is the anchor's own query), got {v!r}"))
    return out


def validate_policy(policy: MiningPolicy) -> None:
    """Raises :class:`~hardneg.errors.InvalidArgument` naming every bad policy field."""
    violations = _policy_violations(policy)
    if violations:
        raise InvalidArgument("invalid mining policy", violations=violations)


def policy_message(policy: MiningPolicy) -> pb.MiningPolicy:
    """The wire form of a policy, after :func:`validate_policy`."""
    validate_policy(policy)
    sampling = SAMPLING[policy.sampling_strategy]
    rank_mode = RANK_MODES[policy.rank_mode]
    msg = pb.MiningPolicy(
        num_negatives=int(policy.num_negatives),
        range_min=int(policy.range_min),
        range_max=int(policy.range_max or 0),
        rank_mode=rank_mode,
        sampling=sampling,
        seed=int(policy.seed),
        max_candidates=int(policy.max_candidates),
        ef_search=int(policy.ef_search),
        max_rank=int(policy.max_rank),
        guide_collection=policy.guide_collection or "",
        stale_rule=STALE_RULES[policy.stale_rule],
        rotate=bool(policy.rotate),
        max_exposures=int(policy.max_exposures),
        closed_loop=bool(policy.closed_loop),
        closed_loop_depth=int(policy.closed_loop_depth),
    )
    sy = synthetic_policy(policy.synthetic)
    if sy is not None:
        msg.synthetic.num_mixed = int(sy.num_mixed)
        msg.synthetic.num_query_mixed = int(sy.num_query_mixed)
        msg.synthetic.pool = int(sy.pool)
        for name in ("alpha_min", "alpha_max", "beta_min", "beta_max"):
            if getattr(sy, name) is not None:
                setattr(msg.synthetic, name, float(getattr(sy, name)))
    if policy.min_version is not None:
        msg.min_version = int(policy.min_version)
    if policy.max_staleness is not None:
        msg.max_staleness = int(policy.max_staleness)
    if policy.pfn_budget is not None:
        msg.pfn_budget = int(policy.pfn_budget)
    for name in (
        "exclude_same_group",
        "duplicate_threshold",
        "absolute_margin",
        "relative_margin",
        "min_score",
        "max_score",
        "in_batch_exclusion",
        "use_feedback",
        "temperature",
        "simans_a",
        "simans_b",
        "diversity_threshold",
        "widen",
        "exclude_near_duplicates",
        "duplicate_quantile",
        "duplicate_zscore",
        "guide_margin",
        "guide_duplicate_threshold",
        "duplicate_margin",
        "pfn_threshold",
    ):
        value = getattr(policy, name)
        if value is not None:
            setattr(msg, name, bool(value) if name in _POLICY_BOOLS else float(value))
    return msg


def bad_argument(field: str, description: str) -> InvalidArgument:
    """The client's own refusal of an argument: ``InvalidArgument`` naming ``field``,
    raised before anything is sent."""
    return InvalidArgument(f"{field}: {description}", violations=[FieldViolation(field, description)])


def _per_anchor_ids(value: Any, n: int, what: str) -> list[list[str]]:
    if value is None:
        return [[] for _ in range(n)]
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{what} must hold one entry per anchor (a list of ids, one id or None), not a single string")
    if isinstance(value, _UNORDERED):
        raise TypeError(f"{what} must hold one entry per anchor in the anchors' order, not a {type(value).__name__}")
    rows = list(value)
    if len(rows) != n:
        raise bad_argument(what, f"has {len(rows)} entries for {n} anchors")
    out: list[Any] = []
    for r in rows:
        if r is None:
            out.append([])
        elif isinstance(r, str):
            out.append([r])
        elif type(r) is list or type(r) is tuple:
            out.append(r)  # checked below, all at once
        else:
            out.append(_as_id_list(r, what))
    # Every id a str and the whole lot ASCII (so valid UTF-8) is one pass in C; anything
    # else is checked anchor by anchor, which names the bad entry.
    flat = [x for r in out for x in r]
    if not (all(type(x) is str for x in flat) and "".join(flat).isascii()):
        out = [_as_id_list(r, what) for r in out]
    return out


def _per_anchor_vectors(value: Any, n: int, what: str = "positive_vectors") -> tuple[list[bytes], list[int]]:
    """Each anchor's vectors of a per-anchor vector argument as float32 bytes, and how
    many vectors each holds."""
    if value is None:
        return [b""] * n, [0] * n
    if isinstance(value, np.ndarray):
        if value.ndim == 2:  # one positive vector per anchor
            if value.shape[0] != n:
                raise bad_argument(what, f"has {value.shape[0]} rows for {n} anchors")
            arr = np.ascontiguousarray(value, dtype=_F32)
            return [arr[i].tobytes() for i in range(n)], [1] * n
        if value.ndim == 3:  # p positive vectors per anchor
            if value.shape[0] != n:
                raise bad_argument(what, f"has {value.shape[0]} entries for {n} anchors")
            arr = np.ascontiguousarray(value, dtype=_F32)
            return [arr[i].tobytes() for i in range(n)], [value.shape[1]] * n
        raise bad_argument(what, f"must be 2-D or 3-D, got shape {value.shape}")
    rows = list(value)
    if len(rows) != n:
        raise bad_argument(what, f"has {len(rows)} entries for {n} anchors")
    data, counts = [], []
    for r in rows:
        if r is None:
            data.append(b"")
            counts.append(0)
        else:
            arr = np.atleast_2d(np.asarray(r, dtype=_F32))
            data.append(vector_bytes(arr))
            counts.append(int(arr.shape[0]) if arr.size else 0)
    return data, counts


def _u32(values: Sequence[int]) -> bytes:
    return np.asarray(values, dtype="<u4").tobytes()


class AnchorBlock:
    """A Mine call's anchors, checked once (the same refusals whichever form is sent),
    sent as ``MineRequest.anchor_columns`` (:meth:`columns`: each field one array, no
    message per anchor) or, to a server that predates them, as ``Anchor`` rows
    (:meth:`rows`). Parts ``[lo, hi)`` of it go in separate requests when a call is
    split."""

    def __init__(
        self,
        anchor_ids: Any = None,
        anchor_vectors: Any = None,
        *,
        positive_ids: Any = None,
        positive_vectors: Any = None,
        exclude_ids: Any = None,
        groups: Any = None,
        keys: Any = None,
        guide_vectors: Any = None,
        guide_positive_vectors: Any = None,
    ) -> None:
        if anchor_ids is None and anchor_vectors is None:
            raise bad_argument("anchor_ids", "give anchor_ids, anchor_vectors or both")
        vec_rows: Optional[np.ndarray] = None
        if anchor_vectors is not None:
            vec_rows, _ = encode_vectors(anchor_vectors, "anchor_vectors")
        if anchor_ids is not None:
            if isinstance(anchor_ids, str):
                raise TypeError("anchor_ids must be a sequence of strings, not a single string")
            ids = ["" if a is None else a for a in _as_id_list(anchor_ids, "anchor_ids", missing_ok=True, ordered=True)]
            n = len(ids)
            if vec_rows is not None and vec_rows.shape[0] != n:
                raise bad_argument("anchor_vectors", f"has {vec_rows.shape[0]} rows for {n} anchor ids")
        else:
            assert vec_rows is not None
            n = int(vec_rows.shape[0])
            ids = [""] * n
        if n == 0:
            field = "anchor_ids" if anchor_ids is not None else "anchor_vectors"
            raise bad_argument(field, f"is empty; give 1 or more anchors (a call of more than {MAX_ANCHORS:,} is sent as several requests)")
        self.n = n
        self.ids = ids if any(ids) else None
        self.vectors = vec_rows
        #: The anchors' dimension, from their vectors (0 when they have none).
        self.dim = int(vec_rows.shape[1]) if vec_rows is not None else 0
        self.positive_ids = _per_anchor_ids(positive_ids, n, "positive_ids")
        self.exclude_ids = _per_anchor_ids(exclude_ids, n, "exclude_ids")
        self.groups = _per_anchor_ids(groups, n, "groups")
        self.positive_vectors = _per_anchor_vectors(positive_vectors, n)
        gvec: Optional[np.ndarray] = None
        if guide_vectors is not None:
            gvec, _ = encode_vectors(guide_vectors, "guide_vectors")
            if gvec.shape[0] != n:
                raise bad_argument("guide_vectors", f"must be (n, guide_dim) with n = {n}, got shape {gvec.shape}")
        # An all-NaN guide row is an anchor without a guide query (its stored guide
        # vector is used): a column holds every anchor's or none, so such anchors go in rows.
        self.guide_missing = np.isnan(gvec).all(axis=1) if gvec is not None else None
        self.guide_vectors = gvec
        self.guide_positive_vectors = _per_anchor_vectors(guide_positive_vectors, n, "guide_positive_vectors")
        key_list = [""] * n if keys is None else ["" if k is None else k for k in _as_id_list(keys, "keys", missing_ok=True, ordered=True)]
        if len(key_list) != n:
            raise bad_argument("keys", f"has {len(key_list)} entries for {n} anchors")
        self.keys = key_list if any(key_list) else None

    def __len__(self) -> int:
        return self.n

    @property
    def columnar(self) -> bool:
        """Whether the anchors fit in columns (every anchor has a guide query or none does)."""
        m = self.guide_missing
        return m is None or bool(m.all()) or not bool(m.any())

    def columns(self, lo: int, hi: int) -> pb.AnchorColumns:
        """Anchors ``[lo, hi)`` as ``AnchorColumns``: only the columns some anchor sets."""
        c = pb.AnchorColumns(count=hi - lo)
        if self.ids is not None:
            c.ids.extend(self.ids[lo:hi])
        if self.keys is not None:
            c.keys.extend(self.keys[lo:hi])
        if self.vectors is not None:
            c.vectors = self.vectors[lo:hi].tobytes()
        for ids, field, counts in ((self.positive_ids, "positive_ids", "positive_id_counts"),
                                   (self.exclude_ids, "exclude_ids", "exclude_id_counts"),
                                   (self.groups, "groups", "group_counts")):
            part = ids[lo:hi]
            flat = [x for r in part for x in r]
            if flat:
                getattr(c, field).extend(flat)
                setattr(c, counts, _u32([len(r) for r in part]))
        for (data, cnt), field, counts in ((self.positive_vectors, "positive_vectors", "positive_vector_counts"),
                                           (self.guide_positive_vectors, "guide_positive_vectors", "guide_positive_vector_counts")):
            if any(cnt[lo:hi]):
                setattr(c, field, b"".join(data[lo:hi]))
                setattr(c, counts, _u32(cnt[lo:hi]))
        if self.guide_vectors is not None and not bool(self.guide_missing.all()):
            c.guide_vectors = self.guide_vectors[lo:hi].tobytes()
        return c

    def rows(self, lo: int, hi: int) -> list[pb.Anchor]:
        """Anchors ``[lo, hi)`` as one ``Anchor`` message each."""
        anchors = []
        for i in range(lo, hi):
            # Only the fields an anchor has: each empty keyword costs as much as a set one.
            fields: dict[str, Any] = {}
            for name, value in (
                ("id", self.ids[i] if self.ids is not None else ""),
                ("key", self.keys[i] if self.keys is not None else ""),
                ("positive_ids", self.positive_ids[i]),
                ("positive_vectors", self.positive_vectors[0][i]),
                ("exclude_ids", self.exclude_ids[i]),
                ("groups", self.groups[i]),
                ("guide_positive_vectors", self.guide_positive_vectors[0][i]),
            ):
                if value:
                    fields[name] = value
            if self.vectors is not None:
                fields["vector"] = self.vectors[i].tobytes()
            if self.guide_vectors is not None and not self.guide_missing[i]:
                fields["guide_vector"] = self.guide_vectors[i].tobytes()
            anchors.append(pb.Anchor(**fields))
        return anchors


def refused_anchor_columns(err: InvalidArgument) -> bool:
    """Whether ``err`` answers a request with ``anchor_columns`` from a server that
    predates them: it saw no anchors."""
    return any(v.field == "anchors" and "got 0" in v.description for v in err.violations)


#: Bounds of MineRequest.explain: per anchor, and anchors × explain per request.
MAX_EXPLAIN = 1024
MAX_EXPLAIN_TOTAL = 65536
#: Candidates listed per anchor for ``explain=True``.
DEFAULT_EXPLAIN = 100


def explain_limit(explain: Union[bool, int], anchors: int) -> int:
    """MineRequest.explain for a request of ``anchors`` anchors: 0 when off,
    :data:`DEFAULT_EXPLAIN` for True, else the number given; capped so the request stays
    within the server's bounds."""
    if explain is False or explain is None:
        return 0
    if explain is not True and (isinstance(explain, (bool, np.bool_)) or not isinstance(explain, (int, np.integer))):
        raise TypeError(f"explain must be True, False or a count, got {explain!r}")
    n = DEFAULT_EXPLAIN if explain is True else int(explain)
    if n < 0:
        raise InvalidArgument("explain must be True, False or a count ≥ 0", violations=[FieldViolation("explain", "must be ≥ 0")])
    return min(n, MAX_EXPLAIN, MAX_EXPLAIN_TOTAL // max(anchors, 1))


def explain_table(resp: pb.MineResponse) -> ExplainTable:
    """The explained candidates of a MineResponse as one table."""
    anchor: list[int] = []
    ids: list[str] = []
    score: list[float] = []
    rank: list[int] = []
    fate: list[str] = []
    for i, r in enumerate(resp.results):
        for x in r.explained:
            anchor.append(i)
            ids.append(x.id)
            has = x.HasField("score")
            score.append(x.score if has else math.nan)
            rank.append(x.rank if has else -1)
            fate.append(pb.CandidateFate.Name(x.fate).removeprefix("CANDIDATE_FATE_").lower())
    return ExplainTable(
        anchor=np.asarray(anchor, dtype=np.int64),
        id=np.asarray(ids, dtype=object),
        score=np.asarray(score, dtype=np.float32),
        rank=np.asarray(rank, dtype=np.int64),
        fate=np.asarray(fate, dtype=object),
    )


#: RuleCounts' field names in field number order: the columns of MineColumns.removed.
_RULES_BY_NUMBER = tuple(f.name for f in sorted(pb.RuleCounts.DESCRIPTOR.fields, key=lambda f: f.number))
#: Where each of RULES sits in MineColumns.removed.
_RULE_COLUMN = {name: _RULES_BY_NUMBER.index(name) for name in RULES}


def _column(data: bytes, dtype: str, count: int, field: str) -> np.ndarray:
    """One packed MineColumns column of ``count`` values; a column of another length is
    a malformed response."""
    arr = np.frombuffer(data, dtype=dtype)
    if arr.shape[0] != count:
        raise Internal(f"malformed Mine response: columns.{field} holds {arr.shape[0]} values, expected {count}")
    return arr


def _padded(flat: np.ndarray, fill: Any, n: int, k: int, full: bool, rows: Any, cols: Any) -> np.ndarray:
    """flat's per-negative values in an (n, k) array padded with fill."""
    if full:
        return flat.reshape(n, k)
    out = np.full((n, k), fill, dtype=flat.dtype)
    out[rows, cols] = flat
    return out


def mine_columns(
    resp: pb.MineResponse, k: int, include_vectors: bool, explain: bool = False, synthetic: bool = False
) -> MineResult:
    """Turns a columnar MineResponse (``MineRequest.columnar``) into padded numpy arrays
    of width ``k``: each column is one ``numpy.frombuffer``, without a Python step per
    negative."""
    c = resp.columns
    counts32 = np.frombuffer(c.counts, dtype="<u4")
    n = counts32.shape[0]
    counts = counts32.astype(np.int64)
    total = int(counts.sum())
    k = max(k, int(counts.max()) if n else 0)
    full = total == n * k
    rows = cols = None
    if not full:
        rows = np.repeat(np.arange(n), counts)
        cols = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    if len(c.ids) != total:
        raise Internal(f"malformed Mine response: columns.ids holds {len(c.ids)} ids, expected {total}")
    ids = _padded(np.array(c.ids, dtype=object), None, n, k, full, rows, cols)
    scores = _padded(_column(c.scores, "<f4", total, "scores").astype(np.float32), np.nan, n, k, full, rows, cols)
    ranks = _padded(_column(c.ranks, "<u4", total, "ranks").astype(np.int64), -1, n, k, full, rows, cols)
    p_fn = _padded(_column(c.p_fn, "<f4", total, "p_fn").astype(np.float32), np.nan, n, k, full, rows, cols)
    versions = _padded(_column(c.versions, "<i8", total, "versions").astype(np.int64), 0, n, k, full, rows, cols)
    stale = _padded(_column(c.stale, "u1", total, "stale").astype(bool), False, n, k, full, rows, cols)
    vectors: Optional[np.ndarray] = None
    if include_vectors:
        data = np.frombuffer(c.negative_vectors, dtype=_F32)
        dim = c.dim or (data.shape[0] // total if total else 0)
        if dim * total != data.shape[0]:
            raise Internal(f"malformed Mine response: columns.negative_vectors holds {data.shape[0]} values for {total} negatives")
        if full:
            vectors = data.reshape(n, k, dim).astype(np.float32)
        else:
            vectors = np.full((n, k, dim), np.nan, dtype=np.float32)
            vectors[rows, cols] = data.reshape(total, dim)

    def per_anchor(data: bytes, dtype: str, field: str, to: Any) -> np.ndarray:
        return _column(data, dtype, n, field).astype(to)

    nrules = c.rules
    removed_all = _column(c.removed, "<u4", n * nrules, "removed").reshape(n, nrules).astype(np.int64)
    zeros = np.zeros(n, dtype=np.int64)
    removed = {rule: (removed_all[:, j].copy() if j < nrules else zeros.copy()) for rule, j in _RULE_COLUMN.items()}
    unknown_counts = per_anchor(c.unknown_positive_counts, "<u4", "unknown_positive_counts", np.int64)
    unknown_ids = list(c.unknown_positive_ids)
    if len(unknown_ids) != int(unknown_counts.sum()):
        raise Internal("malformed Mine response: columns.unknown_positive_ids does not match unknown_positive_counts")
    ends = np.cumsum(unknown_counts).tolist()
    unknown = [unknown_ids[e - m : e] for e, m in zip(ends, unknown_counts.tolist())]
    return MineResult(
        ids=ids,
        scores=scores,
        ranks=ranks,
        mask=ranks >= 0,
        counts=counts,
        positive_scores=per_anchor(c.positive_scores, "<f4", "positive_scores", np.float32),
        shortfall=per_anchor(c.shortfall, "<u4", "shortfall", np.int64),
        candidates_examined=per_anchor(c.candidates_examined, "<u8", "candidates_examined", np.int64),
        widenings=per_anchor(c.widenings, "<u4", "widenings", np.int64),
        exact_scan=per_anchor(c.exact_scan, "u1", "exact_scan", bool),
        removed=removed,
        unknown_positive_ids=unknown,
        vectors=vectors,
        p_fn=p_fn,
        max_rank=per_anchor(c.max_rank, "<u4", "max_rank", np.int64),
        floor_reached=per_anchor(c.floor_reached, "u1", "floor_reached", bool),
        duplicate_threshold=per_anchor(c.duplicate_threshold, "<f4", "duplicate_threshold", np.float32),
        guide_positive_scores=per_anchor(c.guide_positive_scores, "<f4", "guide_positive_scores", np.float32),
        versions=versions,
        stale=stale,
        rotation_restarted=per_anchor(c.rotation_restarted, "u1", "rotation_restarted", bool),
        rotation_served=per_anchor(c.rotation_served, "<u4", "rotation_served", np.int64),
        explained=explain_table(resp) if explain else None,
        explain_truncated=(np.asarray([r.explain_truncated for r in resp.results], dtype=bool).reshape(n)
                           if len(resp.results) == n else np.zeros(n, dtype=bool)) if explain else None,
        synthetic=synthetic_negatives(resp, c.dim, n) if synthetic else None,
        hardness=per_anchor(c.hardness, "<f4", "hardness", np.float32),
        band_shift=per_anchor(c.band_shift, "<u4", "band_shift", np.int64),
    )


def mine_result(
    resp: pb.MineResponse, k: int, include_vectors: bool, explain: bool = False, synthetic: bool = False
) -> MineResult:
    """Turns a MineResponse into padded numpy arrays of width ``k``: a columnar one
    (:func:`mine_columns`) or one in rows, as a server that predates
    ``MineRequest.columnar`` answers.

    Each field is read in one pass over all negatives (or all results) into a flat
    column, and the columns are scattered into the padded arrays at once: no per-cell
    numpy assignment, which cost more than the protobuf reads themselves.
    """
    if resp.HasField("columns"):
        return mine_columns(resp, k, include_vectors, explain, synthetic)
    results = resp.results
    n = len(results)
    negs = [r.negatives for r in results]
    count_list = [len(x) for x in negs]
    k = max(k, max(count_list, default=0))
    counts = np.asarray(count_list, dtype=np.int64).reshape(n)
    flat = [neg for x in negs for neg in x]
    total = len(flat)
    # Row and column of each flat negative in the padded (n, k) arrays.
    rows = np.repeat(np.arange(n), counts)
    cols = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    ids = np.full((n, k), None, dtype=object)
    scores = np.full((n, k), np.nan, dtype=np.float32)
    ranks = np.full((n, k), -1, dtype=np.int64)
    p_fn = np.full((n, k), np.nan, dtype=np.float32)
    versions = np.zeros((n, k), dtype=np.int64)
    stale = np.zeros((n, k), dtype=bool)
    if total:
        nan = math.nan
        fields = [
            (neg.id, neg.score, neg.rank, neg.p_fn if neg.HasField("p_fn") else nan, neg.version, neg.stale) for neg in flat
        ]
        id_col, score_col, rank_col, pfn_col, version_col, stale_col = zip(*fields)
        ids[rows, cols] = np.array(id_col, dtype=object)
        scores[rows, cols] = score_col
        ranks[rows, cols] = rank_col
        p_fn[rows, cols] = pfn_col
        versions[rows, cols] = version_col
        stale[rows, cols] = stale_col

    def column(get: Any, dtype: Any) -> np.ndarray:
        return np.fromiter((get(r) for r in results), dtype=dtype, count=n)

    def optional(field: str) -> np.ndarray:
        return column(lambda r: getattr(r, field) if r.HasField(field) else math.nan, np.float32)

    pos = optional("positive_score")
    dup = optional("duplicate_threshold")
    gpos = optional("guide_positive_score")
    max_rank = column(operator.attrgetter("max_rank"), np.int64)
    floor = column(operator.attrgetter("floor_reached"), bool)
    rot_restarted = column(operator.attrgetter("rotation_restarted"), bool)
    rot_served = column(operator.attrgetter("rotation_served"), np.int64)
    shortfall = column(operator.attrgetter("shortfall"), np.int64)
    examined = column(operator.attrgetter("candidates_examined"), np.int64)
    widenings = column(operator.attrgetter("widenings"), np.int64)
    exact = column(operator.attrgetter("exact_scan"), bool)
    get_counts = operator.attrgetter(*RULES)
    by_rule = np.array([get_counts(r.removed) for r in results], dtype=np.int64).reshape(n, len(RULES))
    removed = {rule: by_rule[:, j].copy() for j, rule in enumerate(RULES)}
    unknown: list[list[str]] = [list(r.unknown_positive_ids) for r in results]
    vectors: Optional[np.ndarray] = None
    if include_vectors:
        data = b"".join(r.negative_vectors for r in results)
        dim = len(data) // (4 * total) if total else 0
        vectors = np.full((n, k, dim), np.nan, dtype=np.float32)
        if total:
            vectors[rows, cols] = np.frombuffer(data, dtype=_F32).reshape(total, dim)
    return MineResult(
        ids=ids,
        scores=scores,
        ranks=ranks,
        mask=ranks >= 0,
        counts=counts,
        positive_scores=pos,
        shortfall=shortfall,
        candidates_examined=examined,
        widenings=widenings,
        exact_scan=exact,
        removed=removed,
        unknown_positive_ids=unknown,
        vectors=vectors,
        p_fn=p_fn,
        max_rank=max_rank,
        floor_reached=floor,
        duplicate_threshold=dup,
        guide_positive_scores=gpos,
        versions=versions,
        stale=stale,
        rotation_restarted=rot_restarted,
        rotation_served=rot_served,
        explained=explain_table(resp) if explain else None,
        explain_truncated=np.asarray([r.explain_truncated for r in results], dtype=bool) if explain else None,
        synthetic=synthetic_negatives(resp) if synthetic else None,
        hardness=np.asarray([r.hardness if r.HasField("hardness") else np.nan for r in results], dtype=np.float32),
        band_shift=np.asarray([r.band_shift for r in results], dtype=np.int64),
    )


_SYNTHETIC_KINDS = {pb.SYNTHETIC_KIND_MIXED: "mixed", pb.SYNTHETIC_KIND_QUERY: "query"}


def synthetic_negatives(resp: pb.MineResponse, dim: int = 0, n: Optional[int] = None) -> SyntheticNegatives:
    """The synthetic negatives of a MineResponse, one row per vector; ``dim`` (when
    known) shapes an empty result, ``n`` (when known) sizes ``shortfall`` when the
    response holds no rows."""
    anchors: list[int] = []
    kinds: list[str] = []
    a_ids: list[str] = []
    b_ids: list[str] = []
    coef: list[float] = []
    vecs: list[np.ndarray] = []
    for i, r in enumerate(resp.results):
        m = len(r.synthetic)
        if not m:
            continue
        v = np.frombuffer(r.synthetic_vectors, dtype=_F32)
        dim = v.size // m
        vecs.append(v.reshape(m, dim))
        for sn in r.synthetic:
            anchors.append(i)
            kinds.append(_SYNTHETIC_KINDS.get(sn.kind, "unspecified"))
            a_ids.append(sn.a_id)
            b_ids.append(sn.b_id)
            coef.append(sn.coefficient)
    return SyntheticNegatives(
        anchors=np.asarray(anchors, dtype=np.int64),
        kinds=kinds,
        a_ids=a_ids,
        b_ids=b_ids,
        coefficients=np.asarray(coef, dtype=np.float32),
        vectors=np.concatenate(vecs, axis=0) if vecs else np.zeros((0, dim), dtype=np.float32),
        shortfall=(np.asarray([r.synthetic_shortfall for r in resp.results], dtype=np.int64)
                   if n is None or len(resp.results) == n else np.zeros(n, dtype=np.int64)),
    )


def check_anchor_offset(value: Any) -> int:
    """Refuses an ``anchor_offset`` that is not an unsigned 64-bit integer with room for a
    call's anchors, naming the argument."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"anchor_offset must be an integer, got {type(value).__name__} {value!r}")
    if not 0 <= int(value) < 2**64 - 2**32:
        raise bad_argument("anchor_offset", f"must be an integer from 0 up to (not including) 2**64 - 2**32, got {value!r}")
    return int(value)


def check_version(value: Any, name: str) -> None:
    """Refuses a version that is not a signed 64-bit integer, naming the argument."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if not -(2**63) <= int(value) < 2**63:
        raise bad_argument(name, f"must be a signed 64-bit integer, got {value!r}")


def refresh_request(collection: str, limit: int, target_version: Optional[int]) -> pb.RefreshQueueRequest:
    """A RefreshQueueRequest, after checking ``limit`` and ``target_version``."""
    violations = []
    if isinstance(limit, (bool, np.bool_)) or not isinstance(limit, numbers.Integral) or not 0 <= int(limit) <= MAX_REFRESH_LIMIT:
        violations.append(FieldViolation(field="limit", description=f"must be an integer 0–{MAX_REFRESH_LIMIT:,}, got {limit!r}"))
    if target_version is not None and (
        isinstance(target_version, (bool, np.bool_))
        or not isinstance(target_version, numbers.Integral)
        or not -(2**63) <= int(target_version) < 2**63
    ):
        violations.append(FieldViolation(field="target_version", description=f"must be a signed 64-bit integer or None, got {target_version!r}"))
    if violations:
        raise InvalidArgument("invalid refresh queue request", violations=violations)
    req = pb.RefreshQueueRequest(collection=collection, limit=int(limit))
    if target_version is not None:
        req.target_version = int(target_version)
    return req


def refresh_queue(resp: pb.RefreshQueueResponse) -> RefreshQueue:
    """A RefreshQueueResponse as numpy arrays."""
    items = resp.items
    return RefreshQueue(
        ids=[it.id for it in items],
        versions=np.array([it.version for it in items], dtype=np.int64),
        staleness=np.array([it.staleness for it in items], dtype=np.int64),
        recent_exposures=np.array([it.recent_exposures for it in items], dtype=np.int64),
        target_version=resp.target_version,
        due=resp.due,
    )


def calibration(resp: pb.GetCalibrationResponse) -> dict[str, dict[str, Any]]:
    """A GetCalibrationResponse as ``{stream: {count, window, mean, std, quantiles}}``
    with ``quantiles`` mapping each probability to its score (mean, std and quantiles
    over the ``window`` most recent observations), and ``scale``:
    ``{background_similarity, default_duplicate_threshold}`` (None where the server
    leaves them unset: under dot and L2, and the background with fewer than 64 items)."""
    out: dict[str, dict[str, Any]] = {
        "scale": dict(
            background_similarity=resp.background_similarity if resp.HasField("background_similarity") else None,
            default_duplicate_threshold=resp.default_duplicate_threshold if resp.HasField("default_duplicate_threshold") else None,
        )
    }
    for name in ("positive_scores", "candidate_scores", "positive_similarities"):
        s = getattr(resp, name)
        out[name] = dict(
            count=int(s.count),
            window=int(s.window),
            mean=float(s.mean),
            std=float(s.std),
            quantiles={float(p): float(q) for p, q in zip(s.probabilities, s.quantiles)},
        )
    return out


# --- feedback ----------------------------------------------------------------------------

Reports = Union[Mapping[str, Sequence[str]], Sequence[tuple[str, str]]]


def report_requests(collection: str, reports: Reports) -> list[pb.ReportFalseNegativesRequest]:
    """Splits verdicts into requests of at most MAX_REPORT_IDS item ids."""
    pairs: list[tuple[str, list[str]]] = []
    if isinstance(reports, Mapping):
        for key, items in reports.items():
            if not isinstance(key, str):
                raise TypeError(f"reports: anchor keys must be strings, got {key!r} ({type(key).__name__})")
            ids = [items] if isinstance(items, str) else _as_id_list(items, "item ids")
            if not ids:
                # as the server refuses it: a report says which items are false negatives
                raise bad_argument(f"reports[{json.dumps(key, ensure_ascii=False)}].item_ids", "must name at least one item")
            pairs.append((key, ids))
    elif isinstance(reports, (str, bytes)) or not isinstance(reports, Iterable):
        raise TypeError("reports must be a mapping of anchor key to item ids or a sequence of (anchor key, item id) "
                        f"pairs, got {type(reports).__name__}")
    else:
        by_key: dict[str, list[str]] = {}
        for pair in reports:
            if isinstance(pair, str) or not isinstance(pair, Sequence) or len(pair) != 2:
                raise TypeError(
                    f"reports must be a mapping of anchor key to item ids or a sequence of (anchor key, item id) pairs, got an entry {pair!r}"
                )
            key, item = pair
            if isinstance(key, str) and not isinstance(item, (str, bytes)) and isinstance(item, Iterable):
                raise TypeError(f"reports: a (anchor key, item id) pair holds one item id; for several give a mapping "
                                f"{{anchor key: [item ids]}} or one pair per id, got {pair!r}")
            if not isinstance(key, str) or not isinstance(item, str):
                raise TypeError(f"reports: anchor keys and item ids must be strings, got {pair!r}")
            by_key.setdefault(key, []).append(item)
        pairs = list(by_key.items())
    if sum(len(items) for _, items in pairs) > MAX_REPORT_IDS:
        # Split into several requests: refuse what the server would refuse in a later
        # one before the first is applied.
        check_ids([k for k, _ in pairs], "reports.anchor_keys")
        for key, items in pairs:
            check_ids(items, f"reports[{json.dumps(key, ensure_ascii=False)}].item_ids")
    requests: list[pb.ReportFalseNegativesRequest] = []
    cur = pb.ReportFalseNegativesRequest(collection=collection)
    room = MAX_REPORT_IDS
    for key, items in pairs:
        while items:
            if room == 0:
                requests.append(cur)
                cur = pb.ReportFalseNegativesRequest(collection=collection)
                room = MAX_REPORT_IDS
            take, items = items[:room], items[room:]
            cur.reports.append(pb.FalseNegativeReport(anchor_key=key, item_ids=take))
            room -= len(take)
    if cur.reports:
        requests.append(cur)
    return requests


# --- training loop -------------------------------------------------------------------------

MAX_BATCH_ANCHORS = 65_536
MAX_BATCH_POSITIVES = 64
MAX_BATCH_SIZE = 4_096
MAX_OUTCOMES = 16_384
BATCH_STRATEGIES = {
    "clusters": pb.BATCH_STRATEGY_CLUSTERS,
    "neighbours": pb.BATCH_STRATEGY_NEIGHBOURS,
    "neighbors": pb.BATCH_STRATEGY_NEIGHBOURS,
}


def _int_violation(name: str, v: Any, lo: int, hi: int) -> Optional[FieldViolation]:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral) or not lo <= int(v) <= hi:
        return FieldViolation(field=name, description=f"must be an integer {lo}–{hi:,}, got {v!r}")
    return None


def build_batches_request(
    collection: str,
    anchor_ids: Any,
    positive_ids: Any,
    *,
    batch_size: int,
    strategy: str,
    epochs: int,
    first_epoch: int,
    num_epochs: int,
    seed: int,
    cluster_size: Any,
    num_nearest: int,
    num_sampled: int,
    sample_range: Optional[tuple[int, int]],
    exclude_near_duplicates: Optional[bool],
    duplicate_threshold: Optional[float],
    duplicate_margin: Optional[float],
    use_feedback: Optional[bool],
    anchor_vectors: Any = None,
) -> pb.BuildBatchesRequest:
    """A BuildBatchesRequest, after checking the arguments' types and ranges (the server
    checks the rest, e.g. that the anchors are in the collection)."""
    ids = _as_id_list(anchor_ids, "anchor_ids", ordered=True)
    pos = _per_anchor_ids(positive_ids, len(ids), "positive_ids")
    violations: list[FieldViolation] = []
    if not 1 <= len(ids) <= MAX_BATCH_ANCHORS:
        violations.append(FieldViolation(field="anchors", description=f"must hold 1–{MAX_BATCH_ANCHORS:,} anchors, got {len(ids)}"))
    seen: dict[str, int] = {}
    for i, a in enumerate(ids):
        if not a:
            violations.append(FieldViolation(field=f"anchors[{i}].id", description="must not be empty"))
        elif a in seen:
            violations.append(FieldViolation(field=f"anchors[{i}].id", description=f"{a!r} is also anchors[{seen[a]}]; an id is one row"))
        else:
            seen[a] = i
    if strategy not in BATCH_STRATEGIES:
        violations.append(FieldViolation(field="strategy", description=f"unknown strategy {strategy!r}; use clusters or neighbours"))
    if isinstance(cluster_size, (tuple, list)):
        if len(cluster_size) != 2:
            raise TypeError(f"cluster_size must be an int or a (first epoch, last epoch) pair, got {cluster_size!r}")
        start, end = cluster_size
    else:
        start = end = cluster_size or 0
    if sample_range is not None and (not isinstance(sample_range, (tuple, list)) or len(sample_range) != 2):
        raise TypeError(f"sample_range must be a (min, max) pair of ranks, got {sample_range!r}")
    lo, hi = sample_range if sample_range is not None else (0, 0)
    for name, flag in (("exclude_near_duplicates", exclude_near_duplicates), ("use_feedback", use_feedback)):
        if flag is not None and not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{name} must be True, False or None, got {type(flag).__name__}")
    for name, x in (("duplicate_threshold", duplicate_threshold), ("duplicate_margin", duplicate_margin)):
        if x is not None and (isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer, np.floating))):
            raise TypeError(f"{name} must be a number or None, got {type(x).__name__}")
        if x is not None and not (math.isfinite(float(x)) and abs(float(x)) <= _FLOAT32_MAX):
            violations.append(FieldViolation(field=name, description=f"must be a finite float32, got {float(x)!r}"))
    for name, v, a, b in (
        ("batch_size", batch_size, 1, MAX_BATCH_SIZE),
        ("epochs", epochs, 1, 10_000),
        ("first_epoch", first_epoch, 0, 10_000),
        ("num_epochs", num_epochs, 0, 10_000),
        ("seed", seed, 0, 2**64 - 1),
        ("cluster_size_start", start, 0, MAX_BATCH_SIZE),
        ("cluster_size_end", end, 0, MAX_BATCH_SIZE),
        ("num_nearest", num_nearest, 0, MAX_BATCH_SIZE),
        ("num_sampled", num_sampled, 0, MAX_BATCH_SIZE),
        ("sample_range_min", lo, 0, 4_096),
        ("sample_range_max", hi, 0, 4_096),
    ):
        bad = _int_violation(name, v, a, b)
        if bad:
            violations.append(bad)
    sized = not any(_int_violation(n, v, 0, 2**63) for n, v in
                    (("", batch_size), ("", start), ("", end), ("", num_nearest), ("", num_sampled)))
    if sized and strategy == "clusters":
        for name, v in (("cluster_size_start", start), ("cluster_size_end", end)):
            if v > batch_size:
                violations.append(FieldViolation(field=name, description=f"must be 0–batch_size ({batch_size}), got {v}"))
    if sized and strategy == "neighbours" and 1 + num_nearest + num_sampled > batch_size:
        violations.append(FieldViolation(field="num_nearest", description=f"1 + num_nearest + num_sampled "
                                         f"({1 + num_nearest + num_sampled}) must fit in batch_size ({batch_size})"))
    ranged = sized and not any(_int_violation(n, v, 0, 4_096) for n, v in (("", lo), ("", hi)))
    if ranged and strategy == "neighbours" and sample_range is not None:
        # The server's reading of the pair (0 stands for its default at either end), so that
        # a range it would refuse fails here, naming what was given.
        if lo == 0 and num_nearest > 0:
            violations.append(FieldViolation(field="sample_range_min", description=(
                f"a start of 0 is read as num_nearest ({num_nearest}): the nearest ranks are already in "
                f"the group; give a start of at least {num_nearest}, or None")))
        else:
            start = lo or num_nearest
            stop = hi or start + 8 * num_sampled
            if stop < start or (num_sampled > 0 and stop - start < num_sampled):
                violations.append(FieldViolation(field="sample_range_max", description=(
                    f"{num_sampled} neighbours cannot be sampled from the {max(stop - start, 0)} ranks of "
                    f"sample_range {tuple(sample_range)!r} ([{start}, {stop}))")))
    for i, p in enumerate(pos):
        if len(p) > MAX_BATCH_POSITIVES:
            violations.append(FieldViolation(field=f"anchors[{i}].positive_ids", description=f"at most {MAX_BATCH_POSITIVES}, got {len(p)}"))
    vec_rows: list[bytes] = [b""] * len(ids)
    if anchor_vectors is not None:
        arr, _ = encode_vectors(anchor_vectors, "anchor_vectors")
        if arr.shape[0] != len(ids):
            violations.append(FieldViolation(field="anchor_vectors", description=f"{arr.shape[0]} rows for {len(ids)} anchors"))
        else:
            vec_rows = [arr[i].tobytes() for i in range(len(ids))]
            for i in np.flatnonzero(~np.isfinite(arr).all(axis=1))[:100].tolist():
                j = int(np.flatnonzero(~np.isfinite(arr[i]))[0])
                violations.append(FieldViolation(field=f"anchors[{i}].vector", description=f"value {j} is {float(arr[i, j])!r}; "
                                                 "vectors must be finite (and within float32's range, ±3.4e38)"))
    if violations:
        raise InvalidArgument("invalid build_batches request", violations=violations)
    req = pb.BuildBatchesRequest(
        collection=collection,
        anchors=[pb.BatchAnchor(id=a, positive_ids=p, vector=v) for a, p, v in zip(ids, pos, vec_rows)],
        batch_size=int(batch_size),
        strategy=BATCH_STRATEGIES[strategy],
        epochs=int(epochs),
        first_epoch=int(first_epoch),
        num_epochs=int(num_epochs),
        seed=int(seed),
        cluster_size_start=int(start),
        cluster_size_end=int(end),
        num_nearest=int(num_nearest),
        num_sampled=int(num_sampled),
        sample_range_min=int(lo),
        sample_range_max=int(hi),
    )
    if exclude_near_duplicates is not None:
        req.exclude_near_duplicates = bool(exclude_near_duplicates)
    if use_feedback is not None:
        req.use_feedback = bool(use_feedback)
    if duplicate_threshold is not None:
        req.duplicate_threshold = float(duplicate_threshold)
    if duplicate_margin is not None:
        req.duplicate_margin = float(duplicate_margin)
    return req


def hard_batch(resp: pb.BuildBatchesResponse) -> HardBatch:
    """One BuildBatchesResponse."""
    return HardBatch(
        epoch=resp.epoch,
        index=resp.index,
        rows=list(resp.rows),
        anchor_ids=list(resp.anchor_ids),
        deferred=resp.deferred,
        swapped_in=resp.swapped_in,
        cluster_size=resp.cluster_size,
    )


def host_array(x: Any) -> Any:
    """A torch tensor (on any device, requiring grad or not) as a numpy array, without
    importing torch: float16 and the float kinds numpy lacks (bfloat16, float8) as
    float32; anything else unchanged."""
    if all(hasattr(x, a) for a in ("detach", "cpu", "numpy")):
        t = x.detach().cpu()
        dtype = str(t.dtype)  # torch.float16, torch.bfloat16, torch.float8_e4m3fn, …
        if "float" in dtype and dtype not in ("torch.float32", "torch.float64"):
            t = t.float()
        return t.numpy()
    return x


def report_loss_requests(collection: str, keys: Any, losses: Any, solved: Any) -> list[pb.ReportLossRequest]:
    """ReportLossRequests of at most MAX_OUTCOMES outcomes: per key ``solved`` or
    ``loss``, whichever was given (one of them). ``losses`` and ``solved`` may be torch
    tensors, straight from a training step."""
    key_list = _as_id_list(keys, "keys", ordered=True)
    losses, solved = host_array(losses), host_array(solved)
    n = len(key_list)
    violations: list[FieldViolation] = []
    loss_arr = sol_arr = None
    if losses is None and solved is None:
        violations.append(FieldViolation(field="outcomes", description="give losses or solved"))
    if losses is not None and solved is not None:
        violations.append(FieldViolation(field="outcomes", description="give losses or solved, not both"))
    if losses is not None:
        raw = np.asarray(losses)
        if raw.size and raw.dtype.kind not in "biuf":
            raise TypeError(f"losses must be numbers, got {raw.dtype}")
        if raw.ndim > 1:
            violations.append(FieldViolation(field="losses", description=f"must be 1-d, one loss per key; got shape {raw.shape}"))
        else:
            # The wire carries float32: a float64 beyond its range would arrive as ±inf.
            with np.errstate(over="ignore"):
                loss_arr = raw.astype(np.float32).reshape(-1)
            if loss_arr.shape[0] != n:
                violations.append(FieldViolation(field="losses", description=f"{loss_arr.shape[0]} losses for {n} keys"))
            elif not np.all(np.isfinite(loss_arr)):
                i = int(np.flatnonzero(~np.isfinite(loss_arr))[0])
                v = raw.reshape(-1)[i]
                why = "must be finite" if not np.isfinite(v) else "is beyond float32's range (±3.4e38)"
                violations.append(FieldViolation(field=f"losses[{i}]", description=f"{why}, got {float(v)}"))
    if solved is not None:
        raw = np.asarray(solved)
        if raw.size and raw.dtype.kind not in "biu" or (raw.dtype.kind in "iu" and raw.size and not np.isin(raw, (0, 1)).all()):
            raise TypeError(f"solved must be booleans (or 0/1), got {raw.dtype}")
        if raw.ndim > 1:
            violations.append(FieldViolation(field="solved", description=f"must be 1-d, one flag per key; got shape {raw.shape}"))
        else:
            sol_arr = raw.astype(bool).reshape(-1)
            if sol_arr.shape[0] != n:
                violations.append(FieldViolation(field="solved", description=f"{sol_arr.shape[0]} flags for {n} keys"))
    if violations:
        raise InvalidArgument("invalid loss report", violations=violations)
    # Every key is checked here, so that a bad key of a later request (more than
    # MAX_OUTCOMES are split) is refused before the first request is applied.
    check_ids(key_list, "keys")
    out = []
    for start in range(0, n, MAX_OUTCOMES):
        req = pb.ReportLossRequest(collection=collection)
        for i in range(start, min(start + MAX_OUTCOMES, n)):
            o = req.outcomes.add(anchor_key=key_list[i])
            if sol_arr is not None:
                o.solved = bool(sol_arr[i])
            else:
                assert loss_arr is not None
                o.loss = float(loss_arr[i])
        out.append(req)
    return out
