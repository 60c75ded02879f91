"""Rich tables for the terminal."""

from __future__ import annotations

from rich.table import Table

from serbench.leaderboard.aggregate import Board, Cell
from serbench.leaderboard.text import RANKING_NOTE, value_text


def fmt(cell: Cell | None, best: bool = False) -> str:
    if cell is None:
        return "—"
    text = value_text(cell)
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
    table = Table(title=f"{metric} % — {board.title}", title_justify="left",
                  caption=RANKING_NOTE if board.robust_column else None, caption_justify="left")
    table.add_column("#", justify="right")
    table.add_column("model")
    table.add_column("defense")
    for col in board.columns:
        table.add_column(col.title + (" ★" if col.title == board.robust_column else ""), justify="right")
    best = {col.title: board.best(col.title) for col in board.columns}
    for rank, row in enumerate(board.ranked_rows(), 1):
        cells = board.rows[row]
        table.add_row(str(rank), row[0], row[1], *[fmt(cells.get(c.title), row in best[c.title])
                                                   for c in board.columns])
    return table
