"""What only the asyncio client has: async sources and concurrent calls on one loop.

Everything else runs against both clients through the parametrised ``client`` and
``make_client`` fixtures (conftest.py).
"""

from __future__ import annotations

import asyncio
import io
import threading
import time
import uuid
from typing import AsyncIterator

import numpy as np
import pytest
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


async def test_restore_refused_mid_stream_reports_the_servers_status(server: ServerProcess) -> None:
    """The server refuses a restore into a collection that is not empty on the stream's
    first message, while the client is still writing the rest. grpc.aio reports a write
    that races that refusal as INTERNAL "Internal error from Core" (grpc/grpc#36066);
    the client reports the server's FailedPrecondition every time. A 5 MB collection in
    64 KiB messages races on about one attempt in six with grpc.aio's own stream."""
    dst = f"async-rd-{uuid.uuid4().hex[:8]}"
    async with hardneg.AsyncClient(server.target, timeout=60.0) as c:
        buf = io.BytesIO(await _backup_bytes(c, 20_000, seed=36))
        await c.create_collection(dst, dim=64)
        try:
            await c.upsert(dst, ["mine"], unit_rows(1, 64, seed=36))
            seen: dict[str, int] = {}
            for _ in range(40):
                buf.seek(0)
                try:
                    await c.restore(buf, collection=dst)
                    kind = "restored"
                except hardneg.errors.HardnegError as e:
                    kind = f"{type(e).__name__}: {e}"
                seen[kind] = seen.get(kind, 0) + 1
            [kind] = seen  # one outcome, 40 times
            assert kind.startswith("FailedPrecondition: ") and "not empty" in kind, seen
            assert (await c.get_collection(dst)).stats.item_count == 1
        finally:
            await c.delete_collection(dst)


async def _backup_bytes(c: hardneg.AsyncClient, rows: int, seed: int) -> bytes:
    """A backup, in 64 KiB messages, of a collection of rows random 64-d items (made
    for it and deleted again)."""
    name = f"async-bk-{uuid.uuid4().hex[:8]}"
    await c.create_collection(name, dim=64)
    try:
        x = unit_rows(rows, 64, seed=seed)
        await c.upsert(name, [f"r{i}" for i in range(rows)], x)
        buf = io.BytesIO()
        await c.backup(name, buf, chunk_bytes=65536)
        return buf.getvalue()
    finally:
        await c.delete_collection(name)


class _SlowFile(io.RawIOBase):
    """A seekable file that hands out at most 64 KiB per read, each after ``delay``
    seconds (a network file system, say)."""

    def __init__(self, data: bytes, delay: float, grpc_only: bool = False) -> None:
        self._data, self._pos, self._delay = data, 0, delay
        self.reads, self.busy = 0, False
        # Only reads from gRPC's own threads are slow (not the event loop's, nor
        # asyncio's worker threads): the window in which a cancelled stream reads on.
        self._grpc_only = grpc_only

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = 0) -> int:
        self._pos = pos if whence == 0 else (self._pos + pos if whence == 1 else len(self._data) + pos)
        return self._pos

    def readinto(self, b: "bytearray | memoryview") -> int:  # type: ignore[override]
        self.busy = True
        if not self._grpc_only or not threading.current_thread().name.startswith(("asyncio", "MainThread")):
            time.sleep(self._delay)
        n = min(len(b), 65536, len(self._data) - self._pos)
        b[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        self.reads += 1
        self.busy = False
        return n


class _Progress:
    def __init__(self) -> None:
        self.sent = 0

    def update(self, n: int) -> None:
        self.sent += n

    def close(self) -> None:
        pass


async def test_a_restore_in_flight_is_cut_by_close_and_by_cancelling_its_task(server: ServerProcess) -> None:
    """A restore reads its file and sends its stream from other threads; close() still
    cuts it short with Cancelled, cancelling the task cancels the call, and neither
    restores anything. The event loop keeps running while the file is read."""
    src = f"async-rc-{uuid.uuid4().hex[:8]}"
    async with hardneg.AsyncClient(server.target) as setup:
        data = await _backup_bytes(setup, 20_000, seed=37)
    c = hardneg.AsyncClient(server.target)
    try:
        for how in ("close", "cancel"):
            target = f"{src}-{how}"
            bar = _Progress()
            task = asyncio.ensure_future(c.restore(_SlowFile(data, 0.01), collection=target, progress=bar))
            ticks = 0
            while bar.sent < 4 * 65536:  # the loop is free while other threads read the file
                await asyncio.sleep(0.01)
                ticks += 1
            assert ticks > 1 and not task.done()
            if how == "close":
                await c.close()
                with pytest.raises(hardneg.errors.Cancelled, match="closed"):
                    await task
            else:
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            assert target not in [info.name for info in await c.list_collections()]
        [done] = await c.restore(io.BytesIO(data), collection=f"{src}-after")
        assert done.stats.item_count == 20_000
    finally:
        await c.delete_collection(f"{src}-after", missing_ok=True)
        await c.close()


async def test_a_cancelled_restore_leaves_no_read_of_its_file_running(server: ServerProcess) -> None:
    """gRPC reads a cancelled stream's next request on its own thread after the call
    ended: the restore waits for that read and starts none after it returns, so a
    caller that retries with the same file (seek(0), restore again) reads it alone. The
    cancelled read used to run on and move the retry's position (a damaged record)."""
    src = f"async-rr-{uuid.uuid4().hex[:8]}"
    async with hardneg.AsyncClient(server.target) as c:
        f = _SlowFile(await _backup_bytes(c, 8_000, seed=38), 0.3, grpc_only=True)
        bar = _Progress()
        task = asyncio.ensure_future(c.restore(f, collection=src, progress=bar))
        while bar.sent < 4 * 65536:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        reads = f.reads
        assert not f.busy
        await asyncio.sleep(0.3)
        assert f.reads == reads and not f.busy, "a read of the file went on after the restore returned"
        f.seek(0)
        f._delay = 0  # the same file, read at full speed
        [done] = await c.restore(f, collection=src)
        assert done.stats.item_count == 8_000
        await c.delete_collection(src)
