"""Headless Chromium for the leaderboard page tests: where it is, the skip marker, and a driver that keeps the
page's console log. .ci/run installs chromium and chromedriver, so these tests run in CI."""

from __future__ import annotations

import shutil

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
needs_chromium = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="needs Chromium and chromedriver on PATH (Debian: apt-get install chromium chromium-driver; "
           ".ci/run installs them)",
)


def chromium_driver(width: int = 1280, height: int = 900):
    """A headless Chromium (selenium) whose browser console log the test can read; quit it when done."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (make setup installs it)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}"):
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(DRIVER), options=options)
