"""Rich tables for the terminal."""

from __future__ import annotations

from rich.table import Table

from serbench.leaderboard.aggregate import Board


def fmt(cell) -> str:
    if cell is None:
        return "—"
    if cell.mean is None:
        return f"[red]failed×{cell.failed}[/red]"
    text = f"{100 * cell.mean:.1f}"
    if cell.std and len(cell.values) > 1:
        text += f" ± {100 * cell.std:.1f}"
    if cell.failed:
        text += f" [red](+{cell.failed} failed)[/red]"
    if cell.warnings:
        text += " [yellow]⚠[/yellow]"
    return text


def rich_table(board: Board) -> Table:
    table = Table(title=f"UAR % — {board.title}", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("model")
    table.add_column("defense")
    for col in board.columns:
        table.add_column(col, justify="right")
    for rank, row in enumerate(board.ranked_rows(), 1):
        cells = board.rows[row]
        table.add_row(str(rank), row[0], row[1], *[fmt(cells.get(c)) for c in board.columns])
    return table
