"""Install requirements with pip one distribution at a time.

One `pip install` downloads every wheel of its resolution into a temporary directory
before it installs any of them, so its peak disk use is everything installed plus every
wheel. torch from PyPI comes with its CUDA libraries: about 3 GiB of wheels that unpack
to about 6 GiB, so one call peaks near 9.5 GiB. This script asks pip for the resolution
(`--dry-run --report`), installs each resolved wheel from the exact URL pip chose, with
its hash checked and without dependencies, one call each, and then runs the original
install, which finds those in place and installs the rest (the local project, source
distributions, VCS requirements) as pip would. The peak is what ends up installed plus
the largest single wheel.

Usage: python pip_stepwise.py REQUIREMENT...
Requirements only, no pip options (they would not reach the per-wheel calls); an index
given by pip's configuration or environment (PIP_INDEX_URL) applies to every call. Run it
with the interpreter of the environment to install into.
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
    """(name, url#sha256=...) of each wheel `pip install args` would download, in pip's
    order. Anything else it would install (local directories and files, source
    distributions, VCS checkouts, wheels without a sha256) is left to the final call."""
    report = json.loads(pip("install", "--quiet", "--dry-run", "--report", "-", *args, capture=True))
    out = []
    for item in report.get("install", []):
        info = item["download_info"]
        url = info["url"]
        sha = info.get("archive_info", {}).get("hashes", {}).get("sha256")
        if not sha or not url.endswith(".whl") or url.startswith("file:"):  # only archives have hashes
            continue
        out.append((item["metadata"]["name"], f"{url}#sha256={sha}"))
    return out


def main(argv: list[str]) -> int:
    if not argv or any(a.startswith("-") for a in argv):
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
