"""The paper's label-noise claim (section 4.1, Fig. 3), measured on synthfaces.

For each fraction of flipped training labels, trains a run (the `demo` recipe,
smaller by default so three levels fit in minutes on a CPU), then compares the
classifier trained on the noisy labels with the linear probe on the OLR
embeddings (also trained on the noisy labels):

- agreement with the *clean* labels of the held-out split (its labels are
  never flipped): mean accuracy over all label decisions;
- on the training images, of the (image, label) decisions whose label was
  flipped, the fraction where the model predicts the flipped (wrong) value:
  "adopted"; the rest follow the clean label.

Both probes choose their epochs on the validation split, whose labels are as
noisy as the training labels (as a user's would be).

The control: a linear probe, trained the same way on the same noisy labels,
on the classifier's own penultimate features (`cls_dense`). If it resists
the noise as well as the probe on the OLR embeddings, the resistance comes
from a linear probe on smooth features, not from the OLR targets.

    python benchmarks/label_noise.py [OUT_DIR] [--noise 0,0.1,0.2] [--set F=V ...]

Prints one table row per noise level (and writes OUT_DIR/label_noise.json).
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from kerasolr import config, run
from kerasolr.baselines import classifier_features
from kerasolr.data import pipeline
from kerasolr.embeddings import predict_images
from kerasolr.evaluation.probe import fit_probe, probe_predictions
from kerasolr.rundir import RunDir

SMALL = ["data.num_train=6000", "data.num_test=1000", "classifier.epochs=4",
         "siamese.epochs=4"]


def probe_decisions(train_codes, train_labels, codes_by_split, probe_config, seed, val_labels):
    """The linear probe of section 4.1 on any codes, its epochs chosen on the
    validation split's (as noisy) labels: its 0/1 decisions per split."""
    p = probe_config
    probe, _ = fit_probe(train_codes, train_labels, p.epochs, p.batch_size, p.learning_rate,
                         seed=seed, validation=(codes_by_split["validation"], val_labels),
                         patience=p.patience)
    return {split: probe_predictions(probe, codes) > 0.5 for split, codes in codes_by_split.items()}


def measure(cfg, run_dir: str, noise: float) -> dict:
    """Trains (or reuses) one run and measures the classifier, the probe on the
    OLR embeddings and the control probe on the classifier's features."""
    run.train(cfg, run_dir)
    run.embed(run_dir)
    rundir = RunDir(run_dir)
    train, test = rundir.load_embeddings("train"), rundir.load_embeddings("test")
    val = rundir.load_embeddings("validation")
    classifier = rundir.load_model("classifier")

    def over_splits(model):
        return {split: predict_images(model, pipeline.example_batches(
            pipeline.load_split(cfg.data, split), 256)) for split in pipeline.SPLITS}

    predicted = {split: probs > 0.5 for split, probs in over_splits(classifier).items()}
    probed = probe_decisions(train["embeddings"], train["labels"],
                             {"train": train["embeddings"], "validation": val["embeddings"],
                              "test": test["embeddings"]}, cfg.probe, cfg.seed, val["labels"])
    features = over_splits(classifier_features(classifier))
    control = probe_decisions(features["train"], train["labels"], features, cfg.probe, cfg.seed,
                              val["labels"])
    clean_test = test["clean_labels"] > 0.5
    noisy, clean = train["labels"] > 0.5, train["clean_labels"] > 0.5
    flipped = noisy != clean

    def adopted(decisions):
        return (float(np.mean(decisions[flipped] == noisy[flipped])) if flipped.any()
                else float("nan"))

    return {
        "noise": noise,
        "flipped_decisions": int(flipped.sum()),
        "classifier_clean_test": float(np.mean(predicted["test"] == clean_test)),
        "probe_clean_test": float(np.mean(probed["test"] == clean_test)),
        "control_clean_test": float(np.mean(control["test"] == clean_test)),
        "classifier_adopted": adopted(predicted["train"]),
        "probe_adopted": adopted(probed["train"]),
        "control_adopted": adopted(control["train"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", nargs="?", default="runs/label_noise")
    parser.add_argument("--noise", default="0,0.1,0.2")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    rows = []
    print("noise  classifier_clean_test  probe_clean_test  control_clean_test  "
          "classifier_adopted  probe_adopted  control_adopted")
    for noise in (float(v) for v in args.noise.split(",")):
        cfg = config.override(config.demo(), [f"data.label_noise={noise}", *SMALL,
                                               *args.overrides])
        row = measure(cfg, os.path.join(args.out, f"noise_{noise:.2f}"), noise)
        rows.append(row)
        print(f"{noise:5.2f}  {row['classifier_clean_test']:21.4f}  "
              f"{row['probe_clean_test']:16.4f}  {row['control_clean_test']:18.4f}  "
              f"{row['classifier_adopted']:18.4f}  {row['probe_adopted']:13.4f}  "
              f"{row['control_adopted']:15.4f}", flush=True)
    with open(os.path.join(args.out, "label_noise.json"), "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
