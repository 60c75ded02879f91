"""Combinations written in the spec (mixup + speed), not as new classes.

``{name: compose, params: {parts: [{name: mixup}, {name: speed, params: {factors: [0.9, 1.1]}}]}}``:
waveform augmentations chain in order; at most one part may define the loss.
"""

from __future__ import annotations

from typing import Any

from serbench.defenses.base import Defense, TrainBatch
from serbench.errors import SerbenchError
from serbench.registry import register, registry


@register(
    "defenses", "compose", version="1.1",
    summary="Combine defenses written in the spec: augmentations chain, one part may define the loss",
    tags=("composition",),
)
class Compose(Defense):
    """Chain the parts' training-set expansions; the loss comes from the one part that defines it."""

    # Always the waveform path, whatever the parts: that is how compose cells were trained, and their keys stay.
    expands_training_set = True

    def __init__(self, parts: list[Any] | None = None) -> None:
        if not parts:
            raise SerbenchError("defense 'compose': give parts, e.g. parts: [{name: mixup}, {name: speed}]")
        self.parts: list[Defense] = []
        for i, part in enumerate(parts):
            if isinstance(part, str):
                part = {"name": part}
            if not isinstance(part, dict) or "name" not in part:
                raise SerbenchError(f"defense 'compose': parts[{i}] must be a name or {{name, params}}")
            if part["name"] == "compose":
                raise SerbenchError("defense 'compose': parts cannot be compose themselves")
            self.parts.append(registry("defenses").create(part["name"], **part.get("params", {})))
        lossy = [p for p in self.parts if p.changes_loss]
        if len(lossy) > 1:
            names = ", ".join(type(p).__name__ for p in lossy)
            raise SerbenchError(f"defense 'compose': at most one part may define the loss, got {names}")
        self._loss_part = lossy[0] if lossy else None

    def expand_training_set(self, waves, labels, sample_rate, rng):
        for part in self.parts:
            waves, labels = part.expand_training_set(waves, labels, sample_rate, rng)
        return waves, labels

    def loss(self, batch: TrainBatch):
        return self._loss_part.loss(batch) if self._loss_part else super().loss(batch)

    def first_defended_iteration(self) -> int:
        """The whole combination is active once its latest-starting part is (mixup + vanilla-adv from
        iteration 1 000: 1 000), so model selection never picks a checkpoint that lacks a part."""
        return max(p.first_defended_iteration() for p in self.parts)
