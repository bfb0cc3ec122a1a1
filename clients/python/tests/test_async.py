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


async def test_close_cuts_calls_in_flight_with_cancelled(server: ServerProcess) -> None:
    """A call in flight when the client is closed fails with hardneg's Cancelled, not
    a bare asyncio.CancelledError (which a TaskGroup would swallow as if the task had
    been cancelled on purpose); the next call opens a new channel."""
    name = f"async-close-{uuid.uuid4().hex[:8]}"
    x = unit_rows(3000, 16, seed=34)
    async with hardneg.AsyncClient(server.target) as setup:
        await setup.create_collection(name, dim=16)
        await setup.upsert(name, [f"c{i}" for i in range(3000)], x)
    c = hardneg.AsyncClient(server.target)
    try:
        calls = [asyncio.ensure_future(c.mine(name, anchor_vectors=x[:256], num_negatives=64)) for _ in range(6)]
        await asyncio.sleep(0)
        await c.close()
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        cut = [o for o in outcomes if isinstance(o, BaseException)]
        assert cut, "no call was still in flight when the client closed"
        for o in cut:
            assert isinstance(o, hardneg.errors.Cancelled), repr(o)
            assert "closed" in str(o)
        again = await c.mine(name, anchor_ids=["c1"], num_negatives=2)
        assert again.counts.tolist() == [2]
    finally:
        await c.delete_collection(name)
        await c.close()


def test_one_client_on_several_event_loops(server: ServerProcess) -> None:
    """Threads each running their own loop share one AsyncClient: each gets its own
    channel (a grpc.aio channel is bound to its loop), and close() closes them all."""
    import threading

    name = f"async-loops-{uuid.uuid4().hex[:8]}"
    x = unit_rows(100, 8, seed=35)
    c = hardneg.AsyncClient(server.target)

    async def setup() -> None:
        await c.create_collection(name, dim=8)
        await c.upsert(name, [f"l{i}" for i in range(100)], x)

    asyncio.run(setup())
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def worker() -> None:
        async def mine() -> None:
            start.wait()
            for i in range(20):
                r = await c.mine(name, anchor_ids=[f"l{i}"], num_negatives=2)
                assert r.counts.tolist() == [2]

        try:
            asyncio.run(mine())
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []

    async def teardown() -> None:
        await c.delete_collection(name)
        await c.close()

    asyncio.run(teardown())
    assert c._loops == {}


async def test_refresh_refuses_an_async_encoder(server: ServerProcess) -> None:
    """refresh calls encode as a plain function: a coroutine function is refused with
    a TypeError that says so, before anything is written."""
    name = f"async-refresh-{uuid.uuid4().hex[:8]}"
    x = unit_rows(10, 8, seed=36)
    async with hardneg.AsyncClient(server.target) as c:
        await c.create_collection(name, dim=8)
        try:
            await c.upsert(name, [f"r{i}" for i in range(10)], x)

            async def encode(ids: list[str]) -> np.ndarray:
                return x[: len(ids)]

            try:
                await c.refresh(name, encode, version=5)
            except TypeError as e:
                assert "coroutine" in str(e)
            else:
                raise AssertionError("an async encoder was accepted")
            assert (await c.refresh_queue(name, target_version=5)).due == 10
        finally:
            await c.delete_collection(name)
