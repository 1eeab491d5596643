"""Subprocess helper for test_multiworker.py: `run.train` on the tiny preset.

Run as a script: `multiworker_train.py RUN_DIR WEIGHTS.npz` with `TF_CONFIG`
set for a multi-worker run (or unset for the single-process reference). The
strategy comes from `TF_CONFIG` exactly as the CLI's does; the trained
classifier's and encoder's weights are written to `WEIGHTS.npz`.
"""

import sys

import numpy as np

from kerasolr.distribute import strategy_from_environment

strategy = strategy_from_environment()     # before any other TensorFlow work

from kerasolr import config as cfg  # noqa: E402
from kerasolr import run  # noqa: E402

run_dir, weights_path = sys.argv[1], sys.argv[2]
config = cfg.override(cfg.preset("tiny"), ["data.num_train=192", "data.num_test=32",
                                            "classifier.epochs=2", "siamese.epochs=2",
                                            "classifier.occlusion_rate=0.5"])
classifier, encoder = run.train(config, run_dir, strategy)
arrays = {f"classifier_{i}": w for i, w in enumerate(classifier.get_weights())}
arrays.update({f"encoder_{i}": w for i, w in enumerate(encoder.get_weights())})
np.savez(weights_path, replicas=strategy.num_replicas_in_sync, **arrays)
print("done", strategy.num_replicas_in_sync, flush=True)
