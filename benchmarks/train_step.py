"""OLR training step vs its lower bound, and synthfaces generation vs consumption.

The lower bound of one OLR step is the work it cannot avoid: the classifier's
forward pass on the 2B occluded images plus the encoder's forward and backward
pass on the same 2B images. The OLR step adds occlusion, the target product,
the pair dot products, the loss, the optimizer update and the metrics.

Both are timed as compiled `tf.function`s on the same in-memory batch,
interleaved, after warm-up; the median of the repeats is reported.

Usage (about 1-2 minutes on 2 CPU cores):
    python benchmarks/train_step.py [--batch-pairs 64] [--image-size 64] [--repeats 20]
Last line: `step_over_lower_bound=<r> generation_over_consumption=<r>`.
"""

from __future__ import annotations

import argparse
import time

import keras
import numpy as np
import tensorflow as tf

from kerasolr import config as cfg
from kerasolr.data import synthfaces
from kerasolr.models import OLRModel, build_classifier, build_encoder


def seconds(fn) -> float:
    """Wall time of one call."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-pairs", type=int, default=cfg.demo().siamese.batch_pairs)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--generation-images", type=int, default=4096)
    args = parser.parse_args()

    config = cfg.demo()
    num_labels, size, b = len(synthfaces.ATTRIBUTES), args.image_size, args.batch_pairs
    keras.utils.set_random_seed(0)
    classifier = build_classifier(num_labels, size, config.classifier.filters,
                                  config.classifier.dense_units)
    encoder = build_encoder(num_labels, config.siamese.k, size, config.siamese.filters)
    model = OLRModel(encoder, classifier, occlusion="rectangle", occlusion_rate=1.0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    pairs = tf.constant(synthfaces.generate(0, 2 * b, image_size=size)["image"].reshape(
        b, 2, size, size, 3))
    images = tf.reshape(pairs, (2 * b, size, size, 3))

    step = tf.function(model.train_step)

    @tf.function
    def lower_bound(x):
        probs = classifier(x, training=False)
        with tf.GradientTape() as tape:
            embeddings = encoder(x, training=True)
            loss = tf.reduce_mean(tf.square(embeddings))
        grads = tape.gradient(loss, encoder.trainable_variables)
        return probs, grads

    for _ in range(3):
        step(pairs)
        lower_bound(images)
    step_times, bound_times = [], []
    for _ in range(args.repeats):  # interleaved, so background load hits both alike
        step_times.append(seconds(lambda: step(pairs)))
        bound_times.append(seconds(lambda: lower_bound(images)))
    step_s, bound_s = float(np.median(step_times)), float(np.median(bound_times))
    ratio = step_s / bound_s
    consumption = 2 * b / step_s
    print(f"OLR step ({b} pairs, {size}x{size}, k={config.siamese.k}): {step_s * 1000:.1f} ms")
    print(f"lower bound (classifier fwd + encoder fwd/bwd on {2 * b} images): "
          f"{bound_s * 1000:.1f} ms")
    print(f"training consumes {consumption:.0f} images/s")

    n = args.generation_images
    ds = synthfaces.make_dataset(0, n, image_size=size).batch(256)
    for _ in ds.take(2):
        pass  # warm-up: trace the generator functions
    start = time.perf_counter()
    count = sum(int(batch["image"].shape[0]) for batch in ds)
    generation = count / (time.perf_counter() - start)
    print(f"synthfaces generates {generation:.0f} images/s at {size}x{size} ({count} images)")
    print(f"step_over_lower_bound={ratio:.3f} "
          f"generation_over_consumption={generation / consumption:.2f}")


if __name__ == "__main__":
    main()
