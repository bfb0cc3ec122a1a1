"""Times ingest, backup and restore through the hardneg command on one machine.

    python bench/backup/run.py [--n 100000] [--dim 384] [--server bin/miner-server]

Starts two servers on temporary data directories, writes n random unit vectors of dim
to a .npy file, and times `hardneg ingest`, `hardneg backup` and `hardneg restore`
into the second server; then checks that every item and a Mine call agree. Prints one
line per step (seconds, MB/s of vector data or of the backup file).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import hardneg


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(binary: str, d: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    p = subprocess.Popen([binary, f"--grpc-addr=127.0.0.1:{port}", f"--http-addr=127.0.0.1:{free_port()}", f"--data-dir={d}"],
                         stdout=subprocess.DEVNULL, stderr=open(d.parent / (d.name + ".log"), "wb"))
    target = f"127.0.0.1:{port}"
    for _ in range(600):
        r = subprocess.run([sys.executable, "-m", "hardneg._cli", "--addr", target, "--timeout", "1", "health"], capture_output=True)
        if r.returncode == 0:
            return p, target
        time.sleep(0.1)
    raise RuntimeError("server did not start")


def cli(target: str, *args: str) -> tuple[float, dict]:
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "hardneg._cli", "--addr", target, "--json", *args], capture_output=True, text=True)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return dt, json.loads(r.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--server", default="bin/miner-server")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hardneg-backup-bench-"))
    procs = []
    try:
        x = np.random.default_rng(0).standard_normal((args.n, args.dim)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        np.save(tmp / "v.npy", x)
        ids = [f"d{i}" for i in range(args.n)]
        (tmp / "ids.txt").write_text("".join(i + "\n" for i in ids))
        a, ta = start(args.server, tmp / "a")
        b, tb = start(args.server, tmp / "b")
        procs += [a, b]
        vec_mb = x.nbytes / 1e6
        dt, out = cli(ta, "ingest", "docs", str(tmp / "v.npy"), "--ids", str(tmp / "ids.txt"), "--create")
        print(f"ingest   {args.n:,} × {args.dim}: {dt:7.1f} s  {vec_mb / dt:7.1f} MB/s of vectors (graph built as items arrive)")
        dt, out = cli(ta, "backup", str(tmp / "docs.hnb"), "-c", "docs")
        size = (tmp / "docs.hnb").stat().st_size / 1e6
        print(f"backup   {size:,.0f} MB file: {dt:7.1f} s  {size / dt:7.1f} MB/s")
        dt, out = cli(tb, "restore", str(tmp / "docs.hnb"))
        print(f"restore  {size:,.0f} MB file: {dt:7.1f} s  {size / dt:7.1f} MB/s")
        with hardneg.Client(ta) as ca, hardneg.Client(tb) as cb:
            same = True
            for s in range(0, args.n, 16_384):
                ia = ca.get_items("docs", ids[s:s + 16_384], include_vectors=True)
                ib = cb.get_items("docs", ids[s:s + 16_384], include_vectors=True)
                same &= not ib.missing_ids and np.array_equal(ia.vectors, ib.vectors)
            q = x[:64]
            ma = ca.mine("docs", anchor_vectors=q, num_negatives=10, seed=1)
            mb = cb.mine("docs", anchor_vectors=q, num_negatives=10, seed=1)
            same &= np.array_equal(ma.ids, mb.ids) and np.array_equal(ma.scores, mb.scores)
        print(f"restored items and Mine results identical: {same}")
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
