"""Cells and their content keys.

A train cell is everything that determines a trained model; an eval cell is a
train cell plus one evaluation condition. A key is the sha256 of the canonical
JSON of the cell together with the result schema version: same key, same
result; a changed parameter, component version (or its package's version) or
data is a new cell. The data enters as the corpus's content fingerprint (never
its path), and defaults are resolved first (the protocol is always named), so a
cell without them has no key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from serbench.bench.conditions import Condition
from serbench.canonical import canonical_json
from serbench.errors import SerbenchError

SCHEMA_VERSION = 2  # 2: records carry a digest; keys carry data fingerprints, resolved protocols, package versions


def content_key(kind: str, cell: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json({"schema": SCHEMA_VERSION, kind: cell}).encode()).hexdigest()


def check_keyable(train: dict[str, Any]) -> None:
    """Refuse to key a train cell whose data fingerprint or protocol is not resolved: such a key would name
    no data (or a different default) and could reuse results computed on other files."""
    dataset = train.get("dataset") or {}
    for field in ("fingerprint", "protocol"):
        if dataset.get(field) is None:
            raise SerbenchError(
                f"train cell of dataset {dataset.get('name')!r} has no {field}: expand the spec through a runner "
                "(LocalRunner.train_cells loads each corpus) before asking for keys"
            )


@dataclass(frozen=True)
class TrainCell:
    """dataset (identity + fingerprint + protocol + fold), model, defense, frontend, training, seed."""

    identity: dict[str, Any]

    @property
    def key(self) -> str:
        check_keyable(self.identity)
        return content_key("train", self.identity)


@dataclass(frozen=True)
class EvalCell:
    """A train cell plus a typed ``condition`` (:mod:`serbench.bench.conditions`) on a partition."""

    train: TrainCell
    partition: str
    condition: Condition

    def __post_init__(self) -> None:
        if not isinstance(self.condition, Condition):
            raise TypeError(f"EvalCell.condition must be a Condition, not {type(self.condition).__name__}; "
                            "use serbench.bench.conditions.condition_from for a stored identity")

    @property
    def key(self) -> str:
        check_keyable(self.train.identity)
        return content_key("eval", {"train": self.train.identity, "partition": self.partition,
                                    "condition": self.condition.identity})

    @property
    def label(self) -> str:
        """Short human-readable description of the condition."""
        return self.condition.label(self.partition)
