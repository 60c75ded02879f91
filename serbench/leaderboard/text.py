"""Plain-text pieces every renderer shares: how a value is written, what the ranking means."""

from __future__ import annotations

from serbench.leaderboard.aggregate import Scores

UNRELIABLE_MARK = "†"
RANKING_NOTE = ("Rows ranked by robust UAR (★: the worst case over the board's attacks, white-box and transfer, at "
                "the largest budget every row was attacked at: the largest eps, or the lowest SNR), ties by clean "
                "UAR; † unreliable: a row with a gradient-masking warning (its robust UAR likely overstates it) ranks "
                "below every reliable row, as in RobustBench; bold: best in its column; ± is the std over folds and "
                "seeds; (min): minimum of the attacks' means, an upper bound on the per-utterance worst case.")

CORRUPTION_NOTE = ("Rows ranked by mean corruption UAR (★: the mean over corruptions of each corruption's mean over "
                   "its severities), ties by clean UAR; a corruption's column is its mean over severities 1-5 (every "
                   "severity: the heat map and the JSON export); mCE: error under corruption relative to the "
                   "reference row, relative mCE: the drop from clean relative to the reference's, both lower is "
                   "better, 100 = the reference (by default the same model with standard training); bold: best in "
                   "its column.")

NO_VALUE = "—"
PERCENT, FRACTION = "percent", "fraction"  # how a table writes its values: boards and Latif et al.; Ren et al.


def number_text(x: float, style: str = PERCENT) -> str:
    """``61.5`` (``percent``: one decimal) or ``.836`` (``fraction``: three decimals, no leading zero below 1)."""
    if style == PERCENT:
        return f"{x:.1f}"
    return f"{x:.3f}".replace("0.", ".", 1) if x < 1 else f"{x:.3f}"


def mean_text(mean: float, std: float | None, failed: int = 0, style: str = PERCENT) -> str:
    """``61.5 ± 1.5`` (``percent``) or ``.836±.012`` (``fraction``); no spread when ``std`` is None (one value);
    `` (+1 failed)`` when some of the cell's records failed. ``mean`` and ``std`` are already in the style's
    scale (percent points for ``percent``)."""
    text = number_text(mean, style)
    if std is not None:
        text += (" ± " if style == PERCENT else "±") + number_text(std, style)
    return text + (f" (+{failed} failed)" if failed else "")


def value_text(scores: Scores | None) -> str:
    """``59.9``, ``59.9 ± 1.2``, ``59.9 (+1 failed)`` or ``failed×2``; values in percent, one decimal."""
    if scores is None:
        return NO_VALUE
    if scores.mean is None:
        return f"failed×{scores.failed}"
    return mean_text(100 * scores.mean, 100 * scores.std if len(scores.values) > 1 else None, scores.failed)
