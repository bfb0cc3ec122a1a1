"""Builds platform wheels of the hardneg client that carry a static miner-server.

For each architecture: ``CGO_ENABLED=0 GOOS=linux GOARCH=<arch> go build`` of
./cmd/miner-server, a staging copy of clients/python with the binary at
``src/hardneg/_bin/miner-server``, ``pip wheel`` of that copy, and the wheel's tags
rewritten to ``py3-none-<platform>``: the binary is static, so one wheel serves every
Python 3 version and any libc. Run from the repository root (``make wheels``)::

    python clients/python/scripts/build_wheels.py --out bin/wheels [--arch amd64 --arch arm64]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CLIENT = ROOT / "clients" / "python"

# Go architecture → wheel platform tags (a compressed tag set: manylinux and musllinux).
PLATFORMS = {
    "amd64": "manylinux_2_17_x86_64.manylinux2014_x86_64.musllinux_1_1_x86_64",
    "arm64": "manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64",
}


def run(cmd: list[str], **kw: object) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)  # type: ignore[call-overload]


def git_revision() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def build_binary(arch: str, out: Path, version: str) -> None:
    env = dict(os.environ, CGO_ENABLED="0", GOOS="linux", GOARCH=arch)
    ldflags = f"-s -w -X main.version={version} -X main.revision={git_revision()}"
    run([os.environ.get("GO", "go"), "build", "-trimpath", "-ldflags", ldflags, "-o", str(out), "./cmd/miner-server"],
        cwd=ROOT, env=env)


def build_wheel(arch: str, out_dir: Path, work: Path, version: str) -> Path:
    stage = work / f"stage-{arch}"
    shutil.copytree(CLIENT, stage, ignore=shutil.ignore_patterns(
        "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", "_bin", "tests", "scripts"))
    binary = stage / "src" / "hardneg" / "_bin" / "miner-server"
    binary.parent.mkdir(parents=True)
    build_binary(arch, binary, version)
    binary.chmod(0o755)
    raw = work / f"raw-{arch}"
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(raw), str(stage)])
    (wheel,) = raw.glob("hardneg-*.whl")
    run([sys.executable, "-m", "wheel", "tags", "--python-tag", "py3", "--abi-tag", "none",
         "--platform-tag", PLATFORMS[arch], "--remove", str(wheel)])
    (tagged,) = raw.glob("hardneg-*.whl")
    out_dir.mkdir(parents=True, exist_ok=True)
    dest = out_dir / tagged.name
    shutil.move(str(tagged), dest)
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "bin" / "wheels"), help="output directory")
    ap.add_argument("--arch", action="append", choices=sorted(PLATFORMS), help="architectures (default: all)")
    ap.add_argument("--version", default="dev", help="server version stamped into the binary")
    a = ap.parse_args()
    out_dir = Path(a.out).resolve()
    with tempfile.TemporaryDirectory(prefix="hardneg-wheels-") as tmp:
        for arch in a.arch or sorted(PLATFORMS):
            print(build_wheel(arch, out_dir, Path(tmp), a.version))


if __name__ == "__main__":
    main()
