"""Plain-text pieces every renderer shares: how a value is written, what the ranking means."""

from __future__ import annotations

from serbench.leaderboard.aggregate import Cell

UNRELIABLE_MARK = "†"
RANKING_NOTE = ("Rows ranked by robust UAR (★: the worst case over the board's attacks, white-box and transfer, at "
                "the largest eps every row was attacked at), ties by clean UAR; † unreliable: a row with a "
                "gradient-masking warning (its robust UAR likely overstates it) ranks below every reliable row, as "
                "in RobustBench; bold: best in its column; ± is the std over folds and seeds; (min): minimum of the "
                "attacks' means, an upper bound on the per-utterance worst case.")


def value_text(cell: Cell | None) -> str:
    """``59.9``, ``59.9 ± 1.2``, ``59.9 (+1 failed)`` or ``failed×2``; values in percent, one decimal."""
    if cell is None:
        return "—"
    if cell.mean is None:
        return f"failed×{cell.failed}"
    text = f"{100 * cell.mean:.1f}"
    if len(cell.values) > 1:
        text += f" ± {100 * cell.std:.1f}"
    if cell.failed:
        text += f" (+{cell.failed} failed)"
    return text
