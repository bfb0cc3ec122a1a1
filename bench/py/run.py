"""Runs the whole comparison and writes one results file; report.py renders it.

    python bench/py/run.py --mode full|quick [--large] [--no-real] --out bench/out/full/results.json

Every system runs in its own process on the same data files. A system that fails is
recorded with its error and the run goes on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

import data as datamod  # noqa: E402
from common import log  # noqa: E402

MODES = {
    # n, queries, real pairs, offline anchors, Mine requests (per anchor count, scaled down for big requests)
    "full": dict(n=100_000, nq=1000, real_pairs=15_000, offline_anchors=10_000, mine_requests=300),
    "quick": dict(n=20_000, nq=200, real_pairs=1_000, offline_anchors=2_000, mine_requests=60),
    # At 1M the clustered set needs a wider beam than 256 to reach recall@10 ≥ 0.98 (0.89
    # at 256 for hardneg and hnswlib alike), where the search target is read.
    "large": dict(n=1_000_000, nq=1000, efs="10,16,32,64,128,256,512,1024,2048"),
}
EFS = "10,16,32,64,128,256"
# Passes over the queries per sweep point and exact search, for every system; the
# fastest is reported (as ann-benchmarks does).
RUNS = "3"


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def machine() -> dict:
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = int(Path("/proc/meminfo").read_text().split()[1]) * 1024
    go = subprocess.run(["go", "version"], capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_bytes": mem, "go": go, "python": platform.python_version(),
            "kernel": platform.release()}


def run_json(name: str, cmd: list[str], out: Path, timeout: float) -> dict:
    """Runs one measurement process that writes JSON to out; returns it or an error."""
    log(f"== {name}: {' '.join(cmd)}")
    t0 = time.perf_counter()
    la0 = loadavg()[0]
    try:
        p = subprocess.run(cmd, cwd=ROOT, timeout=timeout, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            raise RuntimeError(p.stderr[-3000:])
        res = json.loads(out.read_text())
    except Exception as e:  # noqa: BLE001 - any failure is recorded, not fatal
        log(f"!! {name} failed: {e}")
        res = {"error": str(e)[-3000:]}
    res["wall_seconds"] = time.perf_counter() - t0
    res["load_start"], res["load_end"] = la0, loadavg()[0]
    log(f"   {name} done in {res['wall_seconds']:.0f}s (load {la0:.1f} → {res['load_end']:.1f})")
    return res


# The systems whose builds and searches are compared in the targets (hardneg on int8
# codes and on floats against hnswlib) run INDEX_ROUNDS times, alternating, each later
# round starting one system later; their figures are the median rounds (see
# merge_rounds). With one run each, minutes apart, hardneg's inserts on 2 threads came
# out between 1.14× and 1.50× hnswlib's over the ten make bench runs before this.
COMPARED = ["hardneg", "hardneg-float", "hnswlib"]
INDEX_ROUNDS = int(os.environ.get("BENCH_INDEX_ROUNDS") or 3)


def median_entry(entries: list[dict], key: str) -> dict:
    """The entry whose key is the median (the lower middle one of an even count)."""
    ok = sorted(entries, key=lambda e: e[key])
    return ok[(len(ok) - 1) // 2]


def merge_rounds(rounds: list[dict]) -> dict:
    """One system's index runs (round order) as one result: the first run's fields, its
    builds and sweep points replaced by the median over the rounds (per thread count by
    inserts/s, per ef by µs/query; the lower middle one of an even count), and every
    round's builds and sweep kept in round_builds and round_sweeps (None for a failed
    round, which the medians leave out)."""
    ok = [r for r in rounds if "error" not in r]
    if len(ok) < 2:
        return ok[0] if ok else rounds[0]
    out = dict(ok[0])
    threads = [b["threads"] for b in ok[0].get("build", [])]
    out["build"] = [median_entry([b for r in ok for b in r.get("build", []) if b["threads"] == t], "inserts_per_s") for t in threads]
    efs = [p["ef"] for p in ok[0].get("sweep", [])]
    out["sweep"] = [median_entry([p for r in ok for p in r.get("sweep", []) if p["ef"] == e], "us_per_query") for e in efs]
    out["round_builds"] = [None if "error" in r else r.get("build", []) for r in rounds]
    out["round_sweeps"] = [None if "error" in r else r.get("sweep", []) for r in rounds]
    out["rounds"] = len(ok)
    return out


def ann_suite(tag: str, ddir: Path, work: Path, args, cfg: dict, systems: list[str], rounds: int = 1) -> dict:
    """Every system's index run; with rounds > 1, the COMPARED systems again in rounds
    2..rounds (build and search only), merged by merge_rounds."""
    out = {s: ann_run(tag, ddir, work, args, cfg, s, 1) for s in systems}
    compared = [s for s in COMPARED if s in systems]
    if rounds < 2 or len(compared) < 2:
        return out
    runs = {s: [out[s]] for s in compared}
    for r in range(1, rounds):
        k = r % len(compared)
        for s in compared[k:] + compared[:k]:
            runs[s].append(ann_run(tag, ddir, work, args, cfg, s, r + 1, rounds))
    for s in compared:
        out[s] = merge_rounds(runs[s])
    return out


def ann_run(tag: str, ddir: Path, work: Path, args, cfg: dict, s: str, round_: int, rounds: int = 1) -> dict:
    """One system's index run; rounds after the first time the build and the sweep only."""
    py, gob = sys.executable, str(args.go_bench)
    nq = str(cfg["nq"])
    efs = cfg.get("efs", EFS)  # the set's own sweep, else the common one
    later = round_ > 1
    f = work / (f"{tag}-{s}-r{round_}.json" if later else f"{tag}-{s}.json")
    if s == "hardneg" and later:
        cmd = [gob, "-data", str(ddir), "-system", "hardneg", "-ef", efs, "-runs", RUNS, "-queries", nq, "-out", str(f),
               "-exact-queries", "0", "-exact-batch", "0", "-mine-recall-anchors", "0", "-mine-anchors", ""]
    elif s == "hardneg":
        cmd = [gob, "-data", str(ddir), "-system", "hardneg", "-ef", efs, "-runs", RUNS, "-queries", nq, "-out", str(f),
               "-exact-queries", str(min(200, cfg["nq"])), "-mine-requests", str(cfg.get("mine_requests", 100)),
               "-cpuprofile", str(work / f"{tag}-hardneg.cpu.prof")]
        if tag != "synthetic":
            cmd += ["-mine-anchors", ""]
    elif s == "hardneg-float":
        # The same index with quantization none: the graph built and searched on floats.
        cmd = [gob, "-data", str(ddir), "-system", "hardneg", "-quantization", "none", "-ef", efs, "-runs", RUNS, "-queries", nq,
               "-out", str(f), "-exact-queries", "0", "-exact-batch", "0", "-mine-recall-anchors", "0", "-mine-anchors", ""]
    elif s == "coder":
        cmd = [gob, "-data", str(ddir), "-system", "coder", "-ef", efs, "-runs", RUNS, "-queries", nq, "-out", str(f)]
    else:
        cmd = [py, str(HERE / "ann.py"), "--system", s, "--data", str(ddir), "--ef", efs, "--runs", RUNS, "--queries", nq, "--out", str(f)]
    return run_json(f"{tag}/{s}" + (f" round {round_}/{rounds}" if later else ""), cmd, f, args.timeout)


