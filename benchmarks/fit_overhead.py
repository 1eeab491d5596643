"""A real `fit` epoch against the sum of its steps, with and without `tf.data` autotuning.

Trains the demo's classifier stage (the demo's data, model, batch and
callbacks of a run) for a few epochs, twice in one process, alternating:
once with the pipeline as it was before issue 17 (autotuning on) and once as
kerasolr builds it now (`pipeline.lean_options`: autotuning off). For every
epoch it records the wall time from `on_epoch_begin` to `on_epoch_end`, the
sum of the step times (`on_train_batch_begin` to `on_train_batch_end`, which
on Keras's TensorFlow backend includes the wait for the batch and the host
read of the step's logs), and the gap before the first step. An epoch with
no waste outside its steps has `epoch / steps` near 1.

Usage (about 8-10 minutes on 2 CPU cores at the defaults):
    python benchmarks/fit_overhead.py [--epochs 4] [--num-train 20000]
Last line: `epoch_over_steps_before=<r> epoch_over_steps_now=<r> first_gap_before=<s>
first_gap_now=<s>` (the means over epochs after the first).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import keras
import numpy as np
import tensorflow as tf

from kerasolr import config as cfg
from kerasolr.data import pipeline
from kerasolr.training import fit_classifier


class StepClock(keras.callbacks.Callback):
    """Per epoch: wall time, summed step time and the gap before the first step."""

    def __init__(self):
        super().__init__()
        self.epochs: list[dict] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()
        self.steps = 0.0
        self.first_gap = None

    def on_train_batch_begin(self, batch, logs=None):
        self.step_start = time.perf_counter()
        if self.first_gap is None:
            self.first_gap = self.step_start - self.start

    def on_train_batch_end(self, batch, logs=None):
        self.steps += time.perf_counter() - self.step_start

    def on_epoch_end(self, epoch, logs=None):
        wall = time.perf_counter() - self.start
        self.epochs.append({"epoch": epoch + 1, "wall": round(wall, 2),
                            "steps": round(self.steps, 2),
                            "first_gap": round(self.first_gap, 2),
                            "epoch_over_steps": round(wall / self.steps, 3)})
        print(json.dumps(self.epochs[-1]), flush=True)


def fit_once(config: cfg.RunConfig, lean: bool) -> list[dict]:
    """One classifier fit; `lean=False` keeps `tf.data` autotuning on."""
    d = config.data
    keep = pipeline.lean_options
    if not lean:
        pipeline.lean_options = lambda ds: ds
    try:
        keras.utils.set_random_seed(config.seed)
        train = pipeline.load_split(d, "train", cache=True)
        batches = pipeline.classifier_batches(train, config.classifier.batch_size, config.seed,
                                              pipeline.shuffle_buffer(d))
        clock = StepClock()
        fit_classifier(config.classifier, len(pipeline.label_names(d)), d.image_size, batches,
                       None, tf.distribute.get_strategy(), seed=config.seed, callbacks=[clock],
                       verbose=0)
    finally:
        pipeline.lean_options = keep
    return clock.epochs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--num-train", type=int, default=cfg.demo().data.num_train)
    args = parser.parse_args()
    config = cfg.demo()
    config = dataclasses.replace(
        config, data=dataclasses.replace(config.data, num_train=args.num_train),
        classifier=dataclasses.replace(config.classifier, epochs=args.epochs))
    summary = {}
    for name, lean in (("before", False), ("now", True)):
        print(f"== {name}: autotuning {'off' if lean else 'on'}", flush=True)
        later = fit_once(config, lean)[1:]       # the first epoch also fills the cache
        summary[f"epoch_over_steps_{name}"] = float(np.mean([e["epoch_over_steps"]
                                                             for e in later]))
        summary[f"first_gap_{name}"] = float(np.mean([e["first_gap"] for e in later]))
    print(" ".join(f"{key}={value:.3f}" for key, value in summary.items()))


if __name__ == "__main__":
    main()
