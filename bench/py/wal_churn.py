"""The write-ahead log under churn beside idle collections (docs/OPERATIONS.md, Backup
and restore): a server on a fresh data directory, 20 idle collections of 1,000 x 64,
then CYCLES create/upsert/delete cycles of a 5,000 x 64 collection through the Python
client; prints the largest log seen (the files under data/wal, polled every 50 ms), its
size 5 s after the last cycle, and the snapshots taken in the 10 s after that (no
writes).

    PYTHONPATH=clients/python/src bench/.venv/bin/python bench/py/wal_churn.py bin/miner-server /tmp/walx/work 400
"""
import os, subprocess, sys, time, socket, threading
import numpy as np, hardneg

binary, workdir, cycles = sys.argv[1], sys.argv[2], int(sys.argv[3])
def free():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
g, h = free(), free()
os.makedirs(workdir, exist_ok=True)
srv = subprocess.Popen([binary, "-data-dir", f"{workdir}/data", "-grpc-addr", f"127.0.0.1:{g}", "-http-addr", f"127.0.0.1:{h}"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
def wal():
    tot = 0
    for root, _, files in os.walk(f"{workdir}/data/wal"):
        for f in files:
            try: tot += os.path.getsize(os.path.join(root, f))
            except OSError: pass
    return tot
peak = [0]; stop = False
def watch():
    while not stop:
        peak[0] = max(peak[0], wal()); time.sleep(0.05)
try:
    c = hardneg.Client(f"127.0.0.1:{g}", timeout=60)
    for _ in range(200):
        try: c.list_collections(); break
        except Exception: time.sleep(0.05)
    rng = np.random.default_rng(0)
    for i in range(20):
        c.create_collection(f"idle{i}", dim=64)
        c.upsert(f"idle{i}", [f"x{j}" for j in range(1000)], rng.standard_normal((1000, 64)).astype("f4"))
    t = threading.Thread(target=watch); t.start()
    x = rng.standard_normal((5000, 64)).astype("f4"); ids = [f"b{j}" for j in range(5000)]
    t0 = time.time()
    for k in range(cycles):
        c.create_collection("churn", dim=64)
        c.upsert("churn", ids, x)
        c.delete_collection("churn")
    el = time.time() - t0
    time.sleep(5)
    stop = True; t.join()
    after = wal()

    def snapshots() -> float:
        import urllib.request
        text = urllib.request.urlopen(f"http://127.0.0.1:{h}/metrics").read().decode()
        return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith("hardneg_snapshots_total{"))

    s0 = snapshots(); time.sleep(10); idle = snapshots() - s0
    print(f"cycles {cycles} in {el:.1f} s; peak WAL {peak[0]/2**20:.1f} MiB; WAL 5 s after {after/2**20:.1f} MiB; "
          f"snapshots in the next 10 s without writes: {idle:.0f}")
finally:
    srv.terminate(); srv.wait()
