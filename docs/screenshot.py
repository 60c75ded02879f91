"""Screenshots of a generated HTML leaderboard with headless Chromium (selenium): one page, or the site's index,
a board and a model card at desktop (1280 px) and phone (375 px) width (docs/site/*.png, shown in the README).

    make leaderboard
    .venv/bin/python docs/screenshot.py leaderboard/leaderboard.html /tmp/leaderboard.png
    .venv/bin/python docs/screenshot.py --site leaderboard docs/site

The board shot is the board with the most rows; the card, its second row's (it shows the paired test against
the first).
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


def shoot(html: Path, png: Path, width: int, max_height: int = 4000) -> None:
    """One full-page screenshot of ``html`` at ``width`` px (at most ``max_height`` px tall)."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver = chrome(width, 900)
    try:
        driver.get(html.resolve().as_uri())
        WebDriverWait(driver, 20).until(
            lambda d: d.execute_script("return Array.from(document.images).every(i => i.complete)"))
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, min(int(height) + 40, max_height))
        png.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(png))
    finally:
        driver.quit()
    print(f"{png}")


def site_pages(folder: Path) -> dict[str, Path]:
    """The index, the board with the most rows and that board's second row's card (its first if alone)."""
    import json

    from serbench.leaderboard.site import board_path

    boards = json.loads((folder / "leaderboard.json").read_text())["boards"]
    board = max(boards, key=lambda b: (len(b["rows"]), b["slug"]))
    cards = sorted((folder / "cards" / board["slug"]).glob("*.html"))
    second = board["rows"][min(1, len(board["rows"]) - 1)]
    wanted = next((c for c in cards if c.name.startswith(_row_slug(second))), cards[0])
    return {"index": folder / "index.html", "board": folder / board_path(board["slug"]), "card": wanted}


def _row_slug(row: dict) -> str:
    from serbench.leaderboard.site import _slug

    return _slug(f"{row['model']}--{row['defense']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("html", type=Path, help="a page, or with --site the generated leaderboard folder")
    ap.add_argument("png", type=Path, help="the PNG, or with --site the folder of the PNGs")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--site", action="store_true", help="index, board and card at 1280 and 375 px width")
    args = ap.parse_args()
    if not args.site:
        shoot(args.html, args.png, args.width)
        return
    for name, page in site_pages(args.html).items():
        for label, width in (("desktop", 1280), ("phone", 375)):
            shoot(page, args.png / f"{name}-{label}.png", width)


if __name__ == "__main__":
    main()
