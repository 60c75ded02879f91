"""Rich tables for the terminal.

Every text that comes from records (component names and params, corpus labels,
warnings, errors) is escaped before it reaches rich, whose markup would
otherwise eat ``[nan, nan]`` or ``[draft]``.
"""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table as RichTable

from serbench.leaderboard.table import Cell, Table
from serbench.leaderboard.text import UNRELIABLE_MARK


def markup(cell: Cell) -> str:
    """A cell in rich markup: failures red, the best value bold green, a yellow ⚠ where it carries warnings."""
    text = escape(cell.text)
    if cell.only_failed:
        return f"[red]{text}[/red]"
    if cell.best:
        text = f"[bold green]{text}[/bold green]"
    if cell.failed:
        text = text.replace(f"(+{cell.failed} failed)", f"[red](+{cell.failed} failed)[/red]")
    if cell.marks:
        text += " [yellow]⚠[/yellow]"
    return text + (f" [red]{UNRELIABLE_MARK} unreliable[/red]" if cell.unreliable else "")


def rich_table(table: Table) -> RichTable:
    notes = ([table.caption] if table.caption else []) + table.notes
    out = RichTable(title=escape(table.terminal_title or table.title), title_justify="left",
                    caption=escape("\n".join(notes)) or None, caption_justify="left")
    for i, head in enumerate(table.header):
        out.add_column(escape(head), justify="left" if table.left_aligned(i) else "right")
    for row in table.cells:
        out.add_row(*[markup(cell) for cell in row])
    return out


def footnotes(table: Table) -> list[str]:
    """The table's warnings (numbered as its cells' marks) and failures, one rich-markup line each."""
    lines = [f"  [yellow]⚠{i} {escape(w)}[/yellow]" for i, w in enumerate(table.warnings, 1)]
    return lines + [f"  [red]failed:[/red] {escape(e)}" for e in table.failures]
