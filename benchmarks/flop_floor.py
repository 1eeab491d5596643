"""The demo's training steps against their FLOP floor, from a machine probe run in the same process.

Machine probe: float32 and bfloat16 matmul throughput (square matmuls of
`--matmul` size, all cores), memory bandwidth (a large numpy copy) and, where
the CelebA files are found, JPEG decode time per image on one thread.

Each step is the compiled `train_step` of the demo's models, as `fit` runs
it, on one in-memory batch of the demo's size: the classifier (occlusion on),
the OLR Siamese step, the reconstruction decoder on embeddings and the
end-to-end autoencoder. Its FLOPs are counted by TensorFlow's own profiler
(`tf.compat.v1.profiler`, `float_operation`) on the traced step graph:
forward, backward and optimizer ops. Floor = FLOPs / the probe's float32
matmul FLOP/s: no step can beat it on this machine, and convolutions with
16-128 channels run well below a large matmul's rate, so a ratio of 1 is out
of reach; the ratio says how far each step is from the machine, measured in
one run, so it does not depend on the day's host speed.

Usage (about 2 minutes on 2 cores):
    python benchmarks/flop_floor.py [--repeats 10] [--matmul 2048]
Last line: `<stage>_over_floor=<r> ...` for each step.
"""

from __future__ import annotations

import argparse
import os
import time

import keras
import numpy as np
import tensorflow as tf

from kerasolr import config as cfg
from kerasolr.data import synthfaces
from kerasolr.models import OLRModel, build_classifier, build_encoder
from kerasolr.models.classifier import OccludedClassifierTrainer
from kerasolr.models.decoder import ReconstructionTrainer, build_autoencoder, decoder_from_config


def median_seconds(fn, repeats: int) -> float:
    for _ in range(2):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def matmul_flops(size: int, dtype, repeats: int) -> float:
    a = tf.random.normal((size, size), dtype=tf.float32)
    a = tf.cast(a, dtype)

    @tf.function
    def product(x):
        return tf.reduce_sum(tf.cast(tf.matmul(x, x), tf.float32))

    seconds = median_seconds(lambda: product(a).numpy(), repeats)
    return 2 * size ** 3 / seconds


