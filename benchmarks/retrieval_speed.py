"""Exact search speed: one query against a 100,000-item gallery on CPU.

    python benchmarks/retrieval_speed.py [--gallery 100000] [--dims 256,16] [--top 16]

Prints the median seconds of 5 queries (after one warm-up) per vector size:
256 = a whole 16 x 16 embedding, 16 = one label's slot.
"""

import argparse
import statistics
import time

import numpy as np

from kerasolr import retrieval

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--gallery", type=int, default=100_000)
parser.add_argument("--dims", default="256,16")
parser.add_argument("--top", type=int, default=16)
args = parser.parse_args()
rng = np.random.default_rng(0)
for d in (int(v) for v in args.dims.split(",")):
    gallery = rng.normal(size=(args.gallery, d)).astype(np.float32)
    query = rng.normal(size=(1, d)).astype(np.float32)
    retrieval.search(query, gallery, args.top)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        retrieval.search(query, gallery, args.top)
        times.append(time.perf_counter() - start)
    print(f"gallery={args.gallery} d={d} top={args.top}: {statistics.median(times):.4f} s")
