"""What ``import hardneg`` gives, and what it costs."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip()


def test_datasets_is_an_attribute_after_import_hardneg() -> None:
    out = _run(
        "import hardneg\n"
        "print(hardneg.datasets.mine_hard_negatives.__module__)\n"
        "print('datasets' in dir(hardneg), 'datasets' in hardneg.__all__)\n"
    )
    assert out.splitlines() == ["hardneg.datasets", "True True"]


def test_import_hardneg_loads_no_optional_packages() -> None:
    out = _run(
        "import sys, hardneg\n"
        "print(sorted(m for m in ('hardneg.datasets', 'datasets', 'torch', 'tqdm', 'sentence_transformers')"
        " if m in sys.modules))\n"
    )
    assert out == "[]"


def test_unknown_attribute_is_still_an_attribute_error() -> None:
    out = _run(
        "import hardneg\n"
        "try:\n"
        "    hardneg.no_such_thing\n"
        "except AttributeError as e:\n"
        "    print('AttributeError', 'no_such_thing' in str(e))\n"
    )
    assert out == "AttributeError True"
