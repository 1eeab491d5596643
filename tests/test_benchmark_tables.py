"""The tables the benchmark scripts write, from known results (no training)."""

import importlib.util
import json
import math
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "benchmarks",
                                                                     f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ablation_table_means_seeds_with_intervals(tmp_path):
    ablation = _load("ablation")
    for seed, probe in ((0, 0.90), (1, 0.92), (2, 0.94)):
        run = tmp_path / f"seed_{seed}" / "demo"
        run.mkdir(parents=True)
        (run / "results.json").write_text(json.dumps({
            "validation.probe.mean_accuracy": probe, "probe.mean_accuracy": probe - 0.5,
            "timing.siamese_seconds": 100.0 + seed}))
    (tmp_path / "seed_0" / "paper").mkdir()
    (tmp_path / "seed_0" / "paper" / "results.json").write_text(json.dumps(
        {"validation.probe.mean_accuracy": 0.8}))
    table = ablation.table(str(tmp_path))
    half = 4.302652729911275 * 0.02 / math.sqrt(3)      # t(0.975, 2) * std / sqrt(3)
    demo = next(line for line in table.splitlines() if line.startswith("| demo |"))
    cells = [c.strip() for c in demo.split("|")]
    assert cells[3] == "3" and cells[5] == f"0.920 ± {half:.3f}" and cells[-2] == "101"
    paper = next(line for line in table.splitlines() if line.startswith("| paper |"))
    assert "| 1 | nan | 0.800 |" in paper                # one seed: no interval
    assert "| 0.420 ± " in ablation.table(str(tmp_path), "test")


def test_compare_seeds_table_from_known_results():
    compare_seeds = _load("compare_seeds")
    by_seed = {s: {"olr": {"probe.mean_accuracy": 0.90 + 0.02 * s, "timing.train_seconds": 10.0},
                   "pse": {"probe.mean_accuracy": 0.8}} for s in range(3)}
    del by_seed[2]["pse"]
    aggregated = compare_seeds.aggregate(by_seed)
    assert aggregated["olr"]["probe.mean_accuracy"]["values"] == {
        "0": 0.9, "1": 0.9 + 0.02, "2": 0.9 + 0.04}
    table = compare_seeds.table(aggregated)
    half = 4.302652729911275 * 0.02 / math.sqrt(3)
    assert f"| olr | 3 | 0.920 ± {half:.3f} | - |" in table
    assert "| pse | 2 | 0.800 ± 0.000 | - |" in table
