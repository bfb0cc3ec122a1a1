"""Mine a whole (anchor, positive) dataset and emit sentence-transformers training formats.

:func:`mine_hard_negatives` is a drop-in for ``sentence_transformers.util.mine_hard_negatives``
(sentence-transformers 5.x/6.x): the same positional parameters, names, defaults and
meaning, the same output columns and rows, and the same verbose statistics. The search
and the false-negative rules run in a hardneg server instead of a query × corpus matrix
in the client process; hardneg's own options are keyword-only arguments after
sentence-transformers' ones, and ``client`` comes last. Without a ``client`` a private
server is started for the call (platform wheels carry the binary) and stopped
afterwards. docs/MIGRATING.md lists what differs and why.

Output formats (``anchor``/``positive`` stand for the dataset's column names):

=================  =================================================================
``triplet``        ``anchor, positive, negative`` — one row per (anchor, positive,
                   negative); ``scores`` = ``[pos, neg]`` with ``output_scores``.
``n-tuple``        ``anchor, positive, negative_1 … negative_n`` — rows that got all
                   n negatives; ``scores`` = ``[pos, neg_1 … neg_n]`` with
                   ``output_scores``.
``n-tuple-scores`` deprecated (as in sentence-transformers): ``n-tuple`` with
                   ``output_scores=True``.
``labeled-pair``   ``anchor, positive, label`` — per anchor its positives (label 1)
                   then its negatives (label 0); ``score`` instead of ``label`` with
                   ``output_scores``.
``labeled-list``   ``anchor, positive, labels`` — ``positive`` is the list
                   ``[pos, neg_1, …]``, ``labels`` ``[1, 0, …]``; ``scores`` instead
                   of ``labels`` with ``output_scores``.
=================  =================================================================
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import math
import numbers
import os
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Sequence, Union

import numpy as np

from hardneg import _codec as codec
from hardneg.errors import InvalidArgument, NotFound
from hardneg.types import EXACT_ONLY, IndexParams, MineResult, MiningPolicy, RuleStats

if TYPE_CHECKING:  # pragma: no cover
    from hardneg.client import Client

__all__ = ["OUTPUT_FORMATS", "SAMPLING_STRATEGIES", "MiningReport", "ScoreSummary", "anchor_key", "build_rows",
           "mine_hard_negatives"]

logger = logging.getLogger(__name__)

OUTPUT_FORMATS = ("triplet", "n-tuple", "n-tuple-scores", "labeled-pair", "labeled-list")
#: sentence-transformers' ``"top"`` and ``"random"``, plus hardneg's samplers.
SAMPLING_STRATEGIES = ("top", "random", "uniform", "softmax", "simans", "top1_sampled")
METRICS = ("cosine", "dot", "l2")
# The scores each metric gives, widened by float32 rounding as the server widens them.
_SCORE_RANGES = {"cosine": (-1.001, 1.001), "dot": (-math.inf, math.inf), "l2": (-math.inf, 0.001)}
_SCORE_RANGE_TEXT = {"cosine": "cosine similarity, -1 to 1", "dot": "any", "l2": "minus the squared distance, ≤ 0"}

# The MiningPolicy fields that sentence-transformers' parameters set.
_ST_POLICY_FIELDS = frozenset(
    {"num_negatives", "range_min", "range_max", "max_score", "min_score", "absolute_margin", "relative_margin",
     "sampling_strategy", "seed"}
)

Embedder = Union[Callable[[list[str]], Any], Any]


def anchor_key(anchor: str) -> str:
    """The feedback key under which :func:`mine_hard_negatives` reports an anchor's false
    negatives (``report_false_negatives=True``): ``"q:"`` + the SHA-256 of its text.

    Pass ``keys=[anchor_key(text) for text in anchors]`` to :meth:`hardneg.Client.mine`
    on the kept collection to have those verdicts applied.
    """
    if not isinstance(anchor, str):
        raise TypeError(f"anchor must be a string, got {type(anchor).__name__}")
    # surrogatepass: text read with errors="surrogateescape" holds lone surrogates, which
    # strict UTF-8 cannot encode; such an anchor is a text like any other.
    return "q:" + hashlib.sha256(anchor.encode("utf-8", "surrogatepass")).hexdigest()


# --- statistics ------------------------------------------------------------------------


@dataclass
class ScoreSummary:
    """Summary statistics of a set of scores, computed as sentence-transformers prints them:
    ``median`` is the lower median (``torch.median``), ``std`` the sample standard
    deviation (n − 1, ``torch.std``), quartiles interpolate linearly (``torch.quantile``)."""

    count: int
    mean: float
    median: float
    std: float
    min: float
    q25: float
    q50: float
    q75: float
    max: float

    @classmethod
    def of(cls, values: Any) -> "ScoreSummary":
        v = np.asarray(values, dtype=np.float64).ravel()
        n = int(v.size)
        if n == 0:
            nan = float("nan")
            return cls(0, nan, nan, nan, float("inf"), float("inf"), float("inf"), float("inf"), float("-inf"))
        s = np.sort(v)
        q25, q50, q75 = (float(x) for x in np.quantile(v, [0.25, 0.5, 0.75]))
        return cls(
            count=n,
            mean=float(v.mean()),
            median=float(s[(n - 1) // 2]),
            std=float(v.std(ddof=1)) if n > 1 else float("nan"),
            min=float(s[0]),
            q25=q25,
            q50=q50,
            q75=q75,
            max=float(s[-1]),
        )


_SUMMARY_ROWS = (("Mean", "mean"), ("Median", "median"), ("Std", "std"), ("Min", "min"), ("25%", "q25"),
                 ("50%", "q50"), ("75%", "q75"), ("Max", "max"))

# Ratio denominators and wording of the per-rule lines (hardneg's rules).
_RULE_LINES = ("positive", "excluded", "in_batch", "feedback", "same_group", "duplicate", "margin", "score_band",
               "diversity")


@dataclass
class MiningReport:
    """What a dataset mining run did: score statistics, per-rule removals and shortfall.

    Attributes:
        rules: candidates removed by each server rule, summed over anchors, and the
            search totals (with a cross-encoder the server only gathers candidates; its
            filters run in the client and are counted in ``skipped``).
        positive, negative, difference: statistics of the positive scores (one per
            anchor–positive pair), the negative scores and positive − negative, counted as
            sentence-transformers counts them for the output format.
        queries: unique anchors mined; ``queries_total``: anchor rows in the dataset.
        rows: rows emitted; ``rows_possible``: rows the format could have had with no
            shortfall (sentence-transformers' "maximum possible samples").
        anchors_short: anchors that got fewer than ``num_negatives`` negatives.
        range_max: the rank window's end used (derived as sentence-transformers does
            when not given).
        max_candidates: candidates the search could examine per anchor (the search
            depth); ``max_examined``: the most any anchor examined.
        skipped: with a cross-encoder, candidates each filter removed, as
            sentence-transformers counts them (parameter → (count, ratio)).
        false_negatives_reported: verdicts sent as false-negative feedback.
    """

    rules: RuleStats
    positive: ScoreSummary
    negative: ScoreSummary
    difference: ScoreSummary
    queries: int
    queries_total: int
    rows: int
    rows_possible: int
    anchors_short: int
    range_max: int
    max_candidates: int
    max_examined: int
    parameters: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, tuple[int, float]] = field(default_factory=dict)
    false_negatives_reported: int = 0
    #: A cross-encoder re-scored the candidates: ``max_candidates`` is the pool the server
    #: returned (sentence-transformers' raw top ``range_max``), not a search depth.
    rescored: bool = False
    #: The search had no depth limit (``max_candidates=0``): a shortfall is all there was.
    deepest: bool = False

    @property
    def anchors(self) -> int:
        """Unique anchors mined (same as ``queries``)."""
        return self.queries

    @property
    def missing(self) -> int:
        """Rows missing for lack of negatives."""
        return max(self.rows_possible - self.rows, 0)

    def format(self) -> str:
        """The statistics table and notes that ``verbose=True`` prints."""
        row = "{:<6} {:>14} {:>14} {:>14}"
        lines = [row.format("Metric", "Positive", "Negative", "Difference")]
        lines.append(row.format("Count", f"{self.positive.count:,}", f"{self.negative.count:,}", ""))
        for label, attr in _SUMMARY_ROWS:
            lines.append(row.format(label, *(f"{getattr(s, attr):.4f}"
                                             for s in (self.positive, self.negative, self.difference))))
        p = self.parameters
        for name, (count, ratio) in self.skipped.items():
            lines.append(f"Skipped {count:,} potential negatives ({ratio:.2%}) due to the {name} of {p.get(name)}.")
        examined = self.rules.candidates_examined
        for rule in _RULE_LINES:
            count = getattr(self.rules, rule)
            if count:
                lines.append(f"Removed {count:,} of {examined:,} candidates ({count / max(examined, 1):.2%}) "
                             f"by the {rule} rule.")
        if examined:
            limit = "the cross-encoder's pool" if self.rescored else "depth limit"
            lines.append(f"Examined {examined:,} candidates, at most {self.max_examined:,} per anchor ({limit} "
                         f"{self.max_candidates:,}).")
        if self.missing > 0:
            solutions = ["range_max"]
            if p.get("range_min"):
                solutions.append("range_min")
            solutions += [k for k in ("absolute_margin", "relative_margin", "max_score") if p.get(k) is not None]
            considerations = (", ".join(solutions[:-1]) + " and " + solutions[-1]) if len(solutions) > 1 else solutions[0]
            lines.append(
                f"Could not find enough negatives for {self.missing} samples ({self.missing / self.rows_possible:.2%})."
                f" Consider adjusting the {considerations} parameter{'s' if len(solutions) > 1 else ''}"
                " if you'd like to find more valid negatives."
            )
            if self.rescored:
                widen = (f"; with a cross_encoder the candidates are sentence-transformers' raw top {self.max_candidates:,} "
                         "(range_max, or its default, plus room for the positives), which a larger range_max widens.")
            elif self.deepest:
                widen = " (max_candidates=0: as deep as the server searches)."
            else:
                widen = " (max_candidates=0 lets it search past sentence-transformers' depth)."
            lines.append(
                f"{self.anchors_short:,} of {self.queries:,} anchors got fewer than {p.get('num_negatives')} negatives; "
                f"the search examined at most {self.max_examined:,} of {self.max_candidates:,} candidates per anchor"
                + widen
            )
        if self.false_negatives_reported:
            lines.append(f"Reported {self.false_negatives_reported:,} false negatives to the server.")
        return "\n".join(lines)


# --- dataset access ----------------------------------------------------------------------


def _columns(dataset: Any) -> tuple[dict[str, list[Any]], bool]:
    """Returns the dataset as dict-of-columns (all of one length) and whether it was a
    datasets.Dataset."""
    # A datasets.Dataset can only exist if its (slow to import) package is loaded.
    ds_module = sys.modules.get("datasets")
    if ds_module is not None and isinstance(dataset, ds_module.DatasetDict):
        raise TypeError(f"dataset is a DatasetDict of the splits {list(dataset)}: pass one split, e.g. dataset[{next(iter(dataset), 'train')!r}]")
    if ds_module is not None and isinstance(dataset, (ds_module.IterableDataset, ds_module.IterableDatasetDict)):
        raise TypeError("dataset is an IterableDataset (streamed): mining needs every row; materialise it first, e.g. "
                        "datasets.Dataset.from_list(list(dataset.take(n)))")
    pd_module = sys.modules.get("pandas")
    if pd_module is not None and isinstance(dataset, pd_module.DataFrame):
        return {str(c): dataset[c].tolist() for c in dataset.columns}, False
    if ds_module is not None and isinstance(dataset, ds_module.Dataset):
        # Unformatted (no with_format, set_transform): one slice of every row as Python
        # lists, in the dataset's order. Reading it column by column goes row by row,
        # about 100× slower (0.18 s against 1.4 ms for 10,000 rows of two columns). A
        # format or transform the caller set is honoured by reading columns as before.
        if dataset.format.get("type") is None:
            with dataset.formatted_as(None):  # every column, if set_format chose some
                rows = dataset[:]
            return {c: list(rows[c]) for c in dataset.column_names}, True
        return {c: list(dataset[c]) for c in dataset.column_names}, True
    if isinstance(dataset, Mapping):
        cols: dict[str, list[Any]] = {}
        for k, v in dataset.items():
            if isinstance(v, (str, bytes, Mapping)) or not hasattr(v, "__iter__"):
                raise TypeError(f"dataset column {k!r} must be a list of values, got {type(v).__name__}")
            cols[k] = list(v)
        lengths = {k: len(v) for k, v in cols.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError("the dataset's columns must have one length, got "
                             + ", ".join(f"{k!r}: {n}" for k, n in lengths.items()))
        return cols, False
    if isinstance(dataset, (str, bytes)) or not hasattr(dataset, "__iter__"):
        raise TypeError("dataset must be a datasets.Dataset, a pandas DataFrame, a dict of columns, or a list of dicts "
                        "or (anchor, positive) pairs")
    rows = list(dataset)
    if not rows:
        return {}, False
    if isinstance(rows[0], Mapping):
        keys = list(rows[0].keys())
        for i, r in enumerate(rows):
            if not isinstance(r, Mapping):
                raise TypeError(f"dataset row {i} is a {type(r).__name__}; rows must all be dicts like row 0")
            missing = [k for k in keys if k not in r]
            if missing:
                raise ValueError(f"dataset row {i} has no {', '.join(map(repr, missing))} "
                                 f"(row 0 has the columns {keys!r}; its keys are {list(r.keys())!r})")
        return {k: [r[k] for r in rows] for k in keys}, False
    if isinstance(rows[0], (tuple, list)):
        for i, r in enumerate(rows):
            if not isinstance(r, (tuple, list)) or len(r) != 2:
                got = f"{len(r)} value(s)" if isinstance(r, (tuple, list)) else f"a {type(r).__name__}"
                raise ValueError(f"dataset row {i} has {got}; rows given as tuples or lists must be (anchor, positive) "
                                 f"pairs (for other columns, pass a dict of columns and name anchor_column_name and "
                                 f"positive_column_name)")
        return {"anchor": [r[0] for r in rows], "positive": [r[1] for r in rows]}, False
    raise TypeError("dataset must be a datasets.Dataset, a dict of columns, or a list of dicts or (anchor, positive) pairs")


def _check_texts(column: str, values: list[Any]) -> None:
    """Every value of a text column is a string (sentence-transformers' encoders raise
    ValueError for None and numbers)."""
    for i, x in enumerate(values):
        if not isinstance(x, str):
            cls = TypeError if isinstance(x, (list, tuple, dict, set)) else ValueError
            raise cls(f"column {column!r} must hold strings; row {i} is {type(x).__name__} {x!r:.60}")


# --- argument checks -------------------------------------------------------------------


def _is_int(x: Any) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _check_int(name: str, x: Any, lo: int, hi: Optional[int] = None) -> None:
    # A value of the wrong type is a TypeError, as sentence-transformers raises for it;
    # an integer out of range a ValueError.
    bound = f"{lo}–{hi:,}" if hi is not None else f"≥ {lo}"
    if not _is_int(x):
        raise TypeError(f"{name} must be an integer {bound}, got {x!r}")
    if x < lo or (hi is not None and x > hi):
        raise ValueError(f"{name} must be an integer {bound}, got {x!r}")


def _scalar(x: Any) -> Any:
    """A one-element, zero-dimensional array or tensor (numpy, torch) as the Python number it
    holds, as sentence-transformers takes it; anything else unchanged."""
    if not isinstance(x, (numbers.Number, str, bytes)) and getattr(x, "shape", None) == () and hasattr(x, "item"):
        return x.item()
    return x


def _check_float(name: str, x: Any, lo: Optional[float] = None, hi: Optional[float] = None) -> None:
    if x is None:
        return
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name} must be a finite number or None, got {x!r}")
    if not math.isfinite(float(x)):
        raise ValueError(f"{name} must be a finite number or None, got {x!r}")
    if (lo is not None and x < lo) or (hi is not None and x > hi):
        rng = f"in [{lo}, {hi}]" if hi is not None else f"≥ {lo}"
        raise ValueError(f"{name} must be {rng}, got {x!r}")


def _check_bool(name: str, x: Any) -> None:
    # 0 and 1 pass as sentence-transformers takes them (truthiness); other values of
    # other types are a mistake worth naming.
    if not isinstance(x, (bool, np.bool_)) and not (_is_int(x) and x in (0, 1)):
        raise TypeError(f"{name} must be True or False, got {x!r}")


def _check_prompt(model: Any, name_arg: str, prompt_name: Any, prompt_arg: str, prompt: Any) -> None:
    if prompt is not None and not isinstance(prompt, str):
        raise TypeError(f"{prompt_arg} must be a string or None, got {prompt!r}")
    if prompt_name is None:
        return
    if not isinstance(prompt_name, str):
        raise TypeError(f"{name_arg} must be a string or None, got {prompt_name!r}")
    if prompt is not None:
        return  # sentence-transformers ignores the name when a prompt is given
    prompts = getattr(model, "prompts", None)
    if not isinstance(prompts, Mapping):
        raise ValueError(f"{name_arg}={prompt_name!r} needs a model with a prompts dictionary; pass {prompt_arg} instead")
    if prompt_name not in prompts:
        raise ValueError(
            f"Prompt name '{prompt_name}' not found in the configured prompts dictionary with keys {list(prompts.keys())!r}."
        )


def _check_policy(policy: MiningPolicy, metric: str) -> None:
    """The server's policy checks for a collection of ``metric``, run before anything is
    encoded or uploaded."""
    try:
        codec.policy_message(policy)
    except InvalidArgument as e:
        why = "; ".join(f"{v.field.removeprefix('policy.')}: {v.description}" for v in e.violations) or str(e)
        raise ValueError(f"invalid mining policy: {why}") from None
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"invalid mining policy: {e}") from None
    for name in ("duplicate_threshold", "diversity_threshold", "simans_b"):
        _check_float(name, getattr(policy, name))
    # Thresholds compare with scores and margins with their differences: outside the
    # metric's score range the server refuses them (they would keep or drop everything).
    lo, hi = _SCORE_RANGES[metric]
    for name in ("duplicate_threshold", "diversity_threshold"):
        v = getattr(policy, name)
        if v is not None and not lo <= v <= hi:
            raise ValueError(f"{name}={v} is outside the scores metric={metric!r} gives ({_SCORE_RANGE_TEXT[metric]})")
    width = hi - lo
    if policy.duplicate_margin is not None and math.isfinite(width) and abs(policy.duplicate_margin) > width:
        raise ValueError(f"duplicate_margin={policy.duplicate_margin} is wider than the scores metric={metric!r} gives "
                         f"({_SCORE_RANGE_TEXT[metric]})")
    if policy.min_score is not None and policy.max_score is not None and policy.min_score > policy.max_score:
        raise ValueError(f"min_score {policy.min_score} is above max_score {policy.max_score}")
    if policy.sampling_strategy == "softmax" and policy.temperature is not None:
        _check_float("temperature", policy.temperature)
        if policy.temperature <= 0:
            raise ValueError(f"temperature must be positive for softmax sampling, got {policy.temperature}")
    if policy.sampling_strategy == "simans" and policy.simans_a is not None:
        _check_float("simans_a", policy.simans_a)
        if policy.simans_a <= 0:
            raise ValueError(f"simans_a must be positive for SimANS sampling, got {policy.simans_a}")
    _check_int("max_candidates", policy.max_candidates, 0)
    _check_int("ef_search", policy.ef_search, 0, 65536)
    if policy.rank_mode not in ("surviving", "raw"):
        raise ValueError(f"rank_mode must be 'surviving' or 'raw', got {policy.rank_mode!r}")


# --- encoding --------------------------------------------------------------------------


def _encode(model: Embedder, texts: list[str], side: str, prompt_name: Optional[str], prompt: Optional[str],
            batch_size: int, progress: bool, metric: str = "cosine") -> np.ndarray:
    """Embeds texts the way sentence-transformers' mine_hard_negatives does: with
    ``encode_query`` / ``encode_document`` where the model has them (their default
    prompts apply), else ``encode`` with the prompt arguments, else the callable.

    The result must be a real ``(len(texts), dim)`` array of finite numbers, without
    zero vectors under ``metric="cosine"`` (they have no direction): anything else is a
    ValueError naming the first text concerned, raised before anything is uploaded."""
    method = getattr(model, "encode_query" if side == "query" else "encode_document", None)
    if method is not None:
        out = method(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                     show_progress_bar=progress, prompt_name=prompt_name, prompt=prompt)
    elif hasattr(model, "encode"):
        kw: dict[str, Any] = {}
        if prompt_name is not None:
            kw["prompt_name"] = prompt_name
        if prompt is not None:
            kw["prompt"] = prompt
        out = model.encode(texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=progress, **kw)
    else:
        out = model([prompt + t for t in texts] if prompt else texts)
    out = codec.host_array(out)
    if isinstance(out, (list, tuple)):
        out = [codec.host_array(x) for x in out]
    try:
        raw = np.asarray(out)
    except ValueError as e:  # ragged nested lists
        raise ValueError(f"the model did not return an array of {len(texts)} vectors of one length ({e})") from None
    if raw.dtype.kind not in "fiu":
        raise ValueError(f"the model returned {raw.dtype} values for {side} texts; it must return real numbers")
    with np.errstate(over="ignore"):
        # Beyond float32 becomes inf, refused below; float32 is used as it is (read only).
        arr = raw if raw.dtype == np.float32 else raw.astype(np.float32)
    if arr.ndim != 2 or arr.shape[0] != len(texts):
        raise ValueError(f"the model returned shape {arr.shape} for {len(texts)} texts")
    if arr.shape[1] == 0:
        raise ValueError(f"the model returned 0-dimensional vectors for {side} texts")
    # One pass for both checks: a row's float32 sum of squares is finite unless the row
    # holds NaN or inf or overflows the sum, and 0 unless some value is nonzero or they
    # all underflow; only the rows it flags are looked at value by value (3× faster
    # than np.isfinite(arr).all(axis=1) on 100,000 × 384, with no temporary the size of
    # the array).
    sq = np.einsum("ij,ij->i", arr, arr)
    bad = np.flatnonzero(~np.isfinite(sq))
    if bad.size:
        bad = bad[~np.isfinite(arr[bad]).all(axis=1)]
    what = "NaN or infinite values (or values beyond float32)"
    if not bad.size and metric == "cosine":
        bad = np.flatnonzero(sq == 0)
        if bad.size:
            bad = bad[~arr[bad].any(axis=1)]
        what = "a zero vector, which has no direction under metric='cosine',"
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"the model returned {what} for {bad.size} of {len(texts)} {side} texts, the first for "
                         f"text {i}: {texts[i]!r:.80}")
    return arr


def _pair_scores(a: np.ndarray, b: np.ndarray, metric: str) -> np.ndarray:
    """Row-wise similarity in the collection's metric (higher = more similar)."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    if metric == "cosine":
        a = a / np.linalg.norm(a, axis=1, keepdims=True)
        b = b / np.linalg.norm(b, axis=1, keepdims=True)
        return np.einsum("ij,ij->i", a, b)
    if metric == "dot":
        return np.einsum("ij,ij->i", a, b)
    d = a - b
    return -np.einsum("ij,ij->i", d, d)


