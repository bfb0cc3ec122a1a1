"""How much recall a compact code keeps as the first filter of an exact re-ranking.

For each data set (bench/py/data.py's format) and each code, every base vector is scored
against every query through the code alone; the best N by code score are re-ranked with
the float vectors, and recall@10 is the share of the exact top 10 among those N (an
exact re-ranking of a superset of the top 10 returns it). The smallest N reaching recall
0.98 is the re-ranking a search on that code must pay for to meet the index target.

Codes (the query stays float unless the name says otherwise):

* ``int8``: hardneg's code (vec.Int8Codes): per vector, scale max|x|/127, rounded.
* ``int8-q8``: the same with the query quantized the same way, as the graph walk scores.
* ``int4``: the same scheme at 4 bits: scale max|x|/7, codes in [−7, 7].
* ``int4-dim``: 4 bits per dimension between that dimension's min and max over the base
  (16 levels; trained parameters, as faiss's SQ4).
* ``binary``: the sign of each coordinate, scored against the float query.
* ``binary-sym``: signs on both sides (Hamming distance, as a popcount kernel scores).

This is an exhaustive scan: it shows what the code loses, not what a graph walk on it
costs. Usage: ``bench/.venv/bin/python bench/py/codes_study.py DIR [DIR ...] [--out F]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data as datamod  # noqa: E402

NS = (10, 20, 40, 80, 160, 320, 640, 1280, 2560)
TARGET = 0.98
# Bytes per vector of each code at dimension d (scales as float32, as stored).
BYTES = {
    "int8": lambda d: d + 4,
    "int8-q8": lambda d: d + 4,
    "int4": lambda d: (d + 1) // 2 + 4,
    "int4-dim": lambda d: (d + 1) // 2,
    "binary": lambda d: (d + 7) // 8,
    "binary-sym": lambda d: (d + 7) // 8,
}


def sym_quantize(x: np.ndarray, levels: int) -> np.ndarray:
    """Per-row symmetric quantization to integers in [−levels, levels], dequantized."""
    scale = (np.abs(x).max(axis=1, keepdims=True) / levels).astype(np.float32)
    scale[scale == 0] = 1
    return np.clip(np.rint(x / scale), -levels, levels) * scale


def dim_quantize(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, bits: int) -> np.ndarray:
    """Per-dimension uniform quantization between lo and hi, dequantized to cell centres."""
    cells = (1 << bits) - 1
    step = np.where(hi > lo, (hi - lo) / cells, 1).astype(np.float32)
    return (np.clip(np.rint((x - lo) / step), 0, cells) * step + lo).astype(np.float32)


def encoded(name: str, base: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (query side, base side) whose inner products are the code's scores."""
    if name == "int8":
        return queries, sym_quantize(base, 127)
    if name == "int8-q8":
        return sym_quantize(queries, 127), sym_quantize(base, 127)
    if name == "int4":
        return queries, sym_quantize(base, 7)
    if name == "int4-dim":
        lo, hi = base.min(axis=0), base.max(axis=0)
        return queries, dim_quantize(base, lo, hi, 4)
    if name == "binary":
        return queries, np.where(base >= 0, 1, -1).astype(np.float32)
    if name == "binary-sym":
        # ±1 · ±1 summed = d − 2·Hamming: the same order as the Hamming distance.
        return np.where(queries >= 0, 1, -1).astype(np.float32), np.where(base >= 0, 1, -1).astype(np.float32)
    raise ValueError(name)


def recall_by_n(q: np.ndarray, b: np.ndarray, gt10: np.ndarray, chunk: int = 50) -> dict[int, float]:
    """recall@10 after re-ranking the best N by q·b, for each N in NS."""
    nmax = min(max(NS), b.shape[0])
    hits = {n: 0 for n in NS}
    for lo in range(0, q.shape[0], chunk):
        s = q[lo : lo + chunk] @ b.T
        part = np.argpartition(-s, nmax - 1, axis=1)[:, :nmax]
        order = np.argsort(-np.take_along_axis(s, part, 1), axis=1, kind="stable")
        ranked = np.take_along_axis(part, order, 1)
        for i, row in enumerate(ranked):
            want = gt10[lo + i]
            pos = np.flatnonzero(np.isin(row, want))  # where the true top 10 land, by code score
            for n in NS:
                hits[n] += int((pos < n).sum())
    return {n: hits[n] / (10 * q.shape[0]) for n in NS}


def study(ddir: Path, codes: list[str], nq: int) -> dict:
    d = datamod.load(ddir)
    base = np.ascontiguousarray(d["base"], dtype=np.float32)
    queries = d["queries"][:nq].astype(np.float32)
    gt10 = d["gt"][:nq, :10]
    out = {"data": ddir.name, "n": int(base.shape[0]), "dim": int(base.shape[1]), "queries": int(queries.shape[0]), "codes": {}}
    for name in codes:
        t0 = time.perf_counter()
        q, b = encoded(name, base, queries)
        r = recall_by_n(q, b, gt10)
        need = next((n for n in NS if r[n] >= TARGET), None)
        size = BYTES[name](base.shape[1])
        out["codes"][name] = {"bytes": size, "recall": {str(n): round(v, 4) for n, v in r.items()}, "n_for_target": need}
        print(f"{ddir.name} {name:10s} {size:4d} B  N for {TARGET}: {need}  "
              + " ".join(f"{n}:{r[n]:.3f}" for n in NS) + f"  ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return out


def markdown(results: list[dict]) -> str:
    head = "| data | code | bytes | " + " | ".join(f"N={n}" for n in NS) + f" | N for {TARGET} |"
    rows = [head, "|" + "---|" * (len(NS) + 4)]
    for res in results:
        for name, c in res["codes"].items():
            rows.append(f"| {res['data']} | {name} | {c['bytes']} | " + " | ".join(f"{c['recall'][str(n)]:.3f}" for n in NS)
                        + f" | {c['n_for_target'] or '> ' + str(max(NS))} |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", nargs="+", type=Path)
    ap.add_argument("--codes", default=",".join(BYTES))
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    results = [study(d, a.codes.split(","), a.queries) for d in a.data]
    print(markdown(results))
    if a.out:
        a.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
