"""One neutral table: boards and paper layouts produce it, the Markdown, terminal and HTML writers only render it."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from rich.console import Console

from serbench.leaderboard import build_boards
from serbench.leaderboard.board_table import board_table
from serbench.leaderboard.html import table_html
from serbench.leaderboard.layouts import latif2020
from serbench.leaderboard.markdown import markdown, table_markdown
from serbench.leaderboard.table import Cell, Table
from serbench.leaderboard.terminal import footnotes, rich_table

sys.path.insert(0, str(Path(__file__).parent))
from leaderboard_store import _rec, fgsm, pgd, records  # noqa: E402

MASKED = "gradient masking? 48 of 48 examples (100.0%) have an all-zero input gradient"


def _masked_board_records() -> list[dict]:
    table = {("honest", "standard"): [({"type": "clean"}, 0.70), (fgsm(0.02), 0.40), (pgd(0.02), 0.35)],
             ("masked", "standard"): [({"type": "clean"}, 0.72), (fgsm(0.02), 0.70), (pgd(0.02), 0.69)]}
    out = []
    for (model, defense), conds in table.items():
        for cond, uar in conds:
            warned = [MASKED] if model == "masked" and cond["type"] == "attack" else []
            out.append(_rec(f"{len(out) + 1:064x}", model, defense, 0, cond, uar, warnings=warned))
    return out


def test_a_board_table_carries_rank_order_best_values_numbered_warnings_and_the_robust_star():
    (board,) = build_boards(records())
    table = board_table(board)
    assert table.header[:3] == ["#", "model", "defense"] and table.header[3:] == [
        "clean", "fgsm 0.01", "fgsm 0.02", "pgd 0.02", "worst-case 0.02 (min) ★", "white 10 dB"]
    assert [row[:3] for row in table.rows] == [["1", "cnn4", "vanilla-adv"], ["2", "cnn4", "standard"],
                                               ["3", "vgg16", "standard"]]
    best = {(row[1].text, table.header[i]) for row in table.cells for i, cell in enumerate(row) if cell.best}
    assert ("vgg16", "clean") in best and ("cnn4", "worst-case 0.02 (min) ★") in best
    assert table.warnings == ["pgd weaker than fgsm at eps 0.02"] and table.failures == ["RuntimeError: boom"]
    (marked,) = [(row[1].text, table.header[i], cell.marks) for row in table.cells for i, cell in enumerate(row)
                 if cell.marks]
    assert marked == ("vgg16", "pgd 0.02", (1,))
    (failed,) = [cell for row in table.cells for cell in row if cell.failed]
    assert failed.text == "54.0 ± 1.0 (+1 failed)" and not failed.only_failed
    assert table.caption and "ranked by robust UAR" in table.caption


def test_an_unreliable_row_is_marked_on_its_name_cell_only():
    table = board_table(build_boards(_masked_board_records())[0])
    assert [[c.unreliable for c in row] for row in table.cells] == [[False] * 7, [False, True] + [False] * 5]


def test_writers_render_the_facts_a_table_carries_and_decide_none_themselves():
    """A hand-made table whose marks no board would give (the worse value marked best, warning 2 only): every
    writer shows exactly those, so none of them ranks, picks a best value or numbers warnings itself."""
    cells = [[Cell("1"), Cell("a"), Cell("10.0", best=True), Cell("90.0", marks=(2,))],
             [Cell("2"), Cell("b", unreliable=True), Cell("20.0"), Cell("failed×1", failed=1, only_failed=True,
                                                                       errors=("boom",))]]
    table = Table("t", "T", ["#", "name", "x", "y"], cells, label_columns=1, ranked=True,
                  warnings=["first", "second"], failures=["boom"], escape_everywhere=True)
    md = table_markdown(table)
    assert "| 1 | a | **10.0** | 90.0 ⚠2 |" in md and "| 2 | b † unreliable | 20.0 | failed×1 |" in md
    assert "|---:|---|---:|---:|" in md and "⚠1: first  \n⚠2: second  \nfailed: boom  " in md
    html = table_html(table, [], {})
    assert html.count('class="num best"') == 1 and '<td class="num best" data-value="10.0">10.0</td>' in html
    assert 'title="second">⚠2</span>' in html and '<tr class="unreliable">' in html
    assert '<span class="failed" title="boom">failed×1</span>' in html
    console = Console(record=True, width=200, color_system=None)
    console.print(rich_table(table))
    for line in footnotes(table):
        console.print(line)
    text = console.export_text()
    assert "b † unreliable" in text and "⚠2 second" in text and "failed: boom" in text


def test_one_markdown_writer_serves_boards_and_layouts_their_differences_as_flags():
    tables = latif2020([_rec(f"{i:064x}", "cnn4", "standard", i, {"type": "clean"}, u) for i, u in
                        enumerate([0.6, 0.62], 1)])
    (t1,) = [t for t in tables if t.rows]
    md = markdown(tables)
    assert md.startswith(f"### {t1.title}\n\n| model | synthetic · loso |\n|---|---:|\n| cnn4 | 61.0 ± 1.0 |")
    layout = table_markdown(Table("p", "a|b", ["h|1", "v"], [[Cell("x|y"), Cell("1")]], ["n|1"], label_columns=1))
    assert layout.splitlines()[:5] == ["### a|b", "", "| h|1 | v |", "|---|---:|", "| x\\|y | 1 |"]
    assert "n|1  " in layout
    escaped = table_markdown(Table("p", "a|b", ["h|1", "v"], [[Cell("x|y\nz"), Cell("1")]], ["n|1"],
                                   label_columns=1, escape_everywhere=True))
    assert escaped.splitlines()[:5] == ["### a\\|b", "", "| h\\|1 | v |", "|---|---:|", "| x\\|y z | 1 |"]
    assert "n\\|1  " in escaped


def test_best_and_warning_marks_agree_across_markdown_and_html():
    for recs in (records(), _masked_board_records()):
        for board in build_boards(recs):
            table = board_table(board)
            md_rows = [line for line in table_markdown(table).splitlines() if re.match(r"\| \d+ \|", line)]
            html = table_html(table, [], {})
            assert sum(line.count("**") // 2 for line in md_rows) == html.count(" best\"")
            assert sum(line.count("⚠") for line in md_rows) == html.count('class="warn"')
            assert sum(line.count("unreliable") for line in md_rows) == html.count('<tr class="unreliable">')
