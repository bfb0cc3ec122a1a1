"""Plain Python results and parameters of the hardneg API (no protobuf in user code)."""

from __future__ import annotations

import datetime
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Literal, Optional, Sequence

import numpy as np

__all__ = [
    "IndexParams",
    "CollectionStats",
    "CollectionInfo",
    "UpsertResult",
    "DeleteResult",
    "Items",
    "IngestResult",
    "SnapshotInfo",
    "MiningPolicy",
    "RuleStats",
    "MineResult",
    "ExplainTable",
    "Batch",
    "TLSConfig",
    "RetryPolicy",
    "RULES",
    "FATES",
]

MetricName = Literal["cosine", "dot", "l2"]
SamplingName = Literal["top", "random", "uniform", "softmax", "simans", "top1_sampled",
                       # the proto's names, as the server's warnings give them
                       "SAMPLING_STRATEGY_TOP", "SAMPLING_STRATEGY_UNIFORM", "SAMPLING_STRATEGY_SOFTMAX",
                       "SAMPLING_STRATEGY_SIMANS", "SAMPLING_STRATEGY_TOP1_SAMPLED"]
RankModeName = Literal["surviving", "raw", "RANK_MODE_SURVIVING", "RANK_MODE_RAW"]
StaleRuleName = Literal["skip", "rescore", "STALE_RULE_SKIP", "STALE_RULE_RESCORE"]

#: Names of the false-negative rules, in the order the server attributes removals.
RULES: tuple[str, ...] = (
    "self",
    "positive",
    "excluded",
    "in_batch",
    "feedback",
    "same_group",
    "duplicate",
    "excluded_duplicate",
    "guide",
    "margin",
    "score_band",
    "rank_window",
    "diversity",
    "stale",
    "rotation",
    "exposure",
    "likely_false_negative",
)


@dataclass(frozen=True)
class TLSConfig:
    """TLS settings from PEM files.

    Attributes:
        ca_file: CA bundle that signed the server certificate; ``None`` uses the system roots.
        cert_file: client certificate chain for mutual TLS (with ``key_file``).
        key_file: client private key for mutual TLS (with ``cert_file``).
        server_name: overrides the name checked against the server certificate (tests,
            IP targets).
    """

    ca_file: Optional[str] = None
    cert_file: Optional[str] = None
    key_file: Optional[str] = None
    server_name: Optional[str] = None


@dataclass(frozen=True)
class RetryPolicy:
    """How a client retries idempotent unary calls: ``mine``, ``get_collection``,
    ``list_collections``, ``get_items`` and ``upsert`` (idempotent by id).

    A call is retried when the server answers ``UNAVAILABLE`` (it is restarting,
    recovering its storage, or the connection dropped) or ``RESOURCE_EXHAUSTED`` with a
    ``RetryInfo`` delay (``-max-in-flight-per-client``). The wait before retry ``n``
    (1, 2, …) is ``initial_backoff · multiplier^(n−1)``, at most ``max_backoff``, scaled
    by a random factor in ``[1 − jitter, 1]``; when the server sent a ``RetryInfo``
    delay, that delay scaled by a random factor in ``[1, 1 + jitter]`` is waited
    instead. Retries stop after ``max_attempts`` attempts in all, or when the next
    attempt would start after the call's deadline (the client's ``timeout``): then the
    last error is raised, with ``attempts`` set on it. When the deadline passes during a
    retry (say a server that refused with ``UNAVAILABLE`` is still reconnecting), the last
    error is ``DEADLINE_EXCEEDED`` and the refusal before it is its ``__cause__``.

    A server that answers that it is still recovering its storage at start-up
    (:attr:`hardneg.errors.Unavailable.recovering`: it replays its write-ahead log after
    a crash, which takes seconds to minutes with large collections) is waited for past
    ``max_attempts``: the call is retried, about once a second, until ``recovery_wait``
    seconds have passed since its first such answer (or the call's deadline; a
    ``recovery_wait`` shorter than what ``max_attempts`` allows does not cut those
    attempts short), and each retry logs the server's progress on the
    ``hardneg.recovery`` logger (INFO). The server refuses every call it receives
    while recovering before running it, so calls that are otherwise never retried
    (``create_collection``, ``delete``, ``snapshot``, ``report_loss``, …) wait for it
    too; streams other than ``ingest`` (``backup``, ``restore``, ``build_batches``) do
    not. Attempts against a server that does not answer at all still count against
    ``max_attempts``.

    Attributes:
        max_attempts: attempts per call, the first included (1: no retries).
        initial_backoff: seconds before the first retry.
        max_backoff: longest wait in seconds between two attempts.
        multiplier: growth of the wait from one retry to the next.
        jitter: fraction (0–1) of random spread applied to each wait, so that clients
            refused together do not retry together.
        recovery_wait: seconds a call keeps retrying a server that says it is
            recovering (0: such answers count as attempts like any other ``UNAVAILABLE``).
    """

    max_attempts: int = 10
    initial_backoff: float = 0.1
    max_backoff: float = 2.0
    multiplier: float = 2.0
    jitter: float = 0.5
    recovery_wait: float = 600.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be ≥ 1, got {self.max_attempts}")
        if not (self.initial_backoff >= 0 and self.max_backoff >= self.initial_backoff):
            raise ValueError("need 0 ≤ initial_backoff ≤ max_backoff")
        if not self.multiplier >= 1:
            raise ValueError(f"multiplier must be ≥ 1, got {self.multiplier}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be in [0, 1], got {self.jitter}")
        if not 0 <= self.recovery_wait < float("inf"):
            raise ValueError(f"recovery_wait must be a finite number of seconds ≥ 0, got {self.recovery_wait}")


