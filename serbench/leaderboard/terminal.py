"""Rich tables for the terminal.

Every text that comes from records (component names and params, corpus labels,
warnings, errors) is escaped before it reaches rich, whose markup would
otherwise eat ``[nan, nan]`` or ``[draft]``.
"""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from serbench.leaderboard.aggregate import Board, Cell
from serbench.leaderboard.text import RANKING_NOTE, UNRELIABLE_MARK, value_text


def fmt(cell: Cell | None, best: bool = False) -> str:
    if cell is None:
        return "—"
    text = escape(value_text(cell))
    if cell.mean is None:
        return f"[red]{text}[/red]"
    if best:
        text = f"[bold green]{text}[/bold green]"
    if cell.failed:
        text = text.replace(f"(+{cell.failed} failed)", f"[red](+{cell.failed} failed)[/red]")
    if cell.warnings:
        text += " [yellow]⚠[/yellow]"
    return text


def rich_table(board: Board) -> Table:
    metric = board.metric.upper().replace("MACRO_F1", "macro-F1")
    table = Table(title=escape(f"{metric} % — {board.title}"), title_justify="left",
                  caption=escape(RANKING_NOTE) if board.robust_column or board.unreliable else None,
                  caption_justify="left")
    table.add_column("#", justify="right")
    table.add_column("model")
    table.add_column("defense")
    for col in board.columns:
        table.add_column(escape(col.title + (" ★" if col.title == board.robust_column else "")), justify="right")
    best = {col.title: board.best(col.title) for col in board.columns}
    unreliable = board.unreliable
    for rank, row in enumerate(board.ranked_rows(), 1):
        cells = board.rows[row]
        model = escape(row[0]) + (f" [red]{UNRELIABLE_MARK} unreliable[/red]" if row in unreliable else "")
        table.add_row(str(rank), model, escape(row[1]), *[fmt(cells.get(c.title), row in best[c.title])
                                                          for c in board.columns])
    return table


def footnotes(board: Board) -> list[str]:
    """The board's warnings (numbered as the ⚠ marks) and failures, one rich-markup line each."""
    lines = [f"  [yellow]⚠{i} {escape(w)}[/yellow]" for i, w in enumerate(board.warnings(), 1)]
    return lines + [f"  [red]failed:[/red] {escape(e)}" for e in board.errors()]