def memory_bandwidth(megabytes: int = 512) -> float:
    source = np.ones(megabytes * 2 ** 20 // 8)
    target = np.empty_like(source)
    seconds = median_seconds(lambda: np.copyto(target, source), 5)
    return 2 * source.nbytes / seconds          # read + write


def jpeg_decode_ms(root: str, count: int = 300) -> float | None:
    folder = os.path.join(root, "img_align_celeba")
    if not os.path.isdir(folder):
        return None
    paths = [os.path.join(folder, n) for n in sorted(os.listdir(folder))[:count]]
    encoded = [tf.io.read_file(p) for p in paths]
    options = tf.data.Options()
    options.threading.private_threadpool_size = 1
    options.threading.max_intra_op_parallelism = 1
    ds = tf.data.Dataset.from_tensor_slices(tf.stack(encoded)).map(
        lambda e: tf.io.decode_jpeg(e, channels=3)).with_options(options)
    seconds = median_seconds(lambda: [None for _ in ds], 3)
    return 1000 * seconds / len(paths)


def step_flops(step, *args) -> int:
    graph = step.get_concrete_function(*args).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return int(tf.compat.v1.profiler.profile(graph=graph, options=options).total_float_ops)


def demo_steps(config: cfg.RunConfig):
    """`{name: (compiled step, batch)}` of the demo's four training steps."""
    size, names = config.data.image_size, synthfaces.ATTRIBUTES
    c, s, dec = config.classifier, config.siamese, config.decoder
    sample = synthfaces.generate(0, max(c.batch_size, 2 * s.batch_pairs), image_size=size)
    x = tf.constant(sample["image"])
    y = tf.constant(sample["labels"])
    keras.utils.set_random_seed(0)
    steps = {}

    classifier = build_classifier(len(names), size, c.filters, c.dense_units)
    trainer = OccludedClassifierTrainer(classifier, c.occlusion_rate)
    trainer.compile(optimizer=keras.optimizers.Adam(c.learning_rate))
    trainer.optimizer.build(classifier.trainable_variables)
    steps["classifier"] = (tf.function(trainer.train_step), ((x[:c.batch_size], y[:c.batch_size]),))

    # The OLR model freezes its classifier: give it its own, so the classifier's
    # step above keeps its backward pass.
    frozen = build_classifier(len(names), size, c.filters, c.dense_units)
    encoder = build_encoder(len(names), s.k, size, s.filters)
    olr = OLRModel(encoder, frozen, occlusion=s.occlusion, occlusion_rate=s.occlusion_rate)
    olr.compile(optimizer=keras.optimizers.Adam(s.learning_rate))
    olr.optimizer.build(encoder.trainable_variables)
    pairs = tf.reshape(x[:2 * s.batch_pairs], (s.batch_pairs, 2, size, size, 3))
    steps["siamese"] = (tf.function(olr.train_step), (pairs,))

    codes = tf.random.normal((dec.batch_size, len(names), s.k))
    decoder = decoder_from_config(dec, (len(names), s.k), size)
    reconstruct = ReconstructionTrainer(decoder, dec.alpha, dec.ssim_max_val, dec.ssim_filter_size)
    reconstruct.compile(optimizer=keras.optimizers.RMSprop(dec.learning_rate))
    reconstruct.optimizer.build(decoder.trainable_variables)
    steps["decoder"] = (tf.function(reconstruct.train_step),
                        ((codes, x[:dec.batch_size]),))

    auto = build_autoencoder(size, len(names) * s.k, s.filters,
                             decoder_from_config(dec, (len(names) * s.k,), size, "ae_decoder"))
    auto_trainer = ReconstructionTrainer(auto, dec.alpha, dec.ssim_max_val, dec.ssim_filter_size)
    auto_trainer.compile(optimizer=keras.optimizers.RMSprop(dec.learning_rate))
    auto_trainer.optimizer.build(auto.trainable_variables)
    steps["autoencoder"] = (tf.function(auto_trainer.train_step),
                            ((x[:dec.batch_size], x[:dec.batch_size]),))
    return steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--matmul", type=int, default=2048)
    parser.add_argument("--root", default=os.path.join(
        os.path.dirname(__file__), "..", "..", "shared", "data", "celeba-178-train-4k"))
    args = parser.parse_args()

    fp32 = matmul_flops(args.matmul, tf.float32, args.repeats)
    bf16 = matmul_flops(args.matmul, tf.bfloat16, args.repeats)
    bandwidth = memory_bandwidth()
    decode = jpeg_decode_ms(args.root)
    print(f"machine: float32 matmul {fp32 / 1e9:.1f} GFLOP/s, bfloat16 matmul "
          f"{bf16 / 1e9:.1f} GFLOP/s ({args.matmul}^2, all cores), memory copy "
          f"{bandwidth / 1e9:.1f} GB/s, JPEG decode "
          + ("not measured (no CelebA files)" if decode is None
             else f"{decode:.3f} ms per 178x218 image (one thread)"), flush=True)
    ratios = {}
    for name, (step, batch) in demo_steps(cfg.demo()).items():
        flops = step_flops(step, *batch)
        seconds = median_seconds(lambda s=step, b=batch: s(*b), args.repeats)
        floor = flops / fp32
        ratios[name] = seconds / floor
        print(f"{name}: {flops / 1e9:.2f} GFLOP per step, {seconds * 1000:.1f} ms, floor "
              f"{floor * 1000:.1f} ms, {ratios[name]:.2f}x the floor "
              f"({flops / seconds / 1e9:.1f} GFLOP/s)", flush=True)
    print(" ".join(f"{name}_over_floor={ratio:.2f}" for name, ratio in ratios.items()))


if __name__ == "__main__":
    main()
