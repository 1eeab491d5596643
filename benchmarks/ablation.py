"""Ablation on synthfaces: the paper's recipe, its alternatives, and each deviation of `demo`.

Each row is a `kerasolr demo` run (train, embed, evaluate) in its own run
directory under `--out`, with `--set` overrides on a preset. Rows whose
classifier settings match an earlier row reuse that row's trained classifier
(copied into the new run directory; the run then skips that stage), so the
table compares Siamese training alone; the classifier time is listed once.

Usage (about 45 minutes on 2 CPU cores at the default 10,000 images):
    python benchmarks/ablation.py --out runs/ablation [--num-train 10000] [--rows paper,demo]
Writes `<out>/ablation.md` and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

from kerasolr import config as cfg

# name -> (preset, overrides, what it tests)
ROWS = {
    "paper": ("paper", [], "paper recipe: both images occluded, clean-trained classifier"),
    "no_occlusion": ("paper", ["siamese.occlusion=none"], "paper without occlusion"),
    "temperature": ("paper", ["siamese.occlusion=none", "siamese.temperature=3"],
                    "temperature T=3 instead of occlusion"),
    "occluded_classifier": ("paper", ["classifier.occlusion_rate=0.5"],
                            "paper + classifier trained with occlusion (50%)"),
    "half_occluded": ("paper", ["classifier.occlusion_rate=0.5", "siamese.occlusion_rate=0.5"],
                      "+ only half the Siamese images occluded"),
    "demo": ("demo", [], "+ encoder started from the classifier (= demo preset)"),
    "demo_k32": ("demo", ["siamese.k=32"], "demo with k=32"),
    "demo_no_occlusion": ("demo", ["siamese.occlusion=none"], "demo without occlusion"),
    "demo_longer": ("demo", ["siamese.epochs=16"], "demo, twice the Siamese epochs"),
}

COLUMNS = [
    ("classifier", "classifier.mean_accuracy"),
    ("probe", "probe.mean_accuracy"),
    ("probe gap", "probe.gap_to_classifier"),
    ("AUC min", "slots.norm_auc_min"),
    ("AUC mean", "slots.norm_auc_mean"),
    ("absent/present", "slots.absent_present_norm_ratio"),
    ("r(norm, truth)", "correlation.norm_vs_truth_pearson"),
    ("cls on occluded", "classifier.occluded_mean_accuracy"),
]


def run_row(name, preset, overrides, out, num_train, classifiers):
    run_dir = os.path.join(out, name)
    sets = [*overrides, f"data.num_train={num_train}"]
    args = [sys.executable, "-m", "kerasolr", "demo", "--out", run_dir, "--preset", preset]
    for item in sets:
        args += ["--set", item]
    config = cfg.override(cfg.preset(preset), sets)
    # Everything the classifier stage depends on.
    config_key = json.dumps([config.to_dict()[k] for k in ("data", "classifier", "seed")]
                            + [config.siamese.occlusion_min, config.siamese.occlusion_max])
    reused = None
    if config_key in classifiers and not os.path.exists(os.path.join(run_dir, "classifier.keras")):
        os.makedirs(run_dir, exist_ok=True)
        shutil.copy(classifiers[config_key], os.path.join(run_dir, "classifier.keras"))
        reused = classifiers[config_key]
    start = time.time()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    wall = time.time() - start
    classifiers.setdefault(config_key, os.path.join(run_dir, "classifier.keras"))
    with open(os.path.join(run_dir, "results.json")) as f:
        results = json.load(f)
    return results, wall, reused


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/ablation")
    parser.add_argument("--num-train", type=int, default=10000)
    parser.add_argument("--rows", default=",".join(ROWS))
    args = parser.parse_args()
    names = args.rows.split(",")
    unknown = [n for n in names if n not in ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}; known: {', '.join(ROWS)}")
    classifiers: dict[str, str] = {}
    header = ("| row | what | " + " | ".join(c for c, _ in COLUMNS)
              + " | siamese s | classifier s |")
    lines = [header, "|" + "---|" * (len(COLUMNS) + 4)]
    for name in names:
        preset, overrides, what = ROWS[name]
        print(f"[ablation] {name}: {what}", file=sys.stderr, flush=True)
        results, _, reused = run_row(name, preset, overrides, args.out, args.num_train,
                                     classifiers)
        cells = [f"{results.get(key, float('nan')):.3f}" for _, key in COLUMNS]
        cls_s = "reused" if reused else f"{results.get('timing.classifier_seconds', 0):.0f}"
        lines.append(f"| {name} | {what} | " + " | ".join(cells)
                     + f" | {results.get('timing.siamese_seconds', 0):.0f} | {cls_s} |")
        with open(os.path.join(args.out, "ablation.md"), "w") as f:
            f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
