"""What the feature-matching term costs the demo's three decoder stages, measured in one process.

Each variant is the compiled `ReconstructionTrainer.train_step` of one of the
demo's decoders (the OLR decoder on `L x k` codes, the probabilities-only
decoder on `L` probabilities, the end-to-end autoencoder) on one in-memory
batch of the demo's size: eq. 3 alone, eq. 3 + feature matching on the whole
batch, and + feature matching on `n` images of it for each `--feature-batch n`.
The classifier whose features are matched has the demo's architecture
(untrained: the cost does not depend on its weights). Variants are timed in
alternating rounds (`--rounds` of `--steps` steps each; medians), so a host
that slows down mid-run slows every variant alike; the figure is the ratio to
eq. 3's step.

With `--stage-seconds` (a timed demo's seconds of those stages) and
`--demo-seconds` (its wall time) it projects the demo's wall time with each
variant on all three decoders: every stage's seconds times its step ratio.
A projection, not a measurement: a stage's validation passes scale about as
its steps do (they also compute the features), its checkpoints do not.

Usage (about 3 minutes on 2 cores):
    python benchmarks/decoder_cost.py [--feature-batch 8 16] [--rounds 8] [--steps 3] \\
        [--stage-seconds decoder=111 decoder_probs=111 autoencoder=229 --demo-seconds 1148]
"""

from __future__ import annotations

import argparse
import time

import keras
import numpy as np
import tensorflow as tf

from kerasolr import config as cfg
from kerasolr.data import synthfaces
from kerasolr.models import build_classifier
from kerasolr.models.decoder import ReconstructionTrainer, build_autoencoder, decoder_from_config
from kerasolr.models.discriminator import classifier_feature_maps

STAGES = ("decoder", "decoder_probs", "autoencoder")


def decoder_steps(config: cfg.RunConfig, feature_batches: list[int]) -> dict:
    """`{(stage, variant): (compiled step, args)}` for the demo's three decoders;
    variants `eq3`, `fm` (whole batch) and `fm<n>`."""
    size, names = config.data.image_size, synthfaces.ATTRIBUTES
    c, s, dec = config.classifier, config.siamese, config.decoder
    labels = len(names)
    images = tf.constant(synthfaces.generate(0, dec.batch_size, image_size=size)["image"])
    keras.utils.set_random_seed(0)
    features = classifier_feature_maps(build_classifier(labels, size, c.filters, c.dense_units))
    inputs = {"decoder": tf.random.normal((dec.batch_size, labels, s.k)),
              "decoder_probs": tf.random.uniform((dec.batch_size, labels)),
              "autoencoder": images}
    variants = {"eq3": {}, "fm": {"features": features, "feature_weight": 1.0}}
    for n in feature_batches:
        variants[f"fm{n}"] = {"features": features, "feature_weight": 1.0, "feature_batch": n}

    def build(stage):
        if stage == "decoder":
            return decoder_from_config(dec, (labels, s.k), size)
        if stage == "decoder_probs":
            return decoder_from_config(dec, (labels,), size, "decoder_probs")
        return build_autoencoder(size, labels * s.k, s.filters,
                                 decoder_from_config(dec, (labels * s.k,), size, "ae_decoder"))

    steps = {}
    for stage in STAGES:
        for name, extras in variants.items():
            model = build(stage)
            trainer = ReconstructionTrainer(model, dec.alpha, dec.ssim_max_val,
                                            dec.ssim_filter_size, **extras)
            trainer.compile(optimizer=keras.optimizers.RMSprop(dec.learning_rate))
            trainer.optimizer.build(model.trainable_variables)
            steps[stage, name] = (tf.function(trainer.train_step), ((inputs[stage], images),))
    return steps


def time_alternately(steps: dict, rounds: int, per_round: int) -> dict:
    """`{key: median seconds a step}`, every step called once before timing."""
    for fn, args in steps.values():
        fn(*args)
    samples = {key: [] for key in steps}
    for _ in range(rounds):
        for key, (fn, args) in steps.items():
            start = time.perf_counter()
            for _ in range(per_round):
                out = fn(*args)
            float(out["loss"])                     # the step has run, not just been queued
            samples[key].append((time.perf_counter() - start) / per_round)
    return {key: float(np.median(v)) for key, v in samples.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feature-batch", type=int, nargs="*", default=[8, 16])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--stage-seconds", nargs="*", default=[],
                        help="STAGE=SECONDS of a timed demo, for the projection")
    parser.add_argument("--demo-seconds", type=float, default=None,
                        help="that demo's wall time, for the projection")
    args = parser.parse_args()
    tf.get_logger().setLevel("ERROR")        # one trace per variant is intended: no retracing notes
    config = cfg.demo()
    if any(n < 1 or n >= config.decoder.batch_size for n in args.feature_batch):
        parser.error(f"--feature-batch values must lie in 1..{config.decoder.batch_size - 1} "
                     f"(the demo's decoder batch is {config.decoder.batch_size})")
    stage_seconds = {}
    for item in args.stage_seconds:
        stage, sep, value = item.partition("=")
        if stage not in STAGES or not sep:
            parser.error(f"--stage-seconds {item!r}: expected STAGE=SECONDS, STAGE one of "
                         + ", ".join(STAGES))
        stage_seconds[stage] = float(value)

    times = time_alternately(decoder_steps(config, args.feature_batch), args.rounds, args.steps)
    variants = ["eq3", "fm"] + [f"fm{n}" for n in args.feature_batch]
    for stage in STAGES:
        base = times[stage, "eq3"]
        print(f"{stage}: " + ", ".join(
            f"{v} {times[stage, v] * 1e3:.1f} ms ({times[stage, v] / base:.2f}x)"
            for v in variants), flush=True)
    if stage_seconds and args.demo_seconds:
        for v in variants[1:]:
            extra = sum(sec * (times[stage, v] / times[stage, "eq3"] - 1)
                        for stage, sec in stage_seconds.items())
            total = args.demo_seconds + extra
            print(f"projection {v}: demo {args.demo_seconds / 60:.1f} -> {total / 60:.1f} min "
                  f"(+{extra:.0f} s on {', '.join(stage_seconds)})")
    print(" ".join(f"{stage}_{v}_ratio={times[stage, v] / times[stage, 'eq3']:.2f}"
                   for stage in STAGES for v in variants[1:]))


if __name__ == "__main__":
    main()
