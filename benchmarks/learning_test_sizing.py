"""Sizing `tests/test_learning.py`: train one small run, print the learning test's figures.

    python benchmarks/learning_test_sizing.py OUT_DIR [--preset demo|tiny] [--set F=V ...]

Trains the classifier and the Siamese encoder (`run.train`, `run.embed`) with
the preset and overrides given, then prints one line: seconds, mean slot-norm
AUC, the smallest own-slot margin of the slot / label AUC matrix and how many
labels have a margin <= 0, and the probe's and the majority baseline's mean
accuracy, all on the run's held-out split: the three checks of the test.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from kerasolr import config, run
from kerasolr import evaluate as sections
from kerasolr.evaluation.slots import own_slot_margins, slot_label_auc_matrix
from kerasolr.rundir import RunDir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    cfg = config.override(config.preset(args.preset), args.overrides)
    start = time.time()
    run.train(cfg, args.out)
    run.embed(args.out)
    rundir = RunDir(args.out)
    test, train = rundir.load_embeddings("test"), rundir.load_embeddings("train")
    names = rundir.label_names()
    slots = sections.slot_metrics(test["embeddings"], test["clean_labels"], names)
    margins = own_slot_margins(slot_label_auc_matrix(test["embeddings"], test["clean_labels"]))
    probe = sections.probe_metrics(train["embeddings"], train["labels"], test["embeddings"],
                                   test["clean_labels"], names, cfg.probe, 0)
    majority = sections.majority_metrics(train["labels"], test["clean_labels"], names)
    print(f"seconds={time.time() - start:.0f} auc={slots['slots.norm_auc_mean']:.3f} "
          f"margin_min={np.nanmin(margins):.3f} below_zero={int((margins <= 0).sum())} "
          f"probe={probe['probe.mean_accuracy']:.4f} "
          f"majority={majority['majority.mean_accuracy']:.4f}")


if __name__ == "__main__":
    main()