#: ``IndexParams.exact_threshold`` that makes a collection exact-only: it never builds
#: an HNSW graph and every search scans all items.
EXACT_ONLY = 2**32 - 1


@dataclass(frozen=True)
class IndexParams:
    """Index parameters of a collection (0 or "" = server default).

    ``quantization`` is how the graph search compares vectors: ``"int8"`` walks the
    graph on an int8 code per vector (dim + 4 bytes each) and re-scores the final
    candidates with the float vectors, so scores stay exact; ``"none"`` walks on the
    floats. ``""`` takes the server default: int8 for cosine and dot, none for l2 (int8
    is rejected for l2). Collections report the effective value.
    """

    m: int = 0
    ef_construction: int = 0
    ef_search: int = 0
    exact_threshold: int = 0
    quantization: str = ""


@dataclass(frozen=True)
class CollectionStats:
    """Counters of a collection when it was read."""

    item_count: int
    tombstone_count: int
    last_applied_sequence: int
    vector_bytes: int
    #: Whether searches go through the HNSW graph (False: exact scan). A collection
    #: scans below its ``exact_threshold``, where its graph would need a beam of a
    #: sixteenth of its items, or where its graph finds less than 0.95 of the exact top
    #: 10 at every beam width (``lead_recall``; data it cannot order, such as one tight
    #: cluster). While True, ``mine`` requests of 8 or more anchors are still scored by
    #: exact passes shared by groups of 8 to 128 anchors when the graph needs a beam of a 48th
    #: of the items or more, which costs each anchor less, and from a 512th when no beam
    #: reaches the server's ``-lead-recall`` (``lead_recall`` below it), so that such
    #: requests get their exact negatives.
    graph_search: bool
    #: How far past its rank window mining's first graph pass reaches at least on this
    #: collection, as the collection measured its graph to need (the server's
    #: ``-lead-recall``), and the recall of the exact top 10 measured there; 0 until a
    #: measurement finished (no graph yet, the measurement off, or the Weaviate engine).
    first_pass_lead: int = 0
    lead_recall: float = 0.0


@dataclass(frozen=True)
class CollectionInfo:
    """A collection's definition and statistics."""

    name: str
    dim: int
    metric: str
    index_params: IndexParams
    stats: CollectionStats
    ephemeral: bool = False
    """Kept in memory only (see :meth:`hardneg.Client.create_collection`)."""


@dataclass(frozen=True)
class UpsertResult:
    """Outcome of :meth:`Client.upsert`, summed over the batches it was split into."""

    inserted: int
    replaced: int
    sequence: int
    """Log sequence number of the last batch."""
    batches: int


@dataclass(frozen=True)
class DeleteResult:
    """Outcome of :meth:`Client.delete`, summed over its batches."""

    deleted: int
    not_found: int
    sequence: int
    batches: int


@dataclass
class Items:
    """Items read by :meth:`Client.get_items`, in request order.

    Attributes:
        ids: the ids found.
        vectors: ``(len(ids), dim)`` float32, or ``None`` when not requested.
        groups: groups per item (empty lists when the item has none).
        versions: int64 version stamp per item.
        missing_ids: requested ids that are not stored.
    """

    ids: list[str]
    vectors: Optional[np.ndarray]
    groups: list[list[str]]
    versions: np.ndarray
    missing_ids: list[str]

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Batch:
    """One batch of a streaming ingest: items to upsert and ids to delete afterwards.

    :meth:`Client.ingest` also accepts ``(ids, vectors)``, ``(ids, vectors, groups)``,
    ``(ids, vectors, groups, versions)`` tuples and dicts with these keys.
    """

    ids: Sequence[str] = ()
    vectors: Any = None
    groups: Optional[Sequence[Sequence[str]]] = None
    versions: Any = None
    delete_ids: Sequence[str] = ()
    collection: Optional[str] = None
    """Target collection; ``None`` uses the collection passed to ``ingest``."""


