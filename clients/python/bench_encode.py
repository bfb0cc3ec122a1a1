"""Measures how long the client takes to turn a 1024 × 768 float32 batch into a request
message and a response back into numpy (target: encoding under 5 ms).

    python clients/python/bench_encode.py [--n 1024] [--dim 768] [--repeat 200]

Prints the median and 90th percentile of each step in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import numpy as np
from google.protobuf.internal import api_implementation

from hardneg import _codec as codec
from hardneg.v1 import hardneg_pb2 as pb


def timeit(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    fn()  # warm up
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
    samples.sort()
    return statistics.median(samples), samples[int(0.9 * (len(samples) - 1))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--repeat", type=int, default=200)
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.n, args.dim)).astype(np.float32)
    ids = [f"doc-{i}" for i in range(args.n)]

    def encode_bytes() -> bytes:
        return np.ascontiguousarray(x, dtype="<f4").tobytes()

    def build_request() -> bytes:
        items = codec.prepare_items(ids, x)
        req = pb.UpsertRequest(collection="bench", items=items.batch(0, args.n))
        return req.SerializeToString()

    wire = build_request()

    def decode() -> np.ndarray:
        msg = pb.UpsertRequest.FromString(wire)
        return codec.decode_vectors(msg.items.vectors, msg.items.dim)

    print(f"batch {args.n} x {args.dim} float32 ({x.nbytes / 2**20:.1f} MiB), protobuf backend: "
          f"{api_implementation.Type()}, numpy {np.__version__}")
    for name, fn in [
        ("vectors -> bytes (ascontiguousarray().tobytes())", encode_bytes),
        ("ids + vectors -> serialized UpsertRequest", build_request),
        ("serialized UpsertRequest -> numpy (frombuffer)", decode),
    ]:
        med, p90 = timeit(fn, args.repeat)
        print(f"{name:<52} median {med:7.3f} ms   p90 {p90:7.3f} ms")


if __name__ == "__main__":
    main()
