"""The leaderboard site: an index of boards, a page per board and a model card per row, all static files.

Pages (relative links only, no network: they work from ``file://`` and on GitHub Pages)::

    index.html                          every board: its rows, its top row
    boards/<board>.html                 the board: sortable, filterable, scatter plot, significance
    cards/<board>/<row>.html            one row of one board: the model card

Everything a page shows is first gathered by :func:`site_model` into plain data (JSON-able, rounded), whose
sha256 with the leaderboard's own digest is the *site digest* every page carries (as the plots carry theirs,
:mod:`.plots`), so ``serbench leaderboard --check`` compares pages by the data they show, not by their bytes.
The components' papers are looked up in the installed registry when pages are drawn and are not part of the
digest (they come from code, as the page's CSS does).

Paired significance: each row against the board's **reference row, its first-ranked row** (the leader), on
the ranking column (the robust column; on a corruption board each utterance's correctness averaged over
every corruption and severity, whose UAR is the mean corruption UAR; where the robust column is a minimum of
attacks' means, no per-utterance worst case exists and the clean column is used),
with :func:`serbench.analysis.significance.paired_bootstrap` over the records' per-utterance predictions
(seeds averaged per utterance, utterances resampled within folds). The leader, not the standard-trained
row, because the question a ranking raises is whether a row is really below the first one.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Iterable, Sequence

import numpy as np

from serbench.bench.conditions import condition_from
from serbench.leaderboard.aggregate import Board, ConditionLabels, Row, column_of, defense_costs
from serbench.leaderboard.corruption_scores import MEAN_TITLE
from serbench.leaderboard.html import CSS, SCRIPT, UNRELIABLE, _content, _e, _kind, _td
from serbench.leaderboard.pareto import pareto_front, scatter_svg
from serbench.leaderboard.plots import DIGEST_KEY, _clean_confusions
from serbench.leaderboard.table import Table
from serbench.leaderboard.text import NO_VALUE

INDEX = "index.html"
ALL_IN_ONE = "leaderboard.html"
DEFAULT_INPUT = "spectrogram"  # records from before ``train.model.input`` fed spectrograms
FILTERS = (("architecture", "architecture"), ("defense", "defense"), ("input", "input kind"))
REPLICATES = 2000

REFERENCE_NOTE = ("Significance: each row against the reference row, the board's first-ranked row, on {column}: "
                  "Δ is the row's UAR minus the reference's (percent points, 95 % bootstrap interval), p the "
                  "one-sided paired bootstrap p-value that the reference is not better (small p: the row is really "
                  "below the reference); seeds averaged per utterance, utterances resampled within folds "
                  "({replicates} replicates; serbench.analysis.significance).")


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), 6)


def _slug(text: str) -> str:
    return re.sub("-+", "-", "".join(c if c.isalnum() else "-" for c in text)).strip("-").lower() or "row"


def card_path(board_slug: str, row_slug: str) -> str:
    return f"cards/{board_slug}/{row_slug}.html"


def board_path(board_slug: str) -> str:
    return f"boards/{board_slug}.html"


# --- the data every page shows ---------------------------------------------------------------------------------

def site_model(boards: Sequence[Board], records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Every fact the site shows, as plain rounded data (the digest's input): per board its rows in rank
    order, each with its cells, its card's facts and its significance against the reference row."""
    trains = {r.get("key"): r for r in records if r.get("kind") == "train"}
    costs = defense_costs(records)
    return {"boards": [_board_model(b, records, trains, costs) for b in boards]}