@dataclass
class IngestResult:
    """Outcome of :meth:`Client.ingest`.

    Attributes:
        writer_id: the writer identity used (pass it again with ``first_sequence`` to
            continue the same writer later).
        batches: batches acknowledged as durable (each counted once).
        items: items upserted in those batches.
        deleted_ids: delete ids sent in those batches.
        duplicates: acknowledgements of batches the server had already applied
            (resends after a reconnect); they were not applied twice.
        durable_sequence: the writer's highest durable sequence at the end.
        reconnects: how many times the stream was re-opened after a disconnect.
        next_sequence: the sequence the next batch of this writer must use.
    """

    writer_id: str
    batches: int = 0
    items: int = 0
    deleted_ids: int = 0
    duplicates: int = 0
    durable_sequence: int = 0
    reconnects: int = 0
    next_sequence: int = 1


@dataclass(frozen=True)
class SnapshotInfo:
    """A snapshot written by :meth:`Client.snapshot`."""

    sequence: int
    bytes: int


@dataclass(frozen=True)
class SyntheticPolicy:
    """MoCHi-style synthetic negatives (``MiningPolicy.synthetic``): per anchor,
    ``num_mixed`` vectors norm(α·nᵢ + (1−α)·nⱼ) of two of the ``pool`` hardest returned
    negatives (0: 32), α uniform in [``alpha_min``, ``alpha_max``] (default [0, 1]), and
    ``num_query_mixed`` vectors norm(β·q + (1−β)·nⱼ) of the anchor's query and one of
    them, β uniform in [``beta_min``, ``beta_max``] (default [0, 0.5]). Drawn from the
    policy's seed; the collection must use cosine."""

    num_mixed: int = 0
    num_query_mixed: int = 0
    alpha_min: Optional[float] = None
    alpha_max: Optional[float] = None
    beta_min: Optional[float] = None
    beta_max: Optional[float] = None
    pool: int = 0


@dataclass
class SyntheticNegatives:
    """The synthetic negatives of a :class:`MineResult`, one row per vector, all anchors
    together: ``vectors[i] = norm(coefficients[i]·a + (1 − coefficients[i])·b)`` where
    ``b`` is the negative ``b_ids[i]`` and ``a`` is the negative ``a_ids[i]``
    (``kinds[i] == "mixed"``) or the anchor's query (``"query"``; ``a_ids[i]`` is then
    the anchor's key, or ``""``).

    Attributes:
        anchors: ``(m,)`` int64 row of the anchor in the result.
        kinds: ``"mixed"`` or ``"query"`` per vector.
        a_ids, b_ids: the sources.
        coefficients: ``(m,)`` float32 α or β.
        vectors: ``(m, dim)`` float32 unit vectors.
        shortfall: ``(n,)`` int64 per anchor, synthetic negatives asked for but not made.
    """

    anchors: np.ndarray
    kinds: list[str]
    a_ids: list[str]
    b_ids: list[str]
    coefficients: np.ndarray
    vectors: np.ndarray
    shortfall: np.ndarray

    def __len__(self) -> int:
        return len(self.kinds)

    def of(self, i: int) -> "SyntheticNegatives":
        """The rows of anchor ``i``."""
        sel = np.flatnonzero(self.anchors == i)
        return SyntheticNegatives(
            anchors=self.anchors[sel],
            kinds=[self.kinds[j] for j in sel],
            a_ids=[self.a_ids[j] for j in sel],
            b_ids=[self.b_ids[j] for j in sel],
            coefficients=self.coefficients[sel],
            vectors=self.vectors[sel],
            shortfall=self.shortfall[i : i + 1],
        )

    @staticmethod
    def concatenate(parts: Sequence["SyntheticNegatives"], sizes: Sequence[int]) -> "SyntheticNegatives":
        """Joins the synthetic negatives of consecutive anchor slices of ``sizes`` anchors."""
        offsets = np.cumsum([0, *sizes[:-1]]).astype(np.int64)
        dims = [p.vectors.shape[1] for p in parts if len(p)]
        dim = dims[0] if dims else max((p.vectors.shape[1] for p in parts), default=0)
        return SyntheticNegatives(
            anchors=np.concatenate([p.anchors + o for p, o in zip(parts, offsets)]),
            kinds=[k for p in parts for k in p.kinds],
            a_ids=[x for p in parts for x in p.a_ids],
            b_ids=[x for p in parts for x in p.b_ids],
            coefficients=np.concatenate([p.coefficients for p in parts]),
            vectors=np.concatenate([p.vectors.reshape(-1, dim) for p in parts], axis=0),
            shortfall=np.concatenate([p.shortfall for p in parts]),
        )


