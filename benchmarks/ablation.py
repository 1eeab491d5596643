"""Ablation on synthfaces: the paper's recipe, its alternatives, and each deviation of `demo`.

Each row is a `kerasolr demo` run (train, embed, evaluate) in its own run
directory under `--out`, with `--set` overrides on a preset. Rows whose
classifier settings match a finished row reuse that row's trained classifier
(copied into the new run directory; the run then skips that stage), so the
table compares Siamese training alone; the classifier time is listed once.
Finished rows are kept, so the command can be re-run to add rows; the table
is rebuilt from every finished row under `--out`.

Usage (about 45 minutes on 2 CPU cores at the default 10,000 images):
    python benchmarks/ablation.py --out runs/ablation [--num-train 10000] [--rows paper,demo]
Writes `<out>/ablation.md` and prints it: the validation split's figures, where
settings are chosen (`--split test` for the figures to report).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys

from kerasolr import config as cfg
from kerasolr.rundir import RunDir

REUSED_NOTE = "reused_classifier.txt"   # the ablation's own note in a row's run directory

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
    "paper_warm_start": ("paper", ["siamese.init_from_classifier=true"],
                         "paper + encoder started from the classifier"),
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
    ("r(norm, labels)", "correlation.norm_vs_label_pearson"),
    ("cls on occluded", "classifier.occluded_mean_accuracy"),
]


def classifier_key(config) -> str:
    """Everything the classifier stage depends on."""
    return json.dumps([config.to_dict()[k] for k in ("data", "classifier", "seed")]
                      + [config.siamese.occlusion_min, config.siamese.occlusion_max])


def known_classifiers(out: str) -> dict[str, str]:
    """Classifiers already trained by finished rows under `out`, by `classifier_key`."""
    found = {}
    for name in ROWS:
        run = RunDir(os.path.join(out, name))
        if run.has_model("classifier") and os.path.exists(run.config_path):
            found.setdefault(classifier_key(run.read_config()), run.model_path("classifier"))
    return found


def run_row(name, out, num_train):
    preset, overrides, _ = ROWS[name]
    run_dir = os.path.join(out, name)
    run = RunDir(run_dir)
    sets = [*overrides, f"data.num_train={num_train}"]
    key = classifier_key(cfg.override(cfg.preset(preset), sets))
    source = known_classifiers(out).get(key)
    if source and not run.has_model("classifier"):
        os.makedirs(run_dir, exist_ok=True)
        shutil.copy(source, run.model_path("classifier"))
        with open(run.file(REUSED_NOTE), "w") as f:
            f.write(source + "\n")
    args = [sys.executable, "-m", "kerasolr", "demo", "--out", run_dir, "--preset", preset]
    for item in sets:
        args += ["--set", item]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


def table(out: str, split: str = "validation") -> str:
    """The markdown table of every finished row under `out`, in `ROWS` order,
    on the validation split (where a setting is chosen) or the test split."""
    prefix = "validation." if split == "validation" else ""
    lines = ["| row | what | " + " | ".join(c for c, _ in COLUMNS)
             + " | siamese s | classifier s |", "|" + "---|" * (len(COLUMNS) + 4)]
    for name, (_, _, what) in ROWS.items():
        run = RunDir(os.path.join(out, name))
        if not os.path.exists(run.results_path):
            continue
        results = run.read_results()
        cells = [f"{results.get(prefix + key, float('nan')):.3f}" for _, key in COLUMNS]
        reused = run.exists(REUSED_NOTE)
        cls_s = "reused" if reused else f"{results.get('timing.classifier_seconds', 0):.0f}"
        lines.append(f"| {name} | {what} | " + " | ".join(cells)
                     + f" | {results.get('timing.siamese_seconds', 0):.0f} | {cls_s} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/ablation")
    parser.add_argument("--num-train", type=int, default=10000)
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--split", default="validation", choices=["validation", "test"],
                        help="split of the table: validation (choose here) or test (report)")
    args = parser.parse_args()
    names = args.rows.split(",")
    unknown = [n for n in names if n not in ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}; known: {', '.join(ROWS)}")
    for name in names:
        if os.path.exists(RunDir(os.path.join(args.out, name)).results_path):
            print(f"[ablation] {name}: finished earlier, kept", file=sys.stderr)
            continue
        print(f"[ablation] {name}: {ROWS[name][2]}", file=sys.stderr, flush=True)
        run_row(name, args.out, args.num_train)
        with open(os.path.join(args.out, "ablation.md"), "w") as f:
            f.write(table(args.out, args.split))
    print(table(args.out, args.split))


if __name__ == "__main__":
    main()
