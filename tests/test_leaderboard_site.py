"""The leaderboard site (index, board pages, model cards): its facts agree with the analysis code, --check
covers every page, and in a real headless Chromium every page loads without console errors, every link resolves
to a file of the set, nothing overflows a 375 px phone, and the boards sort (mouse and keyboard) and filter."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest

import serbench
from serbench.analysis.significance import Fold, paired_bootstrap
from serbench.leaderboard.pareto import pareto_front, scatter_svg
from serbench.leaderboard.publish import MANIFEST, build, check, write
from serbench.leaderboard.site import INDEX, paired_significance
from serbench.leaderboard.verify import load_records

from browser import chromium_driver, needs_chromium

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "leaderboard"  # real records: predictions, train records, a corruption board of several rows


def test_pareto_front_keeps_exactly_the_undominated_rows():
    points = [(0.70, 0.30), (0.60, 0.50), (0.65, 0.40), (0.60, 0.40), (0.70, 0.20), (0.50, 0.50)]
    assert pareto_front(points) == [1, 2, 0]  # by clean UAR; (0.60, 0.40) and (0.50, 0.50) are beaten on both
    svg = scatter_svg(points, [f"row {i}" for i in range(6)], [str(i + 1) for i in range(6)], "robust")
    assert svg.count('class="on-front"') == 3 and svg.count('class="dot"') == 3 and "<polyline" in svg


def _eval(key: str, seed: int, fold: int, ids: list[str], y: list[int], pred: list[int]) -> dict:
    return {"key": key, "kind": "eval", "status": "ok",
            "train": {"seed": seed, "dataset": {"fold": fold}},
            "metrics": {"ids": ids, "targets": y, "predictions": pred, "labels": ["a", "b", "c"]}}


def test_paired_significance_is_the_analysis_bootstrap_of_the_row_against_the_reference():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, size=200)
    ref_pred = np.where(rng.random(200) < 0.9, y, (y + 1) % 3)
    row_pred = np.where(rng.random(200) < 0.5, y, (y + 2) % 3)
    ids = [f"u{i:03d}" for i in range(200)]
    order = rng.permutation(200)  # the row's record lists its utterances in another order: matched by id
    ref = [_eval("r", 0, 0, ids, y.tolist(), ref_pred.tolist())]
    row = [_eval("w", 0, 0, [ids[i] for i in order], y[order].tolist(), row_pred[order].tolist())]
    got = paired_significance(ref, row, replicates=500)
    want = paired_bootstrap([Fold.of_predictions(y, row_pred, ref_pred)], 3, replicates=500)
    assert got["delta"] == pytest.approx(-want.delta, abs=1e-6) and got["p"] == pytest.approx(want.p, abs=1e-6)
    assert got["low"] == pytest.approx(-want.high, abs=1e-6) and got["delta"] < 0 and got["p"] < 0.05
    same = paired_significance(ref, ref, replicates=200)
    assert same["delta"] == 0 and same["p"] == 1.0  # a row is never better than itself
    assert paired_significance(ref, [{**row[0], "metrics": {"uar": 0.5}}]) is None  # nothing to pair


@pytest.fixture(scope="module")
def committed():
    return load_records(COMMITTED)


@pytest.fixture(scope="module")
def site(tmp_path_factory, committed):
    folder = tmp_path_factory.mktemp("site")
    files, _ = build(committed)
    write(folder, files)
    return folder


def test_the_site_is_listed_in_the_manifest_and_checked_by_what_it_shows(site, committed):
    listed = set(json.loads((site / MANIFEST).read_text())["files"])
    pages = {p.relative_to(site).as_posix() for p in site.rglob("*.html")}
    assert INDEX in pages and any(p.startswith("boards/") for p in pages) and any(p.startswith("cards/") for p in pages)
    assert pages <= listed
    assert check(site, committed) == []
    card = next(site.glob("cards/*/*.html"))
    card.write_text(card.read_text().replace("serbench-data: ", "serbench-data: 0", 1)[:-80])
    assert any(str(card) in p and "drawn from other data" in p for p in check(site, committed))


def test_a_train_records_parameter_count_reaches_the_card_and_its_digest(committed):
    files, digests = build(committed, render=False)
    changed = copy.deepcopy(committed)
    first = next(r for r in changed if r["kind"] == "train")["train"]
    row = [r for r in changed if r["kind"] == "train" and r["train"]["model"] == first["model"]
           and r["train"]["defense"] == first["defense"]]  # every seed and fold of one row
    for train in row:
        train["data"]["parameters"] = {"total": 123456, "trainable": 456}
    files2, digests2 = build(changed)
    cards = [rel for rel in digests2 if rel.startswith("cards/") and digests2[rel] != digests[rel]]
    assert cards and all(digests2[rel] != digests[rel] for rel in digests2 if rel.endswith(".html")
                         and rel != "leaderboard.html")
    assert any("<dt>parameters</dt><dd>123,456 (456 trained)</dd>" in files2[rel].decode() for rel in cards)
    assert not any("123,456" in files2[rel].decode() for rel in files2 if rel.startswith("cards/")
                   and rel not in cards)
    for train in row:
        del train["data"]["parameters"]  # records from before counts were kept show none
    files3, _ = build(changed)
    assert any("<dt>parameters</dt><dd>—</dd>" in files3[rel].decode() for rel in cards)


browser = needs_chromium


@pytest.fixture(scope="module")
def driver():
    drv = chromium_driver()
    yield drv
    drv.quit()


def _largest_board(site: Path) -> Path:
    return max(site.glob("boards/*.html"), key=lambda p: (p.read_text().count("<tr"), p.name))


@browser
def test_every_page_loads_cleanly_links_resolve_and_fits_a_phone(site, driver):
    files = {p.resolve() for p in site.rglob("*") if p.is_file()}
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= 4
    for width in (1280, 375):
        driver.set_window_size(width, 900)
        for page in pages:
            driver.get(page.as_uri())
            assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == [], page
            if width == 375:
                inner, scroll = driver.execute_script(
                    "return [window.innerWidth, document.documentElement.scrollWidth]")
                assert scroll <= inner, f"{page.relative_to(site)} overflows a phone: {scroll} > {inner}"
                continue
            hrefs = driver.execute_script(
                "return Array.from(document.querySelectorAll('a[href], audio[src]'))"  # svg links too
                ".map(a => new URL(a.getAttribute('href') || a.getAttribute('src'), document.baseURI).href)")
            assert hrefs, page
            for href in hrefs:
                url = urlparse(href)
                assert url.scheme == "file", f"{page.relative_to(site)} links off the set: {href}"
                assert Path(unquote(url.path)).resolve() in files, f"{page.relative_to(site)}: {href} is missing"
            assert driver.execute_script("return document.querySelectorAll('link[href], script[src]').length") == 0
    driver.set_window_size(1280, 900)


def _column(driver, table_id: str, index: int) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.getElementById(arguments[0]).tBodies[0].rows)"
        ".filter(r => !r.hidden).map(r => r.cells[arguments[1]].dataset.value)", table_id, index)


@browser
def test_a_board_sorts_by_mouse_and_keyboard_and_filters_by_labelled_controls(site, driver):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    driver.get(_largest_board(site).as_uri())
    table = driver.find_element(By.CSS_SELECTOR, "table.board")
    table_id = table.get_attribute("id")
    headers = table.find_elements(By.CSS_SELECTOR, "thead th")
    titles = [h.text for h in headers]
    clean = titles.index("clean")
    n = len(_column(driver, table_id, 0))
    assert n >= 2 and _column(driver, table_id, 0) == [str(i) for i in range(1, n + 1)]

    headers[clean].find_element(By.TAG_NAME, "button").click()
    values = [float(v) for v in _column(driver, table_id, clean)]
    assert values == sorted(values, reverse=True) and headers[clean].get_attribute("aria-sort") == "descending"

    rank = headers[0].find_element(By.TAG_NAME, "button")  # keyboard only: focus, Enter, then Space
    driver.execute_script("arguments[0].focus()", rank)
    assert driver.switch_to.active_element == rank
    rank.send_keys(Keys.ENTER)
    assert _column(driver, table_id, 0) == [str(i) for i in range(1, n + 1)]
    assert headers[0].get_attribute("aria-sort") == "ascending"
    rank.send_keys(Keys.SPACE)
    assert _column(driver, table_id, 0) == [str(i) for i in range(n, 0, -1)]

    selects = driver.find_elements(By.CSS_SELECTOR, "form.filters select")
    labelled = [driver.execute_script("return arguments[0].labels.length", s) for s in selects]
    assert len(selects) == 3 and labelled == [1, 1, 1]
    defense = next(s for s in selects if s.get_attribute("data-filter") == "defense")
    defenses = [o.get_attribute("value") for o in Select(defense).options][1:]
    assert len(defenses) >= 2
    Select(defense).select_by_value(defenses[0])
    shown = driver.execute_script(
        "return Array.from(document.getElementById(arguments[0]).tBodies[0].rows).filter(r => !r.hidden)"
        ".map(r => r.dataset.defense)", table_id)
    assert shown and set(shown) == {defenses[0]} and len(shown) < n
    assert f"{len(shown)} of {n} rows shown" in driver.find_element(By.CSS_SELECTOR, "form.filters output").text
    driver.find_element(By.CSS_SELECTOR, "form.filters button[type=reset]").click()
    assert len(_column(driver, table_id, 0)) == n
    Select(next(s for s in selects if s.get_attribute("data-filter") == "input")).select_by_value("spectrogram")
    kinds = driver.execute_script(
        "return Array.from(document.getElementById(arguments[0]).tBodies[0].rows).filter(r => !r.hidden)"
        ".map(r => r.cells[1].textContent)", table_id)
    board = next(b for b in json.loads((site / "leaderboard.json").read_text())["boards"]
                 if f"board-{b['slug']}" == table_id)
    spectrogram = [row for row in board["rows"] if row["input"] == "spectrogram"]
    assert spectrogram and len(kinds) == len(spectrogram) and not any("(waveform)" in k for k in kinds)
    assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []


@browser
def test_a_card_shows_its_facts_and_its_test_against_the_reference_row(site, driver):
    from selenium.webdriver.common.by import By

    board = _largest_board(site)
    driver.get(board.as_uri())
    second = driver.find_elements(By.CSS_SELECTOR, "table.board tbody tr")[1]
    model = second.find_element(By.CSS_SELECTOR, "td a").text.split(" (")[0]
    second.find_element(By.CSS_SELECTOR, "td a").click()
    text = driver.find_element(By.TAG_NAME, "main").text
    assert "rank\n2 of" in text and re.search(r"parameters\n[0-9,]+", text) and "training cost" in text
    assert "one-sided p =" in text and "paired bootstrap over" in text
    assert driver.find_elements(By.XPATH, "//h2[text()='Clean confusion matrix']")
    assert serbench.info("models", model).paper in text  # the model's paper, from the registry
    assert driver.find_elements(By.CSS_SELECTOR, "svg.scatter") == []  # the scatter is the board's
    driver.get(board.as_uri())
    assert len(driver.find_elements(By.CSS_SELECTOR, "svg.scatter circle")) >= 2
    assert driver.find_elements(By.CSS_SELECTOR, "svg.scatter circle.on-front")
