"""The Siamese step with `siamese.clean_targets_once`, against the step that runs the
classifier on every image (issue 17), measured in one run.

The demo's Siamese step (its classifier and encoder, 64 px, 16 labels, 32
pairs), compiled as `fit` compiles it, on one in-memory batch of synthfaces
pairs: computing every target (the default) and with the clean images'
probabilities given (the classifier runs only on the occluded ones), at the
demo's occlusion on half of the images and without occlusion (the ablation's
`no_occlusion` / `temperature` rows). Steps are timed alternately after
warm-up; the median of `--repeats` is kept. The one-off pass that computes
the targets (`run.clean_targets`: the classifier's forward on every training
image) is timed too and charged against the epochs of the demo.

Usage (about 2 minutes on 2 cores):
    python benchmarks/clean_targets.py [--repeats 30]
Last line: `speedup_rate_0.5=<r> speedup_none=<r> net_demo_siamese=<r>` (step time
without / with; the demo's Siamese stage including the one-off pass).
"""

from __future__ import annotations

import argparse
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

from kerasolr import config as cfg
from kerasolr import run
from kerasolr.data import synthfaces
from kerasolr.models import OLRModel, build_classifier, build_encoder


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    config = cfg.demo()
    s, size, num_labels = config.siamese, config.data.image_size, len(synthfaces.ATTRIBUTES)
    b = s.batch_pairs
    keras.utils.set_random_seed(0)
    classifier = build_classifier(num_labels, size, config.classifier.filters,
                                  config.classifier.dense_units)
    encoder = build_encoder(num_labels, s.k, size, s.filters)
    generated = synthfaces.generate(0, 2 * b, image_size=size)["image"]
    pairs = tf.constant((generated * 255).round().astype(np.uint8).reshape(b, 2, size, size, 3))
    clean = tf.reshape(classifier(tf.cast(tf.reshape(pairs, (2 * b, size, size, 3)),
                                          tf.float32) / 255.0, training=False), (b, 2, -1))
    summary = {}
    for name, occlusion, rate in (("rate_0.5", "rectangle", s.occlusion_rate),
                                  ("none", "none", 1.0)):
        model = OLRModel(encoder, classifier, occlusion=occlusion, occlusion_rate=rate)
        model.compile(optimizer=keras.optimizers.Adam(1e-4))
        step = tf.function(model.train_step)
        def every(step=step):
            return step(pairs)["loss"].numpy()

        def once(step=step):
            return step((pairs, clean))["loss"].numpy()

        for fn in (every, once, every, once):
            fn()
        times = {"every": [], "once": []}
        for _ in range(args.repeats):
            times["every"].append(median_ms(every, 1))
            times["once"].append(median_ms(once, 1))
        ms = {key: statistics.median(value) for key, value in times.items()}
        summary[f"speedup_{name}"] = ms["every"] / ms["once"]
        print(f"{name}: every target {ms['every']:.1f} ms a step, clean targets once "
              f"{ms['once']:.1f} ms ({ms['every'] / ms['once']:.2f}x)", flush=True)
        if name == "rate_0.5":
            demo_ms = ms

    n = 4096
    images = (synthfaces.generate(0, n, image_size=size)["image"] * 255).round().astype(np.uint8)
    ds = tf.data.Dataset.from_tensor_slices({"image": images,
                                             "id": np.arange(n, dtype=np.int64)})
    run.clean_targets(classifier, ds.take(256))       # warm-up (tracing)
    start = time.perf_counter()
    run.clean_targets(classifier, ds)
    per_image = (time.perf_counter() - start) / n
    train = config.data.num_train
    steps = s.epochs * (train // (2 * b))
    before = steps * demo_ms["every"] / 1000
    after = steps * demo_ms["once"] / 1000 + train * per_image
    print(f"one-off pass: {1000 * per_image:.2f} ms an image ({train * per_image:.0f} s for the "
          f"demo's {train}); demo Siamese steps {before:.0f} s -> {after:.0f} s with it",
          flush=True)
    summary["net_demo_siamese"] = before / after
    print(" ".join(f"{key}={value:.2f}" for key, value in summary.items()))


if __name__ == "__main__":
    main()