@dataclass
class MiningPolicy:
    """The mining rules of a request, named like sentence-transformers' ``mine_hard_negatives``.

    ``None`` leaves a rule at the server's default (see the proto for each). The
    sentence-transformers names keep their meaning: ``range_min``/``range_max`` is a rank
    window counted on surviving candidates (``rank_mode="raw"`` counts raw ranks like
    FlagEmbedding), ``absolute_margin`` keeps ``s < s⁺ − m``, ``relative_margin`` keeps
    ``s < s⁺ − |s⁺|·r``, ``min_score ≤ s ≤ max_score``, and ``sampling_strategy`` is
    ``"top"`` or ``"random"`` (plus hardneg's ``"softmax"``, ``"simans"`` and
    ``"top1_sampled"``).

    hardneg's defaults protect: ``exclude_near_duplicates`` (default on) drops, under
    cosine, candidates with similarity ≥ ``duplicate_threshold`` (default 0.80, read on the
    collection's scale where its items all score high against each other; with
    ``duplicate_margin`` δ, the lower of it and s⁺ + δ) to a known positive, near-duplicates
    of an excluded item, and, of the first k + ``pfn_budget`` candidates that pass every
    other rule, the ``pfn_budget`` (default ⌈k/2⌉) with the highest ``p_fn`` ≥
    ``pfn_threshold`` (default 0.01) (``pfn_budget=0`` turns that off); ``duplicate_quantile``/``duplicate_zscore`` set that
    threshold from the collection's calibration instead; ``max_rank`` is the hardness
    floor (0: the server default, max(200, 2 × the window's end); ``2**32 - 1``: none).
    ``guide_collection`` names a collection of the same ids encoded by a guide model;
    ``guide_margin`` drops candidates the guide scores at or above the positive minus the
    margin, ``guide_duplicate_threshold`` guide near-duplicates of a positive
    (GISTEmbed-style; docs/MINING.md).

    Freshness: a candidate whose version is below ``min_version``, or more than
    ``max_staleness`` below the collection's newest version, is stale; ``stale_rule``
    ``"skip"`` drops it, ``"rescore"`` keeps it for anchors sent with a fresh vector
    (scored against that vector, ADORE-style) and marks it in :attr:`MineResult.stale`.

    Exposure: ``rotate=True`` never serves a negative to an anchor key (``keys``, else the
    anchor id) again until the key's cycle is exhausted (:attr:`MineResult.rotation_restarted`);
    ``max_exposures=n`` serves no item more than n times within the collection's exposure
    window. Both are kept by the server per collection (saved to its data directory, so
    they survive restarts) and are reproducible for the same sequence of requests.

    Synthetic negatives: ``synthetic=SyntheticPolicy(num_mixed=4, num_query_mixed=2)``
    (or the same as a dict) also returns MoCHi-style mixed vectors in
    :attr:`MineResult.synthetic`, leaving the negatives unchanged (cosine collections).

    Closed loop: ``closed_loop=True`` moves each anchor key's rank window down by
    round((1 − h)·``closed_loop_depth``) ranks (default depth 10·k), h in [0, 1] being the
    key's hardness, which :meth:`hardneg.Client.report_loss` raises as the anchor is
    solved and false-negative reports lower (:attr:`MineResult.hardness`).

    The clients check each field's type and range before sending a request and raise
    :class:`hardneg.errors.InvalidArgument` naming ``policy.<field>``.
    """

    num_negatives: int = 1
    range_min: int = 0
    range_max: Optional[int] = None
    max_score: Optional[float] = None
    min_score: Optional[float] = None
    absolute_margin: Optional[float] = None
    relative_margin: Optional[float] = None
    sampling_strategy: SamplingName = "top"
    rank_mode: RankModeName = "surviving"
    exclude_same_group: Optional[bool] = None
    duplicate_threshold: Optional[float] = None
    in_batch_exclusion: Optional[bool] = None
    use_feedback: Optional[bool] = None
    temperature: Optional[float] = None
    simans_a: Optional[float] = None
    simans_b: Optional[float] = None
    seed: int = 0
    diversity_threshold: Optional[float] = None
    widen: Optional[bool] = None
    max_candidates: int = 0
    ef_search: int = 0
    exclude_near_duplicates: Optional[bool] = None
    max_rank: int = 0
    duplicate_quantile: Optional[float] = None
    duplicate_zscore: Optional[float] = None
    duplicate_margin: Optional[float] = None
    guide_collection: Optional[str] = None
    guide_margin: Optional[float] = None
    guide_duplicate_threshold: Optional[float] = None
    min_version: Optional[int] = None
    max_staleness: Optional[int] = None
    stale_rule: StaleRuleName = "skip"
    rotate: Optional[bool] = None
    max_exposures: int = 0
    synthetic: Optional["SyntheticPolicy"] = None
    closed_loop: Optional[bool] = None
    closed_loop_depth: int = 0
    pfn_threshold: Optional[float] = None
    pfn_budget: Optional[int] = None

    def __post_init__(self) -> None:
        # None leaves every field at its default, those whose default is a value
        # (num_negatives 1, seed 0, sampling_strategy "top", ...) too: a caller that
        # passes its configuration through (max_exposures=cfg.get("max_exposures"))
        # gets the default, not an error.
        for f in fields(self):
            if getattr(self, f.name) is None and f.default is not None and f.default is not MISSING:
                setattr(self, f.name, f.default)

    @classmethod
    def from_kwargs(cls, base: Optional["MiningPolicy"] = None, **kwargs: Any) -> "MiningPolicy":
        """Returns ``base`` (or the defaults) with the given fields replaced.

        Raises:
            TypeError: for a keyword that is not a policy field.
        """
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(kwargs) - names)
        if unknown:
            raise TypeError(f"unknown mining policy argument(s): {', '.join(unknown)}")
        values = {f.name: getattr(base, f.name) for f in fields(cls)} if base else {}
        values.update(kwargs)
        return cls(**values)


