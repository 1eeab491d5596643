"""The edit protocol (AttGAN / STGAN, `kerasolr.evaluation.protocol`) under each edit mode
of a finished run: the paper's one-slot edit, the structured edit, and the structured edit
whose added slots are drawn given the image's other slots (`editing.ConditionalSlots`).

Reads the run's decoder, judge, label Gaussians and embeddings; fits the label
structure and the conditional model on the training split; runs the protocol
on the first `--images` images of `--split` (validation: where a mode or the
ridge is chosen; test: to report). Prints one row per mode and writes
`RUN/edit_modes_<split>.json`.

    python benchmarks/edit_modes.py RUN [--split validation] [--images 500] [--ridge 0.1]
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from kerasolr import editing
from kerasolr.evaluation.protocol import flip_protocol
from kerasolr.models.decoder import decode
from kerasolr.rundir import RunDir
from kerasolr.seeds import Seeds

KEYS = ("accuracy_i1_mean", "accuracy_i2_mean", "preservation_i1_mean", "preservation_i2_mean",
        "ssim_i1_mean", "attgan13.accuracy_i2_mean")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--split", default="validation", choices=["validation", "test"])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--ridge", type=float, nargs="+", default=[0.1])
    args = parser.parse_args()
    run = RunDir(args.run)
    config = run.read_config()
    names = run.label_names()
    decoder, judge, gaussians = run.load_model("decoder"), run.load_model("judge"), \
        run.label_gaussians()
    train = run.load_embeddings("train")
    emb = run.load_embeddings(args.split)
    n = min(args.images, len(emb["embeddings"]))
    structure = editing.label_structure(train["labels"], names)
    modes = [("one_slot", None, None), ("structured", structure, None)]
    for ridge in args.ridge:
        modes.append((f"conditional_ridge{ridge:g}", structure,
                      editing.fit_conditional_slots(train["embeddings"], train["labels"],
                                                    ridge)))
    rows = {}
    print("| mode | " + " | ".join(KEYS) + " |\n|" + "---|" * (len(KEYS) + 1), flush=True)
    for name, mode, conditional in modes:
        results = flip_protocol(
            emb["embeddings"][:n], emb["clean_labels"][:n], lambda codes: decode(decoder, codes),
            lambda images: np.asarray(judge(images, training=False)), gaussians,
            Seeds(config.seed).protocol, config.edit.threshold,
            filter_size=config.decoder.ssim_filter_size, structure=mode, name="m",
            conditional=conditional)
        rows[name] = {k: results.get(f"m.{k}", float("nan")) for k in KEYS}
        print(f"| {name} | " + " | ".join(f"{rows[name][k]:.4f}" for k in KEYS) + " |",
              flush=True)
    with open(os.path.join(args.run, f"edit_modes_{args.split}.json"), "w") as f:
        json.dump({"images": n, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
