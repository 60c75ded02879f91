"""Defenses (training procedures). Importing this registers the built-ins."""

from serbench.defenses.base import Defense, TrainBatch
from serbench.defenses.standard import Standard
from serbench.registry import register

register(
    "defenses", "standard", version="1.0",
    summary="Single training: cross-entropy on clean data, no defense",
    paper="Ren et al., ICASSP 2020 ('single training')",
    tags=("baseline",),
)(Standard)

__all__ = ["Defense", "TrainBatch", "Standard"]
