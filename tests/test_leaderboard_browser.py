"""The HTML leaderboard in a real headless Chromium: loads from a file with no console errors, shows the
table and every plot, and sorting a column reorders the rows."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from serbench.leaderboard.publish import build, write

sys.path.insert(0, str(Path(__file__).parent))
from browser import chromium_driver, needs_chromium  # noqa: E402
from leaderboard_store import records  # noqa: E402

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lb")
    files, _ = build(records())
    write(folder, files)
    driver = chromium_driver()
    driver.get((folder / "leaderboard.html").as_uri())
    yield driver
    driver.quit()


def column_values(driver, index: int) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('table.board tbody tr'))"
        ".map(r => r.cells[arguments[0]].dataset.value)", index)


def test_loads_with_no_console_errors_and_shows_table_and_plots(page):
    from selenium.webdriver.common.by import By

    severe = [e for e in page.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []
    rows = page.find_elements(By.CSS_SELECTOR, "table.board tbody tr")
    assert len(rows) == 3 and all(r.is_displayed() for r in rows)
    assert [r.find_elements(By.TAG_NAME, "td")[1].text for r in rows] == ["cnn4", "cnn4", "vgg16"]
    images = page.find_elements(By.CSS_SELECTOR, "figure img")
    assert len(images) == 3
    loaded = page.execute_script("return Array.from(document.images).map(i => i.complete && i.naturalWidth)")
    assert all(w and w > 100 for w in loaded), loaded
    assert page.execute_script("return document.querySelectorAll('link[href^=http], script[src]').length") == 0


def test_clicking_a_header_sorts_the_rows_and_sets_aria_sort(page):
    from selenium.webdriver.common.by import By

    headers = page.find_elements(By.CSS_SELECTOR, "table.board thead th")
    titles = [h.text for h in headers]
    clean = titles.index("clean")
    assert column_values(page, 1) == ["cnn4", "cnn4", "vgg16"]
    headers[clean].find_element(By.TAG_NAME, "button").click()
    values = [float(v) for v in column_values(page, clean)]
    assert values == sorted(values, reverse=True) and values[0] == pytest.approx(0.74)
    assert headers[clean].get_attribute("aria-sort") == "descending"
    headers[clean].find_element(By.TAG_NAME, "button").click()
    assert [float(v) for v in column_values(page, clean)] == sorted(values)
    assert headers[clean].get_attribute("aria-sort") == "ascending"
    headers[2].find_element(By.TAG_NAME, "button").click()  # text column: A-Z first
    assert column_values(page, 2) == sorted(column_values(page, 2))
    assert [e for e in page.get_log("browser") if e["level"] == "SEVERE"] == []


def test_the_page_fits_a_phone_and_scrolls_the_table_sideways(page):
    page.set_window_size(390, 844)
    doc_width = page.execute_script("return document.documentElement.scrollWidth")
    inner = page.execute_script("return window.innerWidth")
    assert doc_width <= inner + 1  # the page itself does not scroll sideways
    box = page.execute_script("var s = document.querySelector('.scroll'); return [s.scrollWidth, s.clientWidth]")
    assert box[0] > box[1]  # the wide table scrolls inside its own box
    page.set_window_size(1280, 900)
