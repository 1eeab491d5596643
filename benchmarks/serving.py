"""Embedding throughput: the exported SavedModel's `embed` against its floors.

Exports RUN_DIR (to a temporary folder), reloads it with `tf.saved_model.load`
and, for each batch size, times calls of the `embed` signature against the
same graph (the Keras encoder loaded from `encoder.keras`) called in a
`tf.function`: the floor of what serving that graph can cost, so the ratio is
the price of the SavedModel itself. The FLOP floor of the batch (the
encoder's forward FLOPs counted by TensorFlow's profiler, over the float32
matmul rate measured in this run, see `flop_floor.py`) and, for reference
only, `encoder.predict` (whose ~40 ms per-call cost makes any comparison
with it flatter the SavedModel) are printed beside. Same random images, one
process, alternating rounds so all see the same machine state; each round
runs for at least `--seconds`; the median of `--rounds` rounds is kept. The
outputs are checked to agree (max |diff| <= 1e-5) before anything is timed.

    python benchmarks/serving.py [RUN_DIR] [--batch-sizes 1,8,64] [--rounds 5] [--seconds 2]

Last line: `savedmodel_over_tf_function_b1=<r> ... savedmodel_time_over_flop_floor_b1=<r> ...`
(images/s of the SavedModel over images/s of the `tf.function`: 1 means serving adds nothing;
then the SavedModel's time per batch over the FLOP floor's).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import tensorflow as tf
from flop_floor import matmul_flops, step_flops

from kerasolr.export import export_run
from kerasolr.rundir import RunDir


def images_per_second(fn, batch: np.ndarray, seconds: float) -> float:
    calls, start = 0, time.perf_counter()
    while True:
        fn(batch)
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return calls * len(batch) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", nargs="?", default="runs/demo")
    parser.add_argument("--batch-sizes", default="1,8,64")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    sizes = [int(b) for b in args.batch_sizes.split(",")]

    run = RunDir(args.run_dir)
    s = run.read_config().data.image_size
    encoder = run.load_model("encoder")
    call = tf.function(lambda x: encoder(x, training=False), reduce_retracing=True)
    with tempfile.TemporaryDirectory() as base:
        path = export_run(args.run_dir, "bench", base=base)
        embed = tf.saved_model.load(path).signatures["embed"]
        rng = np.random.default_rng(0)
        print(f"run {args.run_dir}: {s}x{s} images, embedding {tuple(encoder.output.shape[1:])}; "
              f"{os.cpu_count()} CPUs; TensorFlow {tf.__version__}")
        fp32 = matmul_flops(2048, tf.float32, 10)
        print(f"float32 matmul {fp32 / 1e9:.1f} GFLOP/s (2048^2, all cores)")
        ratios, floors = {}, {}
        for b in sizes:
            batch = rng.random((b, s, s, 3), dtype=np.float32)
            served = embed(images=tf.constant(batch))["embedding"].numpy()
            kept = encoder.predict(batch, batch_size=b, verbose=0)
            diff = float(np.abs(served - kept).max())
            assert diff <= 1e-5, f"outputs differ by {diff}"

            def saved_model(x):
                return embed(images=tf.constant(x))["embedding"].numpy()

            def keras_predict(x, b=b):
                return encoder.predict(x, batch_size=b, verbose=0)

            def keras_call(x):
                return call(tf.constant(x)).numpy()

            rates = {"savedmodel": [], "keras": [], "call": []}
            for _ in range(args.rounds):
                rates["savedmodel"].append(images_per_second(saved_model, batch, args.seconds))
                rates["keras"].append(images_per_second(keras_predict, batch, args.seconds))
                rates["call"].append(images_per_second(keras_call, batch, args.seconds))
            median = {k: statistics.median(v) for k, v in rates.items()}
            ratios[b] = median["savedmodel"] / median["call"]
            flops = step_flops(tf.function(lambda x: encoder(x, training=False)),
                               tf.constant(batch))           # traced at this batch's shape
            floors[b] = (b / median["savedmodel"]) / (flops / fp32)
            print(f"b={b}: savedmodel {median['savedmodel']:.1f} images/s, the same graph in a "
                  f"tf.function {median['call']:.1f} images/s, ratio {ratios[b]:.2f}; "
                  f"{flops / b / 1e6:.1f} MFLOP per image, {floors[b]:.2f}x the FLOP floor; "
                  f"for reference keras predict {median['keras']:.1f} images/s "
                  f"(max |diff| {diff:.1e})", flush=True)
    print(" ".join([f"savedmodel_over_tf_function_b{b}={r:.2f}" for b, r in ratios.items()]
                   + [f"savedmodel_time_over_flop_floor_b{b}={r:.2f}"
                      for b, r in floors.items()]))


if __name__ == "__main__":
    main()
