"""Headless Chromium for the control surface's tests and benchmarks: Debian's chromium and
chromium-driver, driven by Selenium (the [test] extra), with a fresh profile of its own."""

from __future__ import annotations

import contextlib
import shutil
import tempfile

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
HEADLESS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--window-size=1400,900")


@contextlib.contextmanager
def chromium():
    """A Selenium driver of headless Chromium, whose console log can be read
    (``driver.get_log("browser")``); quit and its profile removed at the end."""
    from livegen.errors import DeviceError
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as err:
        raise DeviceError(f"driving a browser needs selenium (pip install '.[test]'): {err}") from err
    if not (CHROMIUM and DRIVER):
        raise DeviceError("driving a browser needs chromium and chromedriver (apt-get install chromium "
                          "chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in HEADLESS:
        opts.add_argument(arg)
    profile = tempfile.mkdtemp(prefix="livegen-chromium-")
    opts.add_argument(f"--user-data-dir={profile}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver) -> list:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
