"""Ephemeral collections (create_collection(ephemeral=True)) against a real server, with
both clients: writes, streams and mining work as for a stored collection; nothing is
logged or snapshotted; a restart loses the collection and nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from conftest import ServerProcess, unit_rows

import hardneg
from hardneg import errors


def _wal_bytes(data_dir: Path) -> int:
    return sum(f.stat().st_size for f in (data_dir / "wal").rglob("*") if f.is_file())


def test_ephemeral_collection_round_trip(own_server: ServerProcess, make_client: Callable[..., hardneg.Client]) -> None:
    c = make_client(own_server.target, timeout=30.0)
    try:
        c.create_collection("stored", 16)
        c.upsert("stored", [f"s{i}" for i in range(50)], unit_rows(50, 16, 1))
        wal_before = _wal_bytes(own_server.data_dir)

        info = c.create_collection("job", 16, index_params=hardneg.IndexParams(exact_threshold=1 << 20), ephemeral=True)
        assert info.ephemeral and not c.get_collection("stored").ephemeral
        assert [(i.name, i.ephemeral) for i in c.list_collections()] == [("job", True), ("stored", False)]
        # The same definition again is the same collection; a stored one of that name is not.
        assert c.create_collection("job", 16, ephemeral=True, exist_ok=True).ephemeral
        with pytest.raises(errors.AlreadyExists, match="ephemeral True"):
            c.create_collection("job", 16, exist_ok=True)

        vecs = unit_rows(2000, 16, 2)
        res = c.upsert("job", [f"d{i}" for i in range(1000)], vecs[:1000])
        assert (res.inserted, res.sequence) == (1000, 0)
        ing = c.ingest("job", ((([f"d{i}" for i in range(lo, lo + 250)]), vecs[lo : lo + 250]) for lo in range(1000, 2000, 250)),
                       window=2)
        assert (ing.items, ing.batches, ing.durable_sequence, ing.next_sequence) == (1000, 4, 4, 5)
        # A stream resumed at a sequence already applied is acknowledged, not applied twice.
        again = c.ingest("job", [([f"d{i}" for i in range(1750, 2000)], vecs[1750:2000])], writer_id=ing.writer_id,
                         first_sequence=4)
        assert again.duplicates == 1 and again.items == 0
        c.delete("job", ["d0"])
        assert c.get_collection("job").stats.item_count == 1999

        got = c.mine("job", anchor_vectors=vecs[1:9], positive_ids=[[f"d{i}"] for i in range(1, 9)],
                     policy=hardneg.MiningPolicy(num_negatives=4))
        assert got.counts.tolist() == [4] * 8
        assert all(f"d{i}" not in row for i, row in zip(range(1, 9), got.ids.tolist()))

        with pytest.raises(errors.FailedPrecondition, match="ephemeral"):
            c.snapshot("job")
        assert c.list_snapshots("job") == []
        assert _wal_bytes(own_server.data_dir) == wal_before, "the ephemeral collection's writes reached the log"
    finally:
        c.close()

    own_server.restart()
    c = make_client(own_server.target, timeout=30.0)
    try:
        assert [i.name for i in c.list_collections()] == ["stored"]
        assert c.get_collection("stored").stats.item_count == 50
        with pytest.raises(errors.NotFound):
            c.get_collection("job")
    finally:
        c.close()


def test_ephemeral_must_be_a_bool(sync_client: hardneg.Client) -> None:
    with pytest.raises(TypeError, match="ephemeral must be a bool"):
        sync_client.create_collection("x", 4, ephemeral="yes")  # type: ignore[arg-type]


def test_mine_hard_negatives_uses_an_ephemeral_collection(own_server: ServerProcess) -> None:
    from hardneg.datasets import mine_hard_negatives

    rng = np.random.default_rng(3)
    texts = [f"t{i}" for i in range(400)]
    table = {t: v for t, v in zip(texts, rng.standard_normal((400, 12)).astype(np.float32))}
    seen: list[bool] = []

    with hardneg.Client(own_server.target) as c:
        create = c.create_collection

        def spy(*a, **kw):  # records what the job asked for
            info = create(*a, **kw)
            seen.append(info.ephemeral)
            return info

        c.create_collection = spy  # type: ignore[method-assign]
        wal_before = _wal_bytes(own_server.data_dir)
        out = mine_hard_negatives({"anchor": texts[:20], "positive": texts[20:40]}, lambda ts: np.stack([table[t] for t in ts]),
                                  corpus=texts, num_negatives=3, client=c, as_dataset=False)
        assert len(out["negative"]) == 60
        assert seen == [True]
        assert _wal_bytes(own_server.data_dir) == wal_before
        assert c.list_collections() == []
        # Kept, it is stored.
        mine_hard_negatives({"anchor": texts[:20], "positive": texts[20:40]}, lambda ts: np.stack([table[t] for t in ts]),
                            corpus=texts, num_negatives=3, client=c, as_dataset=False, collection="kept",
                            keep_collection=True)
        assert seen == [True, False] and not c.get_collection("kept").ephemeral
