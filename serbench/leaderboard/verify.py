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

from pathlib import Path
from typing import Any, Callable, Iterable


from serbench.errors import RecordError
from serbench.leaderboard.redact import redact_paths

HINT = "rerun its spec with `serbench run SPEC --force`, or delete the record"


def metrics_disagreement(record: dict[str, Any]) -> str | None:
    """Why an ok eval record's metrics do not follow from its predictions and targets (None: they do, or
    the record holds none to check). The store's own check, applied again to what reaches a board."""
    from serbench.bench.store import metrics_problem

    if record.get("kind") != "eval" or record.get("status") != "ok":
        return None
    return metrics_problem(record.get("metrics") or {})


def check_records(records: Iterable[dict[str, Any]], where: Callable[[dict[str, Any]], str] | None = None
                  ) -> list[dict[str, Any]]:
    """``records`` as a list, after refusing (RecordError) any whose metrics disagree with its predictions
    or whose cell appears twice; ``where`` names a record in the message (default: its key)."""
    name = where or (lambda r: f"record {r.get('key')}")
    records = list(records)
    for rec in records:
        problem = metrics_disagreement(rec)
        if problem is not None:
            raise RecordError(f"{name(rec)}: refused by the leaderboard: {problem}; {HINT}")
    return refuse_duplicates(records, name)


def refuse_duplicates(records: Iterable[dict[str, Any]], name: Callable[[dict[str, Any]], str]
                      ) -> list[dict[str, Any]]:
    """``records`` as a list, after refusing (RecordError) a cell that appears twice (a copied file)."""
    out, seen = [], set()
    for rec in records:
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
    # Store.records() has checked each digest and recomputed its metrics already (RecordError naming the file)
    records = refuse_duplicates(store.records(), lambda r: str(store.record_path(str(r.get("key")))))
    roots = {str(root), str(Path(root).resolve())}
    out = []
    for rec in records:
        if rec.get("error") or rec.get("warnings"):
            rec = {**rec, "error": redact_paths(rec["error"], roots) if rec.get("error") else rec.get("error"),
                   "warnings": [redact_paths(w, roots) for w in rec.get("warnings") or []]}
        out.append(rec)
    return out