def _board_model(board: Board, records: Sequence[dict[str, Any]], trains: dict[Any, dict[str, Any]],
                 costs: dict[tuple[str, str], dict[str, float]]) -> dict[str, Any]:
    ranked = board.ranked_rows()
    labels = ConditionLabels(r["condition"] for _, r in board.entries)
    by_row: dict[Row, list[tuple[str, dict[str, Any]]]] = {}
    for row, rec in board.entries:
        col = column_of(rec["condition"], labels)
        # the mean corruption UAR is UAR of each utterance's correctness averaged over every corruption and
        # severity (UAR is linear in it): those records are its per-utterance evidence
        by_row.setdefault(row, []).append((MEAN_TITLE if col.kind == "corruption" else col.title, rec))
    robust = board.robust_column
    tested = robust if robust and (robust == MEAN_TITLE or not board.column(robust).derived) else \
        "clean" if any(c.title == "clean" for c in board.columns) else None
    confusions = _clean_confusions(board, records)
    slugs: dict[str, int] = {}
    unreliable = board.unreliable
    shown = board.shown_columns
    rows = []
    for rank, row in enumerate(ranked, 1):
        slug = _slug(f"{row[0]}--{row[1]}")
        if slug in slugs:  # two labels that differ only in punctuation
            slug += "-" + hashlib.sha256(json.dumps(row).encode()).hexdigest()[:8]
        slugs[slug] = rank
        recs = [rec for _, rec in by_row.get(row, [])]
        first = recs[0]["train"] if recs else {}
        model, defense = first.get("model") or {}, first.get("defense") or {}
        cells = []
        for col in board.columns:
            scores = board.rows[row].get(col.title)
            if scores is None:
                continue
            cells.append({"title": col.title, "kind": col.kind, "mean": _r(scores.mean), "std": _r(scores.std),
                          "n": len(scores.values), "failed": scores.failed,
                          "min": _r(min(scores.values)) if scores.values else None,
                          "max": _r(max(scores.values)) if scores.values else None,
                          "derived": col.derived, "shown": col in shown, "warnings": list(scores.warnings)})
        sig = None
        if tested and rank > 1:
            sig = paired_significance([r for t, r in by_row.get(ranked[0], []) if t == tested],
                                      [r for t, r in by_row.get(row, []) if t == tested])
        train_recs = [trains[r["train_key"]] for r in recs if r.get("train_key") in trains]
        cost = costs.get((str(model.get("name")), str(defense.get("name"))))
        rows.append({
            "rank": rank, "model": row[0], "defense": row[1], "slug": slug,
            "architecture": str(model.get("name", "?")).split(".")[0], "defense_name": str(defense.get("name", "?")),
            "input": str(model.get("input") or DEFAULT_INPUT), "unreliable": row in unreliable,
            "masking": board.masking_warnings(row) if row in unreliable else [],
            "cells": cells, "significance": sig, "parameters": _parameters(train_recs),
            "cost": None if cost is None else {"relative": _r(cost["relative_time_per_iteration"]),
                                               "n": int(cost["n"])},
            "specs": sorted({str(r.get("spec_name") or "") for r in recs}),
            "seeds": sorted({r["train"].get("seed") for r in recs}, key=str),
            "folds": sorted({r["train"]["dataset"].get("fold") for r in recs}, key=str),
            "components": _components(recs),
            "confusion": confusions.get(f"{row[0]} + {row[1]}"),
        })
    prefix = f"{board.corpus} · {board.protocol} · {board.partition} · "
    return {"slug": board.slug, "title": board.title, "corpus": board.corpus, "protocol": board.protocol,
            "threat_title": board.title[len(prefix):] if board.title.startswith(prefix) else board.title,
            "partition": board.partition, "threat": board.threat, "metric": board.metric,
            "ranked_by": robust or "clean", "tested": tested, "rows": rows}


def _parameters(trains: list[dict[str, Any]]) -> Any:
    """The parameter count the train records state (``data.parameters`` or ``timings.parameters``): one value
    when they agree (folds and seeds of one model), all of them otherwise; None when none states it."""
    found = []
    for t in trains:
        for part in ("data", "timings"):
            value = (t.get(part) or {}).get("parameters")
            if value is not None and value not in found:
                found.append(value)
    return None if not found else found[0] if len(found) == 1 else found


def _parameters_text(params: Any) -> str:
    """``123,456`` for a count, ``1,234 (56 trained)`` for the train records' {total, trainable} where a part of the
    model is frozen (a probe's encoder), the raw values where records disagree."""
    if params is None:
        return NO_VALUE
    if isinstance(params, int):
        return f"{params:,}"
    if isinstance(params, dict) and isinstance(params.get("total"), int):
        total, trainable = params["total"], params.get("trainable")
        return f"{total:,}" if trainable in (None, total) else f"{total:,} ({trainable:,} trained)"
    return json.dumps(params, sort_keys=True)


