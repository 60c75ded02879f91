"""GitHub Markdown: one table per board, best values bold, warnings and failures as footnotes."""

from __future__ import annotations

from serbench.leaderboard.aggregate import Board
from serbench.leaderboard.text import RANKING_NOTE, UNRELIABLE_MARK, value_text


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def board_markdown(board: Board, plots: dict[str, str] | None = None) -> str:
    """One board; ``plots`` maps a caption to a relative image path shown under the table."""
    notes = board.warnings()
    cols = board.columns
    header = ["#", "model", "defense"] + [c.title + (" ★" if c.title == board.robust_column else "") for c in cols]
    lines = [f"### {board.metric.upper()} % — {_escape(board.title)}", "",
             "| " + " | ".join(_escape(h) for h in header) + " |",
             "|" + "|".join(["---:", "---", "---"] + ["---:"] * len(cols)) + "|"]
    best = {c.title: board.best(c.title) for c in cols}
    unreliable = board.unreliable
    for rank, row in enumerate(board.ranked_rows(), 1):
        cells = []
        for c in cols:
            cell = board.rows[row].get(c.title)
            text = value_text(cell)
            if cell is not None and cell.mean is not None and row in best[c.title]:
                text = f"**{text}**"
            if cell is not None:
                marks = [notes.index(w) + 1 for w in cell.warnings]
                if marks:
                    text += " ⚠" + ",".join(str(m) for m in marks)
            cells.append(text)
        model = _escape(row[0]) + (f" {UNRELIABLE_MARK} unreliable" if row in unreliable else "")
        lines.append("| " + " | ".join([str(rank), model, _escape(row[1])] + [_escape(c) for c in cells]) + " |")
    lines.append("")
    if board.robust_column or unreliable:
        lines += [RANKING_NOTE, ""]
    for i, w in enumerate(notes, 1):
        lines.append(f"⚠{i}: {_escape(w)}  ")
    errors = board.errors()
    for e in errors:
        lines.append(f"failed: {_escape(e)}  ")
    if notes or errors:
        lines.append("")
    for caption, path in (plots or {}).items():
        lines += [f"![{caption}]({path})", ""]
    return "\n".join(lines)


def markdown(boards: list[Board], title: str = "serbench leaderboard", provenance: str = "",
             plots: dict[str, dict[str, str]] | None = None) -> str:
    """The whole page; ``plots`` maps a board's slug to its {caption: path}."""
    parts = [f"# {title}", ""]
    if provenance:
        parts += [provenance, ""]
    for board in boards:
        parts.append(board_markdown(board, (plots or {}).get(board.slug)))
    return "\n".join(parts).rstrip() + "\n"
