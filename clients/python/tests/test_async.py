"""What only the asyncio client has: async sources and concurrent calls on one loop.

Everything else runs against both clients through the parametrised ``client`` and
``make_client`` fixtures (conftest.py).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import AsyncIterator

import numpy as np
from conftest import ServerProcess, unit_rows

import hardneg


async def test_async_ingest_from_async_generator(server: ServerProcess) -> None:
    name = f"async-ing-{uuid.uuid4().hex[:8]}"
    x = unit_rows(500, 8, seed=32)

    async def source() -> AsyncIterator[tuple[list[str], np.ndarray]]:
        for j in range(0, 500, 50):
            await asyncio.sleep(0)
            yield [f"g{i}" for i in range(j, j + 50)], x[j : j + 50]

    async with hardneg.AsyncClient(server.target) as c:
        await c.create_collection(name, dim=8)
        try:
            res = await c.ingest(name, source(), window=3)
            assert (res.batches, res.items, res.duplicates) == (10, 500, 0)
            assert (await c.get_collection(name)).stats.item_count == 500
            replay = await c.ingest(name, [(["g0"], x[:1])], writer_id=res.writer_id)
            assert replay.duplicates == 1
        finally:
            await c.delete_collection(name)


async def test_async_concurrent_mines(server: ServerProcess) -> None:
    name = f"async-par-{uuid.uuid4().hex[:8]}"
    x = unit_rows(200, 8, seed=33)
    async with hardneg.AsyncClient(server.target) as c:
        await c.create_collection(name, dim=8)
        try:
            await c.upsert(name, [f"p{i}" for i in range(200)], x)
            results = await asyncio.gather(
                *(c.mine(name, anchor_ids=[f"p{i}"], num_negatives=3) for i in range(20))
            )
            for i, r in enumerate(results):
                assert f"p{i}" not in r.ids[0].tolist() and r.counts[0] == 3
        finally:
            await c.delete_collection(name)
