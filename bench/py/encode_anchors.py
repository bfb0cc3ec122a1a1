"""How long the Python client takes to build a Mine request: its anchors checked
(``AnchorBlock``), as rows (one ``Anchor`` message each) or as ``AnchorColumns``, and
the request serialised. Raw 384-d vectors, one positive id and a key per anchor; the
mean of --repeats builds per anchor count.

    python bench/py/encode_anchors.py --anchors 32,256,1024
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hardneg import _codec as codec
from hardneg.v1 import hardneg_pb2 as pb


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--anchors", default="32,256,1024")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--repeats", type=int, default=50)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    print("| anchors | rows ms | columns ms |")
    print("|---|---|---|")
    for n in (int(x) for x in a.anchors.split(",")):
        q = rng.standard_normal((n, a.dim)).astype(np.float32)
        pos = [[f"d{i}"] for i in range(n)]
        keys = [f"q{i}" for i in range(n)]

        def rows() -> bytes:
            return pb.MineRequest(anchors=codec.AnchorBlock(anchor_vectors=q, positive_ids=pos, keys=keys).rows(0, n)).SerializeToString()

        def columns() -> bytes:
            block = codec.AnchorBlock(anchor_vectors=q, positive_ids=pos, keys=keys)
            return pb.MineRequest(anchor_columns=block.columns(0, n)).SerializeToString()

        ms = []
        for build in (rows, columns):
            t0 = time.perf_counter()
            for _ in range(a.repeats):
                build()
            ms.append((time.perf_counter() - t0) / a.repeats * 1e3)
        print(f"| {n:,} | {ms[0]:.2f} | {ms[1]:.2f} |")


if __name__ == "__main__":
    main()