# Anchor–positive pairs scored per pass of _positive_scores: a pass's float64 copies
# take 3 MB each at 384 dimensions, and the allocator hands the same memory back pass
# after pass; at 65,536 pairs a pass mapped up to 200 MB of fresh pages, whose first
# writes cost more than the arithmetic (10,000 pairs at 384 dimensions: 48–51 ms,
# against 58–61 ms and, in a fresh process on a fresh machine, 260 ms).
_PAIR_CHUNK = 1_024


def _positive_scores(anchor_emb: np.ndarray, corpus_emb: np.ndarray, rows: list[list[int]],
                     metric: str) -> list[list[float]]:
    """Each anchor's scores against its positives (corpus rows ``rows[i]``), as float32
    values in lists, computed over all pairs in passes of ``_PAIR_CHUNK``."""
    counts = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    flat = np.fromiter((j for r in rows for j in r), dtype=np.int64, count=int(counts.sum()))
    owner = np.repeat(np.arange(len(rows)), counts)
    values: list[float] = []
    for lo in range(0, len(flat), _PAIR_CHUNK):  # bounded memory, whatever the dataset's size
        part = slice(lo, lo + _PAIR_CHUNK)
        values += _pair_scores(anchor_emb[owner[part]], corpus_emb[flat[part]], metric).astype(np.float32).tolist()
    out: list[list[float]] = []
    at = 0
    for n in counts.tolist():
        out.append(values[at : at + n])
        at += n
    return out


