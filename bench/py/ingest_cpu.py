"""The server's CPU time per upload: a real miner-server, the Python client, the bench
data set's vectors uploaded whole with ``Client.upsert`` into a new exact-only cosine
collection, ``--uploads`` times (each collection deleted after), and the server
process's CPU time (/proc) and the wall time per upload printed as JSON. Run it with one
server binary after another, alternating, to compare two builds:

    python bench/py/ingest_cpu.py --server /tmp/miner-server-old --data bench/out/data/ann-100000
    python bench/py/ingest_cpu.py --server bin/miner-server --data bench/out/data/ann-100000

``--ingest`` uploads as ``hardneg.datasets.mine_hard_negatives`` does instead (one
``Client.ingest`` stream, 4,096 rows a batch, 4 in flight), and ``--ephemeral`` makes
the collections ephemeral, as that job's are; ``wall_s`` lists each upload's time (the
first, into a freshly started server, pays its memory's growth).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import data as datamod
from common import server_cpu
from e2e import server


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--uploads", type=int, default=3)
    ap.add_argument("--ingest", action="store_true", help="upload over one UpsertStream, as the offline job does")
    ap.add_argument("--ephemeral", action="store_true", help="ephemeral collections, as the offline job's")
    a = ap.parse_args()
    from hardneg import EXACT_ONLY, IndexParams

    base = np.ascontiguousarray(datamod.load(Path(a.data))["base"])
    ids = [str(i) for i in range(len(base))]
    with server(a.server) as (proc, client, _):
        cpu0, walls = server_cpu(proc.pid), []
        for i in range(a.uploads):
            client.create_collection(f"up{i}", base.shape[1], "cosine", index_params=IndexParams(exact_threshold=EXACT_ONLY),
                                     ephemeral=a.ephemeral)
            t = time.perf_counter()
            if a.ingest:
                client.ingest(f"up{i}", ((ids[j : j + 4096], base[j : j + 4096]) for j in range(0, len(ids), 4096)), window=4)
            else:
                client.upsert(f"up{i}", ids, base)
            walls.append(round(time.perf_counter() - t, 3))
            client.delete_collection(f"up{i}")
        print(json.dumps({"vectors": len(ids), "uploads": a.uploads, "ingest": a.ingest, "ephemeral": a.ephemeral,
                          "server_cpu_s_per_upload": (server_cpu(proc.pid) - cpu0) / a.uploads,
                          "wall_s_per_upload": sum(walls) / a.uploads, "wall_s": walls}))


if __name__ == "__main__":
    main()
