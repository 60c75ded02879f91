"""Machine formats: JSON (documented, versioned) and CSV (one row per board cell).

JSON layout (``schema`` 1)::

    {"schema": 1, "metric": "uar", "provenance": {"specs": [...], "serbench": [...], "records": N},
     "boards": [{"slug", "corpus", "protocol", "partition", "threat", "ranked_by",
                 "columns": [{"title", "kind", "name", "eps", "snr_db", "derived"}],
                 "rows": [{"rank", "model", "defense", "input", "reliable", ["masking"],
                           "cells": {title: {"mean", "std", "n", "failed", "best", "warnings", ["breakdown"]}}}],
                 "warnings": [...]}]}

``ranked_by`` is the ranking column's title: an ``autoattack`` column where the board has one (see
:mod:`.aggregate`). ``masking`` (only on a row with ``reliable`` false): the row's gradient-masking warnings,
the reason for its † mark. ``breakdown`` (only where an attack reported totals, e.g. ``autoattack``): per
member, how many utterances it flipped (``flipped.apgd-ce``, ..., ``robust``, ``clean_wrong``) and queries
used, summed over the cell's folds and seeds. CSV has the ``reliable`` flag and every cell's warnings.

Values are fractions (not percent) rounded to 6 decimals, so files are stable
across platforms for the same records. Nothing machine- or time-dependent goes in
(no timestamps, no git hash), so a regenerated file equals the committed one
exactly when the results do.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterable

from serbench.leaderboard.aggregate import Board

SCHEMA = 1
CSV_COLUMNS = ("board", "corpus", "protocol", "partition", "threat", "rank", "model", "defense", "reliable", "column",
               "kind", "eps", "snr_db", "mean", "std", "n", "failed", "best", "warnings")


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), 6)


def provenance(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    recs = [r for r in records if r.get("kind") == "eval"]
    return {
        "specs": sorted({r.get("spec_name") or "" for r in recs}),
        "serbench": sorted({(r.get("env") or {}).get("serbench") or "" for r in recs}),
        "records": len(recs),
    }


def board_dict(board: Board) -> dict[str, Any]:
    rows = []
    best = {col.title: board.best(col.title) for col in board.columns}
    unreliable = board.unreliable
    for rank, row in enumerate(board.ranked_rows(), 1):
        cells = {}
        for col in board.columns:
            cell = board.rows[row].get(col.title)
            if cell is None:
                continue
            cells[col.title] = {"mean": _r(cell.mean), "std": _r(cell.std), "n": len(cell.values),
                                "failed": cell.failed, "best": row in best[col.title],
                                "warnings": list(cell.warnings)}
            if cell.breakdown:
                cells[col.title]["breakdown"] = {k: v if isinstance(v, int) else _r(v)
                                                   for k, v in sorted(cell.breakdown.items())}
        # reliable: false where a cell carries a gradient-masking warning; such rows rank after every reliable one
        rows.append({"rank": rank, "model": row[0], "defense": row[1], "input": board.input_of(row),
                     "reliable": row not in unreliable, "cells": cells})
        if row in unreliable:
            rows[-1]["masking"] = board.masking_warnings(row)
    return {
        "slug": board.slug, "corpus": board.corpus, "protocol": board.protocol, "partition": board.partition,
        "threat": board.threat, "ranked_by": board.robust_column or "clean",
        "columns": [{"title": c.title, "kind": c.kind, "name": c.name, "eps": c.eps, "snr_db": c.snr_db,
                     "derived": c.derived} for c in board.columns],
        "rows": rows, "warnings": board.warnings(),
    }


def to_json(boards: list[Board], records: list[dict[str, Any]], metric: str = "uar") -> str:
    data = {"schema": SCHEMA, "metric": metric, "provenance": provenance(records),
            "boards": [board_dict(b) for b in boards]}
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def to_csv(boards: list[Board]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for board in boards:
        d = board_dict(board)
        for row in d["rows"]:
            for col in d["columns"]:
                cell = row["cells"].get(col["title"])
                if cell is None:
                    continue
                writer.writerow([board.slug, board.corpus, board.protocol, board.partition, board.threat,
                                 row["rank"], row["model"], row["defense"], int(row["reliable"]), col["title"],
                                 col["kind"],
                                 "" if col["eps"] is None else col["eps"],
                                 "" if col["snr_db"] is None else col["snr_db"],
                                 "" if cell["mean"] is None else cell["mean"],
                                 "" if cell["std"] is None else cell["std"], cell["n"], cell["failed"],
                                 int(cell["best"]), " | ".join(cell["warnings"])])
    return buf.getvalue()
