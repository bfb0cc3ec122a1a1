"""Install requirements with pip one distribution at a time.

One `pip install` downloads every wheel of its resolution into a temporary directory
before it installs any of them, so its peak disk use is everything installed plus every
wheel. torch from PyPI comes with its CUDA libraries: about 3 GiB of wheels that unpack
to about 6 GiB, so one call peaks near 9.5 GiB. This script asks pip for the resolution
(`--dry-run --report`), installs each resolved distribution from the exact URL pip chose,
without dependencies, one call each, and then runs the original install, which finds
everything in place and installs the local project. The peak is what ends up installed
plus the largest single wheel.

Usage: python pip_stepwise.py [pip install arguments...]
Run it with the interpreter of the environment to install into.
"""

from __future__ import annotations

import json
import subprocess
import sys


def pip(*args: str, capture: bool = False) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pip", *args],
        check=True,
        text=True,
        stdout=subprocess.PIPE if capture else None,
    )
    return done.stdout or ""


def resolved(args: list[str]) -> list[tuple[str, str]]:
    """(name, url) of each distribution `pip install args` would install, in pip's
    order, leaving out local directories and files (the final call installs those)."""
    report = json.loads(pip("install", "--quiet", "--dry-run", "--report", "-", *args, capture=True))
    out = []
    for item in report.get("install", []):
        url = item["download_info"]["url"]
        if url.startswith("file:"):
            continue
        out.append((item["metadata"]["name"], url))
    return out


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    steps = resolved(argv)
    for i, (name, url) in enumerate(steps, 1):
        print(f"pip_stepwise: {i}/{len(steps)} {name}", flush=True)
        pip("install", "--quiet", "--no-deps", f"{name} @ {url}")
    pip("install", "--quiet", *argv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