def synthetic_set(args, n: int, nq: int) -> Path:
    """The ANN benchmark's generator (bench/ann) when present, else data.synthetic."""
    if args.generator == "ann" and (ROOT / "bench/ann").is_dir():
        return datamod.from_ann(args.data_dir / f"ann-{n}", n, nq)
    return datamod.synthetic(args.data_dir / f"synthetic-{n}", n, nq)


# The offline job's runs: hardneg with the library's defaults (sentence-transformers' pool
# of range_max + positives + 1 candidates per anchor: the same rules, so the same rows),
# hardneg searching past that pool until each anchor has its negatives
# (max_candidates=0: more work, fewer anchors short), and sentence-transformers' two paths.
OFFLINE_SYSTEMS = ["hardneg", "hardneg-deep", "st-faiss", "st-torch"]
# Each system's job runs OFFLINE_ROUNDS times, the systems alternating and each round
# starting one system later, every run in fresh processes; a system's figure is its
# median run. One run per system let whichever ran first pay for the memory the machine
# had not touched lately (the first job after the index suite ran 1.6 s slower than the
# same job right after it).
OFFLINE_ROUNDS = int(os.environ.get("BENCH_OFFLINE_ROUNDS") or 3)


def offline_cmd(system: str, ddir: Path, anchors: int, args, out: Path) -> list[str]:
    cmd = [sys.executable, str(HERE / "offline.py"), "--system", system.removesuffix("-deep"), "--data", str(ddir),
           "--anchors", str(anchors), "--server", str(args.server), "--out", str(out)]
    return cmd + (["--max-candidates", "0"] if system.endswith("-deep") else [])


