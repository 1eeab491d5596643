"""Markdown tables of `kerasolr repeat` results: figures, or per-label figures, over seeds.

    python benchmarks/seed_table.py runs/demo_seeds --keys flip.accuracy_i1_mean,recon.ssim
    python benchmarks/seed_table.py runs/celeba_seeds --per-label flip_accuracy_i2,\
flip_preservation_i2 --attgan13

Reads `OUT/results_seeds.json` (written by `kerasolr repeat` or `repeat --aggregate`); each
cell is the mean over seeds with its 95% Student-t half-width.
"""

from __future__ import annotations

import argparse
import json
import math
import os

from kerasolr.evaluation.protocol import ATTGAN_13
from kerasolr.rundir import SEEDS_RESULTS_FILE


def cell(entry: dict | None) -> str:
    if entry is None or not math.isfinite(entry["mean"]):
        return "-"
    half = (entry["ci95_high"] - entry["ci95_low"]) / 2
    return f"{entry['mean']:.3f} ± {half:.3f}" if math.isfinite(half) else f"{entry['mean']:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="a kerasolr repeat folder")
    parser.add_argument("--keys", default="", help="comma-separated results.json keys")
    parser.add_argument("--per-label", default="", help="comma-separated per-label metrics")
    parser.add_argument("--attgan13", action="store_true",
                        help="only the labels of AttGAN's 13 CelebA attributes")
    args = parser.parse_args()
    with open(os.path.join(args.out, SEEDS_RESULTS_FILE)) as f:
        aggregated = json.load(f)
    seeds = int(next(iter(aggregated.values()))["n"])
    if args.keys:
        print(f"| figure | mean ± 95% half-width ({seeds} seeds) | per seed |\n|---|---|---|")
        for key in args.keys.split(","):
            entry = aggregated.get(key)
            values = ", ".join(f"{v:.3f}" for v in entry["values"].values()) if entry else "-"
            print(f"| `{key}` | {cell(entry)} | {values} |")
    if args.per_label:
        metrics = args.per_label.split(",")
        labels = sorted({key.split(".")[1] for key in aggregated if key.startswith("per_label.")})
        if args.attgan13:
            labels = [name for name in ATTGAN_13 if name in labels]
        print("| label | " + " | ".join(metrics) + " |\n|---|" + "---|" * len(metrics))
        for label in labels:
            print(f"| {label} | " + " | ".join(
                cell(aggregated.get(f"per_label.{label}.{m}")) for m in metrics) + " |")


if __name__ == "__main__":
    main()
