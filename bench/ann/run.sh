#!/usr/bin/env bash
# Runs the ANN benchmark for hardneg's HNSW, hnswlib and coder/hnsw v0.6.1 on one
# generated data set and prints the comparison table.
#
#   bench/ann/run.sh                 # 100k × 384, 1,000 queries
#   N=20000 bench/ann/run.sh         # a quicker run
#
# hnswlib comes from PyPI (pip install hnswlib numpy); PYTHON picks the interpreter
# (default: .venv/bin/python if present, else python3). Results: bench/out/result-*.json.
set -euo pipefail
cd "$(dirname "$0")/../.."

N=${N:-100000}
DIM=${DIM:-384}
OUT=${OUT:-bench/out}
PYTHON=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}

go build -o "$OUT/ann" ./bench/ann
rm -f "$OUT"/result-*.json
"$OUT/ann" -gen -n "$N" -dim "$DIM" -out "$OUT"
"$OUT/ann" -system ours -n "$N" -dim "$DIM" -out "$OUT" >/dev/null
"$PYTHON" bench/ann/hnswlib_bench.py -n "$N" -dim "$DIM" -out "$OUT"
"$OUT/ann" -system coder -n "$N" -dim "$DIM" -out "$OUT" >/dev/null
echo
echo "## $N × $DIM, M 16, efConstruction 200, k 10, $(nproc) CPUs, load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
"$OUT/ann" -table -out "$OUT"