@dataclass(frozen=True)
class RuleStats:
    """Candidates removed by each rule, summed over anchors, plus search totals."""

    self: int = 0
    positive: int = 0
    excluded: int = 0
    in_batch: int = 0
    feedback: int = 0
    same_group: int = 0
    duplicate: int = 0
    excluded_duplicate: int = 0
    guide: int = 0
    margin: int = 0
    score_band: int = 0
    rank_window: int = 0
    diversity: int = 0
    stale: int = 0
    rotation: int = 0
    exposure: int = 0
    likely_false_negative: int = 0
    candidates_examined: int = 0
    negatives_returned: int = 0
    shortfall: int = 0
    widenings: int = 0
    exact_scans: int = 0
    floors_reached: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __add__(self, other: "RuleStats") -> "RuleStats":
        return RuleStats(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})


@dataclass
class MineResult:
    """Hard negatives of a batch of anchors as numpy arrays.

    Rows are anchors in request order; columns are negatives (hardest first under top
    sampling). Rows with a shortfall are padded: ``ids`` with ``None``, ``scores`` and
    ``vectors`` with NaN, ``ranks`` with -1; ``mask`` marks real entries.

    Attributes:
        ids: ``(n, k)`` object array of negative ids.
        scores: ``(n, k)`` float32 similarity to the anchor.
        ranks: ``(n, k)`` int64 raw rank in the best-first order of all candidates.
        mask: ``(n, k)`` bool, True where a negative was returned.
        counts: ``(n,)`` negatives returned per anchor.
        positive_scores: ``(n,)`` float32 s⁺ per anchor (NaN without positives).
        shortfall: ``(n,)`` k minus the negatives returned.
        candidates_examined: ``(n,)`` candidates the search produced.
        widenings: ``(n,)`` widenings of the search.
        exact_scan: ``(n,)`` bool, whether the anchor ended in an exact scan.
        removed: rule name → ``(n,)`` int64 candidates removed by that rule.
        unknown_positive_ids: per anchor, positive ids not in the collection.
        vectors: ``(n, k, dim)`` float32 negative vectors when requested, else ``None``.
        p_fn: ``(n, k)`` float32 estimated probability that each negative is a false
            negative (NaN for padding and for anchors without a known positive); see
            :attr:`weights`.
        max_rank: ``(n,)`` int64 hardness floor applied to each anchor (4,294,967,295:
            none).
        floor_reached: ``(n,)`` bool, whether the anchor's search reached the floor (its
            shortfall, if any, is for lack of hard candidates).
        duplicate_threshold: ``(n,)`` float32 near-duplicate threshold applied (NaN when
            the rule was off).
        guide_positive_scores: ``(n,)`` float32 guide(a, p) of the hardest guide positive
            (NaN without guide rules, guide query or guide positive).
        versions: ``(n, k)`` int64 version of each negative (0 for padding).
        stale: ``(n, k)`` bool, True for negatives kept stale by ``stale_rule="rescore"``.
        rotation_restarted: ``(n,)`` bool, under ``rotate``: the anchor's cycle was
            exhausted in this call and a new one began.
        rotation_served: ``(n,)`` int64, under ``rotate``: negatives served to the anchor's
            key in its current cycle.
        explained: with ``mine(..., explain=True)``, an :class:`ExplainTable` of the
            candidates judged for every anchor and what became of each; else ``None``.
        explain_truncated: ``(n,)`` bool, whether an anchor had more candidates judged
            than ``explained`` lists (``None`` without explain).
        synthetic: with ``synthetic=...`` in the policy, the
            :class:`SyntheticNegatives` of every anchor; else ``None``.
        hardness: ``(n,)`` float32, under ``closed_loop``: the hardness of each anchor's
            key applied (NaN otherwise).
        band_shift: ``(n,)`` int64, under ``closed_loop``: ranks each anchor's window moved
            down by.
    """

    ids: np.ndarray
    scores: np.ndarray
    ranks: np.ndarray
    mask: np.ndarray
    counts: np.ndarray
    positive_scores: np.ndarray
    shortfall: np.ndarray
    candidates_examined: np.ndarray
    widenings: np.ndarray
    exact_scan: np.ndarray
    removed: dict[str, np.ndarray]
    unknown_positive_ids: list[list[str]]
    vectors: Optional[np.ndarray] = None
    p_fn: Optional[np.ndarray] = None
    max_rank: Optional[np.ndarray] = None
    floor_reached: Optional[np.ndarray] = None
    duplicate_threshold: Optional[np.ndarray] = None
    guide_positive_scores: Optional[np.ndarray] = None
    versions: Optional[np.ndarray] = None
    stale: Optional[np.ndarray] = None
    rotation_restarted: Optional[np.ndarray] = None
    rotation_served: Optional[np.ndarray] = None
    explained: Optional["ExplainTable"] = None
    explain_truncated: Optional[np.ndarray] = None
    synthetic: Optional[SyntheticNegatives] = None
    hardness: Optional[np.ndarray] = None
    band_shift: Optional[np.ndarray] = None
    _stats: Optional[RuleStats] = field(default=None, repr=False)

    def __post_init__(self) -> None:
        n, k = self.ids.shape[0], self.ids.shape[1] if self.ids.ndim == 2 else 0
        if self.p_fn is None:
            self.p_fn = np.full((n, k), np.nan, dtype=np.float32)
        if self.max_rank is None:
            self.max_rank = np.zeros(n, dtype=np.int64)
        if self.floor_reached is None:
            self.floor_reached = np.zeros(n, dtype=bool)
        if self.duplicate_threshold is None:
            self.duplicate_threshold = np.full(n, np.nan, dtype=np.float32)
        if self.guide_positive_scores is None:
            self.guide_positive_scores = np.full(n, np.nan, dtype=np.float32)
        if self.versions is None:
            self.versions = np.zeros((n, k), dtype=np.int64)
        if self.stale is None:
            self.stale = np.zeros((n, k), dtype=bool)
        if self.rotation_restarted is None:
            self.rotation_restarted = np.zeros(n, dtype=bool)
        if self.rotation_served is None:
            self.rotation_served = np.zeros(n, dtype=np.int64)
        if self.hardness is None:
            self.hardness = np.full(n, np.nan, dtype=np.float32)
        if self.band_shift is None:
            self.band_shift = np.zeros(n, dtype=np.int64)

    @property
    def weights(self) -> np.ndarray:
        """``(n, k)`` float32 weights ``1 − p_fn`` for losses that weight negatives: 1 where
        the server gave no ``p_fn`` (anchors without a positive), 0 for padding."""
        assert self.p_fn is not None
        w = np.where(np.isnan(self.p_fn), np.float32(1), np.float32(1) - self.p_fn).astype(np.float32)
        w[~self.mask] = 0
        return w

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def stats(self) -> RuleStats:
        """Per-rule removal counts and search totals summed over all anchors."""
        if self._stats is None:
            self._stats = RuleStats(
                **{r: int(self.removed[r].sum()) for r in RULES},
                candidates_examined=int(self.candidates_examined.sum()),
                negatives_returned=int(self.counts.sum()),
                shortfall=int(self.shortfall.sum()),
                widenings=int(self.widenings.sum()),
                exact_scans=int(self.exact_scan.sum()),
                floors_reached=int(np.asarray(self.floor_reached).sum()),
            )
        return self._stats

    def negatives(self, i: int) -> list[tuple[str, float, int]]:
        """The ``(id, score, rank)`` negatives of anchor ``i`` (without padding)."""
        c = int(self.counts[i])
        return [(self.ids[i, j], float(self.scores[i, j]), int(self.ranks[i, j])) for j in range(c)]

    @staticmethod
    def concatenate(parts: Sequence["MineResult"], k: int) -> "MineResult":
        """Joins results of consecutive anchor slices (all padded to width ``k``)."""
        if len(parts) == 1:
            return parts[0]
        vecs = None
        if all(p.vectors is not None for p in parts) and parts:
            # A part without a single negative may not know the dimension (a server
            # that answers in rows sends none): it is all padding, NaN at any width.
            dim = max(p.vectors.shape[2] for p in parts)  # type: ignore[union-attr]
            vecs = np.concatenate(
                [p.vectors if p.vectors.shape[2] == dim else np.full((*p.vectors.shape[:2], dim), np.nan, dtype=np.float32)  # type: ignore[union-attr]
                 for p in parts], axis=0)
        return MineResult(
            ids=np.concatenate([p.ids for p in parts], axis=0) if parts else np.empty((0, k), dtype=object),
            scores=np.concatenate([p.scores for p in parts], axis=0),
            ranks=np.concatenate([p.ranks for p in parts], axis=0),
            mask=np.concatenate([p.mask for p in parts], axis=0),
            counts=np.concatenate([p.counts for p in parts]),
            positive_scores=np.concatenate([p.positive_scores for p in parts]),
            shortfall=np.concatenate([p.shortfall for p in parts]),
            candidates_examined=np.concatenate([p.candidates_examined for p in parts]),
            widenings=np.concatenate([p.widenings for p in parts]),
            exact_scan=np.concatenate([p.exact_scan for p in parts]),
            removed={r: np.concatenate([p.removed[r] for p in parts]) for r in RULES},
            unknown_positive_ids=[u for p in parts for u in p.unknown_positive_ids],
            vectors=vecs,
            p_fn=np.concatenate([p.p_fn for p in parts], axis=0),  # type: ignore[misc]
            max_rank=np.concatenate([p.max_rank for p in parts]),  # type: ignore[misc]
            floor_reached=np.concatenate([p.floor_reached for p in parts]),  # type: ignore[misc]
            duplicate_threshold=np.concatenate([p.duplicate_threshold for p in parts]),  # type: ignore[misc]
            guide_positive_scores=np.concatenate([p.guide_positive_scores for p in parts]),  # type: ignore[misc]
            versions=np.concatenate([p.versions for p in parts], axis=0),  # type: ignore[misc]
            stale=np.concatenate([p.stale for p in parts], axis=0),  # type: ignore[misc]
            rotation_restarted=np.concatenate([p.rotation_restarted for p in parts]),  # type: ignore[misc]
            rotation_served=np.concatenate([p.rotation_served for p in parts]),  # type: ignore[misc]
            explained=ExplainTable.concatenate([p.explained for p in parts], [len(p) for p in parts]),
            explain_truncated=(
                np.concatenate([p.explain_truncated for p in parts])  # type: ignore[misc]
                if all(p.explain_truncated is not None for p in parts)
                else None
            ),
            synthetic=(
                SyntheticNegatives.concatenate([p.synthetic for p in parts], [len(p) for p in parts])  # type: ignore[misc]
                if parts and all(p.synthetic is not None for p in parts)
                else None
            ),
            hardness=np.concatenate([p.hardness for p in parts]),  # type: ignore[misc]
            band_shift=np.concatenate([p.band_shift for p in parts]),  # type: ignore[misc]
        )


