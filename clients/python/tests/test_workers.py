"""A client shared with worker processes opens its own channel in each of them."""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import pickle
import uuid
from typing import Iterator, Optional

import numpy as np
import pytest
from conftest import unit_rows

import hardneg

N_ITEMS = 64


def _mine_in_worker(args: tuple[hardneg.Client, str, int]) -> tuple[int, int, list[str]]:
    client, name, i = args
    res = client.mine(name, anchor_ids=[f"w{i}"], num_negatives=3)
    return os.getpid(), id(client.channel), res.ids[0].tolist()


# The client a forked pool's workers inherit from the parent's memory (not pickled to
# them, as pool arguments are) and the parent's channel at the fork.
_inherited: Optional[tuple[hardneg.Client, str, int]] = None


def _mine_with_inherited(i: int) -> tuple[int, Optional[int], int, int, list[str]]:
    assert _inherited is not None
    client, name, _ = _inherited
    pid_before = client._pid
    res = client.mine(name, anchor_ids=[f"w{i}"], num_negatives=3)
    return os.getpid(), pid_before, client._pid or 0, id(client.channel), res.ids[0].tolist()


def _expected(x: np.ndarray, i: int) -> list[str]:
    order = np.argsort(-(x @ x[i]), kind="stable")
    return [f"w{j}" for j in order if j != i][:3]


@pytest.fixture
def filled(sync_client: hardneg.Client) -> Iterator[tuple[hardneg.Client, str, np.ndarray]]:
    name = f"w-{uuid.uuid4().hex[:12]}"
    sync_client.create_collection(name, dim=16)
    x = unit_rows(N_ITEMS, 16, seed=41)
    sync_client.upsert(name, [f"w{i}" for i in range(N_ITEMS)], x)
    yield sync_client, name, x
    sync_client.delete_collection(name, missing_ok=True)


def test_forked_workers_use_their_own_channel(filled: tuple[hardneg.Client, str, np.ndarray]) -> None:
    global _inherited
    client, name, x = filled
    client.mine(name, anchor_ids=["w0"])  # the parent's channel is open before the fork
    parent_channel = client.channel
    _inherited = (client, name, id(parent_channel))
    # Collect the parent's garbage before forking, and freeze what is left: a child that
    # collects gRPC objects it inherited (channels earlier tests dropped) can crash in
    # gRPC's teardown, as gRPC is not fork-safe. Forking users do the same (gc.freeze's
    # documentation recommends it before fork).
    gc.collect()
    gc.freeze()
    try:
        ctx = mp.get_context("fork")
        with ctx.Pool(2) as pool:
            # A bounded wait: a worker that dies would otherwise hang the pool for good.
            out = pool.map_async(_mine_with_inherited, range(8), chunksize=1).get(timeout=120)
    finally:
        _inherited = None
        gc.unfreeze()
    channels: dict[int, set[int]] = {}
    for i, (pid, pid_before, pid_after, channel_id, ids) in enumerate(out):
        assert pid != os.getpid()
        # A worker's first call finds the parent's client; it then holds its own.
        assert pid_before in (os.getpid(), pid)
        assert pid_after == pid
        # The parent's channel object is still alive in the worker's copy of memory,
        # so a new channel cannot have its id.
        assert channel_id != id(parent_channel)
        channels.setdefault(pid, set()).add(channel_id)
        assert ids == _expected(x, i)
    # Each worker opened one channel and kept it for its later calls.
    assert all(len(ids) == 1 for ids in channels.values()), channels
    assert sum(pid_before == os.getpid() for _, pid_before, _, _, _ in out) == len(channels)
    # The parent's channel is untouched and still works.
    assert client.channel is parent_channel and client._pid == os.getpid()
    assert client.mine(name, anchor_ids=["w1"], num_negatives=3).ids[0].tolist() == _expected(x, 1)


def test_pool_arguments_get_their_own_channel(filled: tuple[hardneg.Client, str, np.ndarray]) -> None:
    """A client passed as a pool argument is pickled: each task's copy opens a channel."""
    client, name, x = filled
    client.mine(name, anchor_ids=["w0"])
    parent_channel = client.channel
    ctx = mp.get_context("fork")
    with ctx.Pool(2) as pool:
        out = pool.map_async(_mine_in_worker, [(client, name, i) for i in range(8)]).get(timeout=120)
    for i, (pid, channel_id, ids) in enumerate(out):
        assert pid != os.getpid()
        assert channel_id != id(parent_channel)
        assert ids == _expected(x, i)
    assert client.channel is parent_channel


def test_forked_worker_opens_channel_lazily(filled: tuple[hardneg.Client, str, np.ndarray]) -> None:
    client, name, x = filled
    client.mine(name, anchor_ids=["w0"])
    ctx = mp.get_context("fork")
    q: "mp.Queue[object]" = ctx.Queue()

    def child() -> None:
        # Inherited state names the parent's process; the first call opens a new channel.
        q.put((client._pid, os.getpid()))
        q.put(client.mine(name, anchor_ids=["w2"], num_negatives=3).ids[0].tolist())
        q.put(client._pid)

    p = ctx.Process(target=child)
    p.start()
    inherited_pid, child_pid = q.get(timeout=30)
    ids = q.get(timeout=30)
    after_pid = q.get(timeout=30)
    p.join(30)
    assert p.exitcode == 0
    assert inherited_pid == os.getpid() != child_pid
    assert after_pid == child_pid
    assert ids == _expected(x, 2)


def test_spawned_workers_get_a_pickled_client(filled: tuple[hardneg.Client, str, np.ndarray]) -> None:
    client, name, x = filled
    restored = pickle.loads(pickle.dumps(client))
    assert restored.target == client.target and restored._channel is None
    ctx = mp.get_context("spawn")
    with ctx.Pool(2) as pool:
        out = pool.map_async(_mine_in_worker, [(client, name, i) for i in range(4)]).get(timeout=120)
    assert [ids for _, _, ids in out] == [_expected(x, i) for i in range(4)]


@pytest.mark.heavy
def test_torch_dataloader_workers(filled: tuple[hardneg.Client, str, np.ndarray]) -> None:
    import torch
    from torch.utils.data import DataLoader, Dataset

    client, name, x = filled

    class Mined(Dataset):  # type: ignore[misc]
        def __len__(self) -> int:
            return 8

        def __getitem__(self, i: int) -> tuple[int, list[str]]:
            res = client.mine(name, anchor_ids=[f"w{i}"], num_negatives=3)
            return i, list(res.ids[0])

    client.list_collections()  # open the parent's channel before the workers fork
    loader = DataLoader(Mined(), batch_size=None, num_workers=2, multiprocessing_context="fork")
    seen = {i: ids for i, ids in loader}
    assert seen == {i: _expected(x, i) for i in range(8)}
    assert torch.utils.data.get_worker_info() is None
