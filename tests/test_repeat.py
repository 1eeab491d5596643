"""`kerasolr repeat`: the chain under several seeds, and intervals with known answers."""

import json
import math
import os

import pytest

from kerasolr.cli import main
from kerasolr.repeat import aggregate, format_table, interval
from kerasolr.rundir import SEEDS_RESULTS_FILE, RunDir


def test_interval_of_known_values():
    a = interval([1.0, 2.0, 3.0])
    assert a["mean"] == 2.0 and a["std"] == 1.0 and a["n"] == 3
    half = 4.302652729911275 / math.sqrt(3)          # t(0.975, 2) * std / sqrt(n)
    assert a["ci95_low"] == pytest.approx(2.0 - half) and a["ci95_high"] == pytest.approx(2 + half)
    nan_dropped = interval([1.0, float("nan"), 3.0])
    assert nan_dropped["n"] == 2 and nan_dropped["mean"] == 2.0
    one = interval([5.0])
    assert one["mean"] == 5.0 and math.isnan(one["ci95_low"])


def test_aggregate_keeps_the_keys_every_seed_has():
    out = aggregate({0: {"probe.mean_accuracy": 0.9, "only.here": 1.0},
                     1: {"probe.mean_accuracy": 0.8}})
    assert set(out) == {"probe.mean_accuracy"}
    assert out["probe.mean_accuracy"]["mean"] == pytest.approx(0.85)
    assert out["probe.mean_accuracy"]["values"] == {"0": 0.9, "1": 0.8}
    table = format_table(out)
    assert "| `probe.mean_accuracy` | 0.8500 |" in table
    with pytest.raises(ValueError, match="no results"):
        aggregate({})


def test_fewer_than_two_seeds_is_one_line(tmp_path, capsys):
    assert main(["repeat", "--out", str(tmp_path / "r"), "--seeds", "1"]) == 2
    err = capsys.readouterr().err
    assert "--seeds must be >= 2" in err and err.count("\n") == 1
    assert not os.path.exists(tmp_path / "r")


@pytest.mark.slow
def test_repeat_runs_each_seed_and_writes_intervals(tmp_path, capsys):
    out = str(tmp_path / "r")
    assert main(["repeat", "--out", out, "--seeds", "2", "--preset", "tiny", "--set",
                 "siamese.epochs=1"]) == 0
    assert "| `probe.mean_accuracy` |" in capsys.readouterr().out
    with open(os.path.join(out, SEEDS_RESULTS_FILE)) as f:
        aggregated = json.load(f)
    seeds = [RunDir(os.path.join(out, f"seed_{s}")) for s in (0, 1)]
    assert [run.read_config().seed for run in seeds] == [0, 1]
    values = [run.read_results()["probe.mean_accuracy"] for run in seeds]
    probe = aggregated["probe.mean_accuracy"]
    assert probe["mean"] == pytest.approx(sum(values) / 2)
    assert probe["values"] == {"0": values[0], "1": values[1]}
    assert main(["report", out]) == 0
    with open(os.path.join(out, "report.html")) as f:
        page = f.read()
    assert "kerasolr repeat" in page and "seed_0/report.html" in page
    assert "probe.mean_accuracy" in page
    # --aggregate: the finished seeds read again, nothing trained or evaluated.
    os.remove(os.path.join(out, SEEDS_RESULTS_FILE))
    mtime = os.path.getmtime(seeds[0].results_path)
    assert main(["repeat", "--out", out, "--seeds", "2", "--aggregate", "--preset", "tiny",
                 "--set", "siamese.epochs=1"]) == 0
    with open(os.path.join(out, SEEDS_RESULTS_FILE)) as f:
        assert json.load(f)["probe.mean_accuracy"] == probe
    assert os.path.getmtime(seeds[0].results_path) == mtime
    capsys.readouterr()
    assert main(["repeat", "--out", out, "--seeds", "3", "--aggregate"]) == 2
    assert "seed_2/results.json not found: seed 2 is not finished" in capsys.readouterr().err
    # A plain re-run skips the finished seeds (same config) instead of evaluating them again.
    assert main(["repeat", "--out", out, "--seeds", "2", "--preset", "tiny", "--set",
                 "siamese.epochs=1"]) == 0
    assert capsys.readouterr().err.count(": finished, skipping") == 2
    assert os.path.getmtime(seeds[0].results_path) == mtime
