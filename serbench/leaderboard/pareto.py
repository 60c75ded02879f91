"""Robust-vs-clean scatter plots as inline SVG, with the Pareto front (no matplotlib: the page draws itself).

A row is on the Pareto front when no other row is at least as good on both
clean and robust UAR and better on one: the rows a reader choosing a
trade-off needs to look at, all others are beaten on both axes by one of them.
"""

from __future__ import annotations

import html
from typing import Sequence

Point = tuple[float, float]  # (clean, robust), fractions


def pareto_front(points: Sequence[Point]) -> list[int]:
    """Indices of the points no other point dominates (>= on both coordinates, > on one), by clean UAR."""
    front = [i for i, (x, y) in enumerate(points)
             if not any(ox >= x and oy >= y and (ox > x or oy > y) for ox, oy in points)]
    return sorted(front, key=lambda i: (points[i][0], -points[i][1]))


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def scatter_svg(points: Sequence[Point], labels: Sequence[str], marks: Sequence[str], robust_title: str,
                links: Sequence[str] | None = None) -> str:
    """An ``<svg>`` of robust (y) vs clean (x) UAR in percent: one dot per row, numbered by ``marks`` (its rank),
    named by ``labels`` (hover title, accessible name), linked to ``links`` where given; the Pareto front's
    dots filled and joined by a line. Scales with its box (viewBox), so it fits a phone."""
    width, height, left, right, top, bottom = 480, 320, 48, 16, 12, 40
    xs = [100 * p[0] for p in points] or [0.0]
    ys = [100 * p[1] for p in points] or [0.0]
    lo_x, hi_x = _range(xs)
    lo_y, hi_y = _range(ys)

    def sx(v: float) -> float:
        return left + (v - lo_x) / (hi_x - lo_x) * (width - left - right)

    def sy(v: float) -> float:
        return height - bottom - (v - lo_y) / (hi_y - lo_y) * (height - top - bottom)

    front = pareto_front(points)
    out = [f'<svg class="scatter" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{_e(f"{robust_title} vs clean UAR, one dot per row; Pareto front highlighted")}">',
           f'<rect x="{left}" y="{top}" width="{width - left - right}" height="{height - top - bottom}" '
           'class="frame"/>']
    for v in _ticks(lo_x, hi_x):
        out.append(f'<line class="grid" x1="{sx(v):.1f}" x2="{sx(v):.1f}" y1="{top}" y2="{height - bottom}"/>'
                   f'<text class="tick" x="{sx(v):.1f}" y="{height - bottom + 14}" text-anchor="middle">{v:g}</text>')
    for v in _ticks(lo_y, hi_y):
        out.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{sy(v):.1f}" y2="{sy(v):.1f}"/>'
                   f'<text class="tick" x="{left - 6}" y="{sy(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
    out.append(f'<text class="axis" x="{(left + width - right) / 2}" y="{height - 6}" text-anchor="middle">'
               "clean UAR %</text>"
               f'<text class="axis" transform="translate(12 {(top + height - bottom) / 2}) rotate(-90)" '
               f'text-anchor="middle">{_e(robust_title)} %</text>')
    if len(front) > 1:
        path = " ".join(f"{sx(xs[i]):.1f},{sy(ys[i]):.1f}" for i in front)
        out.append(f'<polyline class="front" points="{path}"/>')
    for i in range(len(points)):
        on = i in front
        dot = (f'<circle class="{"on-front" if on else "dot"}" cx="{sx(xs[i]):.1f}" cy="{sy(ys[i]):.1f}" r="5">'
               f"<title>{_e(labels[i])}: clean {xs[i]:.1f}, {_e(robust_title)} {ys[i]:.1f}"
               f"{' (Pareto front)' if on else ''}</title></circle>"
               f'<text class="mark" x="{sx(xs[i]) + 7:.1f}" y="{sy(ys[i]) - 6:.1f}">{_e(marks[i])}</text>')
        out.append(f'<a href="{_e(links[i])}">{dot}</a>' if links else dot)
    return "".join(out + ["</svg>"])


def _range(values: list[float]) -> tuple[float, float]:
    """A padded axis range around ``values`` (percent), clipped to 0-100 and at least 10 points wide."""
    lo, hi = min(values), max(values)
    pad = max((hi - lo) * 0.1, 2.0)
    lo, hi = max(0.0, lo - pad), min(100.0, hi + pad)
    if hi - lo < 10:
        mid = (lo + hi) / 2
        lo, hi = max(0.0, mid - 5), min(100.0, mid + 5)
        lo, hi = (lo, lo + 10) if hi - lo < 10 and lo == 0.0 else (hi - 10, hi) if hi - lo < 10 else (lo, hi)
    return lo, hi


def _ticks(lo: float, hi: float) -> list[float]:
    """Round ticks inside [lo, hi]: steps of 5, 10 or 20 points, about five of them."""
    step = next(s for s in (5, 10, 20, 25) if (hi - lo) / s <= 6)
    first = -(-lo // step) * step
    return [first + k * step for k in range(int((hi - first) // step) + 1)]
