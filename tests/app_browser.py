"""Drives `kerasolr app` in headless Chromium with Selenium.

Used by `tests/test_app.py` and by `docs/make_app_screenshots.py`. Needs
Debian's `chromium` and `chromium-driver` (installed by `.ci/run`) and the
`selenium` package; `missing()` says which is absent.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def missing() -> str | None:
    """Why the browser cannot run here, or `None`."""
    for tool in ("chromium", "chromedriver"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e \".[test]\")"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served_app(args, timeout: float = 180.0):
    """Runs `kerasolr app ARGS` on a free port of 127.0.0.1 in a subprocess;
    yields `(url, process)` once the page answers, stops it afterwards."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = dict(os.environ, PYTHONPATH=REPO, GRADIO_ANALYTICS_ENABLED="False")
    process = subprocess.Popen([sys.executable, "-m", "kerasolr", "app", *args, "--port",
                                str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=env, cwd=REPO)
    try:
        deadline = time.time() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"kerasolr app exited with {process.returncode}:\n"
                                   + process.stdout.read()[-3000:])
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                raise TimeoutError(f"kerasolr app did not answer on {url} in {timeout:.0f} s")
            time.sleep(1.0)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@contextlib.contextmanager
def browser(width: int = 1400, height: int = 1500):
    """A headless Chromium driven by chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}"):
        options.add_argument(arg)
    options.binary_location = shutil.which("chromium")
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver, css: str, timeout: float = 60.0):
    """The first element matching `css`, once there is one."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(lambda d: d.find_elements(By.CSS_SELECTOR, css))
    return driver.find_element(By.CSS_SELECTOR, css)


def upload(driver, elem_id: str, path: str) -> None:
    """Puts a file into the image input `#elem_id`."""
    wait_for(driver, f"#{elem_id} input[type=file]").send_keys(path)


def set_slider(driver, label: str, value: float) -> None:
    """Types `value` into the number box of slider `#slider-<label>`."""
    from selenium.webdriver.common.keys import Keys

    box = wait_for(driver, f"#slider-{label} input[type=number]")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(f"{value:g}", Keys.ENTER)


def click(driver, elem_id: str) -> None:
    wait_for(driver, f"#{elem_id}").click()


def show_tab(driver, title: str) -> None:
    """Clicks the tab button whose text is `title`."""
    from selenium.webdriver.common.by import By

    for button in driver.find_elements(By.CSS_SELECTOR, "button[role=tab]"):
        if button.text.strip() == title:
            button.click()
            return
    raise AssertionError(f"no tab {title!r}")


def images_in(driver, elem_id: str, timeout: float = 120.0, previous=()) -> list[np.ndarray]:
    """The images shown in `#elem_id` (an image or a gallery) once there are
    some whose addresses are not in `previous`, as uint8 arrays."""
    from PIL import Image
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def sources(d):
        found = [e.get_attribute("src") for e in
                 d.find_elements(By.CSS_SELECTOR, f"#{elem_id} img")]
        found = [s for s in found if s and s.startswith("http")]
        return found if found and not set(found) & set(previous) else None

    urls = WebDriverWait(driver, timeout).until(sources)
    out = []
    for url in dict.fromkeys(urls):
        with urllib.request.urlopen(url, timeout=30) as response:
            out.append(np.asarray(Image.open(io.BytesIO(response.read())).convert("RGB")))
    return out


def text_of(driver, elem_id: str) -> str:
    return wait_for(driver, f"#{elem_id}").text


def wait_text(driver, elem_id: str, contains: str, timeout: float = 60.0) -> str:
    """The text of `#elem_id` once it contains `contains`."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(lambda d: contains in text_of(d, elem_id))
    return text_of(driver, elem_id)


def check(driver, elem_id: str, label: str) -> None:
    """Ticks the box `label` of the checkbox group `#elem_id`."""
    from selenium.webdriver.common.by import By

    for box in wait_for(driver, f"#{elem_id}").find_elements(By.CSS_SELECTOR, "label"):
        if box.text.strip() == label:
            box.click()
            return
    raise AssertionError(f"no checkbox {label!r} in #{elem_id}")