def _components(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The distinct components a row's records name (dataset, model, defense, the conditions' attacks,
    noises, corruptions, transfer sources), with versions, packages and params."""
    seen: dict[str, dict[str, Any]] = {}

    def add(role: str, comp: dict[str, Any] | None) -> None:
        if not comp or "name" not in comp:
            return
        item = {"role": role, "name": str(comp["name"]), "version": comp.get("version"),
                "package": comp.get("package"), "package_version": comp.get("package_version"),
                "params": comp.get("params") or {}}
        seen.setdefault(json.dumps(item, sort_keys=True, default=str), item)

    for rec in recs:
        train = rec["train"]
        for role in ("dataset", "model", "defense"):
            add(role, {**train.get(role, {}), "params": {k: v for k, v in (train.get(role, {}).get("params") or {})
                                                         .items() if k != "root"}})
        for role, comp in condition_from(rec["condition"]).components():
            add(role, comp)
    order = {"dataset": 0, "model": 1, "defense": 2}
    return sorted(seen.values(), key=lambda c: (order.get(c["role"], 3), c["role"], c["name"],
                                                json.dumps(c, sort_keys=True, default=str)))


def paired_significance(reference: Iterable[dict[str, Any]], row: Iterable[dict[str, Any]],
                        replicates: int = REPLICATES) -> dict[str, Any] | None:
    """Paired bootstrap of ``row`` against ``reference`` (their eval records in one column): Δ = row − reference
    UAR, its 95 % interval and the one-sided p that the reference is not better; None when the records hold no
    per-utterance predictions to pair (or share no utterance)."""
    from serbench.analysis.significance import Fold, paired_bootstrap

    ref, mine = _correct_by_fold(reference), _correct_by_fold(row)
    folds, classes = [], 0
    for fold in sorted(set(ref) & set(mine), key=str):
        (ref_hits, ref_labels, n_ref), (row_hits, row_labels, n_row) = ref[fold], mine[fold]
        ids = sorted(set(ref_hits) & set(row_hits))
        if not ids or any(ref_labels[u] != row_labels[u] for u in ids):
            continue
        classes = max(classes, n_ref, n_row)
        folds.append(Fold(np.array([row_labels[u] for u in ids], dtype=np.int64),
                          np.array([np.mean(row_hits[u]) for u in ids]),  # A: the row
                          np.array([np.mean(ref_hits[u]) for u in ids])))  # B: the reference
    if not folds:
        return None
    boot = paired_bootstrap(folds, classes, replicates=replicates)
    return {"delta": _r(-boot.delta), "low": _r(-boot.high), "high": _r(-boot.low), "p": _r(boot.p),
            "utterances": sum(len(f) for f in folds), "folds": len(folds), "replicates": boot.replicates}


def _correct_by_fold(records: Iterable[dict[str, Any]]) -> dict[Any, tuple[dict[str, list[float]], dict[str, int],
                                                                            int]]:
    """Per fold: each utterance's correctness in every evaluation (seed), its label, and the class count."""
    out: dict[Any, tuple[dict[str, list[float]], dict[str, int], int]] = {}
    for rec in records:
        m = rec.get("metrics") or {}
        ids, preds, ys = m.get("ids"), m.get("predictions"), m.get("targets")
        if rec.get("status") != "ok" or not ids or not preds or not ys or not len(ids) == len(preds) == len(ys):
            continue
        fold = rec["train"]["dataset"].get("fold")
        hits, labels, n = out.get(fold, ({}, {}, 0))
        for u, p, y in zip(ids, preds, ys):
            hits.setdefault(str(u), []).append(float(p == y))
            labels[str(u)] = int(y)
        n = max(n, len(m.get("labels") or ()), max(int(y) for y in ys) + 1)
        out[fold] = (hits, labels, n)
    return out


def site_digest(leaderboard_digest: str, model: dict[str, Any]) -> str:
    """The data digest every page of the site carries: the leaderboard's and the site's own facts."""
    data = json.dumps(model, sort_keys=True, default=str)
    return hashlib.sha256(f"{leaderboard_digest}|{data}".encode()).hexdigest()


