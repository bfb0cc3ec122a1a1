"""Mine latency while the collection grows, per server setting, interleaved.

A live trainer mines while its corpus streams in, and each batch's graph inserts take
cores from Mine. Per variant (a server binary plus HARDNEG_* settings) and round this
starts a fresh server, ingests the first ``--start`` vectors of a set, then streams the
next ``--grow`` vectors from a second process (``Client.ingest``, batches of 1024) while
this process sends Mine requests (32 query anchors, k 8, the default policy, each with
its exact nearest item as the positive) back to back; then it sends as many requests
again with the collection quiet. It reports Mine p50 / p99 during the growth and after,
and the growth's vectors/s. Rounds alternate the variants, each round starting one
variant later.

    python bench/py/mine_during_ingest.py --data bench/out/data/ann-100000 \\
        --variant all=bin/miner-server --variant one=bin/miner-server:HARDNEG_GRAPH_WORKERS=1 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import data as datamod  # noqa: E402
from common import percentile  # noqa: E402
from e2e import ingest, server  # noqa: E402


def grow(a: argparse.Namespace) -> None:
    """The growing process: streams base[start:start+grow] into the collection."""
    import hardneg

    d = datamod.load(Path(a.data))
    base = np.ascontiguousarray(d["base"][a.start : a.start + a.grow])
    ids = [f"d{i}" for i in range(a.start, a.start + base.shape[0])]
    c = hardneg.Client(a.addr)
    t = time.perf_counter()
    c.ingest("bench", ((ids[lo : lo + 1024], base[lo : lo + 1024]) for lo in range(0, len(ids), 1024)))
    print(json.dumps({"vectors": int(base.shape[0]), "seconds": time.perf_counter() - t}))


def run_variant(a: argparse.Namespace, binary: str, env: dict, base: np.ndarray, queries: np.ndarray, positives: list[str]) -> dict:
    with server(binary, extra_env=env) as (proc, client, _):
        client.create_collection("bench", base.shape[1], "cosine")
        ingest(client, "bench", base[: a.start], None)
        port = [x for x in proc.args if x.startswith("--grpc-addr=")][0].split("=", 1)[1]

        def mine_ms(j: int) -> float:
            """Request j: 32 query anchors, their positives; its wall time in ms."""
            lo = (j * 32) % (queries.shape[0] - 32)
            t = time.perf_counter()
            client.mine("bench", anchor_vectors=queries[lo : lo + 32], positive_ids=[[p] for p in positives[lo : lo + 32]], num_negatives=8)
            return (time.perf_counter() - t) * 1e3

        mine_ms(0)  # warm
        grower = subprocess.Popen(
            [sys.executable, __file__, "grow", "--data", a.data, "--addr", port, "--start", str(a.start), "--grow", str(a.grow)],
            stdout=subprocess.PIPE, text=True,
        )
        during: list[float] = []
        while grower.poll() is None:
            during.append(mine_ms(len(during)))
        out, _ = grower.communicate()
        if grower.returncode != 0:
            raise RuntimeError("the growing process failed")
        g = json.loads(out.strip().splitlines()[-1])
        time.sleep(5)  # let a lead measurement the growth started finish
        quiet = [mine_ms(j) for j in range(max(len(during), 50))]
    return {
        "during_p50": percentile(during, 0.5), "during_p99": percentile(during, 0.99), "during_n": len(during),
        "quiet_p50": percentile(quiet, 0.5), "quiet_p99": percentile(quiet, 0.99),
        "grow_per_s": g["vectors"] / g["seconds"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd")
    gp = sub.add_parser("grow")
    gp.add_argument("--data", required=True)
    gp.add_argument("--addr", required=True)
    gp.add_argument("--start", type=int, required=True)
    gp.add_argument("--grow", type=int, required=True)
    ap.add_argument("--data", default="bench/out/data/ann-100000")
    ap.add_argument("--variant", action="append", required=False, help="name=binary[:VAR=value,...]")
    ap.add_argument("--start", type=int, default=20000, help="vectors ingested before the growth")
    ap.add_argument("--grow", type=int, default=20000, help="vectors streamed in while Mine runs")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    if a.cmd == "grow":
        grow(a)
        return
    d = datamod.load(Path(a.data))
    base = np.ascontiguousarray(d["base"][: a.start + a.grow])
    queries = np.ascontiguousarray(d["queries"])
    # Each query's exact nearest item among the first `start` vectors is its positive.
    positives = [f"d{int(j)}" for j in np.argmax(queries @ base[: a.start].T, axis=1)]
    variants = []
    for spec in a.variant or []:
        name, rest = spec.split("=", 1)
        binary, _, envs = rest.partition(":")
        env = dict(kv.split("=", 1) for kv in envs.split(",") if kv)
        variants.append((name, binary, env))
    results: dict[str, list[dict]] = {v[0]: [] for v in variants}
    for r in range(a.rounds):
        order = variants[r % len(variants):] + variants[: r % len(variants)]
        for name, binary, env in order:
            res = run_variant(a, binary, env, base, queries, positives)
            results[name].append(res)
            print(f"round {r + 1} {name}: " + " ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in res.items()), flush=True)
    print("\nmedian over rounds:")
    for name, rs in results.items():
        med = {k: statistics.median(x[k] for x in rs) for k in rs[0]}
        print(f"{name}: " + " ".join(f"{k} {v:.2f}" for k, v in med.items()))


if __name__ == "__main__":
    main()
