"""Embedding throughput: the exported SavedModel's `embed` against Keras' `model.predict`.

Exports RUN_DIR (to a temporary folder), reloads it with `tf.saved_model.load`
and, for each batch size, times calls of the `embed` signature against
`encoder.predict(batch, batch_size=b)` of the Keras encoder loaded from
`encoder.keras` (and, for reference, the encoder called in a `tf.function`),
on the same random images, in the same process, alternating rounds so all see
the same machine state. Each round runs for at least
`--seconds`; the median of `--rounds` rounds is kept. The outputs are checked
to agree (max |diff| <= 1e-5) before anything is timed.

    python benchmarks/serving.py [RUN_DIR] [--batch-sizes 1,8,64] [--rounds 5] [--seconds 2]

Last line: `savedmodel_over_keras_b1=<r> b8=<r> b64=<r>` (images/s of the
SavedModel over images/s of `model.predict`; the issue's target: >= 0.9).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import tensorflow as tf

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
        ratios = {}
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
            ratios[b] = median["savedmodel"] / median["keras"]
            print(f"b={b}: savedmodel {median['savedmodel']:.1f} images/s, keras predict "
                  f"{median['keras']:.1f} images/s, ratio {ratios[b]:.2f}; for reference the "
                  f"encoder called in a tf.function {median['call']:.1f} images/s "
                  f"(max |diff| {diff:.1e})", flush=True)
    print("savedmodel_over_keras_" + " ".join(f"b{b}={r:.2f}" for b, r in ratios.items()))


if __name__ == "__main__":
    main()
