"""Mine a whole (anchor, positive) dataset and emit sentence-transformers training formats.

:func:`mine_hard_negatives` mirrors ``sentence_transformers.util.mine_hard_negatives``:
the same parameter names where the meaning is the same (``range_min``, ``range_max``,
``max_score``, ``min_score``, ``absolute_margin``, ``relative_margin``,
``num_negatives``, ``sampling_strategy``, ``output_format``, ``output_scores``) and the
same output columns, so its result drops into a sentence-transformers trainer. The
search and every false-negative rule run in the hardneg server instead of a full
query × corpus matrix, and hardneg's extra rules (``duplicate_threshold``,
``diversity_threshold``, …) can be passed as keyword arguments.

Output formats (``anchor``/``positive`` stand for the dataset's column names):

=================  =================================================================
``triplet``        ``anchor, positive, negative`` — one row per (anchor, positive,
                   negative); ``scores`` = ``[pos, neg]`` with ``output_scores``.
``n-tuple``        ``anchor, positive, negative_1 … negative_n`` — rows that got all
                   n negatives; ``scores`` = ``[pos, neg_1 … neg_n]`` with
                   ``output_scores``.
``n-tuple-scores`` ``n-tuple`` with ``output_scores=True``.
``labeled-pair``   ``anchor, positive, label`` — per anchor its positives (label 1)
                   then its negatives (label 0); ``score`` instead of ``label`` with
                   ``output_scores``.
``labeled-list``   ``anchor, positive, labels`` — ``positive`` is the list
                   ``[pos, neg_1, …]``, ``labels`` ``[1, 0, …]``; ``scores`` instead
                   of ``labels`` with ``output_scores``.
=================  =================================================================
"""

from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Sequence, Union

import numpy as np

from hardneg.types import EXACT_ONLY, IndexParams, MineResult, MiningPolicy, RuleStats

if TYPE_CHECKING:  # pragma: no cover
    from hardneg.client import Client

__all__ = ["OUTPUT_FORMATS", "MiningReport", "mine_hard_negatives", "build_rows"]

OUTPUT_FORMATS = ("triplet", "n-tuple", "n-tuple-scores", "labeled-pair", "labeled-list")

Embedder = Union[Callable[[list[str]], Any], Any]


@dataclass
class ScoreSummary:
    """Summary statistics of a set of scores."""

    count: int
    mean: float
    median: float
    std: float
    min: float
    max: float

    @classmethod
    def of(cls, values: np.ndarray) -> "ScoreSummary":
        v = np.asarray(values, dtype=np.float64)
        if v.size == 0:
            return cls(0, float("nan"), float("nan"), float("nan"), float("nan"), float("nan"))
        return cls(int(v.size), float(v.mean()), float(np.median(v)), float(v.std()), float(v.min()), float(v.max()))


@dataclass
class MiningReport:
    """What a dataset mining run did: score statistics and the per-rule removals.

    Attributes:
        rules: candidates removed by each rule, summed over anchors.
        positive, negative, difference: summaries of positive scores, negative scores
            and positive − negative per emitted pair.
        anchors: unique anchors mined.
        rows: rows emitted.
        rows_possible: rows the format could have had with no shortfall.
        anchors_short: anchors that got fewer than ``num_negatives`` negatives.
    """

    rules: RuleStats
    positive: ScoreSummary
    negative: ScoreSummary
    difference: ScoreSummary
    anchors: int
    rows: int
    rows_possible: int
    anchors_short: int
    parameters: dict[str, Any] = field(default_factory=dict)

    def format(self) -> str:
        lines = [f"{'Metric':<8}{'Positive':>12}{'Negative':>12}{'Difference':>12}"]
        lines.append(f"{'Count':<8}{self.positive.count:>12,}{self.negative.count:>12,}{'':>12}")
        for name in ("mean", "median", "std", "min", "max"):
            p, n, d = (getattr(s, name) for s in (self.positive, self.negative, self.difference))
            lines.append(f"{name.capitalize():<8}{p:>12.4f}{n:>12.4f}{d:>12.4f}")
        examined = self.rules.candidates_examined or 1
        for rule, count in self.rules.as_dict().items():
            if rule in ("candidates_examined", "negatives_returned", "shortfall", "widenings", "exact_scans"):
                continue
            if count:
                lines.append(f"Removed {count:,} candidates ({count / examined:.2%}) by the {rule} rule.")
        if self.rows < self.rows_possible:
            lines.append(
                f"Could not find enough negatives for {self.rows_possible - self.rows:,} of "
                f"{self.rows_possible:,} possible rows ({self.anchors_short:,} anchors short); "
                "loosen the margins or score band, or widen range_max."
            )
        return "\n".join(lines)