#: What became of an explained candidate: the rule that removed it (a name of
#: :data:`RULES`), ``"returned"`` or ``"unsampled"`` (in the rank window, but the sampler
#: had chosen k negatives before reaching it, or read ahead by the false-negative budget
#: and not needed).
FATES: tuple[str, ...] = RULES + ("returned", "unsampled")


@dataclass
class ExplainTable:
    """Candidates judged for a batch of anchors, one row each, as numpy columns
    (``mine(..., explain=True)``). A DataFrame-like table: ``table["fate"]``,
    ``len(table)``, :meth:`rows`, :meth:`where` and :meth:`to_pandas` (pandas optional).

    Rows of one anchor come in the order the search judged them (best first within each
    search pass).

    Attributes:
        anchor: ``(m,)`` int64 anchor index in the request.
        id: ``(m,)`` object candidate id.
        score: ``(m,)`` float32 similarity to the anchor (NaN for candidates removed by
            an id or group rule, which run before scoring).
        rank: ``(m,)`` int64 raw rank (-1 where ``score`` is NaN).
        fate: ``(m,)`` object, one of :data:`FATES`.
    """

    anchor: np.ndarray
    id: np.ndarray
    score: np.ndarray
    rank: np.ndarray
    fate: np.ndarray

    COLUMNS = ("anchor", "id", "score", "rank", "fate")

    def __len__(self) -> int:
        return int(self.anchor.shape[0])

    def __getitem__(self, column: str) -> np.ndarray:
        if column not in self.COLUMNS:
            raise KeyError(column)
        return getattr(self, column)

    @property
    def columns(self) -> tuple[str, ...]:
        return self.COLUMNS

    def rows(self) -> list[dict[str, Any]]:
        """The table as a list of ``{column: value}`` dicts."""
        return [
            dict(anchor=int(a), id=i, score=float(s), rank=int(r), fate=f)
            for a, i, s, r, f in zip(self.anchor, self.id, self.score, self.rank, self.fate)
        ]

    def where(self, mask: np.ndarray) -> "ExplainTable":
        """The rows where ``mask`` is True, e.g. ``t.where(t["fate"] == "margin")``."""
        return ExplainTable(*(getattr(self, c)[mask] for c in self.COLUMNS))

    def counts(self) -> dict[str, int]:
        """Rows per fate (fates without rows left out)."""
        names, n = np.unique(self.fate.astype(str), return_counts=True)
        return {str(k): int(v) for k, v in zip(names, n)}

    def to_pandas(self) -> Any:
        """The table as a ``pandas.DataFrame`` (needs pandas)."""
        import pandas as pd

        return pd.DataFrame({c: getattr(self, c) for c in self.COLUMNS})

    @staticmethod
    def concatenate(parts: Sequence[Optional["ExplainTable"]], sizes: Sequence[int]) -> Optional["ExplainTable"]:
        """Joins the tables of consecutive anchor slices of ``sizes`` anchors each,
        renumbering anchors; ``None`` when any part has none."""
        if not parts or any(p is None for p in parts):
            return None
        offsets = np.cumsum([0, *sizes[:-1]])
        return ExplainTable(
            anchor=np.concatenate([p.anchor + o for p, o in zip(parts, offsets)]),  # type: ignore[union-attr]
            id=np.concatenate([p.id for p in parts]),  # type: ignore[union-attr]
            score=np.concatenate([p.score for p in parts]),  # type: ignore[union-attr]
            rank=np.concatenate([p.rank for p in parts]),  # type: ignore[union-attr]
            fate=np.concatenate([p.fate for p in parts]),  # type: ignore[union-attr]
        )


