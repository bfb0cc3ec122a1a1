import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Metric(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    METRIC_UNSPECIFIED: _ClassVar[Metric]
    METRIC_COSINE: _ClassVar[Metric]
    METRIC_DOT: _ClassVar[Metric]
    METRIC_L2: _ClassVar[Metric]

class Quantization(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    QUANTIZATION_UNSPECIFIED: _ClassVar[Quantization]
    QUANTIZATION_NONE: _ClassVar[Quantization]
    QUANTIZATION_INT8: _ClassVar[Quantization]

class RankMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RANK_MODE_UNSPECIFIED: _ClassVar[RankMode]
    RANK_MODE_RAW: _ClassVar[RankMode]
    RANK_MODE_SURVIVING: _ClassVar[RankMode]

class SamplingStrategy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SAMPLING_STRATEGY_UNSPECIFIED: _ClassVar[SamplingStrategy]
    SAMPLING_STRATEGY_TOP: _ClassVar[SamplingStrategy]
    SAMPLING_STRATEGY_UNIFORM: _ClassVar[SamplingStrategy]
    SAMPLING_STRATEGY_SOFTMAX: _ClassVar[SamplingStrategy]
    SAMPLING_STRATEGY_SIMANS: _ClassVar[SamplingStrategy]
    SAMPLING_STRATEGY_TOP1_SAMPLED: _ClassVar[SamplingStrategy]

class StaleRule(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STALE_RULE_UNSPECIFIED: _ClassVar[StaleRule]
    STALE_RULE_SKIP: _ClassVar[StaleRule]
    STALE_RULE_RESCORE: _ClassVar[StaleRule]

class SyntheticKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SYNTHETIC_KIND_UNSPECIFIED: _ClassVar[SyntheticKind]
    SYNTHETIC_KIND_MIXED: _ClassVar[SyntheticKind]
    SYNTHETIC_KIND_QUERY: _ClassVar[SyntheticKind]

class CandidateFate(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CANDIDATE_FATE_UNSPECIFIED: _ClassVar[CandidateFate]
    CANDIDATE_FATE_SELF: _ClassVar[CandidateFate]
    CANDIDATE_FATE_POSITIVE: _ClassVar[CandidateFate]
    CANDIDATE_FATE_EXCLUDED: _ClassVar[CandidateFate]
    CANDIDATE_FATE_IN_BATCH: _ClassVar[CandidateFate]
    CANDIDATE_FATE_FEEDBACK: _ClassVar[CandidateFate]
    CANDIDATE_FATE_SAME_GROUP: _ClassVar[CandidateFate]
    CANDIDATE_FATE_DUPLICATE: _ClassVar[CandidateFate]
    CANDIDATE_FATE_EXCLUDED_DUPLICATE: _ClassVar[CandidateFate]
    CANDIDATE_FATE_GUIDE: _ClassVar[CandidateFate]
    CANDIDATE_FATE_MARGIN: _ClassVar[CandidateFate]
    CANDIDATE_FATE_SCORE_BAND: _ClassVar[CandidateFate]
    CANDIDATE_FATE_RANK_WINDOW: _ClassVar[CandidateFate]
    CANDIDATE_FATE_DIVERSITY: _ClassVar[CandidateFate]
    CANDIDATE_FATE_RETURNED: _ClassVar[CandidateFate]
    CANDIDATE_FATE_UNSAMPLED: _ClassVar[CandidateFate]
    CANDIDATE_FATE_STALE: _ClassVar[CandidateFate]
    CANDIDATE_FATE_ROTATION: _ClassVar[CandidateFate]
    CANDIDATE_FATE_EXPOSURE: _ClassVar[CandidateFate]
    CANDIDATE_FATE_LIKELY_FALSE_NEGATIVE: _ClassVar[CandidateFate]

class BatchStrategy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BATCH_STRATEGY_UNSPECIFIED: _ClassVar[BatchStrategy]
    BATCH_STRATEGY_CLUSTERS: _ClassVar[BatchStrategy]
    BATCH_STRATEGY_NEIGHBOURS: _ClassVar[BatchStrategy]
METRIC_UNSPECIFIED: Metric
METRIC_COSINE: Metric
METRIC_DOT: Metric
METRIC_L2: Metric
QUANTIZATION_UNSPECIFIED: Quantization
QUANTIZATION_NONE: Quantization
QUANTIZATION_INT8: Quantization
RANK_MODE_UNSPECIFIED: RankMode
RANK_MODE_RAW: RankMode
RANK_MODE_SURVIVING: RankMode
SAMPLING_STRATEGY_UNSPECIFIED: SamplingStrategy
SAMPLING_STRATEGY_TOP: SamplingStrategy
SAMPLING_STRATEGY_UNIFORM: SamplingStrategy
SAMPLING_STRATEGY_SOFTMAX: SamplingStrategy
SAMPLING_STRATEGY_SIMANS: SamplingStrategy
SAMPLING_STRATEGY_TOP1_SAMPLED: SamplingStrategy
STALE_RULE_UNSPECIFIED: StaleRule
STALE_RULE_SKIP: StaleRule
STALE_RULE_RESCORE: StaleRule
SYNTHETIC_KIND_UNSPECIFIED: SyntheticKind
SYNTHETIC_KIND_MIXED: SyntheticKind
SYNTHETIC_KIND_QUERY: SyntheticKind
CANDIDATE_FATE_UNSPECIFIED: CandidateFate
CANDIDATE_FATE_SELF: CandidateFate
CANDIDATE_FATE_POSITIVE: CandidateFate
CANDIDATE_FATE_EXCLUDED: CandidateFate
CANDIDATE_FATE_IN_BATCH: CandidateFate
CANDIDATE_FATE_FEEDBACK: CandidateFate
CANDIDATE_FATE_SAME_GROUP: CandidateFate
CANDIDATE_FATE_DUPLICATE: CandidateFate
CANDIDATE_FATE_EXCLUDED_DUPLICATE: CandidateFate
CANDIDATE_FATE_GUIDE: CandidateFate
CANDIDATE_FATE_MARGIN: CandidateFate
CANDIDATE_FATE_SCORE_BAND: CandidateFate
CANDIDATE_FATE_RANK_WINDOW: CandidateFate
CANDIDATE_FATE_DIVERSITY: CandidateFate
CANDIDATE_FATE_RETURNED: CandidateFate
CANDIDATE_FATE_UNSAMPLED: CandidateFate
CANDIDATE_FATE_STALE: CandidateFate
CANDIDATE_FATE_ROTATION: CandidateFate
CANDIDATE_FATE_EXPOSURE: CandidateFate
CANDIDATE_FATE_LIKELY_FALSE_NEGATIVE: CandidateFate
BATCH_STRATEGY_UNSPECIFIED: BatchStrategy
BATCH_STRATEGY_CLUSTERS: BatchStrategy
BATCH_STRATEGY_NEIGHBOURS: BatchStrategy

class IndexParams(_message.Message):
    __slots__ = ("m", "ef_construction", "ef_search", "exact_threshold", "quantization")
    M_FIELD_NUMBER: _ClassVar[int]
    EF_CONSTRUCTION_FIELD_NUMBER: _ClassVar[int]
    EF_SEARCH_FIELD_NUMBER: _ClassVar[int]
    EXACT_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    QUANTIZATION_FIELD_NUMBER: _ClassVar[int]
    m: int
    ef_construction: int
    ef_search: int
    exact_threshold: int
    quantization: Quantization
    def __init__(self, m: _Optional[int] = ..., ef_construction: _Optional[int] = ..., ef_search: _Optional[int] = ..., exact_threshold: _Optional[int] = ..., quantization: _Optional[_Union[Quantization, str]] = ...) -> None: ...

class CollectionStats(_message.Message):
    __slots__ = ("item_count", "tombstone_count", "last_applied_sequence", "vector_bytes", "graph_search", "first_pass_lead", "lead_recall")
    ITEM_COUNT_FIELD_NUMBER: _ClassVar[int]
    TOMBSTONE_COUNT_FIELD_NUMBER: _ClassVar[int]
    LAST_APPLIED_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    VECTOR_BYTES_FIELD_NUMBER: _ClassVar[int]
    GRAPH_SEARCH_FIELD_NUMBER: _ClassVar[int]
    FIRST_PASS_LEAD_FIELD_NUMBER: _ClassVar[int]
    LEAD_RECALL_FIELD_NUMBER: _ClassVar[int]
    item_count: int
    tombstone_count: int
    last_applied_sequence: int
    vector_bytes: int
    graph_search: bool
    first_pass_lead: int
    lead_recall: float
    def __init__(self, item_count: _Optional[int] = ..., tombstone_count: _Optional[int] = ..., last_applied_sequence: _Optional[int] = ..., vector_bytes: _Optional[int] = ..., graph_search: _Optional[bool] = ..., first_pass_lead: _Optional[int] = ..., lead_recall: _Optional[float] = ...) -> None: ...

class Collection(_message.Message):
    __slots__ = ("name", "dim", "metric", "index_params", "stats", "ephemeral")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    INDEX_PARAMS_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    EPHEMERAL_FIELD_NUMBER: _ClassVar[int]
    name: str
    dim: int
    metric: Metric
    index_params: IndexParams
    stats: CollectionStats
    ephemeral: bool
    def __init__(self, name: _Optional[str] = ..., dim: _Optional[int] = ..., metric: _Optional[_Union[Metric, str]] = ..., index_params: _Optional[_Union[IndexParams, _Mapping]] = ..., stats: _Optional[_Union[CollectionStats, _Mapping]] = ..., ephemeral: _Optional[bool] = ...) -> None: ...

class CreateCollectionRequest(_message.Message):
    __slots__ = ("name", "dim", "metric", "index_params", "ephemeral")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    INDEX_PARAMS_FIELD_NUMBER: _ClassVar[int]
    EPHEMERAL_FIELD_NUMBER: _ClassVar[int]
    name: str
    dim: int
    metric: Metric
    index_params: IndexParams
    ephemeral: bool
    def __init__(self, name: _Optional[str] = ..., dim: _Optional[int] = ..., metric: _Optional[_Union[Metric, str]] = ..., index_params: _Optional[_Union[IndexParams, _Mapping]] = ..., ephemeral: _Optional[bool] = ...) -> None: ...

class CreateCollectionResponse(_message.Message):
    __slots__ = ("collection",)
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    collection: Collection
    def __init__(self, collection: _Optional[_Union[Collection, _Mapping]] = ...) -> None: ...

class GetCollectionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetCollectionResponse(_message.Message):
    __slots__ = ("collection",)
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    collection: Collection
    def __init__(self, collection: _Optional[_Union[Collection, _Mapping]] = ...) -> None: ...

class ListCollectionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListCollectionsResponse(_message.Message):
    __slots__ = ("collections",)
    COLLECTIONS_FIELD_NUMBER: _ClassVar[int]
    collections: _containers.RepeatedCompositeFieldContainer[Collection]
    def __init__(self, collections: _Optional[_Iterable[_Union[Collection, _Mapping]]] = ...) -> None: ...

class DeleteCollectionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteCollectionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GroupList(_message.Message):
    __slots__ = ("groups",)
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, groups: _Optional[_Iterable[str]] = ...) -> None: ...

class ItemBatch(_message.Message):
    __slots__ = ("ids", "dim", "vectors", "groups", "versions")
    IDS_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    dim: int
    vectors: bytes
    groups: _containers.RepeatedCompositeFieldContainer[GroupList]
    versions: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, ids: _Optional[_Iterable[str]] = ..., dim: _Optional[int] = ..., vectors: _Optional[bytes] = ..., groups: _Optional[_Iterable[_Union[GroupList, _Mapping]]] = ..., versions: _Optional[_Iterable[int]] = ...) -> None: ...

class UpsertRequest(_message.Message):
    __slots__ = ("collection", "items", "defer_durability")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    DEFER_DURABILITY_FIELD_NUMBER: _ClassVar[int]
    collection: str
    items: ItemBatch
    defer_durability: bool
    def __init__(self, collection: _Optional[str] = ..., items: _Optional[_Union[ItemBatch, _Mapping]] = ..., defer_durability: _Optional[bool] = ...) -> None: ...

class UpsertResponse(_message.Message):
    __slots__ = ("inserted", "replaced", "sequence")
    INSERTED_FIELD_NUMBER: _ClassVar[int]
    REPLACED_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    inserted: int
    replaced: int
    sequence: int
    def __init__(self, inserted: _Optional[int] = ..., replaced: _Optional[int] = ..., sequence: _Optional[int] = ...) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ("collection", "ids")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, collection: _Optional[str] = ..., ids: _Optional[_Iterable[str]] = ...) -> None: ...

class DeleteResponse(_message.Message):
    __slots__ = ("deleted", "not_found", "sequence")
    DELETED_FIELD_NUMBER: _ClassVar[int]
    NOT_FOUND_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    deleted: int
    not_found: int
    sequence: int
    def __init__(self, deleted: _Optional[int] = ..., not_found: _Optional[int] = ..., sequence: _Optional[int] = ...) -> None: ...

class UpsertStreamRequest(_message.Message):
    __slots__ = ("collection", "writer_id", "sequence", "items", "delete_ids")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    WRITER_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    DELETE_IDS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    writer_id: str
    sequence: int
    items: ItemBatch
    delete_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, collection: _Optional[str] = ..., writer_id: _Optional[str] = ..., sequence: _Optional[int] = ..., items: _Optional[_Union[ItemBatch, _Mapping]] = ..., delete_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class UpsertStreamResponse(_message.Message):
    __slots__ = ("writer_id", "sequence", "durable_sequence", "duplicate", "log_sequence", "items_applied", "ids_deleted", "next_sequence")
    WRITER_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    DURABLE_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    LOG_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_APPLIED_FIELD_NUMBER: _ClassVar[int]
    IDS_DELETED_FIELD_NUMBER: _ClassVar[int]
    NEXT_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    writer_id: str
    sequence: int
    durable_sequence: int
    duplicate: bool
    log_sequence: int
    items_applied: int
    ids_deleted: int
    next_sequence: int
    def __init__(self, writer_id: _Optional[str] = ..., sequence: _Optional[int] = ..., durable_sequence: _Optional[int] = ..., duplicate: _Optional[bool] = ..., log_sequence: _Optional[int] = ..., items_applied: _Optional[int] = ..., ids_deleted: _Optional[int] = ..., next_sequence: _Optional[int] = ...) -> None: ...

class GetItemsRequest(_message.Message):
    __slots__ = ("collection", "ids", "include_vectors")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_VECTORS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    ids: _containers.RepeatedScalarFieldContainer[str]
    include_vectors: bool
    def __init__(self, collection: _Optional[str] = ..., ids: _Optional[_Iterable[str]] = ..., include_vectors: _Optional[bool] = ...) -> None: ...

class GetItemsResponse(_message.Message):
    __slots__ = ("items", "missing_ids")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    MISSING_IDS_FIELD_NUMBER: _ClassVar[int]
    items: ItemBatch
    missing_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, items: _Optional[_Union[ItemBatch, _Mapping]] = ..., missing_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class Anchor(_message.Message):
    __slots__ = ("id", "vector", "key", "positive_ids", "positive_vectors", "exclude_ids", "groups", "guide_vector", "guide_positive_vectors")
    ID_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    POSITIVE_IDS_FIELD_NUMBER: _ClassVar[int]
    POSITIVE_VECTORS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_IDS_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    GUIDE_VECTOR_FIELD_NUMBER: _ClassVar[int]
    GUIDE_POSITIVE_VECTORS_FIELD_NUMBER: _ClassVar[int]
    id: str
    vector: bytes
    key: str
    positive_ids: _containers.RepeatedScalarFieldContainer[str]
    positive_vectors: bytes
    exclude_ids: _containers.RepeatedScalarFieldContainer[str]
    groups: _containers.RepeatedScalarFieldContainer[str]
    guide_vector: bytes
    guide_positive_vectors: bytes
    def __init__(self, id: _Optional[str] = ..., vector: _Optional[bytes] = ..., key: _Optional[str] = ..., positive_ids: _Optional[_Iterable[str]] = ..., positive_vectors: _Optional[bytes] = ..., exclude_ids: _Optional[_Iterable[str]] = ..., groups: _Optional[_Iterable[str]] = ..., guide_vector: _Optional[bytes] = ..., guide_positive_vectors: _Optional[bytes] = ...) -> None: ...

class MiningPolicy(_message.Message):
    __slots__ = ("num_negatives", "exclude_same_group", "duplicate_threshold", "absolute_margin", "relative_margin", "min_score", "max_score", "range_min", "range_max", "rank_mode", "in_batch_exclusion", "use_feedback", "sampling", "temperature", "simans_a", "simans_b", "seed", "diversity_threshold", "widen", "max_candidates", "ef_search", "exclude_near_duplicates", "max_rank", "duplicate_quantile", "duplicate_zscore", "guide_collection", "guide_margin", "guide_duplicate_threshold", "duplicate_margin", "min_version", "max_staleness", "stale_rule", "rotate", "max_exposures", "synthetic", "closed_loop", "closed_loop_depth", "pfn_threshold", "pfn_budget")
    NUM_NEGATIVES_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_SAME_GROUP_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    ABSOLUTE_MARGIN_FIELD_NUMBER: _ClassVar[int]
    RELATIVE_MARGIN_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    MAX_SCORE_FIELD_NUMBER: _ClassVar[int]
    RANGE_MIN_FIELD_NUMBER: _ClassVar[int]
    RANGE_MAX_FIELD_NUMBER: _ClassVar[int]
    RANK_MODE_FIELD_NUMBER: _ClassVar[int]
    IN_BATCH_EXCLUSION_FIELD_NUMBER: _ClassVar[int]
    USE_FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    SIMANS_A_FIELD_NUMBER: _ClassVar[int]
    SIMANS_B_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    DIVERSITY_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    WIDEN_FIELD_NUMBER: _ClassVar[int]
    MAX_CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    EF_SEARCH_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_NEAR_DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    MAX_RANK_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_QUANTILE_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_ZSCORE_FIELD_NUMBER: _ClassVar[int]
    GUIDE_COLLECTION_FIELD_NUMBER: _ClassVar[int]
    GUIDE_MARGIN_FIELD_NUMBER: _ClassVar[int]
    GUIDE_DUPLICATE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_MARGIN_FIELD_NUMBER: _ClassVar[int]
    MIN_VERSION_FIELD_NUMBER: _ClassVar[int]
    MAX_STALENESS_FIELD_NUMBER: _ClassVar[int]
    STALE_RULE_FIELD_NUMBER: _ClassVar[int]
    ROTATE_FIELD_NUMBER: _ClassVar[int]
    MAX_EXPOSURES_FIELD_NUMBER: _ClassVar[int]
    SYNTHETIC_FIELD_NUMBER: _ClassVar[int]
    CLOSED_LOOP_FIELD_NUMBER: _ClassVar[int]
    CLOSED_LOOP_DEPTH_FIELD_NUMBER: _ClassVar[int]
    PFN_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    PFN_BUDGET_FIELD_NUMBER: _ClassVar[int]
    num_negatives: int
    exclude_same_group: bool
    duplicate_threshold: float
    absolute_margin: float
    relative_margin: float
    min_score: float
    max_score: float
    range_min: int
    range_max: int
    rank_mode: RankMode
    in_batch_exclusion: bool
    use_feedback: bool
    sampling: SamplingStrategy
    temperature: float
    simans_a: float
    simans_b: float
    seed: int
    diversity_threshold: float
    widen: bool
    max_candidates: int
    ef_search: int
    exclude_near_duplicates: bool
    max_rank: int
    duplicate_quantile: float
    duplicate_zscore: float
    guide_collection: str
    guide_margin: float
    guide_duplicate_threshold: float
    duplicate_margin: float
    min_version: int
    max_staleness: int
    stale_rule: StaleRule
    rotate: bool
    max_exposures: int
    synthetic: SyntheticPolicy
    closed_loop: bool
    closed_loop_depth: int
    pfn_threshold: float
    pfn_budget: int
    def __init__(self, num_negatives: _Optional[int] = ..., exclude_same_group: _Optional[bool] = ..., duplicate_threshold: _Optional[float] = ..., absolute_margin: _Optional[float] = ..., relative_margin: _Optional[float] = ..., min_score: _Optional[float] = ..., max_score: _Optional[float] = ..., range_min: _Optional[int] = ..., range_max: _Optional[int] = ..., rank_mode: _Optional[_Union[RankMode, str]] = ..., in_batch_exclusion: _Optional[bool] = ..., use_feedback: _Optional[bool] = ..., sampling: _Optional[_Union[SamplingStrategy, str]] = ..., temperature: _Optional[float] = ..., simans_a: _Optional[float] = ..., simans_b: _Optional[float] = ..., seed: _Optional[int] = ..., diversity_threshold: _Optional[float] = ..., widen: _Optional[bool] = ..., max_candidates: _Optional[int] = ..., ef_search: _Optional[int] = ..., exclude_near_duplicates: _Optional[bool] = ..., max_rank: _Optional[int] = ..., duplicate_quantile: _Optional[float] = ..., duplicate_zscore: _Optional[float] = ..., guide_collection: _Optional[str] = ..., guide_margin: _Optional[float] = ..., guide_duplicate_threshold: _Optional[float] = ..., duplicate_margin: _Optional[float] = ..., min_version: _Optional[int] = ..., max_staleness: _Optional[int] = ..., stale_rule: _Optional[_Union[StaleRule, str]] = ..., rotate: _Optional[bool] = ..., max_exposures: _Optional[int] = ..., synthetic: _Optional[_Union[SyntheticPolicy, _Mapping]] = ..., closed_loop: _Optional[bool] = ..., closed_loop_depth: _Optional[int] = ..., pfn_threshold: _Optional[float] = ..., pfn_budget: _Optional[int] = ...) -> None: ...

class SyntheticPolicy(_message.Message):
    __slots__ = ("num_mixed", "alpha_min", "alpha_max", "num_query_mixed", "beta_min", "beta_max", "pool")
    NUM_MIXED_FIELD_NUMBER: _ClassVar[int]
    ALPHA_MIN_FIELD_NUMBER: _ClassVar[int]
    ALPHA_MAX_FIELD_NUMBER: _ClassVar[int]
    NUM_QUERY_MIXED_FIELD_NUMBER: _ClassVar[int]
    BETA_MIN_FIELD_NUMBER: _ClassVar[int]
    BETA_MAX_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    num_mixed: int
    alpha_min: float
    alpha_max: float
    num_query_mixed: int
    beta_min: float
    beta_max: float
    pool: int
    def __init__(self, num_mixed: _Optional[int] = ..., alpha_min: _Optional[float] = ..., alpha_max: _Optional[float] = ..., num_query_mixed: _Optional[int] = ..., beta_min: _Optional[float] = ..., beta_max: _Optional[float] = ..., pool: _Optional[int] = ...) -> None: ...

class MineRequest(_message.Message):
    __slots__ = ("collection", "anchors", "policy", "include_vectors", "explain", "columnar", "anchor_columns", "anchor_offset")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    ANCHORS_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_VECTORS_FIELD_NUMBER: _ClassVar[int]
    EXPLAIN_FIELD_NUMBER: _ClassVar[int]
    COLUMNAR_FIELD_NUMBER: _ClassVar[int]
    ANCHOR_COLUMNS_FIELD_NUMBER: _ClassVar[int]
    ANCHOR_OFFSET_FIELD_NUMBER: _ClassVar[int]
    collection: str
    anchors: _containers.RepeatedCompositeFieldContainer[Anchor]
    policy: MiningPolicy
    include_vectors: bool
    explain: int
    columnar: bool
    anchor_columns: AnchorColumns
    anchor_offset: int
    def __init__(self, collection: _Optional[str] = ..., anchors: _Optional[_Iterable[_Union[Anchor, _Mapping]]] = ..., policy: _Optional[_Union[MiningPolicy, _Mapping]] = ..., include_vectors: _Optional[bool] = ..., explain: _Optional[int] = ..., columnar: _Optional[bool] = ..., anchor_columns: _Optional[_Union[AnchorColumns, _Mapping]] = ..., anchor_offset: _Optional[int] = ...) -> None: ...

class AnchorColumns(_message.Message):
    __slots__ = ("count", "ids", "vectors", "keys", "positive_ids", "positive_id_counts", "positive_vectors", "positive_vector_counts", "exclude_ids", "exclude_id_counts", "groups", "group_counts", "guide_vectors", "guide_positive_vectors", "guide_positive_vector_counts")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    POSITIVE_IDS_FIELD_NUMBER: _ClassVar[int]
    POSITIVE_ID_COUNTS_FIELD_NUMBER: _ClassVar[int]
    POSITIVE_VECTORS_FIELD_NUMBER: _ClassVar[int]
    POSITIVE_VECTOR_COUNTS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_IDS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_ID_COUNTS_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    GROUP_COUNTS_FIELD_NUMBER: _ClassVar[int]
    GUIDE_VECTORS_FIELD_NUMBER: _ClassVar[int]
    GUIDE_POSITIVE_VECTORS_FIELD_NUMBER: _ClassVar[int]
    GUIDE_POSITIVE_VECTOR_COUNTS_FIELD_NUMBER: _ClassVar[int]
    count: int
    ids: _containers.RepeatedScalarFieldContainer[str]
    vectors: bytes
    keys: _containers.RepeatedScalarFieldContainer[str]
    positive_ids: _containers.RepeatedScalarFieldContainer[str]
    positive_id_counts: bytes
    positive_vectors: bytes
    positive_vector_counts: bytes
    exclude_ids: _containers.RepeatedScalarFieldContainer[str]
    exclude_id_counts: bytes
    groups: _containers.RepeatedScalarFieldContainer[str]
    group_counts: bytes
    guide_vectors: bytes
    guide_positive_vectors: bytes
    guide_positive_vector_counts: bytes
    def __init__(self, count: _Optional[int] = ..., ids: _Optional[_Iterable[str]] = ..., vectors: _Optional[bytes] = ..., keys: _Optional[_Iterable[str]] = ..., positive_ids: _Optional[_Iterable[str]] = ..., positive_id_counts: _Optional[bytes] = ..., positive_vectors: _Optional[bytes] = ..., positive_vector_counts: _Optional[bytes] = ..., exclude_ids: _Optional[_Iterable[str]] = ..., exclude_id_counts: _Optional[bytes] = ..., groups: _Optional[_Iterable[str]] = ..., group_counts: _Optional[bytes] = ..., guide_vectors: _Optional[bytes] = ..., guide_positive_vectors: _Optional[bytes] = ..., guide_positive_vector_counts: _Optional[bytes] = ...) -> None: ...

class Negative(_message.Message):
    __slots__ = ("id", "score", "rank", "p_fn", "version", "stale")
    ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    P_FN_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    id: str
    score: float
    rank: int
    p_fn: float
    version: int
    stale: bool
    def __init__(self, id: _Optional[str] = ..., score: _Optional[float] = ..., rank: _Optional[int] = ..., p_fn: _Optional[float] = ..., version: _Optional[int] = ..., stale: _Optional[bool] = ...) -> None: ...

class RuleCounts(_message.Message):
    __slots__ = ("self", "positive", "excluded", "in_batch", "feedback", "same_group", "duplicate", "excluded_duplicate", "guide", "margin", "score_band", "rank_window", "diversity", "stale", "rotation", "exposure", "likely_false_negative")
    SELF_FIELD_NUMBER: _ClassVar[int]
    POSITIVE_FIELD_NUMBER: _ClassVar[int]
    EXCLUDED_FIELD_NUMBER: _ClassVar[int]
    IN_BATCH_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    SAME_GROUP_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    EXCLUDED_DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    GUIDE_FIELD_NUMBER: _ClassVar[int]
    MARGIN_FIELD_NUMBER: _ClassVar[int]
    SCORE_BAND_FIELD_NUMBER: _ClassVar[int]
    RANK_WINDOW_FIELD_NUMBER: _ClassVar[int]
    DIVERSITY_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    ROTATION_FIELD_NUMBER: _ClassVar[int]
    EXPOSURE_FIELD_NUMBER: _ClassVar[int]
    LIKELY_FALSE_NEGATIVE_FIELD_NUMBER: _ClassVar[int]
    self: int
    positive: int
    excluded: int
    in_batch: int
    feedback: int
    same_group: int
    duplicate: int
    excluded_duplicate: int
    guide: int
    margin: int
    score_band: int
    rank_window: int
    diversity: int
    stale: int
    rotation: int
    exposure: int
    likely_false_negative: int
    def __init__(self_, self: _Optional[int] = ..., positive: _Optional[int] = ..., excluded: _Optional[int] = ..., in_batch: _Optional[int] = ..., feedback: _Optional[int] = ..., same_group: _Optional[int] = ..., duplicate: _Optional[int] = ..., excluded_duplicate: _Optional[int] = ..., guide: _Optional[int] = ..., margin: _Optional[int] = ..., score_band: _Optional[int] = ..., rank_window: _Optional[int] = ..., diversity: _Optional[int] = ..., stale: _Optional[int] = ..., rotation: _Optional[int] = ..., exposure: _Optional[int] = ..., likely_false_negative: _Optional[int] = ...) -> None: ...

class AnchorResult(_message.Message):
    __slots__ = ("negatives", "negative_vectors", "positive_score", "candidates_examined", "removed", "shortfall", "widenings", "exact_scan", "unknown_positive_ids", "max_rank", "floor_reached", "duplicate_threshold", "guide_positive_score", "rotation_restarted", "rotation_served", "explained", "explain_truncated", "synthetic", "synthetic_vectors", "synthetic_shortfall", "hardness", "band_shift")
    NEGATIVES_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_VECTORS_FIELD_NUMBER: _ClassVar[int]
    POSITIVE_SCORE_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_EXAMINED_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    SHORTFALL_FIELD_NUMBER: _ClassVar[int]
    WIDENINGS_FIELD_NUMBER: _ClassVar[int]
    EXACT_SCAN_FIELD_NUMBER: _ClassVar[int]
    UNKNOWN_POSITIVE_IDS_FIELD_NUMBER: _ClassVar[int]
    MAX_RANK_FIELD_NUMBER: _ClassVar[int]
    FLOOR_REACHED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    GUIDE_POSITIVE_SCORE_FIELD_NUMBER: _ClassVar[int]
    ROTATION_RESTARTED_FIELD_NUMBER: _ClassVar[int]
    ROTATION_SERVED_FIELD_NUMBER: _ClassVar[int]
    EXPLAINED_FIELD_NUMBER: _ClassVar[int]
    EXPLAIN_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    SYNTHETIC_FIELD_NUMBER: _ClassVar[int]
    SYNTHETIC_VECTORS_FIELD_NUMBER: _ClassVar[int]
    SYNTHETIC_SHORTFALL_FIELD_NUMBER: _ClassVar[int]
    HARDNESS_FIELD_NUMBER: _ClassVar[int]
    BAND_SHIFT_FIELD_NUMBER: _ClassVar[int]
    negatives: _containers.RepeatedCompositeFieldContainer[Negative]
    negative_vectors: bytes
    positive_score: float
    candidates_examined: int
    removed: RuleCounts
    shortfall: int
    widenings: int
    exact_scan: bool
    unknown_positive_ids: _containers.RepeatedScalarFieldContainer[str]
    max_rank: int
    floor_reached: bool
    duplicate_threshold: float
    guide_positive_score: float
    rotation_restarted: bool
    rotation_served: int
    explained: _containers.RepeatedCompositeFieldContainer[ExplainedCandidate]
    explain_truncated: bool
    synthetic: _containers.RepeatedCompositeFieldContainer[SyntheticNegative]
    synthetic_vectors: bytes
    synthetic_shortfall: int
    hardness: float
    band_shift: int
    def __init__(self, negatives: _Optional[_Iterable[_Union[Negative, _Mapping]]] = ..., negative_vectors: _Optional[bytes] = ..., positive_score: _Optional[float] = ..., candidates_examined: _Optional[int] = ..., removed: _Optional[_Union[RuleCounts, _Mapping]] = ..., shortfall: _Optional[int] = ..., widenings: _Optional[int] = ..., exact_scan: _Optional[bool] = ..., unknown_positive_ids: _Optional[_Iterable[str]] = ..., max_rank: _Optional[int] = ..., floor_reached: _Optional[bool] = ..., duplicate_threshold: _Optional[float] = ..., guide_positive_score: _Optional[float] = ..., rotation_restarted: _Optional[bool] = ..., rotation_served: _Optional[int] = ..., explained: _Optional[_Iterable[_Union[ExplainedCandidate, _Mapping]]] = ..., explain_truncated: _Optional[bool] = ..., synthetic: _Optional[_Iterable[_Union[SyntheticNegative, _Mapping]]] = ..., synthetic_vectors: _Optional[bytes] = ..., synthetic_shortfall: _Optional[int] = ..., hardness: _Optional[float] = ..., band_shift: _Optional[int] = ...) -> None: ...

class SyntheticNegative(_message.Message):
    __slots__ = ("kind", "a_id", "b_id", "coefficient")
    KIND_FIELD_NUMBER: _ClassVar[int]
    A_ID_FIELD_NUMBER: _ClassVar[int]
    B_ID_FIELD_NUMBER: _ClassVar[int]
    COEFFICIENT_FIELD_NUMBER: _ClassVar[int]
    kind: SyntheticKind
    a_id: str
    b_id: str
    coefficient: float
    def __init__(self, kind: _Optional[_Union[SyntheticKind, str]] = ..., a_id: _Optional[str] = ..., b_id: _Optional[str] = ..., coefficient: _Optional[float] = ...) -> None: ...

class ExplainedCandidate(_message.Message):
    __slots__ = ("id", "score", "rank", "fate")
    ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    FATE_FIELD_NUMBER: _ClassVar[int]
    id: str
    score: float
    rank: int
    fate: CandidateFate
    def __init__(self, id: _Optional[str] = ..., score: _Optional[float] = ..., rank: _Optional[int] = ..., fate: _Optional[_Union[CandidateFate, str]] = ...) -> None: ...

class MineResponse(_message.Message):
    __slots__ = ("results", "columns", "warnings")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[AnchorResult]
    columns: MineColumns
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, results: _Optional[_Iterable[_Union[AnchorResult, _Mapping]]] = ..., columns: _Optional[_Union[MineColumns, _Mapping]] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...

class MineColumns(_message.Message):
    __slots__ = ("counts", "ids", "scores", "ranks", "p_fn", "versions", "stale", "negative_vectors", "positive_scores", "candidates_examined", "shortfall", "widenings", "exact_scan", "max_rank", "floor_reached", "duplicate_threshold", "guide_positive_scores", "rotation_restarted", "rotation_served", "hardness", "band_shift", "rules", "removed", "unknown_positive_counts", "unknown_positive_ids", "dim")
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    RANKS_FIELD_NUMBER: _ClassVar[int]
    P_FN_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_VECTORS_FIELD_NUMBER: _ClassVar[int]
    POSITIVE_SCORES_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_EXAMINED_FIELD_NUMBER: _ClassVar[int]
    SHORTFALL_FIELD_NUMBER: _ClassVar[int]
    WIDENINGS_FIELD_NUMBER: _ClassVar[int]
    EXACT_SCAN_FIELD_NUMBER: _ClassVar[int]
    MAX_RANK_FIELD_NUMBER: _ClassVar[int]
    FLOOR_REACHED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    GUIDE_POSITIVE_SCORES_FIELD_NUMBER: _ClassVar[int]
    ROTATION_RESTARTED_FIELD_NUMBER: _ClassVar[int]
    ROTATION_SERVED_FIELD_NUMBER: _ClassVar[int]
    HARDNESS_FIELD_NUMBER: _ClassVar[int]
    BAND_SHIFT_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    UNKNOWN_POSITIVE_COUNTS_FIELD_NUMBER: _ClassVar[int]
    UNKNOWN_POSITIVE_IDS_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    counts: bytes
    ids: _containers.RepeatedScalarFieldContainer[str]
    scores: bytes
    ranks: bytes
    p_fn: bytes
    versions: bytes
    stale: bytes
    negative_vectors: bytes
    positive_scores: bytes
    candidates_examined: bytes
    shortfall: bytes
    widenings: bytes
    exact_scan: bytes
    max_rank: bytes
    floor_reached: bytes
    duplicate_threshold: bytes
    guide_positive_scores: bytes
    rotation_restarted: bytes
    rotation_served: bytes
    hardness: bytes
    band_shift: bytes
    rules: int
    removed: bytes
    unknown_positive_counts: bytes
    unknown_positive_ids: _containers.RepeatedScalarFieldContainer[str]
    dim: int
    def __init__(self, counts: _Optional[bytes] = ..., ids: _Optional[_Iterable[str]] = ..., scores: _Optional[bytes] = ..., ranks: _Optional[bytes] = ..., p_fn: _Optional[bytes] = ..., versions: _Optional[bytes] = ..., stale: _Optional[bytes] = ..., negative_vectors: _Optional[bytes] = ..., positive_scores: _Optional[bytes] = ..., candidates_examined: _Optional[bytes] = ..., shortfall: _Optional[bytes] = ..., widenings: _Optional[bytes] = ..., exact_scan: _Optional[bytes] = ..., max_rank: _Optional[bytes] = ..., floor_reached: _Optional[bytes] = ..., duplicate_threshold: _Optional[bytes] = ..., guide_positive_scores: _Optional[bytes] = ..., rotation_restarted: _Optional[bytes] = ..., rotation_served: _Optional[bytes] = ..., hardness: _Optional[bytes] = ..., band_shift: _Optional[bytes] = ..., rules: _Optional[int] = ..., removed: _Optional[bytes] = ..., unknown_positive_counts: _Optional[bytes] = ..., unknown_positive_ids: _Optional[_Iterable[str]] = ..., dim: _Optional[int] = ...) -> None: ...

class FalseNegativeReport(_message.Message):
    __slots__ = ("anchor_key", "item_ids")
    ANCHOR_KEY_FIELD_NUMBER: _ClassVar[int]
    ITEM_IDS_FIELD_NUMBER: _ClassVar[int]
    anchor_key: str
    item_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, anchor_key: _Optional[str] = ..., item_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ReportFalseNegativesRequest(_message.Message):
    __slots__ = ("collection", "reports")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    REPORTS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    reports: _containers.RepeatedCompositeFieldContainer[FalseNegativeReport]
    def __init__(self, collection: _Optional[str] = ..., reports: _Optional[_Iterable[_Union[FalseNegativeReport, _Mapping]]] = ...) -> None: ...

class ReportFalseNegativesResponse(_message.Message):
    __slots__ = ("recorded",)
    RECORDED_FIELD_NUMBER: _ClassVar[int]
    recorded: int
    def __init__(self, recorded: _Optional[int] = ...) -> None: ...

class GetCalibrationRequest(_message.Message):
    __slots__ = ("collection",)
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    collection: str
    def __init__(self, collection: _Optional[str] = ...) -> None: ...

class ScoreSummary(_message.Message):
    __slots__ = ("count", "mean", "std", "probabilities", "quantiles", "window")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    STD_FIELD_NUMBER: _ClassVar[int]
    PROBABILITIES_FIELD_NUMBER: _ClassVar[int]
    QUANTILES_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    count: int
    mean: float
    std: float
    probabilities: _containers.RepeatedScalarFieldContainer[float]
    quantiles: _containers.RepeatedScalarFieldContainer[float]
    window: int
    def __init__(self, count: _Optional[int] = ..., mean: _Optional[float] = ..., std: _Optional[float] = ..., probabilities: _Optional[_Iterable[float]] = ..., quantiles: _Optional[_Iterable[float]] = ..., window: _Optional[int] = ...) -> None: ...

class GetCalibrationResponse(_message.Message):
    __slots__ = ("positive_scores", "candidate_scores", "positive_similarities", "background_similarity", "default_duplicate_threshold")
    POSITIVE_SCORES_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_SCORES_FIELD_NUMBER: _ClassVar[int]
    POSITIVE_SIMILARITIES_FIELD_NUMBER: _ClassVar[int]
    BACKGROUND_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_DUPLICATE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    positive_scores: ScoreSummary
    candidate_scores: ScoreSummary
    positive_similarities: ScoreSummary
    background_similarity: float
    default_duplicate_threshold: float
    def __init__(self, positive_scores: _Optional[_Union[ScoreSummary, _Mapping]] = ..., candidate_scores: _Optional[_Union[ScoreSummary, _Mapping]] = ..., positive_similarities: _Optional[_Union[ScoreSummary, _Mapping]] = ..., background_similarity: _Optional[float] = ..., default_duplicate_threshold: _Optional[float] = ...) -> None: ...

class SnapshotCollectionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class SnapshotCollectionResponse(_message.Message):
    __slots__ = ("sequence", "bytes")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    bytes: int
    def __init__(self, sequence: _Optional[int] = ..., bytes: _Optional[int] = ...) -> None: ...

class RefreshQueueRequest(_message.Message):
    __slots__ = ("collection", "limit", "target_version")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    TARGET_VERSION_FIELD_NUMBER: _ClassVar[int]
    collection: str
    limit: int
    target_version: int
    def __init__(self, collection: _Optional[str] = ..., limit: _Optional[int] = ..., target_version: _Optional[int] = ...) -> None: ...

class RefreshItem(_message.Message):
    __slots__ = ("id", "version", "staleness", "recent_exposures")
    ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STALENESS_FIELD_NUMBER: _ClassVar[int]
    RECENT_EXPOSURES_FIELD_NUMBER: _ClassVar[int]
    id: str
    version: int
    staleness: int
    recent_exposures: int
    def __init__(self, id: _Optional[str] = ..., version: _Optional[int] = ..., staleness: _Optional[int] = ..., recent_exposures: _Optional[int] = ...) -> None: ...

class RefreshQueueResponse(_message.Message):
    __slots__ = ("items", "target_version", "due")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    TARGET_VERSION_FIELD_NUMBER: _ClassVar[int]
    DUE_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[RefreshItem]
    target_version: int
    due: int
    def __init__(self, items: _Optional[_Iterable[_Union[RefreshItem, _Mapping]]] = ..., target_version: _Optional[int] = ..., due: _Optional[int] = ...) -> None: ...

class ListSnapshotsRequest(_message.Message):
    __slots__ = ("collection",)
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    collection: str
    def __init__(self, collection: _Optional[str] = ...) -> None: ...

class SnapshotFile(_message.Message):
    __slots__ = ("collection", "sequence", "bytes", "created_at", "item_count")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    ITEM_COUNT_FIELD_NUMBER: _ClassVar[int]
    collection: str
    sequence: int
    bytes: int
    created_at: _timestamp_pb2.Timestamp
    item_count: int
    def __init__(self, collection: _Optional[str] = ..., sequence: _Optional[int] = ..., bytes: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., item_count: _Optional[int] = ...) -> None: ...

class ListSnapshotsResponse(_message.Message):
    __slots__ = ("snapshots",)
    SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    snapshots: _containers.RepeatedCompositeFieldContainer[SnapshotFile]
    def __init__(self, snapshots: _Optional[_Iterable[_Union[SnapshotFile, _Mapping]]] = ...) -> None: ...

class BackupRequest(_message.Message):
    __slots__ = ("collection", "chunk_bytes")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    CHUNK_BYTES_FIELD_NUMBER: _ClassVar[int]
    collection: str
    chunk_bytes: int
    def __init__(self, collection: _Optional[str] = ..., chunk_bytes: _Optional[int] = ...) -> None: ...

class BackupHeader(_message.Message):
    __slots__ = ("format_version", "collection", "item_count", "size_bytes", "crc32c", "sequence", "taken_at")
    FORMAT_VERSION_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    ITEM_COUNT_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CRC32C_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TAKEN_AT_FIELD_NUMBER: _ClassVar[int]
    format_version: int
    collection: Collection
    item_count: int
    size_bytes: int
    crc32c: int
    sequence: int
    taken_at: _timestamp_pb2.Timestamp
    def __init__(self, format_version: _Optional[int] = ..., collection: _Optional[_Union[Collection, _Mapping]] = ..., item_count: _Optional[int] = ..., size_bytes: _Optional[int] = ..., crc32c: _Optional[int] = ..., sequence: _Optional[int] = ..., taken_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class BackupResponse(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: BackupHeader
    chunk: bytes
    def __init__(self, header: _Optional[_Union[BackupHeader, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class RestoreRequest(_message.Message):
    __slots__ = ("header", "chunk", "collection")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    header: BackupHeader
    chunk: bytes
    collection: str
    def __init__(self, header: _Optional[_Union[BackupHeader, _Mapping]] = ..., chunk: _Optional[bytes] = ..., collection: _Optional[str] = ...) -> None: ...

class RestoreResponse(_message.Message):
    __slots__ = ("collection", "bytes")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    collection: Collection
    bytes: int
    def __init__(self, collection: _Optional[_Union[Collection, _Mapping]] = ..., bytes: _Optional[int] = ...) -> None: ...

class BatchAnchor(_message.Message):
    __slots__ = ("id", "positive_ids", "vector")
    ID_FIELD_NUMBER: _ClassVar[int]
    POSITIVE_IDS_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    id: str
    positive_ids: _containers.RepeatedScalarFieldContainer[str]
    vector: bytes
    def __init__(self, id: _Optional[str] = ..., positive_ids: _Optional[_Iterable[str]] = ..., vector: _Optional[bytes] = ...) -> None: ...

class BuildBatchesRequest(_message.Message):
    __slots__ = ("collection", "anchors", "batch_size", "strategy", "epochs", "first_epoch", "num_epochs", "seed", "cluster_size_start", "cluster_size_end", "num_nearest", "num_sampled", "sample_range_min", "sample_range_max", "exclude_near_duplicates", "duplicate_threshold", "duplicate_margin", "use_feedback")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    ANCHORS_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    EPOCHS_FIELD_NUMBER: _ClassVar[int]
    FIRST_EPOCH_FIELD_NUMBER: _ClassVar[int]
    NUM_EPOCHS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_SIZE_START_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_SIZE_END_FIELD_NUMBER: _ClassVar[int]
    NUM_NEAREST_FIELD_NUMBER: _ClassVar[int]
    NUM_SAMPLED_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RANGE_MIN_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RANGE_MAX_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_NEAR_DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_MARGIN_FIELD_NUMBER: _ClassVar[int]
    USE_FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    collection: str
    anchors: _containers.RepeatedCompositeFieldContainer[BatchAnchor]
    batch_size: int
    strategy: BatchStrategy
    epochs: int
    first_epoch: int
    num_epochs: int
    seed: int
    cluster_size_start: int
    cluster_size_end: int
    num_nearest: int
    num_sampled: int
    sample_range_min: int
    sample_range_max: int
    exclude_near_duplicates: bool
    duplicate_threshold: float
    duplicate_margin: float
    use_feedback: bool
    def __init__(self, collection: _Optional[str] = ..., anchors: _Optional[_Iterable[_Union[BatchAnchor, _Mapping]]] = ..., batch_size: _Optional[int] = ..., strategy: _Optional[_Union[BatchStrategy, str]] = ..., epochs: _Optional[int] = ..., first_epoch: _Optional[int] = ..., num_epochs: _Optional[int] = ..., seed: _Optional[int] = ..., cluster_size_start: _Optional[int] = ..., cluster_size_end: _Optional[int] = ..., num_nearest: _Optional[int] = ..., num_sampled: _Optional[int] = ..., sample_range_min: _Optional[int] = ..., sample_range_max: _Optional[int] = ..., exclude_near_duplicates: _Optional[bool] = ..., duplicate_threshold: _Optional[float] = ..., duplicate_margin: _Optional[float] = ..., use_feedback: _Optional[bool] = ...) -> None: ...

class BuildBatchesResponse(_message.Message):
    __slots__ = ("epoch", "index", "rows", "anchor_ids", "deferred", "swapped_in", "cluster_size")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    ANCHOR_IDS_FIELD_NUMBER: _ClassVar[int]
    DEFERRED_FIELD_NUMBER: _ClassVar[int]
    SWAPPED_IN_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_SIZE_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    index: int
    rows: _containers.RepeatedScalarFieldContainer[int]
    anchor_ids: _containers.RepeatedScalarFieldContainer[str]
    deferred: int
    swapped_in: int
    cluster_size: int
    def __init__(self, epoch: _Optional[int] = ..., index: _Optional[int] = ..., rows: _Optional[_Iterable[int]] = ..., anchor_ids: _Optional[_Iterable[str]] = ..., deferred: _Optional[int] = ..., swapped_in: _Optional[int] = ..., cluster_size: _Optional[int] = ...) -> None: ...

class AnchorOutcome(_message.Message):
    __slots__ = ("anchor_key", "solved", "loss")
    ANCHOR_KEY_FIELD_NUMBER: _ClassVar[int]
    SOLVED_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    anchor_key: str
    solved: bool
    loss: float
    def __init__(self, anchor_key: _Optional[str] = ..., solved: _Optional[bool] = ..., loss: _Optional[float] = ...) -> None: ...

class ReportLossRequest(_message.Message):
    __slots__ = ("collection", "outcomes")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    collection: str
    outcomes: _containers.RepeatedCompositeFieldContainer[AnchorOutcome]
    def __init__(self, collection: _Optional[str] = ..., outcomes: _Optional[_Iterable[_Union[AnchorOutcome, _Mapping]]] = ...) -> None: ...

class ReportLossResponse(_message.Message):
    __slots__ = ("hardness",)
    HARDNESS_FIELD_NUMBER: _ClassVar[int]
    hardness: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, hardness: _Optional[_Iterable[float]] = ...) -> None: ...
