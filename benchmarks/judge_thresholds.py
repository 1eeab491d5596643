"""The run's judge on real test images at one threshold for all labels and at each label's own.

Each label's own threshold is the one with the judge's best balanced accuracy on the
validation split's real images (`evaluation.accuracy.balanced_thresholds`, what
`edit.judge_thresholds="validation"` makes `kerasolr evaluate` use); the test split is
only scored. Prints the judge's mean and balanced accuracy at `edit.threshold` and at the
chosen thresholds, over all labels and over the AttGAN-13 labels the run has, and one row
per AttGAN-13 label (its threshold; accuracy and balanced accuracy at both); writes
`RUN/judge_thresholds.json`.

    python benchmarks/judge_thresholds.py RUN
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from kerasolr.data import pipeline
from kerasolr.evaluate import judge_probabilities
from kerasolr.evaluation.accuracy import balanced_thresholds, multilabel_accuracy
from kerasolr.evaluation.protocol import ATTGAN_13
from kerasolr.rundir import RunDir

SPLITS = ("validation", "test")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    args = parser.parse_args()
    run = RunDir(args.run)
    config = run.read_config()
    names = list(run.label_names())
    judge = run.load_model("judge")
    with pipeline.held_out_splits(config.data, SPLITS, run.cache_dir) as held:
        probs = {split: judge_probabilities(judge, pipeline.example_batches(held[split], 256))
                 for split in SPLITS}
    truth = {split: run.load_embeddings(split)["clean_labels"] for split in SPLITS}
    chosen = balanced_thresholds(probs["validation"], truth["validation"], config.edit.threshold)
    attgan = [name for name in ATTGAN_13 if name in names]
    scored = {}
    for mode, threshold in (("fixed", config.edit.threshold), ("validation", chosen)):
        r = multilabel_accuracy(truth["test"], probs["test"] > threshold, names, "judge")
        scored[mode] = r
        print(f"{mode}: mean accuracy {r['judge.mean_accuracy']:.4f}, balanced "
              f"{r['judge.balanced_accuracy']:.4f}; AttGAN-13 mean accuracy "
              f"{np.mean([r[f'per_label.{a}.judge_accuracy'] for a in attgan]):.4f}, balanced "
              f"{np.mean([r[f'per_label.{a}.judge_balanced_accuracy'] for a in attgan]):.4f}")
    print("| label | threshold | accuracy at " + f"{config.edit.threshold:g}"
          + " | balanced | accuracy at its own | balanced |\n|---|---|---|---|---|---|")
    for a in attgan:
        cells = [scored[m][f"per_label.{a}.judge_{k}"] for m in ("fixed", "validation")
                 for k in ("accuracy", "balanced_accuracy")]
        print(f"| {a} | {chosen[names.index(a)]:.3f} | " + " | ".join(f"{c:.3f}" for c in cells)
              + " |")
    with open(os.path.join(args.run, "judge_thresholds.json"), "w") as f:
        json.dump({"thresholds": dict(zip(names, map(float, chosen), strict=True)), **scored},
                  f, indent=1)


if __name__ == "__main__":
    main()
