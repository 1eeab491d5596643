"""The HTML report in a real browser: headless Chromium at 1280 px, no sideways scroll.

The page is a seed run of a `kerasolr repeat` folder beside a `kerasolr compare`
table, with every results key a real 38-label CelebA run writes (values drawn
at random) and figures wider than the page, so every table and figure the
report can hold is on it. Skipped, with the reason, where Chromium is absent
(`.ci/run` installs Debian's `chromium` when it can).
"""

import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from kerasolr import plots
from kerasolr.repeat import aggregate
from kerasolr.report import write_report
from kerasolr.rundir import COMPARE_TABLE_FILE, SEEDS_RESULTS_FILE

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
KEYS = os.path.join(os.path.dirname(__file__), "data", "celeba_results_keys.json")
WIDTH = 1280

# Written into a copy of the page: the widths the browser laid out, as an attribute.
MEASURE = """<script>
window.addEventListener('load', () => {
  const doc = document.documentElement;
  const wide = [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
    .map(e => e.tagName + (e.id ? '#' + e.id : '')).slice(0, 5);
  document.body.setAttribute('data-measured',
    JSON.stringify({scroll: doc.scrollWidth, inner: window.innerWidth, wide: wide}));
});
</script>"""

COMPARE_TABLE = """| model | linear probe acc. | retrieval mAP | chance-corrected | NDCG | NN \
| ranked by | recon. SSIM | generation balanced acc. | train s |
|---|---|---|---|---|---|---|---|---|---|
| olr | 0.8849 | 0.8274 | 0.3321 | 0.9453 | 0.8352 | the label's slot | 0.4009 | 0.6325 | 532 |
| classifier_features | 0.8841 | 0.7830 | 0.3011 | 0.9349 | 0.8269 | whole representation | - | - \
| 209 |
| beta_vae | 0.8271 | 0.7383 | 0.1002 | 0.9170 | 0.7443 | MI-selected dimensions | 0.3387 | - | 96 |
"""


def _fake_repeat(root, rng):
    with open(KEYS) as f:
        spec = json.load(f)
    seeds = {}
    for seed in range(3):
        results = {key: float(rng.random()) for key in spec["keys"]}
        results.update({f"per_label.{label}.{metric}": float(rng.random())
                        for label in spec["labels"] for metric in spec["per_label_metrics"]})
        seeds[seed] = results
    run = root / "seed_0"
    (run / "figures").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"data": {"dataset": "celeba", "image_size": 64},
                                                 "siamese": {"k": 32}}))
    (run / "results.json").write_text(json.dumps(seeds[0]))
    (run / "summary.txt").write_text("section 4.1\n" + "x" * 300 + "\n")
    # Figures wider than the page, as a 38-column flip grid is.
    for name, shape in (("flips_i1.png", (300, 2600, 3)), ("edits.png", (400, 900, 3)),
                        ("norm_correlation.png", (800, 1600, 3))):
        plots.save_png((rng.random(shape) * 255).astype(np.uint8), str(run / "figures" / name))
    (root / SEEDS_RESULTS_FILE).write_text(json.dumps(aggregate(seeds)))
    (root / COMPARE_TABLE_FILE).write_text(COMPARE_TABLE)
    return run


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine (Debian: apt-get "
                    "install chromium); .ci/run installs it where apt-get can")
def test_report_has_no_horizontal_scroll_at_1280_px(tmp_path):
    run = _fake_repeat(tmp_path / "rep", np.random.default_rng(0))
    page = open(write_report(str(run))).read()
    assert "Across seeds" in page and "Beside the baselines" in page
    assert "Mouth_Slightly_Open" in page
    measured_page = run / "measured.html"
    measured_page.write_text(page.replace("</body>", MEASURE + "</body>"))
    common = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
              f"--window-size={WIDTH},900"]
    dom = subprocess.run([*common, "--virtual-time-budget=5000", "--dump-dom",
                          measured_page.as_uri()], capture_output=True, text=True, timeout=120)
    found = re.search(r'data-measured="([^"]*)"', dom.stdout)
    assert found, dom.stderr[-2000:]
    measured = json.loads(found.group(1).replace("&quot;", '"'))
    assert measured["inner"] == WIDTH
    assert measured["scroll"] <= WIDTH and not measured["wide"], measured
    # The screenshot people look at (and a check that the page rendered at that width).
    shot = tmp_path / "report_1280.png"
    subprocess.run([*common, f"--screenshot={shot}", (run / "report.html").as_uri()],
                   capture_output=True, timeout=120, check=True)
    with Image.open(shot) as image:
        assert image.size == (WIDTH, 900)
        pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 5                      # not a blank page


def test_the_measuring_script_sees_an_overflowing_page(tmp_path):
    """The check can fail: a page with a 2,000 px table scrolls sideways."""
    if CHROMIUM is None:
        pytest.skip("no chromium on this machine")
    page = tmp_path / "wide.html"
    page.write_text("<!DOCTYPE html><html><body><table><tr><td style='min-width:2000px'>x</td>"
                    "</tr></table>" + MEASURE + "</body></html>")
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                          f"--window-size={WIDTH},900", "--virtual-time-budget=5000",
                          "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=120)
    measured = json.loads(re.search(r'data-measured="([^"]*)"', dom.stdout).group(1)
                          .replace("&quot;", '"'))
    assert measured["scroll"] > WIDTH and "TABLE" in measured["wide"]