def site_paths(model: dict[str, Any]) -> list[str]:
    """The pages of the site (relative paths)."""
    return [INDEX] + [p for b in model["boards"] for p in
                      [board_path(b["slug"])] + [card_path(b["slug"], r["slug"]) for r in b["rows"]]]


# --- the pages ---------------------------------------------------------------------------------------------------

SITE_CSS = CSS + """
h1, h2, p, li, dd, figcaption { overflow-wrap: anywhere; }
nav.crumbs { font-size: .9rem; display: flex; flex-wrap: wrap; gap: .3rem 1rem; }
form.filters { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: end; margin: .5rem 0; }
form.filters label { display: flex; flex-direction: column; font-size: .85rem; }
form.filters select { font: inherit; min-width: 8rem; }
tr[hidden] { display: none; }
dl.facts { display: grid; grid-template-columns: minmax(7rem, max-content) 1fr; gap: .2rem 1rem; }
dl.facts dt { font-weight: 600; } dl.facts dd { margin: 0; }
svg.scatter { width: 100%; max-width: 36rem; height: auto; display: block; }
svg.scatter .frame { fill: none; stroke: var(--line); } svg.scatter .grid { stroke: var(--line); }
svg.scatter text { font-size: 11px; fill: currentColor; } svg.scatter .mark { font-size: 10px; }
svg.scatter .dot { fill: Canvas; stroke: #1565c0; stroke-width: 1.5; }
svg.scatter .on-front { fill: #e65100; stroke: #e65100; }
svg.scatter .front { fill: none; stroke: #e65100; stroke-width: 1.5; stroke-dasharray: 4 3; }
td.params { white-space: normal; min-width: 12rem; text-align: left; font-size: .85rem; }
table.results td.text { white-space: normal; min-width: 7rem; overflow-wrap: anywhere; }
:focus-visible { outline: 2px solid #1565c0; outline-offset: 2px; }
@media (max-width: 30rem) { h1 { font-size: 1.2rem; } body { padding: .6rem; } }
"""

FILTER_SCRIPT = """
document.querySelectorAll("form.filters").forEach(function (form) {
  var table = document.getElementById(form.dataset.table);
  var status = form.querySelector("output");
  function apply() {
    var chosen = Array.prototype.map.call(form.querySelectorAll("select"), function (s) {
      return [s.dataset.filter, s.value];
    });
    var shown = 0;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      var keep = chosen.every(function (c) { return c[1] === "" || row.dataset[c[0]] === c[1]; });
      row.hidden = !keep;
      if (keep) { shown += 1; }
    });
    status.textContent = shown + " of " + table.tBodies[0].rows.length + " rows shown";
  }
  form.addEventListener("change", apply);
  form.addEventListener("reset", function () { setTimeout(apply, 0); });
  apply();
});
"""


def _shell(title: str, digest: str, depth: int, crumbs: list[tuple[str, str]], body: str, note: str = "",
           script: str = "") -> bytes:
    """A page: head (digest, styles), breadcrumb links (relative, ``depth`` folders down), body, scripts."""
    up = "../" * depth
    nav = "".join(f'<a href="{_e(up + url)}">{_e(text)}</a>' for text, url in crumbs)
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<meta name=\"{DIGEST_KEY}\" content=\"{DIGEST_KEY}: {digest}\">"
        f"<title>{_e(title)}</title><style>{SITE_CSS}</style></head>\n<body>\n"
        f"<header><nav class=\"crumbs\" aria-label=\"site\">{nav}</nav><h1>{_e(title)}</h1>"
        + (f"<p class=\"note\">{_e(note)}</p>" if note else "") + "</header>\n<main>\n"
        f"{body}\n</main>\n" + (f"<script>{script}</script>\n" if script else "") + "</body></html>\n"
    ).encode()


def _pct(x: float | None) -> str:
    return NO_VALUE if x is None else f"{100 * x:.1f}"


def _cell_of(row: dict[str, Any], title: str) -> dict[str, Any] | None:
    return next((c for c in row["cells"] if c["title"] == title), None)


