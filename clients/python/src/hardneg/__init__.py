"""hardneg: client of the hardneg hard-negative mining service.

Quickstart::

    import numpy as np, hardneg

    client = hardneg.Client("localhost:50051")
    client.create_collection("docs", dim=384, metric="cosine", exist_ok=True)
    client.upsert("docs", ids, vectors)                       # (n, 384) float32
    res = client.mine("docs", anchor_vectors=queries, positive_ids=pos_ids,
                      num_negatives=5, relative_margin=0.05)
    res.ids, res.scores, res.stats                            # numpy arrays + per-rule counts
"""

from hardneg import errors
from hardneg._channel import ChannelConfig
from hardneg.aio import AsyncClient
from hardneg.client import Client
from hardneg.errors import HardnegError
from hardneg.types import (
    EXACT_ONLY,
    RULES,
    Batch,
    CollectionInfo,
    CollectionStats,
    DeleteResult,
    IndexParams,
    IngestResult,
    Items,
    MineResult,
    MiningPolicy,
    RuleStats,
    SnapshotInfo,
    TLSConfig,
    UpsertResult,
)

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "Batch",
    "ChannelConfig",
    "Client",
    "CollectionInfo",
    "CollectionStats",
    "DeleteResult",
    "EXACT_ONLY",
    "HardnegError",
    "IndexParams",
    "IngestResult",
    "Items",
    "MineResult",
    "MiningPolicy",
    "RULES",
    "RuleStats",
    "SnapshotInfo",
    "TLSConfig",
    "UpsertResult",
    "errors",
]
