"""The offline mining job: anchors with one known positive each against a corpus,
sentence-transformers' ``mine_hard_negatives`` (``use_faiss`` on or off) against
hardneg's mirror of it (``hardneg.datasets.mine_hard_negatives`` with a miner-server),
both fed the same precomputed embeddings, with ST's parameters
``relative_margin=0.05, range_max=50, num_negatives=5`` and triplet output. hardneg runs
with its defaults, which take sentence-transformers' pool (the best range_max +
positives + 1 candidates per anchor by embedding) and so return its rows;
``--max-candidates 0`` lets it search past that pool until each anchor has its negatives.

One job per process, so peak resident memory is the job's own; for hardneg it is the
client's peak plus the server's.

    python bench/py/offline.py --system st-faiss|st-torch|hardneg --data DIR --anchors 10000 [--server BIN] [--max-candidates 0]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

import data as datamod
from common import emit, log, proc_status

PARAMS = dict(relative_margin=0.05, range_max=50, num_negatives=5)


def job_data(d: dict, n_anchors: int, seed: int = 11):
    """Anchors near distinct random corpus items (their positives), deterministic.

    For a real data set, the anchors are the summaries already in the data set and the
    positive of each is its own docstring body."""
    base = np.ascontiguousarray(d["base"])
    n, dim = base.shape
    if d["meta"].get("kind") == "real":
        pos = np.fromfile(Path(d["dir"]) / "positives.i32", dtype="<i4")[:n_anchors]
        anchors = np.ascontiguousarray(d["queries"][: len(pos)])
    else:
        rng = np.random.default_rng([seed, n])
        pos = rng.choice(n, size=min(n_anchors, n), replace=False)
        anchors = base[pos] + 0.03 * rng.standard_normal((len(pos), dim), dtype=np.float32)
        anchors /= np.linalg.norm(anchors, axis=1, keepdims=True)
    a_texts = [f"a{j}" for j in range(len(pos))]
    c_texts = [f"d{i}" for i in range(n)]
    p_texts = [c_texts[int(p)] for p in pos]
    return base, anchors.astype(np.float32), a_texts, p_texts, c_texts


class PrecomputedModel:
    """Stands in for a SentenceTransformer: returns stored embeddings for known texts."""

    def __init__(self, texts: list[str], vectors: np.ndarray):
        self.row = {t: i for i, t in enumerate(texts)}
        self.vectors = vectors
        import torch

        self.device = torch.device("cpu")

    def encode(self, sentences, convert_to_tensor: bool = False, **kw):
        single = isinstance(sentences, str)
        rows = [self.row[s] for s in ([sentences] if single else sentences)]
        out = self.vectors[rows]
        if convert_to_tensor:
            import torch

            out = torch.from_numpy(out)
        return out[0] if single else out

    encode_query = encode
    encode_document = encode

    def get_embedding_dimension(self) -> int:
        return int(self.vectors.shape[1])

    get_sentence_embedding_dimension = get_embedding_dimension

    def similarity(self, a, b):
        import torch

        return torch.as_tensor(a) @ torch.as_tensor(b).T

    def similarity_pairwise(self, a, b):
        import torch

        return (torch.as_tensor(a) * torch.as_tensor(b)).sum(-1)


class CallableModel:
    """hardneg's mirror takes any callable from texts to vectors."""

    def __init__(self, texts: list[str], vectors: np.ndarray):
        self.row = {t: i for i, t in enumerate(texts)}
        self.vectors = vectors

    def __call__(self, texts):
        return self.vectors[[self.row[t] for t in texts]]


def count(rows, anchor_col: str, n_anchors: int, k: int) -> tuple[int, int]:
    per = Counter(rows[anchor_col])
    found = sum(per.values())
    short = n_anchors - sum(1 for v in per.values() if v >= k)
    return found, short


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--system", required=True, choices=["st-faiss", "st-torch", "hardneg"])
    ap.add_argument("--data", required=True)
    ap.add_argument("--anchors", type=int, default=10000)
    ap.add_argument("--server")
    ap.add_argument("--out")
    ap.add_argument("--max-candidates", type=int, default=None,
                    help="hardneg only: the policy's max_candidates (default: the library's, sentence-transformers' pool "
                         "of range_max + positives + 1 per anchor; 0: search past it until each anchor has its negatives)")
    a = ap.parse_args()
    d = datamod.load(Path(a.data))
    d["dir"] = a.data
    base, anchors, a_texts, p_texts, c_texts = job_data(d, a.anchors)
    texts = a_texts + c_texts
    vectors = np.concatenate([anchors, base])
    import datasets

    ds = datasets.Dataset.from_dict({"anchor": a_texts, "positive": p_texts})
    res = {"system": a.system, "anchors": len(a_texts), "corpus": len(c_texts), "params": PARAMS}
    if a.system.startswith("st-"):
        import sentence_transformers
        from sentence_transformers.util import mine_hard_negatives

        model = PrecomputedModel(texts, vectors)
        res["baseline_rss_bytes"] = proc_status("VmRSS")
        t0 = time.perf_counter()
        out = mine_hard_negatives(ds, model, corpus=c_texts, use_faiss=a.system == "st-faiss", output_format="triplet",
                                  batch_size=1024, verbose=False, **PARAMS)
        res["seconds"] = time.perf_counter() - t0
        res["peak_rss_bytes"] = proc_status("VmHWM")
        res["version"] = sentence_transformers.__version__
        res["params"] = PARAMS
        res["negatives_found"], res["anchors_short"] = count(out, "anchor", len(a_texts), PARAMS["num_negatives"])
    else:
        import hardneg
        from hardneg.datasets import mine_hard_negatives

        from e2e import server

        model = CallableModel(texts, vectors)
        extra = {} if a.max_candidates is None else {"max_candidates": a.max_candidates}
        res["max_candidates"] = "default" if a.max_candidates is None else a.max_candidates
        with server(a.server) as (proc, client, _):
            pid = str(proc.pid)
            res["baseline_rss_bytes"] = proc_status("VmRSS") + proc_status("VmRSS", pid)
            t0 = time.perf_counter()
            out = mine_hard_negatives(ds, model, corpus=c_texts, output_format="triplet", mine_batch_size=1024, client=client,
                                      verbose=False, batch_size=1024, **PARAMS, **extra)
            res["seconds"] = time.perf_counter() - t0
            res["server_peak_rss_bytes"] = proc_status("VmHWM", pid)
            res["client_peak_rss_bytes"] = proc_status("VmHWM")
            res["peak_rss_bytes"] = res["server_peak_rss_bytes"] + res["client_peak_rss_bytes"]
        res["version"] = hardneg.__version__ if hasattr(hardneg, "__version__") else "main"
        res["params"] = PARAMS
        res["negatives_found"], res["anchors_short"] = count(out, "anchor", len(a_texts), PARAMS["num_negatives"])
    log(f"offline {a.system}: {res['seconds']:.1f}s, peak RSS {res['peak_rss_bytes'] / 2**20:.0f} MiB, "
        f"{res['negatives_found']} negatives, {res['anchors_short']} anchors short")
    emit(res, a.out)


if __name__ == "__main__":
    main()