def site_pages(model: dict[str, Any], tables: Sequence[Table], digest: str, provenance: str,
               extra_links: dict[str, str] | None = None) -> dict[str, bytes]:
    """Every page of the site by relative path. ``tables``: the boards' tables (:func:`board_table`), in
    the order of ``model["boards"]``; ``extra_links`` (text -> path from the folder) go on the index."""
    from serbench.registry import info

    papers: dict[tuple[str, str], str] = {}

    def paper(role: str, name: str) -> str:
        kind = {"dataset": "datasets", "model": "models", "defense": "defenses", "attack": "attacks",
                "noise": "noises", "corruption": "corruptions", "source-model": "models",
                "source-defense": "defenses"}.get(role)
        if kind and (kind, name) not in papers:
            try:
                papers[(kind, name)] = info(kind, name).paper
            except Exception:  # noqa: BLE001 - a component not installed here: no paper to show
                papers[(kind, name)] = ""
        return papers.get((kind or "", name), "")

    pages = {INDEX: _index(model, digest, provenance, extra_links or {})}
    for board, table in zip(model["boards"], tables):
        pages[board_path(board["slug"])] = _board_page(board, table, digest, provenance)
        for row in board["rows"]:
            pages[card_path(board["slug"], row["slug"])] = _card(board, row, model, digest, paper)
    return pages


def _index(model: dict[str, Any], digest: str, provenance: str, links: dict[str, str]) -> bytes:
    out = ['<p>One board per corpus, protocol, partition and threat model. Each board ranks its rows (model + '
           'defense); each row links to its model card.</p>',
           '<div class="scroll"><table class="board" id="boards"><thead><tr>']
    for title, kind in (("board (threat model)", "text"), ("rows", "num"), ("top row", "text"),
                        ("top value %", "num"), ("ranked by", "text"), ("corpus", "text"), ("protocol", "text")):
        out.append(f'<th class="{kind}" scope="col" aria-sort="none"><button type="button">{_e(title)}</button></th>')
    out.append("</tr></thead><tbody>")
    for b in model["boards"]:
        top = b["rows"][0] if b["rows"] else None
        value = _cell_of(top, b["ranked_by"]) if top else None
        top_name = f'{top["model"]} + {top["defense"]}' if top else ""
        top_link = f'<a href="{_e(card_path(b["slug"], top["slug"]))}">{_e(top_name)}</a>' if top else NO_VALUE
        mean = value["mean"] if value else None
        protocol = f'{b["protocol"]} · {b["partition"]}'
        out.append(
            f'<tr><td class="text" data-value="{_e(b["threat_title"])}"><a href="{_e(board_path(b["slug"]))}">'
            f'{_e(b["threat_title"])}</a></td>'
            f'<td class="num" data-value="{len(b["rows"])}">{len(b["rows"])}</td>'
            f'<td class="text" data-value="{_e(top_name)}">{top_link}</td>'
            f'<td class="num" data-value="{"" if mean is None else f"{mean:.6f}"}">{_pct(mean)}</td>'
            f'<td class="text" data-value="{_e(b["ranked_by"])}">{_e(b["ranked_by"])}</td>'
            f'<td class="text" data-value="{_e(b["corpus"])}">{_e(b["corpus"])}</td>'
            f'<td class="text" data-value="{_e(protocol)}">{_e(protocol)}</td></tr>')
    out.append("</tbody></table></div>")
    if links:
        out.append("<ul>" + "".join(f'<li><a href="{_e(url)}">{_e(text)}</a></li>' for text, url in links.items())
                   + "</ul>")
    return _shell("serbench leaderboard", digest, 0, [], "\n".join(out), provenance, SCRIPT)


