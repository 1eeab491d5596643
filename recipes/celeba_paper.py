"""The paper's full CelebA setup (section 4) on one or more GPUs, or several machines.

CelebA in the official layout (`img_align_celeba/`, `list_attr_celeba.txt`,
`list_eval_partition.txt`) or TensorFlow Datasets' `celeb_a`; 178x178 square
crops (rows [20, 198) of each 178x218 face); the paper's 38 attributes; its
seeded random split (190,000 / 12,599); L = 38, k = 32; both images of a pair
occluded by one rectangle of sides 33-66%, the classifier trained on clean
images, temperature 1 (the `paper` preset); the decoder of Table 1 trained on
the frozen embeddings with alpha = 0.5 and RMSprop 1e-4.

Scale-out: every visible GPU is used (`MirroredStrategy`); with `TF_CONFIG`
naming several workers, every worker runs this same command
(`MultiWorkerMirroredStrategy`; the run directory must be on storage they all
see, and only the chief writes it). Batch sizes are global: each step splits
them over the replicas. Interrupted? Run the same command again: finished
stages are skipped and the interrupted fit resumes from its last epoch.

    python recipes/celeba_paper.py RUN_DIR --root /data/celeba [--precision mixed_bfloat16]
    python recipes/celeba_paper.py RUN_DIR --tfds [--root TFDS_DATA_DIR] [--manual-dir DIR]

Options:
    --root DIR          the CelebA folder (or, with --tfds, the TFDS data_dir)
    --tfds              read TensorFlow Datasets' celeb_a instead of the files
    --manual-dir DIR    with --tfds: the official files, to prepare celeb_a once
    --precision P       float32, mixed_float16 or mixed_bfloat16 (16-bit compute; weights
                        and losses stay float32); default: mixed_bfloat16 where a GPU is
                        visible, float32 otherwise
    --mixed-precision   the same as --precision mixed_float16 (older GPUs)
    --steps-per-execution N
                        training steps per compiled call (default 1): Keras reads the
                        logs on the host once per call, so a larger N keeps a GPU fed
    --official-split    CelebA's train / test partitions instead of the paper's split
    --epochs C S        classifier and Siamese epochs (default 10 20)
    --cache MODE        none (default: decode the JPEGs every epoch, in parallel),
                        disk (RUN_DIR/cache, ~19 GB) or memory (~19 GB of RAM)
    --store DIR         read every split from a preprocessed store (`kerasolr prepare`:
                        uint8 crops, ~19 GB for the 202,599 images, nothing decoded
                        again; 10x the per-core rate of decoding in BENCHMARKS.md);
                        written here first if absent on a single worker, which is
                        also what several workers need before they start
    --set F=V           any other config field (repeatable)
"""

import argparse
import dataclasses
import json
import os

from kerasolr.distribute import strategy_from_environment

strategy = strategy_from_environment()     # before any other TensorFlow work

import tensorflow as tf  # noqa: E402

from kerasolr import config, run  # noqa: E402
from kerasolr.data import store  # noqa: E402
from kerasolr.distribute import gpus_visible, is_chief  # noqa: E402
from kerasolr.rundir import SUMMARY_FILE, RunDir  # noqa: E402

# === Settings ===
parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("run_dir")
parser.add_argument("--root")
parser.add_argument("--tfds", action="store_true")
parser.add_argument("--manual-dir")
parser.add_argument("--precision", choices=config.PRECISIONS)
parser.add_argument("--mixed-precision", action="store_true")
parser.add_argument("--steps-per-execution", type=int, default=1)
parser.add_argument("--official-split", action="store_true")
parser.add_argument("--epochs", type=int, nargs=2, default=(10, 20),
                    metavar=("CLASSIFIER", "SIAMESE"))
parser.add_argument("--cache", default="none", choices=["none", "disk", "memory"])
parser.add_argument("--store")
parser.add_argument("--set", dest="overrides", action="append", default=[])
args = parser.parse_args()
if not args.tfds and not args.root:
    parser.error("--root is required (the CelebA folder), or use --tfds")
if args.mixed_precision and args.precision not in (None, "mixed_float16"):
    parser.error(f"--mixed-precision contradicts --precision {args.precision}")
precision = args.precision or ("mixed_float16" if args.mixed_precision
                               else "mixed_bfloat16" if gpus_visible() else "float32")

replicas = strategy.num_replicas_in_sync
settings = [
    f"data.dataset={'celeba_tfds' if args.tfds else 'celeba'}",
    "data.image_size=178", "data.num_train=1000000", "data.num_test=1000000",
    f"data.split_mode={'official' if args.official_split else 'random'}",
    f"classifier.epochs={args.epochs[0]}", f"siamese.epochs={args.epochs[1]}",
    "siamese.k=32", f"data.cache={args.cache}",
    # Global batches: 32 images (the decoder) and 32 pairs per replica.
    f"classifier.batch_size={64 * replicas}", f"siamese.batch_pairs={32 * replicas}",
    f"decoder.batch_size={32 * replicas}", "decoder.epochs=20",
    f"precision={precision}", f"steps_per_execution={args.steps_per_execution}",
]
if args.root:
    settings.append(f"data.root={os.path.abspath(args.root)}")
if args.manual_dir:
    settings.append(f"data.manual_dir={os.path.abspath(args.manual_dir)}")
if args.store:
    settings.append(f"data.store={os.path.abspath(args.store)}")
cfg = config.override(config.paper(), settings + args.overrides)
if args.store and not os.path.exists(os.path.join(args.store, store.MANIFEST)):
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        parser.error(f"--store {args.store} is not prepared; prepare it once before starting "
                     "the workers: the same command with --store on one machine, or "
                     "`kerasolr prepare --out DIR --preset paper --set ...` with these settings")
    store.prepare(dataclasses.replace(cfg.data, store=None), args.store)
# Table 1 as printed, alpha = 0.5, RMSprop 1e-4: the `paper` preset's decoder defaults.
assert (cfg.decoder.alpha, cfg.decoder.learning_rate) == (0.5, 1e-4)
print(json.dumps({"replicas": replicas, **cfg.to_dict()}, indent=1))

# === Classifier, Siamese encoder, embeddings, decoders, sections 4.1-4.5, report ===
# Every worker trains; the chief alone embeds, evaluates and writes the run directory.
run.run_all(cfg, args.run_dir, strategy)
if is_chief(strategy):
    print(open(RunDir(args.run_dir).file(SUMMARY_FILE)).read())