def offline_suite(tag: str, ddir: Path, anchors: int, work: Path, args) -> dict:
    """The offline job of every system in alternating rounds; each system's median run,
    with every round's wall time in "round_seconds" (in the order they ran)."""
    runs: dict[str, list[dict]] = {s: [] for s in OFFLINE_SYSTEMS}
    for r in range(OFFLINE_ROUNDS):
        k = r % len(OFFLINE_SYSTEMS)
        for system in OFFLINE_SYSTEMS[k:] + OFFLINE_SYSTEMS[:k]:
            f = work / f"{tag}-offline-{system}-r{r + 1}.json"
            runs[system].append(run_json(f"{tag}/offline-{system} round {r + 1}/{OFFLINE_ROUNDS}",
                                         offline_cmd(system, ddir, anchors, args, f), f, args.timeout))
    out: dict = {}
    for system, rs in runs.items():
        ok = sorted((x for x in rs if "seconds" in x), key=lambda x: x["seconds"])
        if not ok:
            out[system] = rs[-1]
            continue
        med = dict(ok[(len(ok) - 1) // 2])
        med["round_seconds"] = [x.get("seconds") for x in rs]
        med["rounds"] = len(rs)
        out[system] = med
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["full", "quick"], default="full")
    ap.add_argument("--large", action="store_true", help="also the 1M-vector subset (index systems only)")
    ap.add_argument("--only-large", action="store_true", help="only the 1M-vector subset")
    ap.add_argument("--large-systems", default="hardneg,hnswlib,faiss-flat,faiss-hnsw",
                    help="the systems of the 1M-vector subset (comma-separated)")
    ap.add_argument("--no-real", action="store_true", help="skip the real sentence-embedding set")
    ap.add_argument("--server", type=Path, default=ROOT / "bin/miner-server")
    ap.add_argument("--go-bench", type=Path, default=ROOT / "bin/hardneg-bench")
    ap.add_argument("--data-dir", type=Path, default=Path(os.environ.get("BENCH_DATA_DIR") or ROOT / "bench/out/data"))
    ap.add_argument("--generator", choices=["ann", "builtin"], default="ann",
                    help="synthetic data: bench/ann's generator (default, when present) or bench/py/data.py's")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--timeout", type=float, default=3600)
    args = ap.parse_args()
    cfg = MODES[args.mode]
    work = args.out.parent
    work.mkdir(parents=True, exist_ok=True)
    started = time.time()
    results: dict = {"mode": args.mode, "machine": machine(), "load_start": loadavg(), "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                     "config": cfg, "runs": int(RUNS), "sets": {}, "argv": ["bench/py/run.py", *sys.argv[1:]]}
    index_systems = ["hardneg", "hardneg-float", "hnswlib", "faiss-flat", "faiss-hnsw", "coder"]
    if not args.only_large:
        ddir = synthetic_set(args, cfg["n"], cfg["nq"])
        s = {"data": json.loads((ddir / "meta.json").read_text())}
        s["index"] = ann_suite("synthetic", ddir, work, args, cfg, index_systems, INDEX_ROUNDS)
        f = work / "synthetic-e2e.json"
        s["e2e"] = run_json("synthetic/e2e", [sys.executable, str(HERE / "e2e.py"), "--server", str(args.server), "--data", str(ddir),
                                              "--ef", EFS, "--queries", str(cfg["nq"]), "--mine-requests", str(cfg["mine_requests"]),
                                              "--profile", str(work / "synthetic-e2e-server.cpu.prof"), "--out", str(f)], f, args.timeout)
        s["offline"] = offline_suite("synthetic", ddir, cfg["offline_anchors"], work, args)
        results["sets"]["synthetic"] = s
        if not args.no_real:
            try:
                rdir = datamod.real(args.data_dir / f"real-{cfg['real_pairs']}", cfg["real_pairs"], cfg["nq"], args.data_dir / "cache")
                r = {"data": json.loads((rdir / "meta.json").read_text())}
                r["index"] = ann_suite("real", rdir, work, args, cfg, index_systems, INDEX_ROUNDS)
                r["offline"] = offline_suite("real", rdir, cfg["nq"], work, args)
                results["sets"]["real"] = r
            except Exception as e:  # noqa: BLE001
                log(f"!! real set failed: {e}")
                results["sets"]["real"] = {"error": str(e)}
    if args.large or args.only_large:
        lc = MODES["large"]
        ddir = synthetic_set(args, lc["n"], lc["nq"])
        results["sets"]["large"] = {"data": json.loads((ddir / "meta.json").read_text()),
                                    "index": ann_suite("large", ddir, work, args, dict(lc, mine_requests=100),
                                                       args.large_systems.split(","))}
    results["load_end"] = loadavg()
    results["seconds"] = time.time() - started
    args.out.write_text(json.dumps(results, indent=1))
    log(f"results written to {args.out} after {results['seconds']:.0f}s")


if __name__ == "__main__":
    main()