def _board_page(board: dict[str, Any], table: Table, digest: str, provenance: str) -> bytes:
    table_id = f"board-{board['slug']}"
    out = [f'<form class="filters" data-table="{_e(table_id)}" aria-label="filter rows">']
    for key, text in FILTERS:
        field = {"architecture": "architecture", "defense": "defense_name", "input": "input"}[key]
        values = sorted({r[field] for r in board["rows"]})
        options = "".join(f'<option value="{_e(v)}">{_e(v)}</option>' for v in values)
        out.append(f'<label for="{_e(table_id)}-{key}">{_e(text)}<select id="{_e(table_id)}-{key}" '
                   f'data-filter="{key}"><option value="">all</option>{options}</select></label>')
    out.append('<button type="reset">show all</button><output aria-live="polite"></output></form>')
    out.append(_board_table(board, table, table_id))
    out += [f'<p class="note">{_e(note)}</p>' for note in ([table.caption] if table.caption else []) + table.notes]
    if table.warnings:
        out.append('<ol class="footnotes">' + "".join(f"<li>⚠ {_e(w)}</li>" for w in table.warnings) + "</ol>")
    if board["tested"]:
        column = repr(board["tested"]) + (" (each utterance's correctness averaged over every corruption and "
                                          "severity)" if board["tested"] == MEAN_TITLE else "")
        out.append(f'<p class="note">{_e(REFERENCE_NOTE.format(column=column, replicates=REPLICATES))}</p>')
    out.append(_scatter(board))
    return _shell(table.title, digest, 1, [("Index of boards", INDEX), ("All boards on one page", ALL_IN_ONE)],
                  "\n".join(out), provenance, SCRIPT + FILTER_SCRIPT)


