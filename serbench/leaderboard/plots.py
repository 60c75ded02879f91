"""Leaderboard plots with matplotlib (Agg): UAR vs eps (as Ren et al. Fig. 3), UAR vs SNR, confusion matrices.

Every figure is drawn from plain data (lists of numbers) whose sha256, the
*data digest*, is written into the file's metadata (PNG text chunk, SVG
description). Pixels depend on the matplotlib and font versions of a machine;
the digest does not, so ``serbench leaderboard --check`` compares digests for
images and bytes for text.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from serbench.bench.conditions import Clean
from serbench.bench.records import condition_of
from serbench.leaderboard.aggregate import Board

DIGEST_KEY = "serbench-data"
DIGEST_RE = re.compile(DIGEST_KEY + r": ([0-9a-f]{64})")


@dataclass
class Plot:
    """One figure: a file stem, a caption, the data it shows and its digest; rendered on demand."""

    stem: str
    caption: str
    kind: str  # eps | snr | confusion | heatmap
    data: dict[str, Any]

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.data, sort_keys=True).encode()).hexdigest()

    def render(self, fmt: str) -> bytes:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        with matplotlib.rc_context({"svg.hashsalt": DIGEST_KEY, "font.size": 9, "svg.fonttype": "none"}):
            fig = _DRAW[self.kind](plt, self.data)
            buf = io.BytesIO()
            meta = ({"Software": None, DIGEST_KEY: f"{DIGEST_KEY}: {self.digest}"} if fmt == "png" else
                    {"Date": None, "Creator": None, "Description": f"{DIGEST_KEY}: {self.digest}"})
            fig.savefig(buf, format=fmt, metadata=meta, dpi=110, bbox_inches="tight")
            plt.close(fig)
        return buf.getvalue()


def board_plots(board: Board, records: Iterable[dict[str, Any]]) -> list[Plot]:
    """The figures of a board: UAR vs eps per attack, UAR vs SNR per noise, clean confusion matrices."""
    plots = []
    rows = board.ranked_rows()
    clean = {f"{m} + {d}": board.rows[(m, d)].get("clean") for m, d in rows}
    attacks = sorted({c.name for c in board.columns if c.kind in ("attack", "worst_case") and not c.derived})
    if attacks:
        series = {}
        for m, d in rows:
            base = clean[f"{m} + {d}"]
            for name in attacks:
                pts = [[0.0, base.mean]] if base is not None and base.mean is not None else []
                for c in board.columns:
                    cell = board.rows[(m, d)].get(c.title)
                    if c.name == name and not c.derived and cell is not None and cell.mean is not None:
                        pts.append([c.eps, cell.mean])
                if len(pts) > 1:
                    series[f"{m} + {d}: {name}"] = sorted(pts)
        if series:
            plots.append(Plot(f"{board.slug}-eps", f"{board.metric.upper()} vs eps ({board.title})", "eps",
                              {"title": board.title, "metric": board.metric, "series": series}))
    noises = sorted({c.name for c in board.columns if c.kind == "noise"})
    if noises:
        series = {}
        for m, d in rows:
            for name in noises:
                pts = [[c.snr_db, board.rows[(m, d)][c.title].mean] for c in board.columns
                       if c.kind == "noise" and c.name == name and c.title in board.rows[(m, d)]
                       and board.rows[(m, d)][c.title].mean is not None]
                if pts:
                    series[f"{m} + {d}: {name}"] = sorted(pts)
        if series:
            plots.append(Plot(f"{board.slug}-snr", f"{board.metric.upper()} vs SNR ({board.title})", "snr",
                              {"title": board.title, "metric": board.metric, "series": series,
                               "clean": {k: v.mean for k, v in clean.items() if v and v.mean is not None}}))
    heat = _corruption_grid(board, rows)
    if heat:
        plots.append(Plot(f"{board.slug}-severity", f"{board.metric.upper()} by corruption and severity "
                          f"({board.title})", "heatmap", heat))
    matrices = _clean_confusions(board, records)
    if matrices:
        plots.append(Plot(f"{board.slug}-confusion", f"Clean confusion matrices ({board.title})", "confusion",
                          {"title": board.title, "matrices": matrices}))
    return plots


def _corruption_grid(board: Board, rows: list[tuple[str, str]]) -> dict[str, Any] | None:
    """Per row, the mean of every corruption x severity cell (None where it has none): the SER-C heat map."""
    per_severity = [c for c in board.columns if c.kind == "corruption"]
    if not per_severity:
        return None
    names = sorted({c.name for c in per_severity})
    severities = sorted({int(c.severity) for c in per_severity})
    title = {(c.name, int(c.severity)): c.title for c in per_severity}
    grid = {}
    for row in rows:
        cells = board.rows[row]
        grid[f"{row[0]} + {row[1]}"] = [
            [cells[title[(n, s)]].mean if (n, s) in title and title[(n, s)] in cells else None for s in severities]
            for n in names]
    return {"title": board.title, "metric": board.metric, "corruptions": names, "severities": severities,
            "rows": grid}


def _clean_confusions(board: Board, records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Clean confusion matrices per row, summed over folds and seeds: the board's own records only (a
    same-named corpus with other params or other data, or a model variant, is not mixed in)."""
    out: dict[str, Any] = {}
    for row, r in board.entries:
        if r["status"] != "ok" or not isinstance(condition_of(r), Clean) or "confusion" not in r["metrics"]:
            continue
        key = f"{row[0]} + {row[1]}"
        cm = np.asarray(r["metrics"]["confusion"], dtype=np.int64)
        if key in out:
            out[key]["counts"] = (np.asarray(out[key]["counts"]) + cm).tolist()
        else:
            out[key] = {"labels": list(r["metrics"].get("labels") or range(len(cm))), "counts": cm.tolist()}
    return dict(sorted(out.items()))


