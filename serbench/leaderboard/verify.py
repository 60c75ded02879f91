"""Only verified numbers reach a leaderboard.

Records come from the store through :meth:`Store.records`, which refuses a
record whose digest does not match (edited by hand) with a
:class:`~serbench.errors.RecordError`. The leaderboard does not take the stored
metrics on trust either: every ok eval record that holds ``predictions`` and
``targets`` has its UAR, WA and macro-F1 recomputed here with
:mod:`serbench.engine.metrics`, and one that disagrees is refused, naming the
record, never shown. Two records of one cell (a copied file) would count
twice; they are refused too.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from serbench.errors import RecordError
from serbench.leaderboard.redact import redact_paths

TOLERANCE = 1e-9
CHECKED = ("uar", "wa", "macro_f1")
HINT = "rerun its spec with `serbench run SPEC --force`, or delete the record"


def _agree(stored: Any, again: float) -> bool:
    if isinstance(stored, bool) or not isinstance(stored, (int, float)):
        return False
    if math.isnan(stored) or math.isnan(again):
        return math.isnan(stored) and math.isnan(again)
    return abs(stored - again) <= TOLERANCE


def metrics_disagreement(record: dict[str, Any]) -> str | None:
    """Why an ok eval record's metrics do not follow from its predictions and targets (None: they do, or
    the record holds none to check)."""
    from serbench.engine.metrics import confusion, macro_f1, uar, wa

    if record.get("kind") != "eval" or record.get("status") != "ok":
        return None
    metrics = record.get("metrics") or {}
    pred, true = metrics.get("predictions"), metrics.get("targets")
    if pred is None or true is None:
        return None
    if not isinstance(pred, list) or not isinstance(true, list) or len(pred) != len(true):
        return "its predictions and targets are not two lists of one length"
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in pred + true):
        return "its predictions and targets are not class indices"
    labels = metrics.get("labels")
    classes = len(labels) if isinstance(labels, list) else max(pred + true, default=-1) + 1
    if any(v < 0 or v >= classes for v in pred + true):
        return f"its predictions and targets hold class indices outside its {classes} labels"
    cm = confusion(np.asarray(true, dtype=np.int64), np.asarray(pred, dtype=np.int64), classes)
    for name, fn in zip(CHECKED, (uar, wa, macro_f1)):
        if name in metrics and not _agree(metrics[name], fn(cm)):
            return f"its {name} {metrics[name]!r} is not what its predictions and targets give ({fn(cm)!r})"
    return None


def check_records(records: Iterable[dict[str, Any]], where: Callable[[dict[str, Any]], str] | None = None
                  ) -> list[dict[str, Any]]:
    """``records`` as a list, after refusing (RecordError) any whose metrics disagree with its predictions
    or whose cell appears twice; ``where`` names a record in the message (default: its key)."""
    name = where or (lambda r: f"record {r.get('key')}")
    out, seen = [], set()
    for rec in records:
        problem = metrics_disagreement(rec)
        if problem is not None:
            raise RecordError(f"{name(rec)}: refused by the leaderboard: {problem}; {HINT}")
        key = rec.get("key")
        if key is not None and key in seen:
            raise RecordError(f"{name(rec)}: another file holds this cell's record too (a copied file?); "
                              "keep only this one")
        seen.add(key)
        out.append(rec)
    return out


def load_records(root: Path) -> list[dict[str, Any]]:
    """Every record of the store at ``root``, verified (digest, then metrics), with every path under
    ``root`` or absolute in its error and warnings cut to ``<path>/basename`` (see :mod:`.redact`)."""
    from serbench.bench.store import Store

    store = Store(root)
    records = check_records(store.records(), where=lambda r: str(store.record_path(str(r.get("key")))))
    roots = {str(root), str(Path(root).resolve())}
    out = []
    for rec in records:
        if rec.get("error") or rec.get("warnings"):
            rec = {**rec, "error": redact_paths(rec["error"], roots) if rec.get("error") else rec.get("error"),
                   "warnings": [redact_paths(w, roots) for w in rec.get("warnings") or []]}
        out.append(rec)
    return out