def _board_table(board: dict[str, Any], table: Table, table_id: str) -> str:
    """The board's table as the all-in-one page draws it, plus each row's filter attributes, a link to its
    card and its significance against the reference row."""
    out = [f'<div class="scroll"><table class="board" id="{_e(table_id)}"><thead><tr>']
    header = list(table.header) + ["Δ vs #1", "p"]
    for i, title in enumerate(header):
        kind = _kind(table, i) if i < len(table.header) else "num"
        extra = ' data-ascending="1"' if (table.ranked and i == 0) or title == "p" else ""
        out.append(f'<th class="{kind}" scope="col" aria-sort="none"{extra}><button type="button">{_e(title)}'
                   "</button></th>")
    out.append("</tr></thead><tbody>")
    for row, cells in zip(board["rows"], table.cells):
        tds = []
        for i, cell in enumerate(cells):
            if i == 1:  # the model: a link to the card
                tds.append(f'<td class="text" data-value="{_e(cell.text)}"><a href="../'
                           f'{_e(card_path(board["slug"], row["slug"]))}">{_e(cell.text)}</a>'
                           f'{UNRELIABLE if cell.unreliable else ""}</td>')
            elif i == 2:
                tds.append(f'<td class="text" data-value="{_e(cell.text)}">{_content(table, cell)}</td>')
            else:
                tds.append(_td(table, i, cell))
        sig = row["significance"]
        if row["rank"] == 1 and board["tested"]:
            tds.append('<td class="num" data-value="0">reference</td><td class="num" data-value="">—</td>')
        elif sig is None:
            tds.append('<td class="num" data-value="">—</td><td class="num" data-value="">—</td>')
        else:
            tds.append(f'<td class="num" data-value="{sig["delta"]:.6f}" title="95 % interval '
                       f'{100 * sig["low"]:+.1f} to {100 * sig["high"]:+.1f}">{100 * sig["delta"]:+.1f}</td>'
                       f'<td class="num" data-value="{sig["p"]:.6f}">{_p_text(sig["p"])}</td>')
        attrs = "".join(f' data-{k}="{_e(row[f])}"' for k, f in (("architecture", "architecture"),
                                                                  ("defense", "defense_name"), ("input", "input")))
        cls = ' class="unreliable"' if row["unreliable"] else ""
        out.append(f"<tr{cls}{attrs}>" + "".join(tds) + "</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out)


def _p_text(p: float) -> str:
    from serbench.analysis.significance import mark

    return (f"{p:.3f}" if p >= 0.001 else "<0.001") + (f" {mark(p)}" if mark(p) else "")


def _scatter(board: dict[str, Any]) -> str:
    """The robust-vs-clean figure with its Pareto front (none on a board ranked by clean UAR)."""
    robust = board["ranked_by"]
    if robust == "clean":
        return ""
    pts, labels, marks, links = [], [], [], []
    for row in board["rows"]:
        clean, rob = _cell_of(row, "clean"), _cell_of(row, robust)
        if clean and rob and clean["mean"] is not None and rob["mean"] is not None:
            pts.append((clean["mean"], rob["mean"]))
            labels.append(f"#{row['rank']} {row['model']} + {row['defense']}")
            marks.append(str(row["rank"]))
            links.append("../" + card_path(board["slug"], row["slug"]))
    if not pts:
        return ""
    front = pareto_front(pts)
    names = ", ".join(labels[i] for i in front)
    return ('<h2 id="scatter">Robust vs clean</h2><figure>' + scatter_svg(pts, labels, marks, robust, links)
            + f"<figcaption>{_e(robust)} against clean UAR (%), dots numbered by rank; filled, joined: the Pareto "
            f"front (no other row is better on both): {_e(names)}.</figcaption></figure>")


def _card(board: dict[str, Any], row: dict[str, Any], model: dict[str, Any], digest: str, paper) -> bytes:
    """A row's model card."""
    params_text = _parameters_text(row["parameters"])
    cost = row["cost"]
    cost_text = NO_VALUE if cost is None else \
        f"×{cost['relative']:.2f} the time per iteration of standard training (mean of {cost['n']} " \
        + ("run)" if cost["n"] == 1 else "runs)")
    ranked_value = _cell_of(row, board["ranked_by"])
    facts = [("board", f'<a href="../../{_e(board_path(board["slug"]))}">{_e(board["title"])}</a>'),
             ("rank", f"{row['rank']} of {len(board['rows'])}"
              + (f" ({_e(board['ranked_by'])} {_pct(ranked_value['mean'])})" if ranked_value else "")),
             ("architecture", _e(row["architecture"])), ("defense", _e(row["defense_name"])),
             ("input kind", _e(row["input"])), ("parameters", _e(params_text)), ("training cost", _e(cost_text)),
             ("spec", _e(", ".join(row["specs"]) or NO_VALUE)),
             ("seeds", _e(", ".join(map(str, row["seeds"])))), ("folds", _e(", ".join(map(str, row["folds"]))))]
    if row["unreliable"]:
        facts.append(("unreliable", _e("; ".join(row["masking"]))))
    out = ['<dl class="facts">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"]
    sig = row["significance"]
    reference = board["rows"][0]
    out.append("<h2>Against the reference row</h2>")
    if row["rank"] == 1:
        out.append(f"<p>This is the board's reference row (its first-ranked row): the other rows are tested "
                   f"against it on {_e(board['tested'] or 'no column')}.</p>")
    elif sig is None:
        out.append("<p>No paired test: the records hold no per-utterance predictions to pair with the reference "
                   "row's.</p>")
    else:
        ref_link = (f'<a href="{_e(reference["slug"])}.html">#1 {_e(reference["model"])} + '
                    f'{_e(reference["defense"])}</a>')
        out.append(f"<p>On {_e(board['tested'])}: Δ = {100 * sig['delta']:+.1f} percent points against {ref_link} "
                   f"(95 % interval {100 * sig['low']:+.1f} to {100 * sig['high']:+.1f}), one-sided p = "
                   f"{_e(_p_text(sig['p']))} that the reference is not better; paired bootstrap over "
                   f"{sig['utterances']} utterances in {sig['folds']} fold(s), {sig['replicates']} replicates.</p>")
    out.append("<h2>Results per condition</h2>")
    out.append(_results([c for c in row["cells"] if c["shown"]]))
    detail = [c for c in row["cells"] if not c["shown"]]
    if detail:
        out.append(f"<details><summary>Every corruption and severity ({len(detail)} cells)</summary>"
                   f"{_results(detail)}</details>")
    out.append('<p class="note">mean ± std over folds and seeds (as the board shows it); range: the lowest and '
               "highest fold or seed; (derived): computed from other columns, no records of its own; mCE and "
               "rel. mCE are percentages of the reference row's error.</p>")
    if row["confusion"]:
        out.append("<h2>Clean confusion matrix</h2>" + _confusion(row["confusion"]))
    out.append("<h2>Components</h2>")
    out.append('<div class="scroll"><table><thead><tr>' + "".join(
        f'<th class="text" scope="col">{t}</th>' for t in ("role", "name", "version", "package", "params", "paper"))
        + "</tr></thead><tbody>")
    for c in row["components"]:
        pkg = f"{c['package'] or NO_VALUE} {c['package_version'] or ''}".strip()
        out.append(f'<tr><td class="text">{_e(c["role"])}</td><td class="text">{_e(c["name"])}</td>'
                   f'<td class="text">{_e(c["version"] or NO_VALUE)}</td><td class="text">{_e(pkg)}</td>'
                   f'<td class="params"><code>{_e(json.dumps(c["params"], sort_keys=True, default=str))}</code></td>'
                   f'<td class="params">{_e(paper(c["role"], c["name"]) or NO_VALUE)}</td></tr>')
    out.append("</tbody></table></div>")
    others = [(b, r) for b in model["boards"] if b["slug"] != board["slug"] and b["corpus"] == board["corpus"]
              and b["protocol"] == board["protocol"]
              for r in b["rows"] if (r["model"], r["defense"]) == (row["model"], row["defense"])]
    if others:
        out.append("<h2>On other boards</h2><ul>" + "".join(
            f'<li><a href="../../{_e(card_path(b["slug"], r["slug"]))}">{_e(b["title"])}</a>: rank {r["rank"]}</li>'
            for b, r in others) + "</ul>")
    return _shell(f"{row['model']} + {row['defense']}", digest, 2,
                  [("Index of boards", INDEX), ("Board", board_path(board["slug"])),
                   ("All boards on one page", ALL_IN_ONE)], "\n".join(out), board["title"], SCRIPT)


def _results(cells: list[dict[str, Any]]) -> str:
    """A card's per-condition table: mean ± std, range over folds and seeds, counts, warnings."""
    out = ['<div class="scroll"><table class="board results"><thead><tr>' + "".join(
        f'<th class="{k}" scope="col" aria-sort="none"><button type="button">{t}</button></th>'
        for t, k in (("condition", "text"), ("mean ± std %", "num"), ("range %", "num"), ("n", "num"),
                     ("failed", "num"), ("warnings", "text"))) + "</tr></thead><tbody>"]
    for c in cells:
        mean = NO_VALUE if c["mean"] is None else \
            f"{100 * c['mean']:.1f}" + (f" ± {100 * c['std']:.1f}" if c["n"] > 1 else "")
        spread = f"{100 * c['min']:.1f}–{100 * c['max']:.1f}" if c["n"] > 1 else NO_VALUE
        title = c["title"] + (" (derived)" if c["derived"] else "")
        out.append(f'<tr><td class="text" data-value="{_e(title)}">{_e(title)}</td>'
                   f'<td class="num" data-value="{"" if c["mean"] is None else c["mean"]}">{_e(mean)}</td>'
                   f'<td class="num" data-value="{"" if c["min"] is None else c["min"]}">{_e(spread)}</td>'
                   f'<td class="num" data-value="{c["n"]}">{c["n"]}</td>'
                   f'<td class="num" data-value="{c["failed"]}">{c["failed"]}</td>'
                   f'<td class="params" data-value="{_e(" | ".join(c["warnings"]))}">'
                   f'{_e(" | ".join(c["warnings"]))}</td></tr>')
    out.append("</tbody></table></div>")
    return "".join(out)


def _confusion(confusion: dict[str, Any]) -> str:
    """The clean confusion matrix (summed over folds and seeds) as a table: counts, row percentages."""
    labels, counts = [str(x) for x in confusion["labels"]], confusion["counts"]
    out = ['<div class="scroll"><table><caption class="note">rows: true class, columns: predicted; count '
           "(share of the true class)</caption><thead><tr><th scope=\"col\" class=\"text\">true \\ predicted</th>"]
    out += [f'<th scope="col">{_e(lab)}</th>' for lab in labels]
    out.append("</tr></thead><tbody>")
    for lab, line in zip(labels, counts):
        total = max(sum(line), 1)
        out.append(f'<tr><th scope="row" class="text">{_e(lab)}</th>' + "".join(
            f'<td class="num">{n} ({100 * n / total:.0f} %)</td>' for n in line) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)
