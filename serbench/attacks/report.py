"""What an attack reports besides its examples (queries used, which ensemble member flipped what), per cell.

An attack may set ``last_report`` on itself in every ``generate`` call: a dict with any of

- ``totals``: {name: number}, summed over the cell's batches (e.g. queries used, utterances flipped);
- ``per_utterance``: {name: list, one JSON value per row of the batch}, placed in the cell's utterance
  order (the harness batches by length group, so batch rows are not the cell's rows);
- ``info``: {name: JSON value}, the same for every batch (e.g. an ensemble's order); the first batch's
  is kept.

:func:`merge_reports` turns a cell's batch reports into the ``attack_report`` the harness records.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from serbench.errors import SerbenchError


def merge_reports(name: str, parts: Sequence[tuple[Sequence[int], dict[str, Any]]], rows: int) -> dict[str, Any]:
    """One report for a cell of ``rows`` utterances from ``(cell rows of the batch, batch report)`` pairs."""
    totals: dict[str, Any] = {}
    per_utterance: dict[str, list[Any]] = {}
    info: dict[str, Any] = {}
    for index, report in parts:
        if not isinstance(report, dict) or set(report) - {"totals", "per_utterance", "info"}:
            raise SerbenchError(f"attack {name!r}: last_report must be a dict of totals, per_utterance and info, "
                                f"got {report!r:.80}")
        for key, value in (report.get("totals") or {}).items():
            totals[key] = totals.get(key, 0) + value
        for key, values in (report.get("per_utterance") or {}).items():
            if len(values) != len(index):
                raise SerbenchError(f"attack {name!r}: last_report per_utterance {key!r} has {len(values)} values "
                                    f"for a batch of {len(index)}")
            column = per_utterance.setdefault(key, [None] * rows)
            for row, value in zip(index, values):
                column[int(row)] = value
        for key, value in (report.get("info") or {}).items():
            info.setdefault(key, value)
    return {"totals": totals, "per_utterance": per_utterance, "info": info}
