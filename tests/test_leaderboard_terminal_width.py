"""The terminal board at 80, 120 and 200 columns: row names never cut, numbers never cut, nothing wider than the
console; a grid where one fits, the long layout (one block per row) where none does."""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console

from serbench.leaderboard import build_boards
from serbench.leaderboard.board_table import board_table
from serbench.leaderboard.table import Table
from serbench.leaderboard.terminal import footnotes, rich_table

sys.path.insert(0, str(Path(__file__).parent))
from leaderboard_store import _rec, fgsm, records, white  # noqa: E402

ROWS = {("cnn4.small", "standard"): 0.0, ("wav2vec2.base-frozen", "similarity-adv"): 0.1,
        ("cnn4.small", "noise-aug"): 0.05}
NUMBER = re.compile(r"(?<![\d.])\d+\.\d+(?![\d.])")


def _records() -> list[dict]:
    """Three systems with the zoo's long names, two seeds (so cells read ``61.5 ± 0.7``), nine columns."""
    conds = [{"type": "clean"}] + [fgsm(e) for e in (0.005, 0.01, 0.02, 0.05, 0.1)] + [white(s) for s in (20, 10, 0)]
    out = []
    for (model, defense), bonus in ROWS.items():
        for seed in (0, 1):
            for i, cond in enumerate(conds):
                out.append(_rec(f"{len(out) + 1:064x}", model, defense, seed, cond,
                                round(0.8 - 0.05 * i + bonus + 0.013 * seed, 4)))
    return out


def _render(table: Table, width: int | None) -> str:
    console = Console(width=width, record=True, color_system=None, file=open("/dev/null", "w"))
    console.print(rich_table(table))
    for line in footnotes(table):
        console.print(line)
    return console.export_text()


def _tokens(line: str) -> list[str]:
    return [t for t in re.split(r"[\s│┃]+", line) if t]


def _zoo_board() -> Table:
    return board_table(build_boards(_records())[0])


def _store_board() -> Table:
    return board_table(build_boards(records())[0])


@pytest.mark.parametrize("make,width,layout", [
    (_zoo_board, 80, "long"), (_zoo_board, 120, "long"), (_zoo_board, 200, "grid"),
    (_store_board, 80, "long"), (_store_board, 120, "grid"), (_store_board, 200, "grid")])
def test_names_and_numbers_stay_whole_at_every_width(make, width, layout):
    table = make()
    text = _render(table, width)
    assert "…" not in text
    assert max(cell_len(line) for line in text.splitlines()) <= width
    assert ("┃" in text) == (layout == "grid")
    lines = [_tokens(line) for line in text.splitlines()]
    names = [(row[1].text, row[2].text) for row in table.cells]
    for model, defense in names:  # a row's names whole, on one line
        assert any(model in words and defense in words for words in lines), (model, defense)
    shown = Counter(NUMBER.findall(text))
    wanted = Counter(n for row in table.cells for cell in row[3:] for n in NUMBER.findall(cell.text))
    assert wanted and not wanted - shown  # every value cell's numbers, each as written
    if layout == "long":  # one block per row, rank order, names joined as a submission names them
        heads = [line for line in text.splitlines() if re.match(r"\d+\. ", line)]
        assert heads == [f"{i}. {m} + {d}" for i, (m, d) in enumerate(names, 1)]
    spreads = [m for row in table.cells for cell in row[3:] for m in re.findall(r"\d+\.\d ± \d+\.\d", cell.text)]
    assert all(spread in text for spread in spreads)  # a mean and its spread never split across lines


def test_the_long_layout_writes_column_value_lines():
    text = _render(_zoo_board(), 80).splitlines()
    assert "1. wav2vec2.base-frozen + similarity-adv" in text and "   fgsm 0.1 ★: 65.7 ± 0.7" in text
    store = _render(_store_board(), 80).splitlines()
    assert "   white 10 dB: 54.0 ± 1.0 (+1 failed)" in store and "   pgd 0.02: 3.0 ± 1.0 ⚠" in store
    assert "  ⚠1 pgd weaker than fgsm at eps 0.02" in store


def test_a_board_that_fits_keeps_its_headers_whole():
    table = _zoo_board()
    header = next(line for line in _render(table, 200).splitlines() if "model" in line)
    assert [h.strip() for h in header.split("┃")[1:-1]] == table.header


def test_the_layout_follows_the_console_width_from_COLUMNS(monkeypatch):
    table = _zoo_board()
    monkeypatch.setenv("COLUMNS", "80")
    assert "┃" not in _render(table, None)
    monkeypatch.setenv("COLUMNS", "200")
    assert "┃" in _render(table, None)


def test_a_paper_layout_goes_long_with_its_own_label_columns():
    table = Table.of_texts("t", "Ren et al. layout", ["training", "eps"] + [f"model{i} real test" for i in range(12)],
                           [["van. adv. training", ".02"] + [f".{800 + i}±.012" for i in range(12)]],
                           ["a note"])
    text = _render(table, 80)
    assert "van. adv. training · .02" in text.splitlines() and "   model11 real test: .811±.012" in text
    assert text.rstrip().endswith("a note")
    wide = _render(table, 300)
    assert "┃ training " in wide and "van. adv. training" in wide
