"""Ablation on synthfaces: the paper's recipe, its alternatives, and each deviation of `demo`.

Each row is a run (`kerasolr train`, `embed`, `evaluate`: sections 4.1-4.3,
no decoders) in its own run directory, `--out/seed_<s>/<row>`, with `--set`
overrides on a preset, under `--seeds N` seeds (0 .. N-1: weights, pairing,
occlusion and shuffles; the data split stays). Rows whose classifier settings
match a finished row of the same seed reuse that row's trained classifier
(copied into the new run directory; the run then skips that stage), so the
table compares Siamese training alone; the classifier time is listed once.
Finished rows are kept, so the command can be re-run to add rows or seeds;
the table is rebuilt from every finished row under `--out`.

Usage (about 5 minutes a row and seed on 2 CPU cores at the default 10,000 images):
    python benchmarks/ablation.py --out runs/ablation [--num-train 10000] [--rows paper,demo]
        [--seeds 3]
Writes `<out>/ablation.md` and prints it: the validation split's figures, where
settings are chosen (`--split test` for the figures to report), as the mean
over seeds and, with two or more, the half-width of the 95% t-interval.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys

from kerasolr import config as cfg
from kerasolr.repeat import interval
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


def seed_out(out: str, seed: int) -> str:
    return os.path.join(out, f"seed_{seed}")


def known_classifiers(out: str, seed: int) -> dict[str, str]:
    """Classifiers already trained by finished rows of one seed, by `classifier_key`."""
    found = {}
    for name in ROWS:
        run = RunDir(os.path.join(seed_out(out, seed), name))
        if run.has_model("classifier") and os.path.exists(run.config_path):
            found.setdefault(classifier_key(run.read_config()), run.model_path("classifier"))
    return found


def row_sets(name: str, num_train: int, seed: int) -> list[str]:
    return [*ROWS[name][1], f"data.num_train={num_train}", f"seed={seed}"]


def run_row(name, out, num_train, seed=0):
    preset = ROWS[name][0]
    run_dir = os.path.join(seed_out(out, seed), name)
    run = RunDir(run_dir)
    sets = row_sets(name, num_train, seed)
    key = classifier_key(cfg.override(cfg.preset(preset), sets))
    source = known_classifiers(out, seed).get(key)
    if source and not run.has_model("classifier"):
        os.makedirs(run_dir, exist_ok=True)
        shutil.copy(source, run.model_path("classifier"))
        with open(run.file(REUSED_NOTE), "w") as f:
            f.write(source + "\n")
    train = [sys.executable, "-m", "kerasolr", "train", "--out", run_dir, "--preset", preset]
    for item in sets:
        train += ["--set", item]
    for args in (train, [sys.executable, "-m", "kerasolr", "embed", run_dir],
                 [sys.executable, "-m", "kerasolr", "evaluate", run_dir]):
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


def finished_seeds(out: str, name: str) -> list[dict]:
    runs = [RunDir(os.path.join(path, name)) for path in sorted(
        glob.glob(os.path.join(out, "seed_*")))]
    return [run.read_results() for run in runs if os.path.exists(run.results_path)]


def cell(values) -> str:
    """`0.997` (one seed) or `0.997 ± 0.003` (mean ± 95% half-width)."""
    a = interval(values)
    if a["n"] < 2:
        return f"{a['mean']:.3f}"
    return f"{a['mean']:.3f} ± {a['ci95_high'] - a['mean']:.3f}"


def table(out: str, split: str = "validation") -> str:
    """The markdown table of every finished row under `out`, in `ROWS` order,
    on the validation split (where a setting is chosen) or the test split:
    each cell the mean over the row's finished seeds (± the 95% half-width)."""
    prefix = "validation." if split == "validation" else ""
    lines = ["| row | what | seeds | " + " | ".join(c for c, _ in COLUMNS)
             + " | siamese s |", "|" + "---|" * (len(COLUMNS) + 4)]
    for name, (_, _, what) in ROWS.items():
        seeds = finished_seeds(out, name)
        if not seeds:
            continue
        cells = [cell([r.get(prefix + key, float("nan")) for r in seeds]) for _, key in COLUMNS]
        siamese = sum(r.get("timing.siamese_seconds", 0) for r in seeds) / len(seeds)
        lines.append(f"| {name} | {what} | {len(seeds)} | " + " | ".join(cells)
                     + f" | {siamese:.0f} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/ablation")
    parser.add_argument("--num-train", type=int, default=10000)
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--split", default="validation", choices=["validation", "test"],
                        help="split of the table: validation (choose here) or test (report)")
    args = parser.parse_args()
    names = args.rows.split(",")
    unknown = [n for n in names if n not in ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}; known: {', '.join(ROWS)}")
    for seed in range(args.seeds):
        for name in names:
            path = os.path.join(seed_out(args.out, seed), name)
            if os.path.exists(RunDir(path).results_path):
                print(f"[ablation] seed {seed} {name}: finished earlier, kept", file=sys.stderr)
                continue
            print(f"[ablation] seed {seed} {name}: {ROWS[name][2]}", file=sys.stderr, flush=True)
            run_row(name, args.out, args.num_train, seed)
            with open(os.path.join(args.out, "ablation.md"), "w") as f:
                f.write(table(args.out, args.split))
    print(table(args.out, args.split))


if __name__ == "__main__":
    main()
