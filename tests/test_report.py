import base64
import json
import re

import numpy as np
import pytest

from kerasolr import plots
from kerasolr.report import format_value, group_metrics, per_label_table, write_report

RESULTS = {
    "classifier.mean_accuracy": 0.912345,
    "probe.mean_accuracy": 0.87654321,
    "recon.psnr": 35.678,
    "recon.ssim": 0.5,
    "edit.add_success": 0.123456,
    "timing.total_seconds": 1234.5,
    "mystery.top1": 0.25,
    "edit.num_images": 16,
    "per_label.Smiling.probe_accuracy": 0.95,
    "per_label.Smiling.norm_auc": 0.99,
    "per_label.<b>Bald</b>.probe_accuracy": 0.8125,
    "per_label.Male.add_success": 0.75,
}
EXPECTED_VALUES = {
    "classifier.mean_accuracy": "0.9123", "probe.mean_accuracy": "0.8765", "recon.psnr": "35.68",
    "recon.ssim": "0.5000", "edit.add_success": "0.1235", "timing.total_seconds": "1234",
    "mystery.top1": "0.2500",
}


def _fake_run(tmp_path):
    run = tmp_path / "run_1"
    (run / "figures" / "training").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(
        {"data": {"dataset": "synthfaces", "image_size": 32}, "siamese": {"k": 8}}))
    (run / "results.json").write_text(json.dumps(RESULTS))
    (run / "summary.txt").write_text("probe <b>bold</b> & done\n")
    rng = np.random.default_rng(0)
    plots.save_png(plots.image_grid([[rng.random((4, 4, 3))]]), str(run / "figures" / "edits.png"))
    plots.save_png(plots.correlation_heatmaps({"m": np.eye(2)}, ["A", "B"]),
                   str(run / "figures" / "norm_correlation.png"))
    plots.save_png(np.zeros((2, 3, 3), np.uint8), str(run / "figures" / "zz_unknown.png"))
    for name in ("r_latest.png", "r_epoch001.png"):
        plots.save_png(np.ones((2, 2, 3), np.uint8), str(run / "figures" / "training" / name))
    (run / "norm_correlation.csv").write_text(",A,B\nA,1.0,0.12345\nB,0.12345,1.0\n")
    (run / "history_decoder.csv").write_text("epoch,loss,val_loss\n0,0.5,0.61234\n1,0.25,0.3\n")
    (run / "pca_slots.csv").write_text("label,pc1_explained_variance\nSmiling,0.45678\n")
    (run / "other.csv").write_text("x\n1\n")
    return run


def test_format_value_known_answers():
    assert format_value(0.912345) == "0.9123"
    assert format_value(35.678) == "35.68"
    assert format_value(1234.5) == "1234"
    assert format_value(3e-5) == "3e-05"
    assert format_value(0) == "0"
    assert format_value(float("nan")) == "nan"


def test_group_metrics_and_per_label_table():
    groups = group_metrics(RESULTS)
    assert list(groups) == ["classifier", "probe", "recon", "edit", "timing", "others"]
    assert groups["others"] == {"mystery.top1": 0.25}
    labels, metrics, cells = per_label_table(RESULTS)
    assert labels == ["Smiling", "<b>Bald</b>", "Male"]
    assert metrics == ["probe_accuracy", "norm_auc", "add_success"]
    assert cells["Male", "add_success"] == 0.75 and ("Male", "norm_auc") not in cells


def test_write_report_embeds_everything(tmp_path):
    run = _fake_run(tmp_path)
    path = write_report(str(run))
    assert path == str(run / "report.html") and not (run / "report.html.partial").exists()
    page = (run / "report.html").read_text()
    assert "<title>kerasolr report: run_1</title>" in page
    for name, value in EXPECTED_VALUES.items():
        assert re.search(f"<td>{re.escape(name)}</td><td class=\"num\">{value}</td>", page), name
    # Per-label tables, one per theme that has a metric: a row per label, blank
    # cells where a metric is missing.
    section = page.split("<h2>Per-label metrics</h2>")[1].split("<h2>")[0]
    tables = section.split("<table")[1:]
    assert len(tables) == 3                  # accuracy; slots; edit diagnostics
    for table in tables:
        assert table.count("<td>Smiling</td>") == 1 and table.count("<td>Male</td>") == 1
        assert table.count("<td>&lt;b&gt;Bald&lt;/b&gt;</td>") == 1
        assert table.count("<tr>") == 4      # header + three labels
    assert "<b>Bald" not in page
    assert '<td>Male</td><td class="num"></td></tr>' in tables[0]       # no probe accuracy
    assert '<td>Male</td><td class="num">0.7500</td></tr>' in tables[2]
    # Key figures first, with meaning and target; counts apart from the metrics.
    assert page.index("<h2>Key figures</h2>") < page.index("<h2>Summary</h2>")
    key = page.split("<h2>Key figures</h2>")[1].split("<h2>")[0]
    assert "linear probe on the OLR embeddings" in key and "within 2 points" in key
    probe_row = key.split("probe.mean_accuracy")[1].split("</tr>")[0]
    assert "0.916" in probe_row and "missed" in probe_row      # 0.9123 - 0.8765 > 0.02
    counts = page.split("counts and choices (not metrics)")[1].split("</table>")[0]
    assert "edit.num_images" in counts
    assert re.search(r"Made \d{4}-\d\d-\d\d \d\d:\d\d UTC by kerasolr \d", page)
    assert "probe &lt;b&gt;bold&lt;/b&gt; &amp; done" in page
    assert "<td>data.image_size</td><td>32</td>" in page
    # Images: the four PNGs of figures/ and figures/training/*_latest.png, nothing else.
    assert page.count("data:image/png;base64,") == 4
    assert "r_epoch001.png" not in page and "Other figures" in page
    assert page.index("norm_correlation.png") < page.index("edits.png") < page.index("zz_unknown")
    encoded = re.search(r'alt="edits.png" src="data:image/png;base64,([^"]+)"', page).group(1)
    assert base64.b64decode(encoded) == (run / "figures" / "edits.png").read_bytes()
    assert 'src="http' not in page and 'href="http' not in page and "<link" not in page
    # CSV tables: correlations to 3 decimals, histories as they come.
    assert '<td class="num">0.457</td>' in page
    assert '<td class="num">0.123</td>' in page and '<td class="num">0.6123</td>' in page
    assert "history_decoder.csv" in page and "other.csv" not in page
    assert "not computed for this run" in page  # pca_strip.png etc. are missing