def _to_numpy(x: Any) -> np.ndarray:
    return np.asarray(codec.host_array(x), dtype=np.float32).ravel()


def _ce_scores(cross_encoder: Any, pairs: list[tuple[str, str]], batch_size: int) -> np.ndarray:
    """The cross-encoder's scores of pairs: one finite number per pair (NaN would sort
    anywhere and pass or fail every filter at random)."""
    if not pairs:
        return np.zeros(0, np.float32)
    out = cross_encoder.predict(pairs, batch_size=batch_size)
    try:
        s = _to_numpy(out)
    except (TypeError, ValueError) as e:
        raise ValueError(f"the cross_encoder did not return one number per pair ({e})") from None
    if s.shape[0] != len(pairs):
        raise ValueError(f"the cross_encoder returned {s.shape[0]} scores for {len(pairs)} pairs")
    bad = np.flatnonzero(~np.isfinite(s))
    if bad.size:
        a, c = pairs[int(bad[0])]
        raise ValueError(f"the cross_encoder returned NaN or infinite scores for {bad.size} of {len(pairs)} pairs, "
                         f"the first for ({a!r:.60}, {c!r:.60})")
    return s


# --- rows ------------------------------------------------------------------------------


def build_rows(
    anchors: Sequence[str],
    positives: Sequence[Sequence[str]],
    positive_scores: Sequence[Sequence[float]],
    negatives: Sequence[Sequence[str]],
    negative_scores: Sequence[Sequence[float]],
    *,
    output_format: str = "triplet",
    output_scores: bool = False,
    num_negatives: int = 3,
    anchor_column_name: str = "anchor",
    positive_column_name: str = "positive",
) -> dict[str, list[Any]]:
    """Lays out mined negatives in one of the sentence-transformers formats.

    Args:
        anchors: unique anchors.
        positives: per anchor, its positives.
        positive_scores: per anchor, the score of each positive.
        negatives: per anchor, its negatives (hardest first; fewer than
            ``num_negatives`` when short).
        negative_scores: per anchor, the score of each negative.
    """
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"unknown output_format {output_format!r}; use one of {', '.join(OUTPUT_FORMATS)}")
    _check_int("num_negatives", num_negatives, 1)
    if isinstance(anchors, (str, bytes)):
        raise TypeError("anchors must be a sequence of strings, not a single string")
    per_anchor = {"positives": positives, "positive_scores": positive_scores, "negatives": negatives,
                  "negative_scores": negative_scores}
    for name, seq in per_anchor.items():
        if len(seq) != len(anchors):
            raise ValueError(f"{name} has {len(seq)} entries for {len(anchors)} anchors")
    for i in range(len(anchors)):
        for items, scores in (("positives", "positive_scores"), ("negatives", "negative_scores")):
            if len(per_anchor[items][i]) != len(per_anchor[scores][i]):
                raise ValueError(f"anchor {i} has {len(per_anchor[items][i])} {items} and "
                                 f"{len(per_anchor[scores][i])} {scores}")
    if output_format == "n-tuple-scores":
        output_format, output_scores = "n-tuple", True
    a_col, p_col = anchor_column_name, positive_column_name
    data: dict[str, list[Any]]
    if output_format == "triplet":
        data = {a_col: [], p_col: [], "negative": []}
        if output_scores:
            data["scores"] = []
        for a, ps, pss, ns, nss in zip(anchors, positives, positive_scores, negatives, negative_scores):
            for p, ps_ in zip(ps, pss):
                for n, ns_ in zip(ns, nss):
                    data[a_col].append(a)
                    data[p_col].append(p)
                    data["negative"].append(n)
                    if output_scores:
                        data["scores"].append([float(ps_), float(ns_)])
    elif output_format == "n-tuple":
        data = {a_col: [], p_col: [], **{f"negative_{i}": [] for i in range(1, num_negatives + 1)}}
        if output_scores:
            data["scores"] = []
        for a, ps, pss, ns, nss in zip(anchors, positives, positive_scores, negatives, negative_scores):
            if len(ns) < num_negatives:
                continue  # like sentence-transformers: rows need all n negatives
            for p, ps_ in zip(ps, pss):
                data[a_col].append(a)
                data[p_col].append(p)
                for i in range(num_negatives):
                    data[f"negative_{i + 1}"].append(ns[i])
                if output_scores:
                    data["scores"].append([float(ps_)] + [float(s) for s in nss[:num_negatives]])
    elif output_format == "labeled-pair":
        key = "score" if output_scores else "label"
        data = {a_col: [], p_col: [], key: []}
        for a, ps, pss, ns, nss in zip(anchors, positives, positive_scores, negatives, negative_scores):
            for p, ps_ in zip(ps, pss):
                data[a_col].append(a)
                data[p_col].append(p)
                data[key].append(float(ps_) if output_scores else 1)
            for n, ns_ in zip(ns, nss):
                data[a_col].append(a)
                data[p_col].append(n)
                data[key].append(float(ns_) if output_scores else 0)
    else:  # labeled-list
        key = "scores" if output_scores else "labels"
        data = {a_col: [], p_col: [], key: []}
        for a, ps, pss, ns, nss in zip(anchors, positives, positive_scores, negatives, negative_scores):
            if not ns:
                continue
            for p, ps_ in zip(ps, pss):
                data[a_col].append(a)
                data[p_col].append([p] + list(ns))
                if output_scores:
                    data[key].append([float(ps_)] + [float(s) for s in nss])
                else:
                    data[key].append([1] + [0] * len(ns))
    return data


