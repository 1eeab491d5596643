"""A projection (not a measurement) of the paper recipe's training speed on one datacenter GPU.

No GPU with TensorFlow can be had where kerasolr is developed, so this script
counts what a step of `recipes/celeba_paper.py` asks of a device and divides
by a GPU's published peak rates:

- FLOPs: TensorFlow's own count (`tf.compat.v1.profiler`, `float_operation`)
  of the traced training steps at the recipe's shapes (178 x 178 images, L =
  38 labels, k = 32, the `paper` preset's networks, the decoder of Table 1):
  the Siamese step on 32 pairs, the classifier step on 128 images, the
  decoder step on 32 embeddings;
- bytes: every layer's output, read and written about four times in a training
  step (forward write, backward read for the input gradient and for the weight
  gradient, gradient write), at 2 bytes a value (bfloat16 activations); the
  weights are small beside them;
- a bound per step = max(FLOPs / peak FLOP/s, bytes / memory bandwidth), and
  a "typical" figure at stated fractions of both peaks (`--utilization`,
  default 0.35 of the FLOP/s, `--bandwidth-utilization`, default 0.7 of the
  bandwidth): assumptions, not measurements;
- the host: the CPU cores needed to decode the JPEGs that many pairs a second
  ask for, at the per-image decode time `benchmarks/flop_floor.py` measures
  (`--decode-ms`).

The GPU defaults are NVIDIA's published H100 SXM figures (dense bfloat16
tensor-core peak 989 TFLOP/s, HBM3 3.35 TB/s); pass others with `--tflops` and
`--tbps`.

    python benchmarks/gpu_projection.py [--utilization 0.35] [--tflops 989] [--tbps 3.35]
"""

from __future__ import annotations

import argparse
import math
import os
import sys

import keras
import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flop_floor import step_flops  # noqa: E402

from kerasolr import config as cfg  # noqa: E402
from kerasolr.models import OLRModel, build_classifier, build_encoder  # noqa: E402
from kerasolr.models.classifier import OccludedClassifierTrainer  # noqa: E402
from kerasolr.models.decoder import ReconstructionTrainer, decoder_from_config  # noqa: E402

LABELS = 38
SIZE = 178


def activation_values(model, batch: int) -> int:
    """Values written by every layer of `model` in a forward pass of `batch` inputs."""
    total = 0
    for layer in model.layers:
        for out in keras.tree.flatten(layer.output):
            total += batch * math.prod(d for d in out.shape[1:] if d is not None)
    return total


def paper_steps():
    """`{name: (compiled step, args, values touched per step, items per step)}`."""
    config = cfg.paper()
    c, s, dec = config.classifier, config.siamese, config.decoder
    keras.utils.set_random_seed(0)
    images = tf.random.uniform((c.batch_size, SIZE, SIZE, 3))
    labels = tf.cast(tf.random.uniform((c.batch_size, LABELS)) > 0.5, tf.float32)
    steps = {}

    classifier = build_classifier(LABELS, SIZE, c.filters, c.dense_units)
    trainer = OccludedClassifierTrainer(classifier, c.occlusion_rate)
    trainer.compile(optimizer=keras.optimizers.Adam(c.learning_rate))
    trainer.optimizer.build(classifier.trainable_variables)
    steps["classifier (128 images)"] = (tf.function(trainer.train_step), ((images, labels),),
                                        4 * activation_values(classifier, c.batch_size),
                                        c.batch_size)

    frozen = build_classifier(LABELS, SIZE, c.filters, c.dense_units)
    encoder = build_encoder(LABELS, s.k, SIZE, s.filters)
    olr = OLRModel(encoder, frozen, occlusion=s.occlusion, occlusion_rate=s.occlusion_rate)
    olr.compile(optimizer=keras.optimizers.Adam(s.learning_rate))
    olr.optimizer.build(encoder.trainable_variables)
    pairs = tf.reshape(images[:2 * s.batch_pairs], (s.batch_pairs, 2, SIZE, SIZE, 3))
    touched = (4 * activation_values(encoder, 2 * s.batch_pairs)
               + 2 * activation_values(frozen, 2 * s.batch_pairs))    # the classifier: forward
    steps["siamese (32 pairs)"] = (tf.function(olr.train_step), (pairs,), touched,
                                   s.batch_pairs)

    decoder = decoder_from_config(dec, (LABELS, s.k), SIZE)
    reconstruct = ReconstructionTrainer(decoder, dec.alpha, dec.ssim_max_val,
                                        dec.ssim_filter_size)
    reconstruct.compile(optimizer=keras.optimizers.RMSprop(dec.learning_rate))
    reconstruct.optimizer.build(decoder.trainable_variables)
    codes = tf.random.normal((dec.batch_size, LABELS, s.k))
    steps["decoder (32 images)"] = (tf.function(reconstruct.train_step),
                                    ((codes, images[:dec.batch_size]),),
                                    4 * activation_values(decoder, dec.batch_size),
                                    dec.batch_size)
    return steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tflops", type=float, default=989.0,
                        help="peak dense FLOP/s of the GPU, in TFLOP/s (H100 SXM bfloat16)")
    parser.add_argument("--tbps", type=float, default=3.35,
                        help="memory bandwidth in TB/s (H100 SXM)")
    parser.add_argument("--utilization", type=float, default=0.35,
                        help="fraction of the peak FLOP/s assumed for the typical figure")
    parser.add_argument("--bandwidth-utilization", type=float, default=0.7,
                        help="fraction of the memory bandwidth assumed for the typical figure")
    parser.add_argument("--decode-ms", type=float, default=0.25,
                        help="CPU ms to decode one 178x218 JPEG (flop_floor.py measures it)")
    parser.add_argument("--bytes-per-value", type=int, default=2)
    args = parser.parse_args()
    peak, bandwidth = args.tflops * 1e12, args.tbps * 1e12
    print(f"PROJECTION, not a measurement: {args.tflops:g} TFLOP/s peak, {args.tbps:g} TB/s, "
          f"typical figure at {args.utilization:.0%} of the FLOP/s and "
          f"{args.bandwidth_utilization:.0%} of the bandwidth, "
          f"{args.bytes_per_value} bytes per activation value")
    for name, (step, step_args, values, items) in paper_steps().items():
        flops = step_flops(step, *step_args)
        moved = values * args.bytes_per_value
        bound = max(flops / peak, moved / bandwidth)
        typical = max(flops / (peak * args.utilization),
                      moved / (bandwidth * args.bandwidth_utilization))
        line = (f"{name}: {flops / 1e9:.0f} GFLOP, {moved / 1e9:.2f} GB of activations; "
                f"compute {flops / peak * 1e3:.2f} ms, memory {moved / bandwidth * 1e3:.2f} ms; "
                f"bound {items / bound:,.0f}/s, typical {items / typical:,.0f}/s")
        if name.startswith("siamese"):
            pairs = items / typical
            cores = 2 * pairs * args.decode_ms / 1e3
            line += (f" (pairs); feeding it takes {2 * pairs:,.0f} JPEG decodes/s = "
                     f"{cores:.0f} CPU cores at {args.decode_ms:g} ms each; an epoch of "
                     f"the paper's 190,000 images as 95,000 pairs: {95000 / pairs:.0f} s")
        print(line, flush=True)
    print("per-step FLOPs above are float ops of the traced graphs; "
          f"numpy {np.__version__}, TensorFlow {tf.__version__}")


if __name__ == "__main__":
    main()
