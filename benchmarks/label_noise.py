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

    python benchmarks/label_noise.py [OUT_DIR] [--noise 0,0.1,0.2] [--set F=V ...]

Prints one table row per noise level (and writes OUT_DIR/label_noise.json).
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from kerasolr import config, run
from kerasolr.data import pipeline
from kerasolr.embeddings import predict_images
from kerasolr.evaluation.probe import probe_predictions, train_probe
from kerasolr.rundir import RunDir

SMALL = ["data.num_train=6000", "data.num_test=1000", "classifier.epochs=4",
         "siamese.epochs=4"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", nargs="?", default="runs/label_noise")
    parser.add_argument("--noise", default="0,0.1,0.2")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    rows = []
    print("noise  classifier_clean_test  probe_clean_test  classifier_adopted  probe_adopted")
    for noise in (float(v) for v in args.noise.split(",")):
        cfg = config.override(config.demo(), [f"data.label_noise={noise}", *SMALL,
                                               *args.overrides])
        run_dir = os.path.join(args.out, f"noise_{noise:.2f}")
        run.train(cfg, run_dir)
        run.embed(run_dir)
        train = RunDir(run_dir).load_embeddings("train")
        test = RunDir(run_dir).load_embeddings("test")
        classifier = RunDir(run_dir).load_model("classifier")
        predicted = {split: predict_images(classifier, pipeline.example_batches(
            pipeline.load_split(cfg.data, split), 256)) > 0.5 for split in ("train", "test")}
        p = cfg.probe
        probe = train_probe(train["embeddings"], train["labels"], p.epochs, p.batch_size,
                            p.learning_rate, seed=cfg.seed)
        probed = {"train": probe_predictions(probe, train["embeddings"]) > 0.5,
                  "test": probe_predictions(probe, test["embeddings"]) > 0.5}
        clean_test = test["clean_labels"] > 0.5
        noisy, clean = train["labels"] > 0.5, train["clean_labels"] > 0.5
        flipped = noisy != clean
        row = {
            "noise": noise,
            "flipped_decisions": int(flipped.sum()),
            "classifier_clean_test": float(np.mean(predicted["test"] == clean_test)),
            "probe_clean_test": float(np.mean(probed["test"] == clean_test)),
            "classifier_adopted": (float(np.mean(predicted["train"][flipped] == noisy[flipped]))
                                   if flipped.any() else float("nan")),
            "probe_adopted": (float(np.mean(probed["train"][flipped] == noisy[flipped]))
                              if flipped.any() else float("nan")),
        }
        rows.append(row)
        print(f"{noise:5.2f}  {row['classifier_clean_test']:21.4f}  "
              f"{row['probe_clean_test']:16.4f}  {row['classifier_adopted']:18.4f}  "
              f"{row['probe_adopted']:13.4f}", flush=True)
    with open(os.path.join(args.out, "label_noise.json"), "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
