"""Badges for a README: one small SVG per board row, ``<model>+<defense>`` on the left, its ranking value on the right.

Self-contained (shields.io's flat look, no network, no font files): a text's width is estimated from a fixed
advance per character, and each text carries that width as ``textLength``, so whatever font the viewer has, the
text fills exactly the box it was given. The right side is the value the board ranks by (its robust column, the
mean corruption UAR on a corruption board; clean where the board has no attacks), in percent as the tables write
it; an unreliable row (gradient-masking warning, † in the tables) is grey and marked †.
"""

from __future__ import annotations

import hashlib
import re
from xml.sax.saxutils import escape, quoteattr

from serbench.leaderboard.aggregate import Board
from serbench.leaderboard.text import NO_VALUE, UNRELIABLE_MARK, number_text

CHAR_WIDTH = 7  # px per character of 11 px Verdana, a fixed estimate (shields measures; we cannot without fonts)
PAD = 6  # px each side of a text
HEIGHT = 20
LABEL_COLOUR, GREY = "#555", "#9f9f9f"
COLOURS = ((80, "#4c1"), (65, "#97ca00"), (50, "#a4a61d"), (35, "#dfb317"), (20, "#fe7d37"), (0, "#e05d44"))
FOLDER = "badges"


def ranking_column(board: Board) -> str:
    """The column the board ranks by, as the JSON export's ``ranked_by`` names it."""
    return board.robust_column or "clean"


def safe_name(text: str) -> str:
    """``text`` as a file name every file system and URL takes: letters, digits and ``._+-``; the rest ``_``."""
    name = re.sub(r"[^A-Za-z0-9._+-]", "_", text).lstrip(".")
    return name[:120] or "_"


def colour(percent: float | None) -> str:
    if percent is None:
        return GREY
    return next(c for low, c in COLOURS if percent >= low)


def text_width(text: str) -> int:
    return CHAR_WIDTH * len(text)


def badge_svg(label: str, value: str, fill: str, title: str) -> str:
    """One flat badge: ``label`` on grey, ``value`` on ``fill``; ``title``: the tooltip and accessible name."""
    left, right = text_width(label) + 2 * PAD, text_width(value) + 2 * PAD
    width = left + right

    def text(body: str, x: float, w: int) -> str:
        attrs = f'x="{x:g}" textLength="{w}" lengthAdjust="spacingAndGlyphs"'
        return (f'<text {attrs} y="15" fill="#010101" fill-opacity=".3">{escape(body)}</text>'
                f'<text {attrs} y="14">{escape(body)}</text>')

    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{HEIGHT}" role="img" '
            f'aria-label={quoteattr(title)}><title>{escape(title)}</title>'
            '<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/>'
            '<stop offset="1" stop-opacity=".1"/></linearGradient>'
            f'<clipPath id="r"><rect width="{width}" height="{HEIGHT}" rx="3" fill="#fff"/></clipPath>'
            f'<g clip-path="url(#r)"><rect width="{left}" height="{HEIGHT}" fill="{LABEL_COLOUR}"/>'
            f'<rect x="{left}" width="{right}" height="{HEIGHT}" fill="{fill}"/>'
            f'<rect width="{width}" height="{HEIGHT}" fill="url(#s)"/></g>'
            '<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" '
            f'font-size="11">{text(label, left / 2, text_width(label))}'
            f'{text(value, left + right / 2, text_width(value))}</g></svg>\n')


def board_badges(board: Board) -> dict[str, bytes]:
    """The board's badges by path ``badges/<board>/<model>+<defense>.svg``; two rows whose names make the same
    file name get a short digest of their full names appended."""
    column, unreliable = ranking_column(board), board.unreliable
    names = {row: safe_name(f"{row[0]}+{row[1]}") for row in board.rows}
    clash = {n for n in names.values() if list(names.values()).count(n) > 1}
    out = {}
    for row in board.ranked_rows():
        scores = board.rows[row].get(column)
        mean = None if scores is None or scores.mean is None else 100 * scores.mean
        value = NO_VALUE if mean is None else f"{number_text(mean)} %"
        if row in unreliable:
            value += f" {UNRELIABLE_MARK}"
        name = names[row]
        if name in clash:
            name += "-" + hashlib.sha256("\0".join(row).encode()).hexdigest()[:8]
        title = (f"{row[0]}+{row[1]}: {board.metric.upper()} {value} under {column} "
                 f"({board.title})" + (" - unreliable: gradient-masking warning" if row in unreliable else ""))
        svg = badge_svg(f"{row[0]}+{row[1]}", value, GREY if row in unreliable else colour(mean), title)
        out[f"{FOLDER}/{board.slug}/{name}.svg"] = svg.encode()
    return out


def badges(boards: list[Board]) -> dict[str, bytes]:
    """Every board's badges by relative path (see :func:`board_badges`)."""
    return {path: data for board in boards for path, data in board_badges(board).items()}
