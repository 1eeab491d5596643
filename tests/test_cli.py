import json
import os
import subprocess
import sys

import numpy as np
import pytest

from kerasolr.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("argv, message", [
    (["train", "--out", "X", "--set", "siamese.k=0"], "siamese.k=0"),
    (["train", "--out", "X", "--set", "siamese.occlusion_max=1.5"], "1.5"),
    (["demo", "--dataset", "imagenet"], "'imagenet'"),
    (["train", "--out", "X", "--preset", "huge"], "'huge'"),
    (["embed", "no/such/run"], "no/such/run"),
    (["evaluate", "no/such/run"], "no/such/run"),
])
def test_bad_input_is_one_line_and_exit_code_2(argv, message, capsys, tmp_path):
    argv = [a.replace("X", str(tmp_path / "run")) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kerasolr: error:") and message in err and "\n" not in err
    assert not (tmp_path / "run").exists()  # nothing half-made


def test_directory_that_is_not_a_run(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "config.json" in capsys.readouterr().err


def test_console_script_reports_errors_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "kerasolr", "evaluate", str(tmp_path / "none")],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_whole_chain_on_a_tiny_config(tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    assert main(["demo", "--preset", "tiny", "--out", run_dir, "--set", "siamese.epochs=2"]) == 0
    for name in ("config.json", "results.json", "summary.txt", "classifier.keras",
                 "encoder.keras", "embeddings/train.npz", "embeddings/test.npz"):
        assert os.path.exists(os.path.join(run_dir, name)), name
    with open(os.path.join(run_dir, "results.json")) as f:
        results = json.load(f)
    for key in ("classifier.mean_accuracy", "classifier.balanced_accuracy", "probe.mean_accuracy",
                "probe.balanced_accuracy", "majority.mean_accuracy", "slots.norm_auc_min",
                "slots.norm_auc_mean", "slots.absent_present_norm_ratio", "timing.total_seconds",
                "per_label.Smiling.norm_auc", "per_label.Male.probe_accuracy"):
        assert np.isfinite(results[key]), key
    assert 0 <= results["classifier.mean_accuracy"] <= 1
    with open(os.path.join(run_dir, "config.json")) as f:
        assert json.load(f)["siamese"]["epochs"] == 2
    emb = np.load(os.path.join(run_dir, "embeddings/test.npz"))
    assert emb["embeddings"].shape == (64, 16, 4) and emb["ids"][0] == 256
    assert "linear probe" in capsys.readouterr().out
    # Re-running continues the finished run instead of retraining it.
    mtime = os.path.getmtime(os.path.join(run_dir, "encoder.keras"))
    assert main(["train", "--preset", "tiny", "--out", run_dir, "--set", "siamese.epochs=2"]) == 0
    assert os.path.getmtime(os.path.join(run_dir, "encoder.keras")) == mtime
    # A different config in the same directory is refused.
    assert main(["train", "--preset", "tiny", "--out", run_dir]) == 2
