"""Decode work per worker at N = 1, 2 and 4 workers (issue 17), real 178x218 CelebA JPEGs.

N processes on 127.0.0.1 form one `MultiWorkerMirroredStrategy` cluster
(`TF_CONFIG`, as `kerasolr train` under several workers). Each builds the
classifier's training input exactly as `kerasolr.run` does for image files
without a cache (`pipeline.training_split` -> `pipeline.classifier_batches`
with the strategy) and reads one epoch of it: the images it decodes are
counted (every call of `FileRecords.decode`) and the CPU time of the process
during the epoch is measured (`resource.getrusage`, user + system: the
`tf.data` threads included, so it stays a fair measure of work when the N
processes share the 2 cores here). The same is done with the input every
worker read before (`--mode all`: the whole global batch decoded by every
worker, each keeping its slice through `DATA` auto-sharding).

Usage (about 2 minutes on 2 cores):
    python benchmarks/worker_decode.py [--root ../shared/data/celeba-178-train-4k]
        [--images 1536] [--workers 1 2 4] [--size 178]
Last line: `decode_share_2=<r> decode_share_4=<r>` (images each worker decodes,
as a fraction of what one process decodes; 1/N is the target).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys

BATCH = 64


def worker(args) -> None:
    """One worker: reads one epoch, prints a JSON line of what it did."""
    from kerasolr.distribute import strategy_from_environment

    strategy = strategy_from_environment()
    import resource

    import tensorflow as tf

    from kerasolr.config import DataConfig
    from kerasolr.data import pipeline

    decoded = []
    original = pipeline.FileRecords.decode

    def counting(self, record):
        element = original(self, record)
        element["id"] = tf.py_function(lambda i: decoded.append(1) or i, [element["id"]],
                                       tf.int64)
        return element

    pipeline.FileRecords.decode = counting
    data = DataConfig(dataset="celeba", root=args.root, image_size=args.size, cache="none",
                      split_mode="official", num_train=args.images)
    files, _ = pipeline.training_split(data, "/tmp", seed=0)
    if args.mode == "all":      # every worker decodes every image, keeps its slice
        ds = pipeline.for_fit(files.decoded().batch(BATCH, drop_remainder=True)
                              .map(lambda b: b["image"]))
        ds = strategy.experimental_distribute_dataset(ds)
    else:
        ds = pipeline.classifier_batches(files, BATCH, strategy=strategy)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    start = usage.ru_utime + usage.ru_stime
    rows = 0
    for batch in ds:
        first = batch[0] if isinstance(batch, tuple) else batch
        rows += sum(int(x.shape[0]) for x in strategy.experimental_local_results(first))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"decoded": len(decoded), "rows": rows,
                      "cpu_s": usage.ru_utime + usage.ru_stime - start}), flush=True)


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def cluster(n: int, args, mode: str) -> list[dict]:
    workers = [f"127.0.0.1:{port}" for port in free_ports(n)]
    procs = []
    for i in range(n):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        env.pop("TF_CONFIG", None)
        if n > 1:
            env["TF_CONFIG"] = json.dumps({"cluster": {"worker": workers},
                                           "task": {"type": "worker", "index": i}})
        procs.append(subprocess.Popen(
            [sys.executable, __file__, "--worker", "--mode", mode, "--root", args.root,
             "--images", str(args.images), "--size", str(args.size)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=900)
        if proc.returncode:
            raise SystemExit(err[-3000:])
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data",
        "celeba-178-train-4k"))
    parser.add_argument("--images", type=int, default=1536)
    parser.add_argument("--size", type=int, default=178)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--mode", default="split", choices=["split", "all"])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if not os.path.isdir(os.path.join(args.root, "img_align_celeba")):
        raise SystemExit(f"no CelebA images under {args.root}; pass --root")
    print("| workers | input | images decoded per worker | rows trained per worker | "
          "CPU s per worker | decode share |\n|---|---|---|---|---|---|", flush=True)
    base = None
    summary = {}
    for n in args.workers:
        for mode in (["split"] if n == 1 else ["all", "split"]):
            results = cluster(n, args, mode)
            decoded = [r["decoded"] for r in results]
            cpu = [r["cpu_s"] for r in results]
            if n == 1:
                base = decoded[0]
            share = max(decoded) / base
            label = "every worker decodes all (before)" if mode == "all" else "own rows (now)"
            if n == 1:
                label = "one process"
            print(f"| {n} | {label} | {', '.join(map(str, decoded))} | "
                  f"{', '.join(str(r['rows']) for r in results)} | "
                  f"{', '.join(f'{c:.1f}' for c in cpu)} | {share:.3f} |", flush=True)
            if mode == "split" and n > 1:
                summary[f"decode_share_{n}"] = share
    print(" ".join(f"{key}={value:.3f}" for key, value in summary.items()))


if __name__ == "__main__":
    main()