def _score_sets(output_format: str, pos_scores: list[list[float]], neg_scores: list[list[float]],
                num_negatives: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positive, negative and difference scores as sentence-transformers counts them: one
    negative per (anchor, positive, negative); n-tuple only from anchors with all n."""
    pos = np.array([s for row in pos_scores for s in row], dtype=np.float64)
    neg: list[float] = []
    diff: list[float] = []
    for ps, ns in zip(pos_scores, neg_scores):
        if output_format == "n-tuple" and len(ns) < num_negatives:
            continue
        for p in ps:
            for n in ns:
                neg.append(n)
                diff.append(p - n)
    return pos, np.array(neg, dtype=np.float64), np.array(diff, dtype=np.float64)


def _rows_possible(output_format: str, n_pos: Sequence[int], num_negatives: int) -> int:
    """The rows a format can have for anchors with n_pos distinct positives each:
    sentence-transformers' "maximum possible samples", except that a pair given twice
    counts once (it yields its rows once)."""
    if output_format == "triplet":
        return sum(n_pos) * num_negatives
    if output_format == "labeled-pair":
        return len(n_pos) * num_negatives + sum(n_pos)
    return sum(n_pos)


def _added_columns(output_format: str, output_scores: bool, num_negatives: int) -> list[str]:
    """The columns an output format adds to the anchor and positive columns."""
    if output_format == "n-tuple-scores":
        output_format, output_scores = "n-tuple", True
    if output_format == "triplet":
        return ["negative"] + (["scores"] if output_scores else [])
    if output_format == "n-tuple":
        return [f"negative_{i}" for i in range(1, num_negatives + 1)] + (["scores"] if output_scores else [])
    if output_format == "labeled-pair":
        return ["score" if output_scores else "label"]
    return ["scores" if output_scores else "labels"]


#: MiningPolicy.max_rank that turns the hardness floor off.
_NO_FLOOR = 2**32 - 1

#: Policy fields of the near-duplicate rules; mine_hard_negatives turns the rules off
#: unless one is given.
_NEAR_DUPLICATE_FIELDS = (
    "duplicate_threshold",
    "duplicate_margin",
    "duplicate_quantile",
    "duplicate_zscore",
    "exclude_near_duplicates",
)


# --- the drop-in ---------------------------------------------------------------------------


# Rows per batch of the corpus upload: 4,096 × 384-d float32 is 6 MiB, so the four
# batches in flight stay far below the server's message limit.
_UPLOAD_ROWS = 4096


def mine_hard_negatives(
    dataset: Any,
    model: Embedder,
    anchor_column_name: Optional[str] = None,
    positive_column_name: Optional[str] = None,
    corpus: Optional[Sequence[str]] = None,
    cross_encoder: Any = None,
    range_min: int = 0,
    range_max: Optional[int] = None,
    max_score: Optional[float] = None,
    min_score: Optional[float] = None,
    absolute_margin: Optional[float] = None,
    relative_margin: Optional[float] = None,
    num_negatives: int = 3,
    sampling_strategy: str = "top",
    query_prompt_name: Optional[str] = None,
    query_prompt: Optional[str] = None,
    corpus_prompt_name: Optional[str] = None,
    corpus_prompt: Optional[str] = None,
    include_positives: bool = False,
    output_format: str = "triplet",
    output_scores: bool = False,
    batch_size: int = 32,
    faiss_batch_size: int = 16384,
    use_faiss: bool = False,
    use_multi_process: Union[list[str], bool] = False,
    verbose: bool = True,
    cache_folder: Optional[str] = None,
    as_triplets: Optional[bool] = None,
    margin: Optional[float] = None,
    *,
    mine_batch_size: int = 256,
    collection: Optional[str] = None,
    keep_collection: bool = False,
    replace_collection: bool = False,
    metric: str = "cosine",
    exact: bool = True,
    seed: int = 0,
    as_dataset: Optional[bool] = None,
    return_report: bool = False,
    report_false_negatives: bool = False,
    client: Optional["Client"] = None,
    **policy_kwargs: Any,
) -> Any:
    """Adds hard negatives to a dataset of (anchor, positive) pairs.

    The positional parameters are sentence-transformers' ``mine_hard_negatives``
    parameters, in its order, with its defaults and meaning (see its documentation);
    the candidate search and the rules run in a hardneg server.

    Args:
        dataset: a ``datasets.Dataset``, a dict of columns, or a list of dicts or
            ``(anchor, positive)`` pairs. Repeated anchors count as one anchor with
            several positives. An empty dataset, columns of different lengths, and a
            text column holding anything but strings are errors.
        model: a sentence-transformers model (its ``encode_query`` /
            ``encode_document`` are called with the prompts, ``normalize_embeddings=True``
            and ``batch_size``, as sentence-transformers does), anything with
            ``encode``, or a callable mapping a list of texts to an ``(n, dim)`` array
            (prompts are then prepended to the texts). Embeddings that are not finite
            real numbers, or zero vectors under ``metric="cosine"``, are a ValueError
            before anything is uploaded.
        anchor_column_name, positive_column_name: default the first and second columns;
            a name that is not a column is an error (sentence-transformers silently
            falls back to the first/second column), and so is one column for both.
        corpus: extra candidate documents besides the positives.
        cross_encoder: a model with ``predict(pairs, batch_size=…)`` that rescores the
            candidates and the positives, with or without a filter (as
            sentence-transformers 6.3 does); the ordering, the filters, the window and
            the output scores then use its scores.
        range_min, range_max, max_score, min_score, absolute_margin, relative_margin,
        num_negatives: as in sentence-transformers. ``range_max=None`` is derived as
            sentence-transformers derives it, and the search examines the same
            ``range_max + max_positives + 1`` best candidates per anchor (pass
            ``max_candidates=0`` to let the server keep searching past them when the
            rules remove too many). An anchor whose own text is in the corpus never
            gets that item as a negative (unless ``include_positives`` and the anchor is
            one of its own positives), as in sentence-transformers 6.3.
        sampling_strategy: ``"top"`` or ``"random"`` (uniform among the window's
            survivors, reproducible with ``seed``); hardneg also takes ``"softmax"``,
            ``"simans"`` and ``"top1_sampled"``.
        query_prompt_name, query_prompt, corpus_prompt_name, corpus_prompt: passed to
            the model's ``encode_query`` / ``encode_document`` exactly as
            sentence-transformers passes them; a prompt name must exist in
            ``model.prompts``.
        include_positives: positives stay candidates (the output format becomes
            ``"n-tuple"``, as in sentence-transformers).
        output_format: one of :data:`OUTPUT_FORMATS` (see the module docstring).
        output_scores: add or substitute score columns.
        batch_size: encoding (and cross-encoder) batch size.
        faiss_batch_size, use_faiss, use_multi_process, cache_folder: accepted for
            compatibility and validated; they do nothing here (the server searches;
            encoding runs in this process).
        verbose: print sentence-transformers' statistics plus hardneg's per-rule
            counts and shortfall.
        as_triplets, margin: deprecated aliases of ``output_format`` and
            ``absolute_margin``, with sentence-transformers' warnings.
        mine_batch_size: anchors per Mine request (at most 1,024); two requests are in
            flight at a time (one under ``rotate`` or ``max_exposures``).
        collection: collection to fill with the corpus (item ids are the positions in
            the de-duplicated corpus, ``corpus`` first, then the positives); default a
            temporary one that is deleted afterwards (unless ``keep_collection``,
            which needs ``collection`` and ``client``: the collection stays on that
            server under that name). A
            collection of that name that exists already is refused (``ValueError``,
            before anything is encoded) unless ``replace_collection``. Without
            ``keep_collection`` the collection is ephemeral (kept in the server's
            memory only: no log writes, no snapshots; see
            :meth:`hardneg.Client.create_collection`), on a server that offers it.
        replace_collection: replace a collection named by ``collection`` that exists
            already (it is deleted once the embeddings are checked, then made afresh).
        metric: the collection's metric (``"cosine"``, ``"dot"``, ``"l2"``).
        exact: search the corpus exactly, like sentence-transformers (no HNSW graph;
            each Mine request scores its anchors together in one pass). Set False to
            build the graph, for corpora of millions.
        seed: sampling seed (same inputs and seed → same negatives).
        as_dataset: return a ``datasets.Dataset`` (True), a dict of columns (False), or
            (None) a ``datasets.Dataset`` when the input was one, else a dict of columns
            (also for a list of pairs or a DataFrame).
        return_report: also return a :class:`MiningReport`.
        report_false_negatives: with ``cross_encoder``, send the candidates it removed
            by a margin or ``max_score`` (it scored them too close to the positive) to
            the server as false negatives of their anchor, keyed by
            :func:`anchor_key`; needs ``collection`` and ``keep_collection=True`` so that
            later Mine calls on that collection leave them out.
        client: a connected :class:`hardneg.Client` (two Mine requests are in flight at
            a time, from two threads; one under ``rotate`` or ``max_exposures``). The
            corpus goes up over one ``UpsertStream`` with a writer id of its own, so a
            job leaves one stream writer on that server, forgotten after its
            ``-stream-writer-ttl`` (a week). None starts a private
            ``miner-server`` (``$HARDNEG_SERVER_BIN`` when it is set, else the one
            bundled with platform wheels, else ``miner-server`` on PATH) on a temporary
            directory and stops it afterwards.
        **policy_kwargs: further :class:`hardneg.MiningPolicy` fields
            (``duplicate_threshold``, ``diversity_threshold``, ``rank_mode``,
            ``max_candidates``, …). In-batch exclusion is off by default here, as
            request batches are arbitrary, and so are hardneg's near-duplicate rules
            (as in sentence-transformers) unless one of their fields is given
            (``duplicate_threshold``, ``duplicate_margin``, ``duplicate_quantile``,
            ``duplicate_zscore``, ``exclude_near_duplicates``); given one, the
            server's defaults apply to the others.

    Every argument is checked before anything is encoded or uploaded.

    Returns:
        The mined rows (and the report when ``return_report``).
    """
    # ---- 1. check every argument before any encoding or upload -------------------------
    cols, was_dataset = _columns(dataset)
    n_rows = len(next(iter(cols.values()))) if cols else 0
    if n_rows == 0:
        raise ValueError("The dataset is empty. Please provide a non-empty dataset.")
    names = list(cols)
    # sentence-transformers reads an empty column name as "not given".
    anchor_column_name = anchor_column_name or None
    positive_column_name = positive_column_name or None
    for arg, value in (("anchor_column_name", anchor_column_name), ("positive_column_name", positive_column_name)):
        if value is not None and value not in cols:
            raise ValueError(f"{arg}={value!r} is not a column of the dataset; its columns are {names!r}")
    if len(names) < 2 and (anchor_column_name is None or positive_column_name is None):
        raise ValueError("Dataset must contain at least two columns to select the positive column automatically.")
    a_col = anchor_column_name or names[0]
    p_col = positive_column_name or names[1]
    if a_col == p_col:
        raise ValueError(f"anchor_column_name and positive_column_name both name the column {a_col!r}; "
                         "give two different columns")
    _check_texts(a_col, cols[a_col])
    _check_texts(p_col, cols[p_col])

    if isinstance(model, (str, bytes, os.PathLike)):
        # str has an encode method of its own, which would be called with the texts.
        raise TypeError(f"model must be a sentence-transformers model, have encode(), or be a callable from texts to "
                        f"vectors, not a name or path ({model!r}): load it first, e.g. SentenceTransformer({model!r})")
    if not hasattr(model, "encode") and hasattr(model, "predict") and "CrossEncoder" in type(model).__name__:
        raise TypeError("model is a CrossEncoder, which scores pairs and does not embed texts: pass an embedding model "
                        "(a SentenceTransformer) as model, and the CrossEncoder as cross_encoder= to rescore its candidates")
    if not (hasattr(model, "encode") or callable(model)):
        raise TypeError("model must be a sentence-transformers model, have encode(), or be a callable from texts to vectors")
    if cross_encoder is not None and not hasattr(cross_encoder, "predict"):
        raise TypeError("cross_encoder must have predict(pairs, batch_size=...), like a sentence-transformers CrossEncoder")
    if corpus is not None:
        if isinstance(corpus, (str, bytes, Mapping)) or not hasattr(corpus, "__iter__"):
            raise TypeError("corpus must be a list of strings")
        corpus = list(corpus)
        _check_texts("corpus", corpus)

    if as_triplets is not None:
        _check_bool("as_triplets", as_triplets)
        output_format = "triplet" if as_triplets else "n-tuple"
        logger.warning(
            "The `as_triplets` parameter is deprecated. Use the `output_format` parameter instead. "
            f"Setting `output_format` to `{output_format}`."
        )
    _check_bool("include_positives", include_positives)
    if include_positives:
        if (range_min != 0 or range_max is not None or max_score is not None or min_score is not None
                or absolute_margin is not None or relative_margin is not None or margin is not None
                or sampling_strategy != "top"):
            logger.warning(
                "When using `include_positives=True`, updating `range_min`, `range_max`, `max_score`, `min_score`, "
                "`absolute_margin`, `relative_margin`, or `sampling_strategy` from the default values may still "
                "discard the positive values."
            )
        if output_format != "n-tuple":
            logger.warning(
                'When using `include_positives=True`, `output_format` will be set to `"n-tuple"` to ensure that the '
                "ranking order is preserved."
            )
            output_format = "n-tuple"
    _check_bool("output_scores", output_scores)
    if output_format == "n-tuple-scores":
        logger.warning(
            '`output_format="n-tuple-scores"` is deprecated. Use `output_format="n-tuple"` with '
            "`output_scores=True` instead for equivalent output formats."
        )
        output_format, output_scores = "n-tuple", True
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(
            f"Invalid output_format: {output_format}. Must be one of 'triplet', 'n-tuple', 'labeled-pair', or "
            "'labeled-list'."
        )
    margin, max_score, min_score = _scalar(margin), _scalar(max_score), _scalar(min_score)
    absolute_margin, relative_margin = _scalar(absolute_margin), _scalar(relative_margin)
    if margin is not None:
        _check_float("margin", margin, lo=0.0)
        absolute_margin = margin
        logger.warning(
            "The `margin` parameter is deprecated. Use the `absolute_margin` and/or `relative_margin` parameter "
            f"instead. Setting `absolute_margin` to `{absolute_margin}`."
        )
    # No bound at all, as sentence-transformers reads an infinite one.
    if isinstance(max_score, numbers.Real) and not isinstance(max_score, bool) and max_score == math.inf:
        max_score = None
    if isinstance(min_score, numbers.Real) and not isinstance(min_score, bool) and min_score == -math.inf:
        min_score = None
    _check_float("max_score", max_score)
    _check_float("min_score", min_score)
    _check_float("absolute_margin", absolute_margin, lo=0.0)
    _check_float("relative_margin", relative_margin, lo=0.0, hi=1.0)
    _check_int("num_negatives", num_negatives, 1, codec.MAX_NEGATIVES)
    _check_int("range_min", range_min, 0, codec.MAX_RANGE)
    if range_max is not None:
        _check_int("range_max", range_max, 1, codec.MAX_RANGE)
    for col in (a_col, p_col):
        if col in _added_columns(output_format, output_scores, num_negatives):
            raise ValueError(f"the column {col!r} has the name of a column that output_format={output_format!r} "
                             f"adds{' with output_scores' if output_scores else ''}; rename it "
                             "(e.g. dataset.rename_column) or pick another output_format")
    if sampling_strategy not in SAMPLING_STRATEGIES:
        raise ValueError(f"sampling_strategy must be one of {', '.join(map(repr, SAMPLING_STRATEGIES))}, "
                         f"got {sampling_strategy!r}")
    _check_prompt(model, "query_prompt_name", query_prompt_name, "query_prompt", query_prompt)
    _check_prompt(model, "corpus_prompt_name", corpus_prompt_name, "corpus_prompt", corpus_prompt)
    _check_int("batch_size", batch_size, 1)
    if not _is_int(faiss_batch_size) or faiss_batch_size <= 0:
        raise ValueError(f"faiss_batch_size must be a positive integer, got {faiss_batch_size}.")
    _check_bool("use_faiss", use_faiss)
    if not (isinstance(use_multi_process, bool)
            or (isinstance(use_multi_process, (list, tuple)) and all(isinstance(d, str) for d in use_multi_process))):
        raise TypeError(f"use_multi_process must be a bool or a list of device names, got {use_multi_process!r}")
    _check_bool("verbose", verbose)
    if cache_folder is not None and not isinstance(cache_folder, (str, os.PathLike)):
        raise TypeError(f"cache_folder must be a path or None, got {cache_folder!r}")
    _check_int("mine_batch_size", mine_batch_size, 1, codec.MAX_ANCHORS)
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    if cross_encoder is None:
        # The server filters by the embedding score, which the metric bounds.
        lo, hi = _SCORE_RANGES[metric]
        if absolute_margin is not None and math.isfinite(hi - lo) and absolute_margin > hi - lo:
            # Wider than any two scores differ: no candidate passes, as in
            # sentence-transformers; the server takes margins up to the range's width.
            absolute_margin = float(hi - lo)
        for name, v in (("max_score", max_score), ("min_score", min_score)):
            if v is not None and not lo <= v <= hi:
                raise ValueError(f"{name}={v} is outside the scores metric={metric!r} gives ({_SCORE_RANGE_TEXT[metric]})")
    if collection is not None and (not isinstance(collection, str) or not collection):
        raise ValueError(f"collection must be a non-empty string or None, got {collection!r}")
    if collection is not None and (why := codec.name_problem(collection)):
        raise ValueError(f"collection={collection!r} {why}")
    for name, flag in (("keep_collection", keep_collection), ("replace_collection", replace_collection),
                       ("exact", exact), ("return_report", return_report),
                       ("report_false_negatives", report_false_negatives)):
        _check_bool(name, flag)
    if keep_collection and collection is None:
        raise ValueError("keep_collection=True needs collection=NAME: the name to keep the collection under")
    if keep_collection and client is None:
        raise ValueError("keep_collection=True needs client=: the private server started without one is stopped, "
                         "with its collections, when the call returns")
    if as_dataset is not None:
        _check_bool("as_dataset", as_dataset)
    if as_dataset:
        try:
            import datasets  # noqa: F401 - checked before anything is encoded or uploaded
        except ImportError as e:
            raise ImportError("as_dataset=True needs the datasets package: pip install 'hardneg[datasets]'") from e
    _check_int("seed", seed, 0, 2**64 - 1)
    st_set = sorted(set(policy_kwargs) & _ST_POLICY_FIELDS)
    if st_set:
        raise TypeError(f"pass {', '.join(st_set)} as the named parameter(s), not as policy keywords")
    policy_names = {f.name for f in fields(MiningPolicy)}
    unknown = sorted(set(policy_kwargs) - policy_names)
    if unknown:
        raise TypeError(f"unknown argument(s) of mine_hard_negatives: {', '.join(unknown)}")
    if client is not None and not hasattr(client, "mine"):
        raise TypeError(f"client must be a hardneg.Client, got {client!r}")
    if client is not None and inspect.iscoroutinefunction(client.mine):
        raise TypeError("mine_hard_negatives needs a hardneg.Client; a hardneg.aio.AsyncClient's calls would not be "
                        "awaited (run it in a thread with a Client instead)")

    anchors_all = list(cols[a_col])
    positives_all = list(cols[p_col])
    # sentence-transformers counts rows per anchor (a repeated pair counts twice).
    rows_per_anchor: dict[str, int] = {}
    for a in anchors_all:
        rows_per_anchor[a] = rows_per_anchor.get(a, 0) + 1
    max_positives = max(rows_per_anchor.values())

    uses_filter = absolute_margin is not None or relative_margin is not None or max_score is not None
    # sentence-transformers 6.3 rescores with a cross-encoder whenever one is given.
    rescoring = cross_encoder is not None
    derived_range_max = range_max is None
    if range_max is None:
        if uses_filter or (cross_encoder is not None and min_score is not None):
            range_max = range_min + num_negatives * 10 + max_positives
        else:
            range_max = range_min + num_negatives + max_positives
    if range_min >= range_max:
        raise ValueError(
            f"range_min must be smaller than range_max, got range_min={range_min} and range_max={range_max}."
        )
    if num_negatives > range_max - range_min:
        raise ValueError(
            f"Cannot mine {num_negatives} negatives per query: only {range_max - range_min} candidates remain after "
            f"skipping the first range_min={range_min} of range_max={range_max}. Consider decreasing num_negatives "
            "or range_min, or increasing range_max."
        )
    # The pool: the best range_max + max_positives + 1 by embedding (sentence-transformers
    # 6.3 keeps one place for the anchor's own text, which it then leaves out).
    depth = range_max + max_positives + 1
    if rescoring and depth > codec.MAX_NEGATIVES:
        how = (f"range_max defaults to range_min + 10 × num_negatives + positives = {range_max} with a margin, "
               f"max_score or min_score: lower num_negatives or pass a smaller range_max" if derived_range_max
               else "lower range_max")
        raise ValueError(
            f"with a cross_encoder the {depth} candidates per anchor (range_max + positives + 1) must be at most "
            f"{codec.MAX_NEGATIVES} (each is rescored); {how}"
        )
    if rescoring and sampling_strategy not in ("top", "random"):
        raise ValueError(f"with a cross_encoder, sampling_strategy must be 'top' or 'random', got {sampling_strategy!r}")
    if report_false_negatives and not (rescoring and (uses_filter or min_score is not None)):
        raise ValueError("report_false_negatives needs a cross_encoder and a margin, max_score or min_score")
    if report_false_negatives and not (collection and keep_collection):
        raise ValueError("report_false_negatives needs collection=NAME and keep_collection=True: the verdicts are "
                         "kept with the collection")
    policy_kwargs.setdefault("in_batch_exclusion", False)
    if not any(f in policy_kwargs for f in _NEAR_DUPLICATE_FIELDS):
        policy_kwargs["exclude_near_duplicates"] = False
    pool = policy_kwargs.setdefault("max_candidates", depth)
    # sentence-transformers' pool is the raw top `depth`, however many positives it holds:
    # that is the hardness floor too, not the server's default max(200, 2 × the window's
    # end), which an anchor with hundreds of positives would reach first. With
    # max_candidates=0 the search may go past that depth: no floor.
    policy_kwargs.setdefault("max_rank", depth if pool else _NO_FLOOR)
    if rescoring:
        # The server returns sentence-transformers' raw candidate list; the cross-encoder
        # scores, the filters, the window and the sampling are applied here.
        policy = MiningPolicy.from_kwargs(None, num_negatives=depth, range_min=0, range_max=depth, seed=seed,
                                          **policy_kwargs)
    else:
        policy = MiningPolicy.from_kwargs(
            None, num_negatives=num_negatives, range_min=range_min, range_max=range_max, max_score=max_score,
            min_score=min_score, absolute_margin=absolute_margin, relative_margin=relative_margin,
            sampling_strategy=sampling_strategy, seed=seed, **policy_kwargs,  # type: ignore[arg-type]
        )
    _check_policy(policy, metric)
    guide = policy.guide_collection
    if guide and (why := codec.name_problem(guide)):
        raise ValueError(f"guide_collection={guide!r} {why}")
    if guide:
        # The guide is another collection, which must exist already (the job's own is
        # made below and cannot be its own guide).
        if guide == collection:
            raise ValueError(f"guide_collection={guide!r} is the job's own collection; a guide must be another "
                             "collection")
        if client is None:
            raise ValueError(f"guide_collection={guide!r}: the private server started for this job holds no "
                             "collections; pass client= a server that holds it")
        try:
            client.get_collection(guide)
        except NotFound:
            raise ValueError(f"guide_collection={guide!r} does not exist on the server") from None
    if collection is not None and client is not None and not replace_collection:
        # The job fills its collection with the corpus: a collection of that name is the
        # caller's data, not to be deleted by a misnamed argument.
        try:
            info = client.get_collection(collection)
        except NotFound:
            pass
        else:
            raise ValueError(
                f"collection={collection!r} already exists on the server ({info.stats.item_count:,} items, dim "
                f"{info.dim}, {info.metric}); the job fills its collection with the corpus and would replace it: "
                "pass replace_collection=True to replace it, or name another collection")
    server = None
    if client is None:
        from hardneg._server import LocalServer

        server = LocalServer()  # finds the binary now: a missing one fails before encoding

    # ---- 2. the plan, as sentence-transformers prints it ---------------------------------
    if derived_range_max and verbose:
        print(f"Setting range_max to {range_max} based on the provided parameters.")
    anchor_pos: dict[str, list[str]] = {}
    for a, p in zip(anchors_all, positives_all):
        lst = anchor_pos.setdefault(a, [])
        if p not in lst:
            lst.append(p)
    anchors = list(anchor_pos)
    most = max(anchors, key=lambda a: len(anchor_pos[a]))
    if len(anchor_pos[most]) > codec.MAX_POSITIVES:
        raise ValueError(f"the anchor {most[:80]!r} has {len(anchor_pos[most]):,} distinct positives; a hardneg server "
                         f"takes at most {codec.MAX_POSITIVES:,} per anchor (each is left out of its negatives); keep at most "
                         f"{codec.MAX_POSITIVES:,} of its rows")
    if len(anchors) != len(anchors_all) and verbose:
        print(f"Found {len(anchors)} unique queries out of {len(anchors_all)} total queries.")
    if max_positives > 1 and verbose:
        print(f"Found an average of {np.mean(list(rows_per_anchor.values())):.3f} positives per query.")
    texts = list(dict.fromkeys(list(corpus or []) + positives_all))
    text_id = {t: str(i) for i, t in enumerate(texts)}

    # ---- 3. encode (corpus first, like sentence-transformers), upload, mine --------------
    corpus_emb = _encode(model, texts, "document", corpus_prompt_name, corpus_prompt, batch_size, verbose, metric)
    anchor_emb = _encode(model, anchors, "query", query_prompt_name, query_prompt, batch_size, verbose, metric)
    if corpus_emb.shape[1] != anchor_emb.shape[1]:
        raise ValueError(f"the model returned {anchor_emb.shape[1]}-d query and {corpus_emb.shape[1]}-d corpus vectors")
    dim = int(corpus_emb.shape[1])
    emb_of = {t: i for i, t in enumerate(texts)}
    keys = [anchor_key(a) for a in anchors]

    # An anchor's own text, when the corpus holds it, is never its negative (as in
    # sentence-transformers 6.3), unless include_positives and it is its own positive.
    own_id = {a: text_id[a] for a in anchors if a in text_id and not (include_positives and a in anchor_pos[a])}

    def pos_args(batch: list[str]) -> dict[str, Any]:
        if include_positives or rescoring:
            # Positives stay candidates; their vectors still give s⁺ (and the duplicate rule).
            args: dict[str, Any] = {"positive_vectors": [corpus_emb[[emb_of[p] for p in anchor_pos[a]]] for a in batch]}
        else:
            args = {"positive_ids": [[text_id[p] for p in anchor_pos[a]] for a in batch]}
        if not rescoring:
            # The cross-encoder path leaves it out itself, after scoring the same pool
            # sentence-transformers scores.
            args["exclude_ids"] = [[own_id[a]] if a in own_id else [] for a in batch]
        return args

    name = collection or f"hardneg-mine-{uuid.uuid4().hex[:12]}"
    reported = 0
    if server is not None:
        from hardneg.client import Client as _Client

        server.start()
        try:
            client = _Client(server.target, timeout=600.0)
        except BaseException:
            server.stop()
            raise
    assert client is not None
    try:
        if replace_collection:
            client.delete_collection(name, missing_ok=True)
        params = IndexParams(exact_threshold=EXACT_ONLY) if exact else None
        if keep_collection:
            client.create_collection(name, dim, metric, index_params=params)
        else:
            # A collection for this job alone lives in the server's memory only: the
            # upload writes no log and no snapshot. A backend that keeps every
            # collection stored (-backend weaviate) refuses that; it gets a stored one.
            from hardneg.errors import InvalidArgument

            try:
                client.create_collection(name, dim, metric, index_params=params, ephemeral=True)
            except InvalidArgument as e:
                if not any(v.field == "ephemeral" for v in e.violations):
                    raise
                client.create_collection(name, dim, metric, index_params=params)
        try:
            # One stream, in order: items get their slots in corpus order, and score ties
            # are broken by slot, so the same input gives the same rows; with several
            # batches in flight the server applies one while the client encodes the
            # next. The writer id is new for every job, even one into a collection
            # name used before (a used one would see its batches dropped as
            # duplicates); the server forgets it after its -stream-writer-ttl.
            ids = [text_id[t] for t in texts]
            client.ingest(name, ((ids[i : i + _UPLOAD_ROWS], corpus_emb[i : i + _UPLOAD_ROWS])
                                 for i in range(0, len(ids), _UPLOAD_ROWS)),
                          writer_id=f"hardneg-mine-upload-{uuid.uuid4().hex}", window=4)
            def mine_part(start: int) -> MineResult:
                batch = anchors[start : start + mine_batch_size]
                # anchor_offset: sampling draws for each anchor of the job by its place in
                # it, so the requests' anchors draw independently.
                return client.mine(name, anchor_vectors=anchor_emb[start : start + len(batch)],
                                   keys=keys[start : start + len(batch)], policy=policy, anchor_offset=start,
                                   **pos_args(batch))

            # Two requests in flight: the server mines one while the client encodes the
            # next and decodes the last, so its cores do not wait on the client. Rotation
            # and the exposure cap depend on the order of the requests: one at a time.
            in_order = policy.rotate or bool(policy.max_exposures)
            with ThreadPoolExecutor(max_workers=1 if in_order else 2, thread_name_prefix="hardneg-mine") as pool:
                pending = pool.map(mine_part, range(0, len(anchors), mine_batch_size))  # all submitted now
                # The positives' scores while the server mines.
                pos_scores = _positive_scores(anchor_emb, corpus_emb,
                                              [[emb_of[p] for p in anchor_pos[a]] for a in anchors], metric)
                parts = list(pending)
            res = MineResult.concatenate(parts, policy.num_negatives)
            counts = res.counts.tolist()
            id_rows, score_rows = res.ids.tolist(), res.scores.astype(np.float64).tolist()
            cand = [[texts[int(x)] for x in id_rows[i][:n]] for i, n in enumerate(counts)]
            cand_scores = [score_rows[i][:n] for i, n in enumerate(counts)]
            skipped: dict[str, tuple[int, float]] = {}
            if rescoring:
                negatives, neg_scores, pos_scores, skipped, verdicts = _rescore(
                    cross_encoder, anchors, anchor_pos, cand, own=[a if a in own_id else None for a in anchors],
                    batch_size=batch_size, range_min=range_min,
                    range_max=range_max, depth=depth, num_negatives=num_negatives, sampling_strategy=sampling_strategy,
                    include_positives=include_positives, absolute_margin=absolute_margin,
                    relative_margin=relative_margin, max_score=max_score, min_score=min_score, seed=seed,
                    progress=verbose)
                if report_false_negatives:
                    reports = {keys[i]: [text_id[t] for t in v] for i, v in enumerate(verdicts) if v}
                    if reports:
                        reported = client.report_false_negatives(name, reports)
            else:
                negatives, neg_scores = cand, cand_scores
        finally:
            # The job's own server goes with all it holds; on a server of the caller's the
            # job's collection is deleted. While an error (or Ctrl-C) is on its way out, a
            # failed delete is logged, not raised in its place.
            if not keep_collection and server is None:
                leaving = sys.exc_info()[1]  # the error on its way out, if any
                try:
                    client.delete_collection(name, missing_ok=True)
                except Exception as e:
                    if leaving is None:
                        raise
                    logger.warning("could not delete the job's collection %r: %s", name, e)
    finally:
        if server is not None:
            client.close()
            server.stop()
    if verbose:
        print("Negative candidates mined, preparing dataset...")

    # ---- 4. rows and report --------------------------------------------------------------
    data = build_rows(anchors, [anchor_pos[a] for a in anchors], pos_scores, negatives, neg_scores,
                      output_format=output_format, output_scores=output_scores, num_negatives=num_negatives,
                      anchor_column_name=a_col, positive_column_name=p_col)
    n_pos = [len(anchor_pos[a]) for a in anchors]
    pos_flat, neg_flat, diff = _score_sets(output_format, pos_scores, neg_scores, num_negatives)
    report = MiningReport(
        rules=res.stats,
        positive=ScoreSummary.of(pos_flat),
        negative=ScoreSummary.of(neg_flat),
        difference=ScoreSummary.of(diff),
        queries=len(anchors),
        queries_total=len(anchors_all),
        rows=len(next(iter(data.values()))),
        rows_possible=_rows_possible(output_format, n_pos, num_negatives),
        anchors_short=sum(1 for ns in negatives if len(ns) < num_negatives),
        range_max=range_max,
        max_candidates=depth if rescoring else (policy.max_candidates or 100_000),
        rescored=rescoring,
        deepest=not rescoring and not policy.max_candidates,
        max_examined=int(res.candidates_examined.max()) if len(res) else 0,
        parameters={
            "range_min": range_min, "range_max": range_max, "max_score": max_score, "min_score": min_score,
            "absolute_margin": absolute_margin, "relative_margin": relative_margin, "num_negatives": num_negatives,
            "sampling_strategy": sampling_strategy, "output_format": output_format,
        },
        skipped=skipped,
        false_negatives_reported=reported,
    )
    if verbose:
        print(report.format())

    want_dataset = was_dataset if as_dataset is None else as_dataset
    out: Any = data
    if want_dataset:  # checked up front for as_dataset=True; a Dataset input had it installed
        from datasets import Dataset

        out = Dataset.from_dict(data)
    return (out, report) if return_report else out


def _rescore(
    cross_encoder: Any,
    anchors: list[str],
    anchor_pos: dict[str, list[str]],
    candidates: list[list[str]],
    *,
    own: list[Optional[str]],
    batch_size: int,
    range_min: int,
    range_max: int,
    depth: int,
    num_negatives: int,
    sampling_strategy: str,
    include_positives: bool,
    absolute_margin: Optional[float],
    relative_margin: Optional[float],
    max_score: Optional[float],
    min_score: Optional[float],
    seed: int,
    progress: bool,
) -> tuple[list[list[str]], list[list[float]], list[list[float]], dict[str, tuple[int, float]], list[list[str]]]:
    """sentence-transformers' cross-encoder path on the server's raw candidates.

    Each anchor's candidates (its best ``range_max + max_positives + 1`` by embedding)
    and its positives are scored by the cross-encoder; positives are set aside (unless
    ``include_positives``), and so is the anchor's own text (``own``, None for none),
    then the margins against the hardest positive, ``max_score``
    and ``min_score`` remove candidates by their cross-encoder score; the window
    ``[range_min, range_max)`` of the survivors in cross-encoder order is sampled.

    Returns negatives, their scores and the positive scores (all cross-encoder scores),
    the per-parameter skip counts, and per anchor the candidates removed by a margin or
    ``max_score`` (the implied false negatives).
    """
    rng = np.random.default_rng(seed)
    total = len(anchors) * depth
    counters = {"absolute_margin": 0, "relative_margin": 0, "max_score": 0, "min_score": 0}
    per_anchor: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    pos_pairs = [(a, p) for a in anchors for p in anchor_pos[a]]
    pos_all = _ce_scores(cross_encoder, pos_pairs, batch_size)
    pos_scores: list[list[float]] = []
    off = 0
    for a in anchors:
        n = len(anchor_pos[a])
        pos_scores.append(pos_all[off : off + n].astype(float).tolist())
        off += n
    verdicts: list[list[str]] = []
    for i, a in enumerate(anchors):
        cand = candidates[i]
        s = _ce_scores(cross_encoder, [(a, c) for c in cand], batch_size).copy()
        alive = np.ones(len(cand), dtype=bool)
        if not include_positives:
            alive &= np.array([c not in anchor_pos[a] for c in cand], dtype=bool)
        if own[i] is not None:
            alive &= np.array([c != own[i] for c in cand], dtype=bool)
        s_pos = np.float32(min(pos_scores[i]))
        removed_fn = np.zeros(len(cand), dtype=bool)
        if absolute_margin is not None:
            r = alive & (s + np.float32(absolute_margin) > s_pos)
            counters["absolute_margin"] += int(r.sum())
            alive &= ~r
            removed_fn |= r
        if relative_margin is not None:
            r = alive & (s > s_pos - abs(s_pos) * np.float32(relative_margin))
            counters["relative_margin"] += int(r.sum())
            alive &= ~r
            removed_fn |= r
        if max_score is not None:
            r = alive & (s > np.float32(max_score))
            counters["max_score"] += int(r.sum())
            alive &= ~r
            removed_fn |= r
        if min_score is not None:
            r = alive & (s < np.float32(min_score))
            counters["min_score"] += int(r.sum())
            alive &= ~r
        verdicts.append([c for c, f in zip(cand, removed_fn) if f])
        per_anchor.append((s, alive, np.arange(len(cand))))
    negatives: list[list[str]] = []
    neg_scores: list[list[float]] = []
    for i, (s, alive, idx) in enumerate(per_anchor):
        order = [int(j) for j in sorted(idx[alive], key=lambda j: -float(s[j]))][:range_max][range_min:]
        if sampling_strategy != "top" and len(order) > num_negatives:
            pick = sorted(rng.choice(len(order), size=num_negatives, replace=False).tolist())
            order = [order[j] for j in pick]
        order = order[:num_negatives]
        negatives.append([candidates[i][j] for j in order])
        neg_scores.append([float(s[j]) for j in order])
    skipped: dict[str, tuple[int, float]] = {}
    remaining = total
    for name in ("absolute_margin", "relative_margin"):
        if counters[name]:
            skipped[name] = (counters[name], counters[name] / remaining)
            remaining -= counters[name]
    for name in ("max_score", "min_score"):
        if counters[name]:
            skipped[name] = (counters[name], counters[name] / remaining)
    return negatives, neg_scores, pos_scores, skipped, verdicts
