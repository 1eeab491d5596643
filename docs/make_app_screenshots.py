"""Screenshots of `kerasolr app` for the docs: one per tab, on the shipped preset.

Starts `kerasolr app --preset synthfaces-64` on 127.0.0.1, drives it in
headless Chromium (the helpers of `tests/app_browser.py`) and writes
`docs/app_edit.png`, `docs/app_generate.png` and `docs/app_search.png`.
About a minute on 2 CPU cores.

    python docs/make_app_screenshots.py
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from kerasolr.app import models_from_run  # noqa: E402
from kerasolr.presets import preset_dir  # noqa: E402
from tests import app_browser  # noqa: E402


def main() -> None:
    reason = app_browser.missing()
    if reason:
        sys.exit(f"make_app_screenshots: {reason}")
    examples = models_from_run(preset_dir("synthfaces-64"), os.path.join(HERE, ".examples"))
    query = examples.examples[0]
    with app_browser.served_app(["--preset", "synthfaces-64"]) as (url, _):
        with app_browser.browser(1400, 1150) as driver:
            driver.get(url)
            app_browser.upload(driver, "edit-input", query)
            app_browser.set_slider(driver, "Eyeglasses", 2)
            app_browser.set_slider(driver, "Smiling", 1)
            app_browser.click(driver, "edit-run")
            app_browser.images_in(driver, "edit-output")
            app_browser.wait_text(driver, "edit-status", "edited:")
            driver.save_screenshot(os.path.join(HERE, "app_edit.png"))

            app_browser.show_tab(driver, "Generate")
            for label in ("Male", "Eyeglasses", "Black_Hair"):
                app_browser.check(driver, "gen-labels", label)
            app_browser.click(driver, "gen-run")
            app_browser.images_in(driver, "gen-output")
            driver.save_screenshot(os.path.join(HERE, "app_generate.png"))

            app_browser.show_tab(driver, "Search")
            app_browser.upload(driver, "search-input", query)
            app_browser.check(driver, "search-labels", "Eyeglasses")
            app_browser.click(driver, "search-run")
            app_browser.images_in(driver, "search-output")
            driver.save_screenshot(os.path.join(HERE, "app_search.png"))
    for name in ("edit", "generate", "search"):
        print(os.path.join(HERE, f"app_{name}.png"))


if __name__ == "__main__":
    main()
