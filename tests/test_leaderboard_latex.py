"""LaTeX (booktabs): structure, escaping of every special, and the same numbers as the Markdown writer, cell by cell;
``serbench leaderboard --format latex`` and ``--board``."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from typer.testing import CliRunner

from serbench.cli.main import app
from serbench.leaderboard import build_boards
from serbench.leaderboard.board_table import board_table
from serbench.leaderboard.latex import escape, latex_document, tabular
from serbench.leaderboard.markdown import table_markdown
from serbench.leaderboard.table import Table

sys.path.insert(0, str(Path(__file__).parent))
from leaderboard_store import _rec, fgsm, records, write_store  # noqa: E402

HOSTILE = "a_b%c&d#e$f{g}h~i^j\\k"
HOSTILE_TEX = r"a\_b\%c\&d\#e\$f\{g\}h\textasciitilde{}i\textasciicircum{}j\textbackslash{}k"
NUMBER = re.compile(r"(?<![\d.])\d+\.\d+(?![\d.])")


def _hostile_records() -> list[dict]:
    """The store's board plus a row whose model and defense names hold every LaTeX special."""
    out = records()
    for seed, (clean, attacked) in enumerate([(0.61, 0.33), (0.63, 0.35)]):
        for cond, uar in (({"type": "clean"}, clean), (fgsm(0.01), attacked), (fgsm(0.02), attacked - 0.1)):
            out.append(_rec(f"{len(out) + 1:064x}", HOSTILE, "def_%", seed, cond, uar))
    return out


def _balanced(tex: str) -> bool:
    """Are the braces balanced once escaped ones (``\\{``, ``\\}``) are left out?"""
    depth = 0
    for token in re.findall(r"\\\\|\\[{}]|[{}]", tex):
        if token in ("{", "}"):
            depth += 1 if token == "{" else -1
            if depth < 0:
                return False
    return depth == 0


def _tex_rows(tex: str) -> list[list[str]]:
    """Each body row's cells: the lines between ``\\midrule`` and ``\\bottomrule``, split at unescaped ``&``."""
    body = tex.split("\\midrule\n", 1)[1].split("\\bottomrule", 1)[0]
    rows = [line.removesuffix(r" \\") for line in body.splitlines()]
    return [[c.strip() for c in re.split(r"(?<!\\)&", row)] for row in rows]


def _md_rows(md: str) -> list[list[str]]:
    rows = [line for line in md.splitlines() if re.match(r"\| \d+ \|", line)]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]


def test_every_special_is_escaped():
    assert escape(HOSTILE) == HOSTILE_TEX
    assert escape("61.5 ± 1.5") == r"61.5 $\pm$ 1.5"
    assert escape("UAR % — a · b ★ †") == r"UAR \% --- a $\cdot$ b $\star$ \dag{}"


def test_structure_one_row_per_board_row_as_many_cells_as_the_header_braces_balanced():
    (board,) = build_boards(_hostile_records())
    table = board_table(board)
    tex = tabular(table)
    assert tex.startswith("\\begin{tabular}{rll" + "r" * (len(table.header) - 3) + "}\n\\toprule\n")
    assert tex.count("\\toprule") == tex.count("\\midrule") == tex.count("\\bottomrule") == 1
    header = tex.split("\\toprule\n", 1)[1].split("\n", 1)[0]
    assert len(re.split(r"(?<!\\)&", header)) == len(table.header)
    rows = _tex_rows(tex)
    assert len(rows) == len(board.ranked_rows()) == 4
    assert all(len(row) == len(table.header) for row in rows)
    (hostile,) = [row for row in rows if row[1] == HOSTILE_TEX]
    assert hostile[2] == r"def\_\%"
    doc = latex_document([table], "t_1")
    assert _balanced(doc) and doc.count("\\begin{") == doc.count("\\end{")
    assert "\\section*{t\\_1}" in doc and "\\par\\footnotesize" in doc
    # nothing unescaped left: drop the escapes and commands we write, no special remains in the body
    body = re.sub(r"\\(textbf|textsuperscript|textbackslash|textasciitilde|textasciicircum|dag|pm|star|cdot)"
                  r"|\\[_%&#${}]|\$|[{}]", "", "\n".join(" ".join(r) for r in rows))
    assert not set(body) & set("_%&#~^\\")


def test_latex_and_markdown_show_the_same_numbers_best_values_and_marks_cell_by_cell():
    for recs in (records(), _hostile_records()):
        for board in build_boards(recs):
            table = board_table(board)
            tex_rows, md_rows = _tex_rows(tabular(table)), _md_rows(table_markdown(table))
            assert len(tex_rows) == len(md_rows) == len(table.cells)
            for tex_row, md_row in zip(tex_rows, md_rows):
                assert len(tex_row) == len(md_row)
                for tex, md in zip(tex_row, md_row):
                    assert NUMBER.findall(tex) == NUMBER.findall(md), (tex, md)
                    assert tex.startswith("\\textbf{") == md.startswith("**")
                    assert re.findall(r"\\textsuperscript\{([\d,]+)\}", tex) == re.findall(r"⚠([\d,]+)", md)
    text = tabular(board_table(build_boards(records())[0]))
    assert r"54.0 $\pm$ 1.0 (+1 failed)" in text and r"3.0 $\pm$ 1.0\textsuperscript{1}" in text


def test_a_paper_layout_keeps_its_label_columns_and_notes():
    table = Table.of_texts("p", "Latif et al. 2020, Table 1 layout", ["model", "iemocap · loso"],
                           [["cnn4", "61.0 ± 1.0"]], ["note 50%"], label_columns=1)
    tex = latex_document([table])
    assert "\\begin{tabular}{lr}" in tex and "cnn4 & 61.0 $\\pm$ 1.0 \\\\" in tex and "note 50\\%" in tex


def test_cli_latex_and_one_board_in_any_format(tmp_path):
    write_store(tmp_path / "results")
    runner = CliRunner()

    def cli(*args):
        return runner.invoke(app, ["leaderboard", "--results", str(tmp_path / "results"), *args])

    (board,) = build_boards(records())
    res = cli("--format", "latex")
    assert res.exit_code == 0, res.output
    assert res.output == latex_document([board_table(board)], "serbench leaderboard")
    md = cli("--board", board.slug, "--format", "markdown")
    assert md.exit_code == 0 and md.output == table_markdown(board_table(board)).rstrip() + "\n"
    csv = cli("--board", board.slug, "--format", "csv")
    assert csv.exit_code == 0 and csv.output.splitlines()[1].startswith(board.slug + ",")
    assert cli("--board", board.slug, "--format", "latex").output == res.output
    wrong = cli("--board", board.slug[:-2])
    assert wrong.exit_code != 0 and type(wrong.exception).__name__ == "SerbenchError"
    assert str(wrong.exception).startswith(f"--board '{board.slug[:-2]}': no such board; did you mean "
                                           f"'{board.slug}'?; boards: {board.slug}")
