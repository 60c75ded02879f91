"""Single training: no defense."""

from __future__ import annotations

from serbench.defenses.base import Defense
from serbench.registry import register


@register(
    "defenses", "standard", version="1.0",
    summary="Single training: cross-entropy on clean data, no defense",
    paper="Ren et al., ICASSP 2020 ('single training')", tags=("baseline",),
)
class Standard(Defense):
    """Plain training on clean data with cross-entropy ("single training" in Ren et al.)."""
