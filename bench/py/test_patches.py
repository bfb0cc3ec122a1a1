"""The measurement patches under bench/patches still apply to the tree they patch.

docs/BENCHMARKS.md tells readers to ``git apply`` them, build, measure and ``git apply
-R``; a patch that no longer applies would leave those commands broken without a word.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PATCHES = sorted((ROOT / "bench/patches").glob("*.diff"))


def test_there_are_patches_to_check():
    assert PATCHES, "bench/patches holds no .diff"


@pytest.mark.parametrize("patch", PATCHES, ids=lambda p: p.name)
def test_patch_applies(patch: Path):
    r = subprocess.run(["git", "apply", "--check", str(patch)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, f"{patch.name} no longer applies; remake it against the current tree:\n{r.stderr}"