def test_write_report_to_another_path(tmp_path):
    run = _fake_run(tmp_path)
    out = tmp_path / "out" / "r.html"
    assert write_report(str(run), str(out)) == str(out)
    assert out.exists() and not (run / "report.html").exists()


def test_write_report_with_only_results(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"probe.mean_accuracy": 0.5}))
    page = open(write_report(str(tmp_path))).read()
    assert "probe.mean_accuracy" in page and "0.5000" in page
    for section in ("Summary", "Per-label metrics", "Figures", "Tables", "Training history",
                    "Visual checks during training", "Configuration"):
        assert f"{section}: not computed for this run." in page
    assert "data:image/png" not in page


def test_write_report_missing_inputs_raise(tmp_path):
    with pytest.raises(FileNotFoundError, match="results.json"):
        write_report(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="nope"):
        write_report(str(tmp_path / "nope"))


def test_a_run_inside_a_comparison_or_a_repeat_shows_its_table(tmp_path):
    run = tmp_path / "cmp" / "olr"
    run.mkdir(parents=True)
    (run / "results.json").write_text(json.dumps({"probe.mean_accuracy": 0.5}))
    (tmp_path / "cmp" / "compare.md").write_text(
        "| model | retrieval mAP |\n|---|---|\n| olr | 0.9964 |\n| classifier_output | 0.9994 |"
        "\n\nRetrieval <by> rank:\n")
    page = open(write_report(str(run))).read()
    assert "Beside the baselines (kerasolr compare)" in page
    assert "<th>retrieval mAP</th>" in page and '<td class="num">0.9994</td>' in page
    assert "<p>Retrieval &lt;by&gt; rank:</p>" in page              # text escaped
    assert "Across seeds" not in page

    seed = tmp_path / "rep" / "seed_0"
    seed.mkdir(parents=True)
    (seed / "results.json").write_text(json.dumps({"probe.mean_accuracy": 0.5}))
    (tmp_path / "rep" / "results_seeds.json").write_text(json.dumps({"probe.mean_accuracy": {
        "mean": 0.55, "std": 0.0707, "ci95_low": -0.08, "ci95_high": 1.18, "n": 2,
        "values": {"0": 0.5, "1": 0.6}}}))
    page = open(write_report(str(seed))).read()
    assert "Across seeds (kerasolr repeat; this run is one of them)" in page
    assert "<th>seed 1</th>" in page and '<td class="num">0.5500</td>' in page
    folder = open(write_report(str(tmp_path / "rep"))).read()      # the repeat folder's page
    assert "kerasolr repeat: rep" in folder and 'href="seed_0/report.html"' in folder


def test_target_status_known_answers():
    from kerasolr.report import target_status

    assert target_status("slots.norm_auc_mean", {"slots.norm_auc_mean": 0.95}) == "met"
    assert target_status("slots.norm_auc_mean", {"slots.norm_auc_mean": 0.9499}) == "missed"
    assert target_status("slots.norm_auc_mean", {"slots.norm_auc_mean": float("nan")}) == ""
    assert target_status("probe.mean_accuracy", {"probe.mean_accuracy": 0.9}) == ""
    both = {"probe.mean_accuracy": 0.90, "classifier.mean_accuracy": 0.915}
    assert target_status("probe.mean_accuracy", both) == "met"
    assert target_status("recon.ssim", {"recon.ssim": 0.5, "recon.probs_baseline_ssim": 0.495}
                         ) == "missed"
    assert target_status("timing.total_seconds", {"timing.total_seconds": 1.0}) == ""
