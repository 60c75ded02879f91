"""GitHub Markdown of tables, boards and paper layouts alike: best values bold, warnings and failures as footnotes."""

from __future__ import annotations

from serbench.leaderboard.table import Cell, Table
from serbench.leaderboard.text import UNRELIABLE_MARK


def _escape(text: str, newlines: bool = True) -> str:
    text = text.replace("|", "\\|")
    return text.replace("\n", " ") if newlines else text


def table_markdown(table: Table, images: dict[str, str] | None = None) -> str:
    """One table; ``images`` maps a caption to a relative image path shown under it."""
    text = _escape if table.escape_everywhere else str
    lines = [f"### {text(table.title)}", "", _row([text(h) for h in table.header]),
             "|" + "|".join("---" if table.left_aligned(i) else "---:" for i in range(len(table.header))) + "|"]
    lines += [_row([_cell(cell, table.escape_everywhere) for cell in row]) for row in table.cells]
    lines.append("")
    if table.caption:
        lines += [table.caption, ""]
    footnotes = ([text(n) for n in table.notes] + [f"⚠{i}: {text(w)}" for i, w in enumerate(table.warnings, 1)]
                 + [f"failed: {text(e)}" for e in table.failures])
    lines += [f"{f}  " for f in footnotes] + ([""] if footnotes else [])
    for caption, path in (images or {}).items():
        lines += [f"![{caption}]({path})", ""]
    return "\n".join(lines)


def _row(texts: list[str]) -> str:
    return "| " + " | ".join(texts) + " |"


def _cell(cell: Cell, newlines: bool) -> str:
    text = _escape(cell.text, newlines)
    if cell.best:
        text = f"**{text}**"
    if cell.marks:
        text += " ⚠" + ",".join(str(m) for m in cell.marks)
    return text + (f" {UNRELIABLE_MARK} unreliable" if cell.unreliable else "")


def markdown(tables: list[Table], title: str | None = None, provenance: str = "",
             images: dict[str, dict[str, str]] | None = None) -> str:
    """A page of tables under an optional ``# title`` and provenance line; ``images`` maps a table's slug to its
    {caption: path}."""
    parts = [f"# {title}", ""] if title else []
    if provenance:
        parts += [provenance, ""]
    for table in tables:
        parts.append(table_markdown(table, (images or {}).get(table.slug)))
    return "\n".join(parts).rstrip() + "\n"
