"""A self-contained static HTML leaderboard: one file, no network, sortable tables, plots embedded.

Plots are embedded as SVG data URIs, CSS and JavaScript inline; the page reads
well on a phone (the tables scroll sideways inside their own box). Sorting: click
a column header; numbers sort by their mean, missing values last; ``aria-sort``
tells assistive technology the order.
"""

from __future__ import annotations

import base64
import html

from serbench.leaderboard.aggregate import Board
from serbench.leaderboard.plots import DIGEST_KEY, Plot
from serbench.leaderboard.text import RANKING_NOTE, UNRELIABLE_MARK, value_text

CSS = """
:root { color-scheme: light dark; --line: #8884; --best: #2e7d32; --warn: #b26a00; --bad: #c62828; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 80rem;
       padding: 1rem; }
h1 { font-size: 1.5rem; margin: .2rem 0 .5rem; } h2 { font-size: 1.1rem; margin: 2rem 0 .5rem; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; border: 1px solid var(--line); border-radius: 6px; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: .35rem .55rem; border-bottom: 1px solid var(--line); white-space: nowrap; text-align: right; }
th.text, td.text { text-align: left; }
thead th { position: sticky; top: 0; background: Canvas; }
th button { font: inherit; font-weight: 600; background: none; border: 0; padding: 0; cursor: pointer;
            color: inherit; }
th[aria-sort="ascending"] button::after { content: " ▲"; } th[aria-sort="descending"] button::after { content: " ▼"; }
td.best { font-weight: 700; color: var(--best); }
.warn { color: var(--warn); cursor: help; } .failed { color: var(--bad); }
.note, .footnotes { font-size: .85rem; opacity: .85; }
.plots { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: 1rem 0; flex: 1 1 22rem; max-width: 36rem; }
figure img { max-width: 100%; height: auto; background: white; border-radius: 4px; }
figcaption { font-size: .85rem; opacity: .8; }
"""

SCRIPT = """
document.querySelectorAll("table.board").forEach(function (table) {
  table.querySelectorAll("thead th").forEach(function (th, index) {
    var button = th.querySelector("button");
    if (!button) { return; }
    button.addEventListener("click", function () {
      var current = th.getAttribute("aria-sort");
      var firstAscending = th.classList.contains("text") || th.dataset.ascending === "1";
      var descending = current === "none" ? !firstAscending : current === "ascending";
      table.querySelectorAll("thead th").forEach(function (other) { other.setAttribute("aria-sort", "none"); });
      th.setAttribute("aria-sort", descending ? "descending" : "ascending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[index].dataset.value, y = b.cells[index].dataset.value;
        if (th.classList.contains("text")) { return descending ? y.localeCompare(x) : x.localeCompare(y); }
        var fx = x === "" ? null : parseFloat(x), fy = y === "" ? null : parseFloat(y);
        if (fx === null && fy === null) { return 0; }
        if (fx === null) { return 1; }
        if (fy === null) { return -1; }
        return descending ? fy - fx : fx - fy;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def board_html(board: Board, plots: list[Plot], images: dict[str, bytes]) -> str:
    notes = board.warnings()
    out = [f'<section id="{_e(board.slug)}">', f"<h2>{_e(board.metric.upper())} % — {_e(board.title)}</h2>",
           '<div class="scroll"><table class="board">', "<thead><tr>"]
    heads = [("#", "num", True), ("model", "text", False), ("defense", "text", False)]
    heads += [(c.title + (" ★" if c.title == board.robust_column else ""), "num", False) for c in board.columns]
    for title, kind, ascending in heads:
        extra = ' data-ascending="1"' if ascending else ""
        out.append(f'<th class="{kind}" scope="col" aria-sort="none"{extra}><button type="button">{_e(title)}'
                   "</button></th>")
    out.append("</tr></thead><tbody>")
    best = {c.title: board.best(c.title) for c in board.columns}
    unreliable = board.unreliable
    for rank, row in enumerate(board.ranked_rows(), 1):
        mark = (f' <span class="failed" title="unreliable: gradient-masking warnings; ranked below every reliable '
                f'row">{UNRELIABLE_MARK} unreliable</span>' if row in unreliable else "")
        tds = [f'<td class="num" data-value="{rank}">{rank}</td>',
               f'<td class="text" data-value="{_e(row[0])}">{_e(row[0])}{mark}</td>',
               f'<td class="text" data-value="{_e(row[1])}">{_e(row[1])}</td>']
        for c in board.columns:
            cell = board.rows[row].get(c.title)
            value = "" if cell is None or cell.mean is None else f"{cell.mean:.6f}"
            cls = ["num"]
            if cell is not None and cell.mean is not None and row in best[c.title]:
                cls.append("best")
            text = _e(value_text(cell))
            if cell is not None and cell.mean is None:
                text = f'<span class="failed" title="{_e("; ".join(cell.errors))}">{text}</span>'
            elif cell is not None and cell.failed:
                text += f' <span class="failed" title="{_e("; ".join(cell.errors))}">!</span>'
            if cell is not None and cell.warnings:
                marks = ",".join(str(notes.index(w) + 1) for w in cell.warnings)
                text += f' <span class="warn" title="{_e(" | ".join(cell.warnings))}">⚠{marks}</span>'
            tds.append(f'<td class="{" ".join(cls)}" data-value="{value}">{text}</td>')
        out.append(("<tr class=\"unreliable\">" if row in unreliable else "<tr>") + "".join(tds) + "</tr>")
    out.append("</tbody></table></div>")
    if board.robust_column or unreliable:
        out.append(f'<p class="note">{_e(RANKING_NOTE)}</p>')
    if notes:
        out.append('<ol class="footnotes">' + "".join(f"<li>⚠ {_e(w)}</li>" for w in notes) + "</ol>")
    if plots:
        out.append('<div class="plots">')
    for plot in plots:
        data = base64.b64encode(images[plot.stem]).decode()
        out.append(f'<figure><img alt="{_e(plot.caption)}" src="data:image/svg+xml;base64,{data}">'
                   f"<figcaption>{_e(plot.caption)}</figcaption></figure>")
    if plots:
        out.append("</div>")
    out.append("</section>")
    return "\n".join(out)


def page(boards: list[Board], plots: dict[str, list[Plot]], images: dict[str, bytes], digest: str,
         title: str = "serbench leaderboard", provenance: str = "") -> str:
    """The whole page. ``images`` maps a plot stem to its SVG bytes; ``digest`` is the data digest."""
    body = "\n".join(board_html(b, plots.get(b.slug, []), images) for b in boards)
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<meta name=\"{DIGEST_KEY}\" content=\"{DIGEST_KEY}: {digest}\">"
        f"<title>{_e(title)}</title><style>{CSS}</style></head>\n<body>\n"
        f"<header><h1>{_e(title)}</h1><p class=\"note\">{_e(provenance)}</p></header>\n"
        f"{body}\n<script>{SCRIPT}</script>\n</body></html>\n"
    )
