"""`kerasolr compare` on a tiny config: every model, every key, the same numbers
as the OLR run's own evaluation where both compute one, resume, and clear errors."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from kerasolr import config as cfg
from kerasolr.cli import main
from kerasolr.compare import COMPARE_FILE, HEADLINE, PER_LABEL_FILE, TABLE_FILE, compare

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ("olr", "classifier_output", "classifier_features", "autoencoder", "beta_vae", "pse")
COMMON = ("probe.mean_accuracy", "retrieval.map_mean", "retrieval.ndcg_mean",
          "retrieval.nn_mean", "timing.train_seconds", "retrieval.whole_map_mean",
          "retrieval.mi_map_mean")


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("compare") / "cmp")
    config = cfg.override(cfg.tiny(), ["siamese.epochs=2"])
    results = compare(config, out)
    return config, out, results


@pytest.mark.slow
def test_every_model_has_its_keys(compared):
    _, out, results = compared
    with open(os.path.join(out, COMPARE_FILE)) as f:
        written = json.load(f)
    assert list(written) == sorted(MODELS) and set(results) == set(MODELS)
    for model in MODELS:
        for key in COMMON:
            assert np.isfinite(written[model][key]), (model, key)
            if key != "timing.train_seconds":
                assert 0.0 <= written[model][key] <= 1.0, (model, key)
        assert not any(key.startswith("per_label.") for key in written[model])
    # A decoder: every model but the classifier's; generation: OLR and PSE.
    assert {m for m in MODELS if "recon.ssim" in written[m]} == set(MODELS) - {
        "classifier_features", "classifier_output"}
    # Chance-corrected mAP: at most 1 (it can be negative on a tiny run), and chance
    # is the same for every model (it depends on the labels only).
    for model in MODELS:
        assert written[model]["retrieval.map_corrected_mean"] <= 1.0
        assert written[model]["retrieval.chance_map_mean"] == written["olr"][
            "retrieval.chance_map_mean"]
    assert 0.5 < written["olr"]["retrieval.chance_map_mean"] < 1.0
    assert written["classifier_output"]["retrieval.map_mean"] == written["classifier_output"][
        "retrieval.slot_map_mean"]
    assert written["classifier_output"]["representation.dimensions"] == 16
    assert {m for m in MODELS if "generation.accuracy" in written[m]} == {"olr", "pse"}
    assert "annotation.mean_accuracy" in written["pse"]
    assert "retrieval.slot_map_mean" in written["olr"]
    assert written["olr"]["retrieval.map_mean"] == written["olr"]["retrieval.slot_map_mean"]
    assert written["beta_vae"]["retrieval.map_mean"] == written["beta_vae"][
        "retrieval.mi_map_mean"]
    assert written["pse"]["retrieval.map_mean"] == written["pse"]["retrieval.whole_map_mean"]
    assert written["olr"]["representation.dimensions"] == 16 * 4
    for model in ("beta_vae", "pse"):         # tiny: at most 2 epochs, chosen on validation
        assert written[model]["train.epochs_chosen"] in (1.0, 2.0)
    assert written["classifier_features"]["representation.dimensions"] == 16
    with open(os.path.join(out, PER_LABEL_FILE)) as f:
        assert "per_label.Smiling.slot_retrieval_map" in json.load(f)["olr"]
    with open(os.path.join(out, TABLE_FILE)) as f:
        table = f.read()
    assert all(f"| {model} |" in table for model in MODELS)
    assert set(HEADLINE) <= set(written["olr"])


@pytest.mark.slow
def test_olr_numbers_equal_the_runs_own_evaluation(compared):
    # The same embeddings, judge, Gaussians and seeds: compare must reproduce the
    # run's retrieval, reconstruction SSIM and generation accuracy.
    _, out, results = compared
    with open(os.path.join(out, "olr", "results.json")) as f:
        run = json.load(f)
    olr = results["olr"]
    assert olr["probe.mean_accuracy"] == pytest.approx(run["probe.mean_accuracy"], abs=1e-9)
    assert olr["probe.epochs_chosen"] == run["probe.epochs_chosen"]
    assert olr["retrieval.slot_map_mean"] == pytest.approx(run["retrieval.map_mean"], abs=1e-6)
    assert olr["retrieval.whole_map_mean"] == pytest.approx(run["retrieval.whole_map_mean"],
                                                            abs=1e-6)
    assert olr["recon.ssim"] == pytest.approx(run["recon.ssim"], abs=1e-5)
    assert results["autoencoder"]["recon.ssim"] == pytest.approx(
        run["recon.autoencoder_baseline_ssim"], abs=1e-5)
    assert olr["generation.accuracy"] == pytest.approx(run["generation.accuracy"], abs=1e-9)
    assert olr["timing.train_seconds"] == pytest.approx(
        run["timing.classifier_seconds"] + run["timing.siamese_seconds"])


@pytest.mark.slow
def test_rerun_resumes_and_reuse_checks_the_config(compared, capsys):
    config, out, results = compared
    again = compare(config, out)          # every model found: evaluation only
    assert "beta_vae: found" in capsys.readouterr().err
    assert again["pse"]["probe.mean_accuracy"] == results["pse"]["probe.mean_accuracy"]
    other = os.path.join(os.path.dirname(out), "reuse")
    capsys.readouterr()
    assert main(["compare", "--out", other, "--olr-run", os.path.join(out, "olr")]) == 0
    printed = capsys.readouterr().out
    assert "| olr |" in printed and "| pse |" in printed and "compare.json" in printed
    assert not os.path.exists(os.path.join(other, "olr"))
    with open(os.path.join(other, COMPARE_FILE)) as f:
        reused = json.load(f)
    assert reused["olr"]["retrieval.map_mean"] == results["olr"]["retrieval.map_mean"]
    changed = cfg.override(config, ["data.num_train=200"])
    with pytest.raises(ValueError, match="differs from the comparison's config in data"):
        compare(changed, other + "2", olr_run=os.path.join(out, "olr"))


@pytest.mark.parametrize("argv, message", [
    (["--olr-run", "{run}", "--set", "data.num_train=5"], "only baselines.* fields"),
    (["--olr-run", "{run}", "--preset", "tiny"], "drop --preset and --dataset"),
    (["--olr-run", "{missing}"], "does not exist"),
    (["--set", "baselines.mi_bins=1"], "baselines.mi_bins=1 is invalid"),
])
def test_bad_compare_input_is_one_line(argv, message, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(cfg.tiny().to_json())
    argv = [a.format(run=run, missing=tmp_path / "none") for a in argv]
    assert main(["compare", "--out", str(tmp_path / "out"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kerasolr: error:") and message in err and "\n" not in err


def test_an_unfinished_olr_run_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(cfg.tiny().to_json())
    proc = subprocess.run([sys.executable, "-m", "kerasolr", "compare", "--out",
                           str(tmp_path / "out"), "--olr-run", str(run)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "classifier.keras not found: compare needs a finished" in proc.stderr