@dataclass
class RefreshQueue:
    """The items to re-encode next (:meth:`hardneg.Client.refresh_queue`), in refresh
    order: staleness × (1 + recent exposures) descending, then version, then id.

    Attributes:
        ids: item ids.
        versions: ``(m,)`` int64 current version of each.
        staleness: ``(m,)`` int64 ``target_version − version``.
        recent_exposures: ``(m,)`` int64 times Mine recently returned each as a negative.
        target_version: the version items were compared with.
        due: items due in total (``len(ids)`` is at most the limit).
    """

    ids: list[str]
    versions: np.ndarray
    staleness: np.ndarray
    recent_exposures: np.ndarray
    target_version: int
    due: int

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class SnapshotFile:
    """A snapshot file the server holds (:meth:`Client.list_snapshots`).

    Attributes:
        collection: the collection it holds.
        sequence: the log sequence number it covers: its version, higher is newer.
        bytes: file size.
        created_at: when it was written (UTC).
        item_count: live items in it.
    """

    collection: str
    sequence: int
    bytes: int
    created_at: datetime.datetime
    item_count: int


@dataclass
class BackupInfo:
    """One collection written by :meth:`Client.backup` or read by :meth:`Client.restore`.

    Attributes:
        collection: the collection's name in the backup.
        item_count: live items.
        bytes: size of its encoding.
        sequence: log sequence number of the last write the backup includes.
        taken_at: when the server took the copy (UTC).
        crc32c: CRC-32C of the encoding without its last 4 bytes (which hold the same
            CRC), as the server computed it; the server checks it again when the backup
            is restored. It differs from backup to backup.
        dim: vector dimension.
        metric: ``"cosine"``, ``"dot"`` or ``"l2"``.
    """

    collection: str
    item_count: int
    bytes: int
    sequence: int
    taken_at: datetime.datetime
    crc32c: int
    dim: int
    metric: str
@dataclass(frozen=True)
class HardBatch:
    """One training batch of :meth:`hardneg.Client.build_batches`.

    Attributes:
        epoch: the batch's epoch.
        index: its position in the epoch.
        rows: positions of its rows in the ``anchor_ids`` given.
        anchor_ids: the rows' anchor ids.
        deferred: anchors its grouping proposed that conflicted with a row of it and
            were moved to a later batch.
        swapped_in: rows moved here from an earlier batch.
        cluster_size: the epoch's cluster size (``"clusters"``) or group size
            (``"neighbours"``).
    """

    epoch: int
    index: int
    rows: list[int]
    anchor_ids: list[str]
    deferred: int
    swapped_in: int
    cluster_size: int

    def __len__(self) -> int:
        return len(self.rows)
