"""LaTeX (booktabs) of tables, boards and paper layouts alike: a ``tabular`` to paste into a paper.

It renders the facts a :class:`~serbench.leaderboard.table.Table` carries, as the Markdown writer does (best values
bold, warnings numbered, the † mark), so the two formats show the same numbers. Every text comes from records
(component names, corpus labels, warnings) and may hold any of LaTeX's specials, so every text is escaped; the
few non-ASCII signs serbench writes itself (± — · ★ † × ⚠) become math or text commands, so the table compiles
with pdfLaTeX as well as LuaLaTeX. The document needs ``booktabs`` and ``adjustbox`` (wide boards are scaled
down to the line width, never up).
"""

from __future__ import annotations

from serbench.leaderboard.table import Cell, Table

_SPECIALS = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#",
             "$": r"\$", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
             "±": r"$\pm$", "—": "---", "–": "--", "·": r"$\cdot$", "★": r"$\star$", "†": r"\dag{}",
             "×": r"$\times$", "−": "$-$", "⚠": r"\textsuperscript{!}", "\n": " ", "<": r"\textless{}",
             ">": r"\textgreater{}", "|": r"\textbar{}"}


def escape(text: str) -> str:
    """``text`` safe in LaTeX's text mode: its specials escaped, serbench's own signs as commands."""
    return "".join(_SPECIALS.get(c, c) for c in text)


def _cell(cell: Cell) -> str:
    text = escape(cell.text)
    if cell.best:
        text = rf"\textbf{{{text}}}"
    if cell.marks:
        text += r"\textsuperscript{" + ",".join(str(m) for m in cell.marks) + "}"
    return text + (r" \dag{}" if cell.unreliable else "")


def _row(texts: list[str]) -> str:
    return " & ".join(texts) + r" \\"


def tabular(table: Table) -> str:
    """The table's booktabs ``tabular``: one ``&``-separated line per row, as many cells as the header."""
    spec = "".join("l" if table.left_aligned(i) else "r" for i in range(len(table.header)))
    lines = [rf"\begin{{tabular}}{{{spec}}}", r"\toprule", _row([escape(h) for h in table.header]), r"\midrule"]
    lines += [_row([_cell(cell) for cell in row]) for row in table.cells]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines)


def footnotes(table: Table) -> list[str]:
    """What goes under the table: its caption, notes, numbered warnings (as the cells' superscripts), failures
    and the † mark."""
    notes = ([table.caption] if table.caption else []) + table.notes
    lines = [escape(n) for n in notes]
    lines += [rf"\textsuperscript{{{i}}}{escape(w)}" for i, w in enumerate(table.warnings, 1)]
    lines += [rf"failed: {escape(e)}" for e in table.failures]
    if any(cell.unreliable for row in table.cells for cell in row):
        lines.append(r"\dag{} unreliable: the row carries a gradient-masking warning.")
    return lines


def table_latex(table: Table) -> str:
    """One ``table`` float: its title as the caption, the tabular (scaled down where wider than the line), then a
    ``\\footnotesize`` paragraph of its footnotes."""
    notes = footnotes(table)
    lines = [r"\begin{table}[htbp]", r"\centering", rf"\caption{{{escape(table.title)}}}",
             rf"\label{{tab:{_label(table.slug)}}}", r"\begin{adjustbox}{max width=\linewidth}", tabular(table),
             r"\end{adjustbox}"]
    if notes:
        lines += [r"\par\footnotesize", "\n\n".join(notes) + r"\par"]
    lines.append(r"\end{table}")
    return "\n".join(lines)


def _label(slug: str) -> str:
    return "".join(c if c.isalnum() or c in "-.:" else "-" for c in slug)


def latex_document(tables: list[Table], title: str | None = None) -> str:
    """A standalone document of every table (``leaderboard.tex``): copy a ``table`` float out of it, or compile
    it as it is."""
    head = [r"\documentclass{article}", r"\usepackage[T1]{fontenc}", r"\usepackage[utf8]{inputenc}",
            r"\usepackage{booktabs}", r"\usepackage{adjustbox}", r"\usepackage[margin=2cm]{geometry}",
            r"\begin{document}"]
    if title:
        head.append(rf"\section*{{{escape(title)}}}")
    body = [table_latex(t) for t in tables]
    return "\n".join(head) + "\n\n" + "\n\n".join(body) + "\n\n" + r"\end{document}" + "\n"