def _columns(dataset: Any) -> tuple[dict[str, list[Any]], bool]:
    """Returns the dataset as dict-of-columns and whether it was a datasets.Dataset."""
    # A datasets.Dataset can only exist if its (slow to import) package is loaded.
    ds_module = sys.modules.get("datasets")
    if ds_module is not None and isinstance(dataset, ds_module.Dataset):
        return {c: list(dataset[c]) for c in dataset.column_names}, True
    if isinstance(dataset, Mapping):
        return {k: list(v) for k, v in dataset.items()}, False
    rows = list(dataset)
    if rows and isinstance(rows[0], Mapping):
        keys = list(rows[0].keys())
        return {k: [r[k] for r in rows] for k in keys}, False
    if rows and isinstance(rows[0], (tuple, list)):
        return {"anchor": [r[0] for r in rows], "positive": [r[1] for r in rows]}, False
    raise TypeError("dataset must be a datasets.Dataset, a dict of columns, or a list of dicts or (anchor, positive) pairs")


def _embed(model: Embedder, texts: list[str], batch_size: int) -> np.ndarray:
    if hasattr(model, "encode"):
        out = model.encode(texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False)
    else:
        out = model(texts)
    arr = np.asarray(out, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[0] != len(texts):
        raise ValueError(f"the embedder returned shape {arr.shape} for {len(texts)} texts")
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


def _rows_possible(output_format: str, n_pos: Sequence[int], num_negatives: int) -> int:
    if output_format == "triplet":
        return sum(n_pos) * num_negatives
    if output_format == "labeled-pair":
        return sum(n_pos) + len(n_pos) * num_negatives
    return sum(n_pos)


#: Policy fields of the near-duplicate rules; mine_hard_negatives turns the rules off
#: unless one is given.
_NEAR_DUPLICATE_FIELDS = (
    "duplicate_threshold",
    "duplicate_margin",
    "duplicate_quantile",
    "duplicate_zscore",
    "exclude_near_duplicates",
)


def mine_hard_negatives(
    dataset: Any,
    client: "Client",
    model: Embedder,
    *,
    anchor_column_name: Optional[str] = None,
    positive_column_name: Optional[str] = None,
    corpus: Optional[Sequence[str]] = None,
    range_min: int = 0,
    range_max: Optional[int] = None,
    max_score: Optional[float] = None,
    min_score: Optional[float] = None,
    absolute_margin: Optional[float] = None,
    relative_margin: Optional[float] = None,
    num_negatives: int = 3,
    sampling_strategy: str = "top",
    output_format: str = "triplet",
    output_scores: bool = False,
    batch_size: int = 32,
    mine_batch_size: int = 256,
    collection: Optional[str] = None,
    keep_collection: bool = False,
    metric: str = "cosine",
    exact: bool = True,
    seed: int = 0,
    as_dataset: Optional[bool] = None,
    verbose: bool = False,
    return_report: bool = False,
    **policy_kwargs: Any,
) -> Any:
    """Adds hard negatives to a dataset of (anchor, positive) pairs.

    Args:
        dataset: a ``datasets.Dataset``, a dict of columns, or a list of dicts or
            ``(anchor, positive)`` pairs. Repeated anchors count as one anchor with
            several positives.
        client: a connected :class:`hardneg.Client`.
        model: a sentence-transformers model (anything with ``encode``) or a callable
            mapping a list of texts to an ``(n, dim)`` array.
        anchor_column_name, positive_column_name: default the first and second columns.
        corpus: extra candidate documents besides the positives.
        range_min, range_max, max_score, min_score, absolute_margin, relative_margin,
        num_negatives, sampling_strategy: as in sentence-transformers (``"top"`` or
            ``"random"``; hardneg also takes ``"softmax"``, ``"simans"``,
            ``"top1_sampled"``).
        output_format: one of :data:`OUTPUT_FORMATS` (see the module docstring).
        output_scores: add or substitute score columns.
        batch_size: encoding batch size.
        mine_batch_size: anchors per Mine request (at most 1,024).
        collection: collection to fill with the corpus; default a temporary one that is
            deleted afterwards (unless ``keep_collection``). An existing collection of
            that name is replaced.
        metric: the collection's metric.
        exact: search the corpus exactly, like sentence-transformers (the collection
            never builds an HNSW graph, and each Mine request scores its anchors
            together in one pass over the corpus). For a one-off job this is both
            faster and exact up to a few hundred thousand corpus items; set False to
            build the graph (worthwhile for much larger corpora).
        seed: sampling seed (same inputs and seed → same negatives).
        as_dataset: return a ``datasets.Dataset`` (True), a dict of columns (False), or
            the same kind as the input (None).
        verbose: print the score and rule statistics.
        return_report: also return a :class:`MiningReport`.
        **policy_kwargs: further :class:`hardneg.MiningPolicy` fields
            (``duplicate_threshold``, ``diversity_threshold``, ``rank_mode``, …).
            In-batch exclusion is off by default here, as request batches are arbitrary,
            and so are hardneg's near-duplicate rules (as in sentence-transformers) unless
            one of their fields is given (``duplicate_threshold``, ``duplicate_margin``,
            ``duplicate_quantile``, ``duplicate_zscore``, ``exclude_near_duplicates``);
            given one, the server's defaults apply to the others.

    Returns:
        The mined rows (and the report when ``return_report``).
    """
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"unknown output_format {output_format!r}; use one of {', '.join(OUTPUT_FORMATS)}")
    if num_negatives < 1:
        raise ValueError("num_negatives must be at least 1")
    if not 1 <= mine_batch_size <= 1024:
        raise ValueError("mine_batch_size must be 1 to 1024")
    cols, was_dataset = _columns(dataset)
    names = list(cols)
    if len(names) < 2 and (anchor_column_name is None or positive_column_name is None):
        raise ValueError("the dataset needs an anchor and a positive column")
    a_col = anchor_column_name or names[0]
    p_col = positive_column_name or names[1]
    anchors_all = [str(x) for x in cols[a_col]]
    positives_all = [str(x) for x in cols[p_col]]

    # Unique anchors, each with its positives in first-seen order.
    anchor_pos: dict[str, list[str]] = {}
    for a, p in zip(anchors_all, positives_all):
        lst = anchor_pos.setdefault(a, [])
        if p not in lst:
            lst.append(p)
    anchors = list(anchor_pos)
    texts = list(dict.fromkeys(list(corpus or []) + positives_all))
    text_id = {t: str(i) for i, t in enumerate(texts)}

    anchor_emb = _embed(model, anchors, batch_size)
    corpus_emb = _embed(model, texts, batch_size)
    dim = int(corpus_emb.shape[1])

    name = collection or f"hardneg-mine-{uuid.uuid4().hex[:12]}"
    client.delete_collection(name, missing_ok=True)
    params = IndexParams(exact_threshold=EXACT_ONLY) if exact else None
    client.create_collection(name, dim, metric, index_params=params)
    try:
        client.upsert(name, [text_id[t] for t in texts], corpus_emb)
        policy_kwargs.setdefault("in_batch_exclusion", False)
        if not any(f in policy_kwargs for f in _NEAR_DUPLICATE_FIELDS):
            # sentence-transformers has no near-duplicate rule: off unless asked for.
            policy_kwargs["exclude_near_duplicates"] = False
        policy = MiningPolicy.from_kwargs(
            None,
            num_negatives=num_negatives,
            range_min=range_min,
            range_max=range_max,
            max_score=max_score,
            min_score=min_score,
            absolute_margin=absolute_margin,
            relative_margin=relative_margin,
            sampling_strategy=sampling_strategy,  # type: ignore[arg-type]
            seed=seed,
            **policy_kwargs,
        )
        parts: list[MineResult] = []
        for start in range(0, len(anchors), mine_batch_size):
            end = min(start + mine_batch_size, len(anchors))
            parts.append(
                client.mine(
                    name,
                    anchor_vectors=anchor_emb[start:end],
                    positive_ids=[[text_id[p] for p in anchor_pos[a]] for a in anchors[start:end]],
                    policy=policy,
                )
            )
        res = MineResult.concatenate(parts, num_negatives) if parts else None
    finally:
        if not keep_collection:
            client.delete_collection(name, missing_ok=True)

    negatives: list[list[str]] = []
    neg_scores: list[list[float]] = []
    pos_scores: list[list[float]] = []
    emb_of = {t: i for i, t in enumerate(texts)}
    for i, a in enumerate(anchors):
        c = int(res.counts[i]) if res is not None else 0
        negatives.append([texts[int(x)] for x in res.ids[i, :c]] if res is not None else [])
        neg_scores.append(res.scores[i, :c].astype(float).tolist() if res is not None else [])
        ps = anchor_pos[a]
        pe = corpus_emb[[emb_of[p] for p in ps]]
        pos_scores.append(_pair_scores(np.repeat(anchor_emb[i : i + 1], len(ps), axis=0), pe, metric).tolist())

    data = build_rows(
        anchors,
        [anchor_pos[a] for a in anchors],
        pos_scores,
        negatives,
        neg_scores,
        output_format=output_format,
        output_scores=output_scores,
        num_negatives=num_negatives,
        anchor_column_name=a_col,
        positive_column_name=p_col,
    )

    n_pos = [len(anchor_pos[a]) for a in anchors]
    pos_flat = np.array([s for row in pos_scores for s in row])
    neg_flat = np.array([s for i, row in enumerate(neg_scores) for s in row for _ in range(n_pos[i])])
    diff = np.array(
        [ps - ns for i in range(len(anchors)) for ps in pos_scores[i] for ns in neg_scores[i]], dtype=np.float64
    )
    fmt = "n-tuple" if output_format == "n-tuple-scores" else output_format
    report = MiningReport(
        rules=res.stats if res is not None else RuleStats(),
        positive=ScoreSummary.of(pos_flat),
        negative=ScoreSummary.of(neg_flat),
        difference=ScoreSummary.of(diff),
        anchors=len(anchors),
        rows=len(next(iter(data.values()))) if data else 0,
        rows_possible=_rows_possible(fmt, n_pos, num_negatives),
        anchors_short=int((res.shortfall > 0).sum()) if res is not None else 0,
        parameters={
            "range_min": range_min,
            "range_max": range_max,
            "max_score": max_score,
            "min_score": min_score,
            "absolute_margin": absolute_margin,
            "relative_margin": relative_margin,
            "num_negatives": num_negatives,
            "sampling_strategy": sampling_strategy,
        },
    )
    if verbose:
        print(report.format())

    want_dataset = was_dataset if as_dataset is None else as_dataset
    out: Any = data
    if want_dataset:
        try:
            from datasets import Dataset
        except ImportError as e:
            raise ImportError("as_dataset=True needs the datasets package: pip install 'hardneg[datasets]'") from e
        out = Dataset.from_dict(data)
    return (out, report) if return_report else out
