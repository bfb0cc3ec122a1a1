"""The asyncio client against a real miner-server."""

from __future__ import annotations

import asyncio
import signal
import uuid
from typing import AsyncIterator

import numpy as np
import pytest
from conftest import ServerProcess, unit_rows

import hardneg
from hardneg import errors


async def test_async_round_trip(server: ServerProcess) -> None:
    name = f"async-{uuid.uuid4().hex[:8]}"
    async with hardneg.AsyncClient(server.target, timeout=30.0) as c:
        info = await c.create_collection(name, dim=8, metric="cosine")
        assert info.dim == 8
        try:
            x = unit_rows(100, 8, seed=31)
            ids = [f"a{i}" for i in range(100)]
            up = await c.upsert(name, ids, x, versions=3)
            assert up.inserted == 100
            got = await c.get_items(name, ["a5", "missing"], include_vectors=True)
            assert got.ids == ["a5"] and got.missing_ids == ["missing"]
            np.testing.assert_allclose(got.vectors, x[[5]], atol=1e-6)
            assert got.versions.tolist() == [3]

            scores = x @ x[0]
            ranked = [ids[i] for i in np.argsort(-scores, kind="stable") if ids[i] != "a0"]
            pos = ranked[0]  # the nearest neighbour, so the search meets and drops it
            res = await c.mine(name, anchor_ids=["a0"], positive_ids=[[pos]], num_negatives=4)
            order = ranked[1:]
            assert res.ids[0].tolist() == order[:4]
            assert res.removed["positive"][0] == 1

            assert (await c.delete(name, ["a0", "zz"])).deleted == 1
            assert name in [x.name for x in await c.list_collections()]
        finally:
            await c.delete_collection(name)
        with pytest.raises(errors.NotFound):
            await c.get_collection(name)


async def test_async_feedback_and_snapshot(server: ServerProcess) -> None:
    name = f"async-fb-{uuid.uuid4().hex[:8]}"
    x = unit_rows(30, 8, seed=35)
    async with hardneg.AsyncClient(server.target) as c:
        await c.create_collection(name, dim=8)
        try:
            up = await c.upsert(name, [f"f{i}" for i in range(30)], x)
            first = await c.mine(name, anchor_ids=["f0"], num_negatives=1)
            top = first.ids[0, 0]
            assert await c.report_false_negatives(name, {"f0": [top]}) == 1
            after = await c.mine(name, anchor_ids=["f0"], num_negatives=1)
            assert after.ids[0, 0] != top and after.removed["feedback"][0] == 1
            assert (await c.snapshot(name)).sequence >= up.sequence
        finally:
            await c.delete_collection(name)


async def test_async_errors_are_typed(server: ServerProcess) -> None:
    name = f"async-err-{uuid.uuid4().hex[:8]}"
    async with hardneg.AsyncClient(server.target) as c:
        await c.create_collection(name, dim=4)
        try:
            with pytest.raises(errors.AlreadyExists):
                await c.create_collection(name, dim=4)
            x = np.ones((2, 4), np.float32)
            x[1] = np.nan
            with pytest.raises(errors.InvalidArgument) as exc:
                await c.upsert(name, ["a", "b"], x)
            assert "vectors" in exc.value.field and exc.value.violations
        finally:
            await c.delete_collection(name)


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


async def test_async_resume_after_kill(own_server: ServerProcess) -> None:
    name = f"async-rs-{uuid.uuid4().hex[:8]}"
    x = unit_rows(40 * 10, 8, seed=34)

    async def source() -> AsyncIterator[tuple[list[str], np.ndarray]]:
        for j in range(40):
            if j == 15:
                await asyncio.to_thread(own_server.stop, signal.SIGKILL)
                await asyncio.to_thread(own_server.start)
            yield [f"k{j}-{i}" for i in range(10)], x[j * 10 : (j + 1) * 10]

    async with hardneg.AsyncClient(own_server.target, timeout=30.0) as c:
        await c.create_collection(name, dim=8)
        res = await c.ingest(name, source(), window=6)
        assert res.reconnects >= 1
        assert res.batches == 40 and res.items == 400
        assert (await c.get_collection(name)).stats.item_count == 400
