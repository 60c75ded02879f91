"""The record schema: one builder per kind of record, so its shape is written down once.

A record is the JSON file a cell leaves in ``results/records/<key>.json``:

- a train record (``kind: train``): the train cell, its fold, training metrics (best validation
  UAR), timings (including the selected iteration and defended updates), the validation history
  and what data it saw (partition sizes, length policy, normalisation);
- an eval record (``kind: eval``): the train cell, partition, condition identity, metrics
  (UAR, WA, macro-F1, confusion, predictions, targets, ids; for attacks success rate,
  measured perturbation and eps units), timings and warnings;
- a failed record of either kind: the same identity with ``status: failed`` and a one-line
  ``error``, empty metrics.

Every record carries ``spec_name``, ``env`` (versions and device) and ``created``; the store
adds ``schema`` and a ``digest`` when it writes it (:class:`serbench.bench.store.Store`).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from serbench.bench.cells import EvalCell, TrainCell
from serbench.bench.conditions import Condition, condition_from

Record = dict[str, Any]


def now() -> str:
    """UTC timestamp of a record, to the second."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def train_record(cell: TrainCell, spec_name: str, env: dict[str, Any], *, fold_name: str, best_valid_uar: float | None,
                 timings: dict[str, Any], history: list[dict[str, Any]], data: dict[str, Any]) -> Record:
    """An ok train record."""
    return {
        "key": cell.key, "kind": "train", "status": "ok", "error": None, "spec_name": spec_name,
        "train": cell.identity, "fold_name": fold_name, "metrics": {"best_valid_uar": best_valid_uar},
        "timings": timings, "history": history, "warnings": [], "env": env, "created": now(), "data": data,
    }


def failed_train_record(cell: TrainCell, spec_name: str, env: dict[str, Any], reason: str) -> Record:
    """A train cell that could not be trained (or its data loaded): ``reason`` is one line."""
    return {
        "key": cell.key, "kind": "train", "status": "failed", "error": reason, "spec_name": spec_name,
        "train": cell.identity, "metrics": {}, "timings": {}, "history": [], "warnings": [], "env": env,
        "created": now(),
    }


def eval_record(cell: EvalCell, spec_name: str, env: dict[str, Any], *, metrics: dict[str, Any], seconds: float,
                warnings: list[str]) -> Record:
    """An ok eval record."""
    return {
        "key": cell.key, "kind": "eval", "train_key": cell.train.key, "status": "ok", "error": None,
        "spec_name": spec_name, "train": cell.train.identity, "partition": cell.partition,
        "condition": cell.condition.identity, "metrics": metrics, "timings": {"eval_s": seconds},
        "warnings": warnings, "env": env, "created": now(),
    }


def failed_eval_record(cell: EvalCell, spec_name: str, env: dict[str, Any], reason: str) -> Record:
    """An eval cell that failed (its own evaluation, or its model's training): ``reason`` is one line."""
    return {
        "key": cell.key, "kind": "eval", "train_key": cell.train.key, "status": "failed", "error": reason,
        "spec_name": spec_name, "train": cell.train.identity, "partition": cell.partition,
        "condition": cell.condition.identity, "metrics": {}, "timings": {}, "warnings": [], "env": env,
        "created": now(),
    }


def condition_of(record: Record) -> Condition:
    """An eval record's typed condition (readers select records by ``isinstance``, never by ``type`` strings)."""
    return condition_from(record["condition"])


def is_ok(record: Record | None) -> bool:
    return record is not None and record.get("status") == "ok"


def is_failed(record: Record | None) -> bool:
    return record is not None and record.get("status") == "failed"


def error_of(record: Record) -> str:
    """A failed record's one-line reason."""
    return str(record.get("error") or "failed")