def _lines(plt, data: dict[str, Any], xlabel: str, invert: bool):
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for label, pts in data["series"].items():
        xs, ys = zip(*pts)
        ax.plot(xs, [100 * y for y in ys], marker="o", label=label)
    if invert:
        ax.invert_xaxis()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"{data['metric'].upper()} %")
    ax.set_title(data["title"], fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return fig


def _draw_eps(plt, data):
    return _lines(plt, data, "eps (normalised feature units; dB per bin in the title)", invert=False)


def _draw_snr(plt, data):
    return _lines(plt, data, "SNR (dB)", invert=True)


def _draw_confusion(plt, data):
    mats = data["matrices"]
    fig, axes = plt.subplots(1, len(mats), figsize=(3.2 * len(mats), 3.2), squeeze=False)
    for ax, (label, m) in zip(axes[0], mats.items()):
        counts = np.asarray(m["counts"], dtype=float)
        rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        ax.imshow(rates, vmin=0, vmax=1, cmap="Blues")
        n = len(m["labels"])
        ax.set_xticks(range(n), m["labels"], rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(n), m["labels"], fontsize=7)
        for i in range(n):
            for j in range(n):
                ax.text(j, i, f"{100 * rates[i, j]:.0f}", ha="center", va="center", fontsize=7,
                        color="white" if rates[i, j] > 0.5 else "black")
        ax.set_title(label, fontsize=8)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
    fig.suptitle(data["title"], fontsize=9)
    return fig


def _draw_heatmap(plt, data):
    grids = data["rows"]
    names, severities = data["corruptions"], data["severities"]
    fig, axes = plt.subplots(1, len(grids), figsize=(0.55 * len(severities) * len(grids) + 2.2 * len(grids),
                                                     0.32 * len(names) + 1.4), squeeze=False)
    for ax, (label, grid) in zip(axes[0], grids.items()):
        values = np.array([[np.nan if v is None else 100 * v for v in row] for row in grid], dtype=float)
        ax.imshow(values, vmin=0, vmax=100, cmap="RdYlGn", aspect="auto")
        ax.set_xticks(range(len(severities)), [str(s) for s in severities], fontsize=7)
        ax.set_yticks(range(len(names)), names, fontsize=7)
        for i in range(len(names)):
            for j in range(len(severities)):
                if not np.isnan(values[i, j]):
                    ax.text(j, i, f"{values[i, j]:.0f}", ha="center", va="center", fontsize=6)
        ax.set_xlabel("severity")
        ax.set_title(label, fontsize=8)
    fig.suptitle(f"{data['metric'].upper()} % — {data['title']}", fontsize=9)
    return fig


_DRAW = {"eps": _draw_eps, "snr": _draw_snr, "confusion": _draw_confusion, "heatmap": _draw_heatmap}


def embedded_digest(content: bytes, suffix: str) -> str | None:
    """The data digest a PNG, SVG or HTML file carries (None if it carries none)."""
    if suffix == ".png":
        from PIL import Image

        with Image.open(io.BytesIO(content)) as img:
            text = img.text.get(DIGEST_KEY, "") if hasattr(img, "text") else ""
        m = DIGEST_RE.search(text)
    else:
        m = DIGEST_RE.search(content.decode("utf-8", errors="replace"))
    return m.group(1) if m else None
