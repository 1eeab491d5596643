"""`kerasolr repeat`: the whole chain under several seeds, and every figure's
mean, standard deviation and 95% interval.

`repeat(config, out_dir, seeds=N)` runs `run.run_all` N times, with
`config.seed`, `config.seed + 1`, ..., into `OUT/seed_<s>/` (each a complete
run directory; a re-run skips finished ones). The seed moves the weights,
the pairing, the occlusion and the shuffles; the data split (`data.seed`) and
the judge (`edit.judge_seed`) stay fixed, so the interval is the spread of
training, measured on one held-out split. It then writes
`OUT/results_seeds.json` (per results key: mean, std, the t-interval and the
per-seed values) and `OUT/seeds.md` (the headline table); `kerasolr report
OUT` renders them as a page linking every seed's own report.
"""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np
from scipy import stats

from kerasolr import run
from kerasolr.distribute import is_chief
from kerasolr.rundir import (
    SEEDS_RESULTS_FILE,
    SEEDS_TABLE_FILE,
    RunDir,
    log,
    write_json_atomically,
)

HEADLINE = ("classifier.mean_accuracy", "probe.mean_accuracy", "majority.mean_accuracy",
            "slots.norm_auc_mean", "correlation.norm_vs_label_pearson",
            "correlation.norm_vs_truth_pearson", "retrieval.map_corrected_mean",
            "retrieval.classifier_map_corrected_mean", "retrieval.query_db_map_corrected_mean",
            "retrieval.classifier_query_db_map_corrected_mean", "recon.ssim",
            "recon.probs_baseline_ssim", "recon.autoencoder_baseline_ssim", "judge.mean_accuracy",
            "judge.balanced_accuracy", "classifier.balanced_accuracy",
            "flip.accuracy_i1_mean", "flip.accuracy_i2_mean", "flip.preservation_i1_mean",
            "flip.preservation_i2_mean", "flip_structured.accuracy_i1_mean",
            "flip_structured.accuracy_i2_mean", "flip_structured.preservation_i1_mean",
            "flip.attgan13.accuracy_i2_mean", "flip.attgan13.preservation_i2_mean",
            "flip_structured.attgan13.accuracy_i2_mean",
            "flip_structured.attgan13.preservation_i2_mean",
            "edit.add_success", "edit.remove_success", "edit.preservation",
            "generation.balanced_accuracy", "generation.diversity", "probe.epochs_chosen",
            "timing.total_seconds")


def seed_dir(out_dir: str, seed: int) -> str:
    return os.path.join(out_dir, f"seed_{seed}")


def interval(values) -> dict[str, float]:
    """Mean, sample standard deviation and two-sided 95% Student-t interval of
    the finite `values` (`n` of them; NaN bounds below two)."""
    finite = np.asarray([v for v in values if math.isfinite(v)], np.float64)
    n = len(finite)
    if n == 0:
        nan = float("nan")
        return {"mean": nan, "std": nan, "ci95_low": nan, "ci95_high": nan, "n": 0.0}
    mean = float(finite.mean())
    std = float(finite.std(ddof=1)) if n > 1 else float("nan")
    half = float(stats.t.ppf(0.975, n - 1) * std / math.sqrt(n)) if n > 1 else float("nan")
    return {"mean": mean, "std": std, "ci95_low": mean - half, "ci95_high": mean + half,
            "n": float(n)}


def aggregate(results_by_seed: dict[int, dict[str, float]]) -> dict[str, dict]:
    """Per results key present in every seed's results: `interval` of its
    values, plus `values` `{seed: value}`."""
    if not results_by_seed:
        raise ValueError("no results to aggregate")
    keys = set.intersection(*(set(r) for r in results_by_seed.values()))
    out = {}
    for key in sorted(keys):
        values = {seed: float(r[key]) for seed, r in results_by_seed.items()}
        out[key] = {**interval(values.values()), "values": {str(s): v for s, v in values.items()}}
    return out


def format_table(aggregated: dict[str, dict], keys=HEADLINE) -> str:
    """Markdown: mean, 95% interval and std of each headline key present."""
    lines = ["| figure | mean | 95% interval | std | seeds |", "|---|---|---|---|---|"]
    for key in keys:
        if key not in aggregated:
            continue
        a = aggregated[key]
        digits = 0 if key.startswith("timing.") else 4
        lines.append(f"| `{key}` | {a['mean']:.{digits}f} | [{a['ci95_low']:.{digits}f}, "
                     f"{a['ci95_high']:.{digits}f}] | {a['std']:.{digits}f} | {a['n']:.0f} |")
    return "\n".join(lines) + "\n"


def repeat(config, out_dir: str, seeds: int, strategy=None) -> dict[str, dict]:
    """Runs the whole chain under `seeds` seeds and writes the intervals.

    Returns:
        The aggregated results (as written to `OUT/results_seeds.json`).
    """
    if seeds < 2:
        raise ValueError(f"--seeds must be >= 2 for an interval, got {seeds}")
    config.validate()
    results: dict[int, dict[str, float]] = {}
    for i in range(seeds):
        seed = config.seed + i
        path = seed_dir(out_dir, seed)
        seeded = dataclasses.replace(config, seed=seed)
        # A finished seed (results.json, same config) is not evaluated again;
        # one with another config goes to run_all, which names the difference.
        seed_run = RunDir(path)
        finished = os.path.exists(seed_run.results_path) and seed_run.read_config() == seeded
        log(f"repeat: seed {seed} ({i + 1} of {seeds}) -> {path}"
            + (": finished, skipping" if finished else ""))
        if not finished:
            run.run_all(seeded, path, strategy)
        if is_chief(strategy):
            results[seed] = seed_run.read_results()
    if not is_chief(strategy):
        return {}
    return _write(out_dir, results)


def summarize(out_dir: str, seeds: int, first_seed: int = 0) -> dict[str, dict]:
    """Aggregates the finished seed runs `OUT/seed_<first_seed>` ...
    `OUT/seed_<first_seed + seeds - 1>` as `repeat` does, without running
    anything (e.g. after re-evaluating them with `kerasolr evaluate`).

    Raises:
        FileNotFoundError: Naming the first seed run without `results.json`.
    """
    if seeds < 2:
        raise ValueError(f"--seeds must be >= 2 for an interval, got {seeds}")
    results = {}
    for seed in range(first_seed, first_seed + seeds):
        run = RunDir(seed_dir(out_dir, seed))
        if not os.path.exists(run.results_path):
            raise FileNotFoundError(f"{run.results_path} not found: seed {seed} is not finished "
                                    f"(run `kerasolr repeat` without --aggregate)")
        results[seed] = run.read_results()
    return _write(out_dir, results)


def _write(out_dir: str, results: dict[int, dict[str, float]]) -> dict[str, dict]:
    aggregated = aggregate(results)
    out = RunDir(out_dir)
    write_json_atomically(out.file(SEEDS_RESULTS_FILE), aggregated)
    out.write_text(SEEDS_TABLE_FILE, format_table(aggregated))
    from kerasolr.report import write_report

    for seed in results:            # each seed's report gains the intervals
        write_report(seed_dir(out_dir, seed))
    return aggregated
