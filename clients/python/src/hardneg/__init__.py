"""hardneg: client of the hardneg hard-negative mining service.

Quickstart::

    import numpy as np, hardneg

    client = hardneg.Client("localhost:50051")
    client.create_collection("docs", dim=384, metric="cosine", exist_ok=True)
    client.upsert("docs", ids, vectors)                       # (n, 384) float32
    res = client.mine("docs", anchor_vectors=queries, positive_ids=pos_ids,
                      num_negatives=5, relative_margin=0.05)
    res.ids, res.scores, res.stats                            # numpy arrays + per-rule counts

``hardneg.datasets`` (sentence-transformers dataset formats) is loaded on first use.
"""

import os
from typing import Any

# gRPC's C core, left without GRPC_VERBOSITY, prints its INFO lines to stderr (every
# failed TLS handshake of every retry); its documented default is ERROR, which is set
# here unless the process chose otherwise, before grpc is first imported.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

from hardneg import errors  # noqa: E402
from hardneg._channel import ChannelConfig
from hardneg.aio import AsyncClient
from hardneg.client import Client
from hardneg.errors import HardnegError, PolicyWarning
from hardneg.types import (
    BackupInfo,
    EXACT_ONLY,
    FATES,
    RULES,
    Batch,
    CollectionInfo,
    CollectionStats,
    DeleteResult,
    ExplainTable,
    HardBatch,
    IndexParams,
    IngestResult,
    Items,
    MineResult,
    RefreshQueue,
    MiningPolicy,
    RetryPolicy,
    RuleStats,
    SnapshotFile,
    SnapshotInfo,
    SyntheticNegatives,
    SyntheticPolicy,
    TLSConfig,
    UpsertResult,
)

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "BackupInfo",
    "Batch",
    "ChannelConfig",
    "Client",
    "CollectionInfo",
    "CollectionStats",
    "DeleteResult",
    "EXACT_ONLY",
    "ExplainTable",
    "HardBatch",
    "HardnegError",
    "IndexParams",
    "IngestResult",
    "Items",
    "MineResult",
    "RefreshQueue",
    "MiningPolicy",
    "PolicyWarning",
    "FATES",
    "RULES",
    "RetryPolicy",
    "RuleStats",
    "SnapshotFile",
    "SnapshotInfo",
    "SyntheticNegatives",
    "SyntheticPolicy",
    "TLSConfig",
    "UpsertResult",
    "datasets",
    "errors",
    "training",
]

# Submodules loaded on first access, so that ``import hardneg`` stays cheap; the
# optional packages they use (datasets, torch, …) load only when they are called.
_LAZY_SUBMODULES = ("datasets", "training")


def __getattr__(name: str) -> Any:
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"hardneg.{name}")
    raise AttributeError(f"module 'hardneg' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_SUBMODULES))
