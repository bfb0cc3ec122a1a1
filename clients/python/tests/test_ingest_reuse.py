"""A writer id and sequence used again: the dropped data is reported as such."""

from __future__ import annotations

import logging
import uuid

import pytest

import hardneg
from conftest import unit_rows

DIM = 16


def test_reused_sequence_reports_nothing_applied(client: hardneg.Client, collection: str, caplog: pytest.LogCaptureFixture) -> None:
    writer = f"w-{uuid.uuid4().hex[:8]}"
    x = unit_rows(40, DIM, seed=41)
    batches = [([f"a{i}" for i in range(j, j + 10)], x[j : j + 10]) for j in range(0, 30, 10)]
    first = client.ingest(collection, batches, writer_id=writer)
    assert (first.items, first.durable_sequence, first.next_sequence) == (30, 3, 4)

    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]

    # The same writer again from sequence 1 with new ids: the server drops the batch,
    # and the client says so once, as a warning naming where to continue.
    with caplog.at_level(logging.WARNING, logger="hardneg"):
        again = client.ingest(collection, [([f"new{i}" for i in range(10)], x[30:40])], writer_id=writer)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "batch 1 (10 items) was not applied" in warned[0] and "first_sequence=4" in warned[0], warned
    assert again.duplicates == 1 and again.batches == 1
    assert again.items == 0, "a dropped batch was counted as ingested"
    assert again.durable_sequence == 3
    assert again.next_sequence == 4, "next_sequence must continue the writer, not restart below its durable sequence"
    assert client.get_items(collection, ["new0"]).missing_ids == ["new0"]

    # Continuing from the reported next_sequence applies.
    more = client.ingest(collection, [(["new0"], x[30:31])], writer_id=writer, first_sequence=again.next_sequence)
    assert (more.items, more.duplicates, more.next_sequence) == (1, 0, 5)
    assert client.get_items(collection, ["new0"]).ids == ["new0"]
