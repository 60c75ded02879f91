"""Screenshot of a generated HTML leaderboard with headless Chromium (selenium): docs/leaderboard.png.

    make leaderboard
    .venv/bin/python docs/screenshot.py leaderboard/leaderboard.html docs/leaderboard.png
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path


def chrome(width: int, height: int):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}", "--hide-scrollbars"):
        options.add_argument(arg)
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser") or ""
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


def main() -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("html", type=Path)
    ap.add_argument("png", type=Path)
    ap.add_argument("--width", type=int, default=1280)
    args = ap.parse_args()
    driver = chrome(args.width, 900)
    try:
        driver.get(args.html.resolve().as_uri())
        WebDriverWait(driver, 20).until(
            lambda d: d.execute_script("return Array.from(document.images).every(i => i.complete)"))
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(args.width, min(int(height) + 40, 4000))
        args.png.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(args.png))
    finally:
        driver.quit()
    print(f"{args.png}")


if __name__ == "__main__":
    main()
