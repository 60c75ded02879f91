"""A board as a table: rows in rank order, the robust column starred, best values, numbered warnings, † marks.

Every presentation fact of a board is decided here once, so the Markdown,
terminal and HTML leaderboards cannot disagree on them.
"""

from __future__ import annotations

from serbench.inputs import SPECTROGRAM
from serbench.leaderboard.aggregate import CORRUPTIONS, Board, Scores
from serbench.leaderboard.table import Cell, Table
from serbench.leaderboard.text import CORRUPTION_NOTE, NO_VALUE, RANKING_NOTE, value_text

AUTOATTACK_NOTE = ("Rows ranked by robust UAR under autoattack (★: its per-utterance worst case over APGD-CE, APGD-T, "
                   "APGD-T-CE and Square, at the largest budget every row was attacked at: the largest eps, or the "
                   "lowest SNR, as RobustBench ranks), ties by clean UAR; † unreliable: a row with a gradient-masking "
                   "warning (its robust UAR likely overstates it) ranks below every reliable row; bold: best in its "
                   "column; ± is the std over folds and seeds; (min): minimum of the attacks' means, an upper bound "
                   "on the per-utterance worst case; the per-attack breakdown (utterances each member flipped) is in "
                   "the JSON export.")


def board_table(board: Board) -> Table:
    """The board's table: ``#``, model, defense, then a column per board column (★: the robust one)."""
    warnings = board.warnings()
    columns = board.shown_columns
    best = {col.title: board.best(col.title) for col in columns}
    unreliable = board.unreliable
    cells = [[Cell(str(rank)), Cell(_model_text(board, row), unreliable=row in unreliable), Cell(row[1])]
             + [_value_cell(board.rows[row].get(col.title), row in best[col.title], warnings)
                for col in columns]
             for rank, row in enumerate(board.ranked_rows(), 1)]
    header = ["#", "model", "defense"] + [col.title + (" ★" if col.title == board.robust_column else "")
                                          for col in columns]
    metric = board.metric.upper()
    note = CORRUPTION_NOTE if board.threat == CORRUPTIONS else \
        AUTOATTACK_NOTE if board.ranked_by_autoattack else RANKING_NOTE
    return Table(board.slug, f"{metric} % — {board.title}", header, cells, ranked=True,
                 caption=note if board.robust_column or unreliable else None,
                 warnings=warnings, failures=board.errors(),
                 terminal_title=f"{metric.replace('MACRO_F1', 'macro-F1')} % — {board.title}",
                 escape_everywhere=True)


def _model_text(board: Board, row: tuple[str, str]) -> str:
    """The model's name, marked ``(waveform)`` where it takes raw audio (spectrogram models, the usual case, are
    left unmarked)."""
    kind = board.input_of(row)
    return row[0] if kind == SPECTROGRAM else f"{row[0]} ({kind})"


def _value_cell(scores: Scores | None, best: bool, warnings: list[str]) -> Cell:
    """A row's scores in one column; ``warnings``: the board's, whose positions number the marks."""
    if scores is None:
        return Cell(NO_VALUE, sort_value="")
    mean = scores.mean
    return Cell(value_text(scores), sort_value="" if mean is None else f"{mean:.6f}", best=best,
                marks=tuple(warnings.index(w) + 1 for w in scores.warnings), failed=scores.failed,
                errors=tuple(scores.errors), only_failed=mean is None)
