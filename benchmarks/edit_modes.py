"""The edit protocol (AttGAN / STGAN, `kerasolr.evaluation.protocol`) under each edit mode
of a finished run: the paper's one-slot edit, the structured edit, the structured edit that
also moves the other slots by the flipped label's effect on them (`editing.ContextEffects`,
one row per `--context` scale), and the structured edit whose added slots are drawn given the
image's other slots (`editing.ConditionalSlots`, one row per `--ridge`).

Reads the run's decoder, judge, label Gaussians and embeddings; fits the label
structure, the context effects and the conditional model on the training split; runs the
protocol on the first `--images` images of `--split` (validation: where a mode, a scale or
the ridge is chosen; test: to report). The judge decides at the run's thresholds
(`edit.judge_thresholds`: one for all labels, or each label's chosen on the validation
split's real images, as `kerasolr evaluate` does). Prints one row per mode and writes
`RUN/edit_modes_<split>.json`.

    python benchmarks/edit_modes.py RUN [--split validation] [--images 500] [--ridge 0.1]
        [--context 1]
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from kerasolr import editing
from kerasolr.data import pipeline
from kerasolr.evaluation.protocol import flip_protocol
from kerasolr.models.decoder import decode
from kerasolr.run import judge_thresholds
from kerasolr.rundir import RunDir
from kerasolr.seeds import Seeds

KEYS = ("accuracy_i1_mean", "accuracy_i2_mean", "preservation_i1_mean", "preservation_i2_mean",
        "ssim_i1_mean", "attgan13.accuracy_i2_mean", "attgan13.preservation_i2_mean")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--split", default="validation", choices=["validation", "test"])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--ridge", type=float, nargs="*", default=[0.1])
    parser.add_argument("--context", type=float, nargs="*", default=[1.0],
                        help="context_scale values of the structured edit (0 is its own row)")
    parser.add_argument("--modes", nargs="*", default=None,
                        help="run only these rows (names as printed; default: all)")
    args = parser.parse_args()
    run = RunDir(args.run)
    config = run.read_config()
    names = run.label_names()
    decoder, judge, gaussians = run.load_model("decoder"), run.load_model("judge"), \
        run.label_gaussians()
    train = run.load_embeddings("train")
    emb = run.load_embeddings(args.split)
    n = min(args.images, len(emb["embeddings"]))
    structure, context = editing.fit_edit_structure(train["embeddings"], train["labels"], names)
    threshold = config.edit.threshold
    if config.edit.judge_thresholds != "fixed":
        with pipeline.held_out_splits(config.data, ("validation",), run.cache_dir) as held:
            threshold, _ = judge_thresholds(config, names, judge, held["validation"],
                                            run.load_embeddings("validation"))
    # name -> a function returning (structure, conditional model, context scale)
    modes = {"one_slot": lambda: (None, None, 0.0),
             "structured": lambda: (structure, None, 0.0)}
    for scale in args.context:
        if scale:
            modes[f"structured_context{scale:g}"] = lambda s=scale: (structure, None, s)
    for ridge in args.ridge:
        modes[f"conditional_ridge{ridge:g}"] = lambda r=ridge: (
            structure, editing.fit_conditional_slots(train["embeddings"], train["labels"], r),
            0.0)
    if args.modes is not None:
        unknown = sorted(set(args.modes) - set(modes))
        if unknown:
            parser.error(f"--modes: no row named {', '.join(unknown)} (rows: {', '.join(modes)})")
        modes = {name: make for name, make in modes.items() if name in args.modes}
    # Rows of an earlier call on the same images are kept (a --modes call adds to them).
    path = os.path.join(args.run, f"edit_modes_{args.split}.json")
    rows = {}
    if os.path.exists(path):
        with open(path) as f:
            earlier = json.load(f)
        if earlier.get("images") == n:
            rows = earlier["rows"]
    print("| mode | " + " | ".join(KEYS) + " |\n|" + "---|" * (len(KEYS) + 1), flush=True)
    for name, make in modes.items():
        mode, conditional, scale = make()
        results = flip_protocol(
            emb["embeddings"][:n], emb["clean_labels"][:n], lambda codes: decode(decoder, codes),
            lambda images: np.asarray(judge(images, training=False)), gaussians,
            Seeds(config.seed).protocol, threshold,
            filter_size=config.decoder.ssim_filter_size, structure=mode, name="m",
            conditional=conditional, context=context if scale else None, context_scale=scale)
        rows[name] = {k: results.get(f"m.{k}", float("nan")) for k in KEYS}
        rows[name]["per_label_accuracy_i1"] = {
            label: results[f"per_label.{label}.m_accuracy_i1"] for label in names}
        print(f"| {name} | " + " | ".join(f"{rows[name][k]:.4f}" for k in KEYS) + " |",
              flush=True)
        with open(path, "w") as f:
            json.dump({"images": n, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
