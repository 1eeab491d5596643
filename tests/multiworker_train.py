"""Subprocess helper for test_multiworker.py: `run.train` on the tiny preset.

Run as a script: `multiworker_train.py RUN_DIR WEIGHTS.npz [FOLDER]` with
`TF_CONFIG` set for a multi-worker run (or unset for the single-process
reference). The strategy comes from `TF_CONFIG` exactly as the CLI's does;
the trained classifier's and encoder's weights are written to `WEIGHTS.npz`.
With `FOLDER` (a folder dataset with `labels.csv`) the run reads its image
files without a cache, and `WEIGHTS.npz` also holds `decoded`: how many
training images this process decoded.
"""

import sys

import numpy as np

from kerasolr.distribute import strategy_from_environment

strategy = strategy_from_environment()     # before any other TensorFlow work

import tensorflow as tf  # noqa: E402

from kerasolr import config as cfg  # noqa: E402
from kerasolr import run  # noqa: E402
from kerasolr.data import pipeline  # noqa: E402

run_dir, weights_path = sys.argv[1], sys.argv[2]
sets = ["data.num_train=192", "data.num_test=32", "classifier.epochs=2", "siamese.epochs=2",
        "classifier.occlusion_rate=0.5"]
decoded = []
if len(sys.argv) > 3:
    sets += ["data.dataset=folder", f"data.root={sys.argv[3]}", "data.cache=none",
             "data.train_fraction=0.8", "data.val_fraction=0.1"]
    original = pipeline.FileRecords.decode

    def counting(self, record):
        # Every call decodes one training image; count them as they happen.
        element = original(self, record)
        element["id"] = tf.py_function(lambda i: decoded.append(1) or i, [element["id"]],
                                       tf.int64)
        return element

    pipeline.FileRecords.decode = counting
config = cfg.override(cfg.preset("tiny"), sets)
classifier, encoder = run.train(config, run_dir, strategy)
arrays = {f"classifier_{i}": w for i, w in enumerate(classifier.get_weights())}
arrays.update({f"encoder_{i}": w for i, w in enumerate(encoder.get_weights())})
np.savez(weights_path, replicas=strategy.num_replicas_in_sync, decoded=len(decoded), **arrays)
print("done", strategy.num_replicas_in_sync, len(decoded), flush=True)
