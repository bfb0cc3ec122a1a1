#!/usr/bin/env bash
# The 1M-vector subset of the end-to-end comparison, for a larger machine (the 16-core
# GPU host some runs are lent; the GPU is not used). Optional; not part of CI.
#
#   bench/device.sh [OUT_DIR]          # default bench/out/device
#
# Needs: bin/hardneg-bench (make bench-bin, or it is built here when Go is present)
# and python3 with numpy for the data set. hnswlib and faiss-cpu are measured when
# importable (bench/.venv is used when it exists); otherwise only hardneg's index and
# coder/hnsw run. Build thread counts: 1, 2 and every core. Prints one JSON file per
# system into OUT_DIR and a results.json that bench/py/report.py can render:
#
#   python bench/py/report.py OUT_DIR/results.json --doc OUT_DIR/BENCHMARKS.md --plots OUT_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-bench/out/device}
N=${N:-1000000}
NQ=${NQ:-1000}
mkdir -p "$OUT"
PY=python3
[ -x bench/.venv/bin/python ] && PY=bench/.venv/bin/python
if [ ! -x bin/hardneg-bench ]; then
	go build -o bin/hardneg-bench ./bench/cmd/hardneg-bench
fi
CORES=$(nproc)
THREADS="1,2,$CORES"
DATA=bench/out/data/synthetic-$N
echo "device: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; load $(cut -d' ' -f1-3 /proc/loadavg)"
(cd bench/py && "$PY" -c "import data; from pathlib import Path; data.synthetic(Path('../../$DATA'), $N, $NQ)")
EF=10,16,32,64,128,256
./bin/hardneg-bench -data "$DATA" -system hardneg -threads "$THREADS" -ef "$EF" -exact-queries 100 \
	-mine-anchors 1,32,256 -mine-requests 200 -out "$OUT/large-hardneg.json" -cpuprofile "$OUT/large-hardneg.cpu.prof"
./bin/hardneg-bench -data "$DATA" -system coder -ef "$EF" -out "$OUT/large-coder.json" || echo "coder/hnsw failed"
for s in hnswlib faiss-hnsw faiss-flat; do
	if "$PY" -c "import ${s%%-*}" 2>/dev/null; then
		"$PY" bench/py/ann.py --system "$s" --data "$DATA" --threads "$THREADS" --ef "$EF" --out "$OUT/large-$s.json" || echo "$s failed"
	else
		echo "$s: python module not importable, skipped"
	fi
done
"$PY" - "$OUT" "$DATA" <<'PY'
import json, os, platform, sys, time
from pathlib import Path
out, data = Path(sys.argv[1]), Path(sys.argv[2])
idx = {}
for s in ("hardneg", "hnswlib", "faiss-flat", "faiss-hnsw", "coder"):
    f = out / f"large-{s}.json"
    if f.exists():
        idx[s] = json.loads(f.read_text())
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "")
load = [float(x) for x in open("/proc/loadavg").read().split()[:3]]
res = {"mode": "device", "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "seconds": 0, "load_start": load, "load_end": load,
       "machine": {"cpu": cpu, "cores": os.cpu_count(), "memory_bytes": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
                   "go": "", "python": platform.python_version()},
       "sets": {"large": {"data": json.loads((data / "meta.json").read_text()), "index": idx}}}
(out / "results.json").write_text(json.dumps(res, indent=1))
print(f"wrote {out / 'results.json'}")
PY
