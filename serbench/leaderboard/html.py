"""A self-contained static HTML leaderboard: one file, no network, sortable tables, plots embedded.

Plots are embedded as SVG data URIs, CSS and JavaScript inline; the page reads
well on a phone (the tables scroll sideways inside their own box). Sorting: click
a column header; numbers sort by their mean, missing values last; ``aria-sort``
tells assistive technology the order.
"""

from __future__ import annotations

import base64
import html
from typing import Sequence

from serbench.leaderboard.plots import DIGEST_KEY, Plot
from serbench.leaderboard.table import Cell, Table
from serbench.leaderboard.text import UNRELIABLE_MARK

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
details.card { margin: .4rem 0; } details.card summary { cursor: pointer; font-weight: 600; }
.pair { display: flex; flex-wrap: wrap; gap: .2rem 1rem; align-items: center; margin: .2rem 0 .2rem 1rem; }
.pair audio { height: 2rem; max-width: 18rem; }
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


UNRELIABLE = (f' <span class="failed" title="unreliable: gradient-masking warnings; ranked below every reliable '
              f'row">{UNRELIABLE_MARK} unreliable</span>')


def table_html(table: Table, plots: list[Plot], images: dict[str, bytes]) -> str:
    """One table as a sortable ``<section>``, its notes and warnings under it, then its plots."""
    out = [f'<section id="{_e(table.slug)}">', f"<h2>{_e(table.title)}</h2>",
           '<div class="scroll"><table class="board">', "<thead><tr>"]
    for i, title in enumerate(table.header):
        extra = ' data-ascending="1"' if table.ranked and i == 0 else ""
        out.append(f'<th class="{_kind(table, i)}" scope="col" aria-sort="none"{extra}><button type="button">'
                   f"{_e(title)}</button></th>")
    out.append("</tr></thead><tbody>")
    for row in table.cells:
        tds = "".join(_td(table, i, cell) for i, cell in enumerate(row))
        out.append(('<tr class="unreliable">' if any(c.unreliable for c in row) else "<tr>") + tds + "</tr>")
    out.append("</tbody></table></div>")
    out += [f'<p class="note">{_e(note)}</p>' for note in ([table.caption] if table.caption else []) + table.notes]
    if table.warnings:
        out.append('<ol class="footnotes">' + "".join(f"<li>⚠ {_e(w)}</li>" for w in table.warnings) + "</ol>")
    return "\n".join(out + _figures(plots, images) + ["</section>"])


def _kind(table: Table, column: int) -> str:
    return "text" if table.left_aligned(column) else "num"


def _td(table: Table, column: int, cell: Cell) -> str:
    classes = _kind(table, column) + (" best" if cell.best else "")
    value = cell.text if cell.sort_value is None else cell.sort_value
    return f'<td class="{classes}" data-value="{_e(value)}">{_content(table, cell)}</td>'


def _content(table: Table, cell: Cell) -> str:
    """A cell's text with its failures (red, the reasons on hover), ⚠ marks and † mark."""
    text = _e(cell.text)
    if cell.only_failed:
        text = f'<span class="failed" title="{_e("; ".join(cell.errors))}">{text}</span>'
    elif cell.failed:
        text += f' <span class="failed" title="{_e("; ".join(cell.errors))}">!</span>'
    if cell.marks:
        marks = ",".join(str(m) for m in cell.marks)
        text += f' <span class="warn" title="{_e(" | ".join(table.cell_warnings(cell)))}">⚠{marks}</span>'
    return text + (UNRELIABLE if cell.unreliable else "")


def _figures(plots: list[Plot], images: dict[str, bytes]) -> list[str]:
    """The plots, their SVGs embedded as data URIs."""
    if not plots:
        return []
    figures = [f'<figure><img alt="{_e(plot.caption)}" src="data:image/svg+xml;base64,'
               f'{base64.b64encode(images[plot.stem]).decode()}"><figcaption>{_e(plot.caption)}</figcaption></figure>'
               for plot in plots]
    return ['<div class="plots">', *figures, "</div>"]


# Audio examples per row (serbench.leaderboard.publish.example_files): (row, [(cell label, Griffin-Lim rendered,
# [(utterance, [(caption, relative path)])])])
ExampleCell = tuple[str, bool, list[tuple[str, list[tuple[str, str]]]]]
ExampleRow = tuple[str, list[ExampleCell]]


def examples_html(rows: Sequence[ExampleRow]) -> str:
    """A "Listen" section: one collapsible card per row, each cell's clean/changed pairs as ``<audio controls>``
    players of files beside the page (relative links, no network). Empty when no record kept examples."""
    if not rows:
        return ""
    out = ['<section id="listen"><h2>Listen: clean and changed audio</h2>',
           '<p class="note">Pairs kept by <code>serbench run --save-examples K</code> (the first K test utterances by '
           'id). Feature-domain attacks change no waveform: they are rendered with Griffin-Lim, as is their clean '
           'utterance, and marked so.</p>']
    for row, cells in rows:
        out.append(f'<details class="card"><summary>{_e(row)}</summary>')
        for label, griffinlim, utterances in cells:
            mark = " (Griffin-Lim rendering)" if griffinlim else ""
            out.append(f"<h3>{_e(label)}{_e(mark)}</h3>")
            for utterance, played in utterances:
                players = "".join(f'<span>{_e(caption)} <audio controls preload="none" src="{_e(rel)}"></audio>'
                                  "</span>" for caption, rel in played)
                out.append(f'<div class="pair"><span class="text">{_e(utterance)}</span>{players}</div>')
        out.append("</details>")
    return "\n".join(out + ["</section>"])


def page(tables: list[Table], plots: dict[str, list[Plot]], images: dict[str, bytes], digest: str,
         title: str = "serbench leaderboard", provenance: str = "", links: dict[str, str] | None = None,
         examples: Sequence[ExampleRow] = ()) -> str:
    """The whole page. ``plots`` maps a table's slug to its plots, ``images`` a plot stem to its SVG bytes;
    ``digest`` is the data digest; ``links`` (text -> relative URL) go under the title; ``examples`` the rows'
    audio pairs (:func:`examples_html`; none: no section)."""
    nav = "".join(f' <a href="{_e(url)}">{_e(text)}</a>' for text, url in (links or {}).items())
    body = "\n".join([table_html(t, plots.get(t.slug, []), images) for t in tables]
                     + ([examples_html(examples)] if examples else []))
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<meta name=\"{DIGEST_KEY}\" content=\"{DIGEST_KEY}: {digest}\">"
        f"<title>{_e(title)}</title><style>{CSS}</style></head>\n<body>\n"
        f"<header><h1>{_e(title)}</h1><p class=\"note\">{_e(provenance)}{nav}</p></header>\n"
        f"{body}\n<script>{SCRIPT}</script>\n</body></html>\n"
    )
