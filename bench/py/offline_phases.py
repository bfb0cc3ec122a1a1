"""The offline job by phase, repeated against one server, variants alternating.

``bench/py/offline.py`` times one job on a freshly started server, as ``make bench``
does. This runs ``--jobs`` jobs in a row against each variant's server (a server binary
and the Python client's source tree), so the first job shows what a fresh server pays
and the others what the job itself costs. Per job it reports the wall time, the time of
the upload (``Client.ingest``) and of the Mine requests (``Client.mine``) inside it, the
server's CPU time, of it system time, and its minor page faults (/proc); per variant and
round, the first job and the median of the others. ``--profile FILE`` also saves the
server's CPU profile from the second job on (FILE.VARIANT.rROUND). Same data, parameters
and hardneg defaults as offline.py.

    python bench/py/offline_phases.py --data bench/out/data/real-15000 --anchors 1000 \\
        --variant old=/tmp/miner-server-old:/tmp/w0/clients/python/src \\
        --variant new=bin/miner-server:clients/python/src --rounds 2 --jobs 12

``--ready DIR`` times instead how long each variant's server takes, started on a copy
of the data directory DIR (``mine_ab.py prepare``'s ``/tmp/ab/data``, for example),
until its /readyz answers; ``--jobs`` starts per variant and round.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent


def worker(a: argparse.Namespace) -> None:
    """One variant, one round: runs under the variant's PYTHONPATH, prints JSON."""
    import datasets
    import numpy as np

    import data as datamod
    import hardneg.client as hc
    import offline as off
    from common import proc_stat, start_profile
    from e2e import server
    from hardneg.datasets import mine_hard_negatives

    spent = {"ingest": 0.0, "mine": 0.0}

    def timed(name: str):
        fn = getattr(hc.Client, name)

        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - t0

        setattr(hc.Client, name, wrapper)

    timed("ingest")
    timed("mine")
    d = datamod.load(Path(a.data))
    d["dir"] = a.data
    base, anchors, a_texts, p_texts, c_texts = off.job_data(d, a.anchors)
    texts = a_texts + c_texts
    model = off.CallableModel(texts, np.concatenate([anchors, base]))
    ds = datasets.Dataset.from_dict({"anchor": a_texts, "positive": p_texts})
    jobs = []
    with server(a.server) as (proc, client, _):
        fetch = None
        # The jobs after the first, until the profile (when asked for) is taken.
        while len(jobs) < a.jobs or (fetch is not None and fetch.is_alive()):
            if len(jobs) == 1 and a.profile:
                fetch = start_profile(proc.http_port, a.profile_seconds, a.profile)
            spent["ingest"] = spent["mine"] = 0.0
            (cpu0, sys0, flt0), t0 = proc_stat(proc.pid), time.perf_counter()
            mine_hard_negatives(ds, model, corpus=c_texts, output_format="triplet", mine_batch_size=1024, client=client,
                                verbose=False, batch_size=1024, **off.PARAMS,
                                **({} if a.max_candidates is None else {"max_candidates": a.max_candidates}))
            cpu1, sys1, flt1 = proc_stat(proc.pid)
            jobs.append({"wall_ms": (time.perf_counter() - t0) * 1e3, "ingest_ms": spent["ingest"] * 1e3,
                         "mine_ms": spent["mine"] * 1e3, "server_cpu_ms": (cpu1 - cpu0) * 1e3,
                         "server_sys_ms": (sys1 - sys0) * 1e3, "server_faults": flt1 - flt0})
        if fetch is not None:
            fetch.join()
    print(json.dumps(jobs))


def ready_seconds(binary: str, seed: Path, timeout: float = 120) -> float:
    """Seconds from starting binary on a copy of seed until its /readyz answers."""
    from e2e import free_port

    tmp = tempfile.mkdtemp(prefix="hardneg-ready-")
    try:
        shutil.copytree(seed, Path(tmp) / "data")
        grpc_port, http_port = free_port(), free_port()
        t0 = time.perf_counter()
        proc = subprocess.Popen([binary, f"--grpc-addr=127.0.0.1:{grpc_port}", f"--http-addr=127.0.0.1:{http_port}",
                                 f"--data-dir={tmp}/data", "--log-level=warn"], stderr=subprocess.DEVNULL)
        try:
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{http_port}/readyz", timeout=1).read()
                    return time.perf_counter() - t0
                except OSError:
                    if proc.poll() is not None or time.perf_counter() - t0 > timeout:
                        raise RuntimeError(f"{binary} did not become ready")
                    time.sleep(0.01)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(a: argparse.Namespace) -> None:
    from common import parse_variants, variant_env

    variants = parse_variants(a.variant)
    for r in range(1, a.rounds + 1):
        for name, binary, src in (variants if r % 2 else variants[::-1]):
            if a.ready:
                secs = [ready_seconds(binary, Path(a.ready)) for _ in range(a.jobs)]
                print(f"round {r} {name}: ready in " + " / ".join(f"{s:.2f}" for s in secs) + " s", flush=True)
                continue
            env = variant_env(src, HERE)
            prof = ["--profile", f"{a.profile}.{name}.r{r}", "--profile-seconds", str(a.profile_seconds)] if a.profile else []
            out = subprocess.run([sys.executable, __file__, "worker", "--server", binary, "--data", a.data,
                                  "--anchors", str(a.anchors), "--jobs", str(a.jobs)] + prof
                                 + ([] if a.max_candidates is None else ["--max-candidates", str(a.max_candidates)]),
                                 env=env, check=True, capture_output=True, text=True)
            jobs = json.loads(out.stdout.strip().splitlines()[-1])
            first, rest = jobs[0], jobs[1:]

            def med(k: str) -> float:
                return statistics.median(j[k] for j in rest) if rest else float("nan")

            print(f"round {r} {name}: first job {first['wall_ms']:.0f} ms (upload {first['ingest_ms']:.0f}, mine "
                  f"{first['mine_ms']:.0f}, server CPU {first['server_cpu_ms']:.0f}, of it system "
                  f"{first['server_sys_ms']:.0f}, minor faults {first['server_faults']}); median of the next {len(rest)}: "
                  f"{med('wall_ms'):.0f} ms (upload {med('ingest_ms'):.0f}, mine {med('mine_ms'):.0f}, "
                  f"server CPU {med('server_cpu_ms'):.0f}, of it system {med('server_sys_ms'):.0f}, "
                  f"minor faults {med('server_faults'):.0f})", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd")
    w = sub.add_parser("worker")
    w.add_argument("--server", required=True)
    for p in (ap, w):
        p.add_argument("--data", required=p is w)
        p.add_argument("--anchors", type=int, default=1000)
        p.add_argument("--jobs", type=int, default=12)
        p.add_argument("--max-candidates", type=int, default=None,
                       help="the policy's max_candidates (default: the library's, sentence-transformers' pool)")
    ap.add_argument("--variant", action="append", help="NAME=SERVER[:CLIENT_SRC]")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--ready", help="time server starts on a copy of this data directory instead of jobs")
    for p in (ap, w):
        p.add_argument("--profile", help="take the server's CPU profile from the second job on (PROFILE.VARIANT.rROUND; "
                                         "the jobs go on until it is taken)")
        p.add_argument("--profile-seconds", type=int, default=8)
    a = ap.parse_args()
    if a.cmd == "worker":
        worker(a)
        return
    if not a.variant or (not a.ready and not a.data):
        ap.error("--variant, and --data unless --ready")
    run(a)


if __name__ == "__main__":
    main()
