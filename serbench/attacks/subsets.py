"""Running a model on some rows of a batch, for attacks that only keep attacking what they have not fooled yet.

APGD's restarts, AutoAttack's members and Square's queries each run on the rows still classified
correctly, as the reference implementations do: no forward pass is spent on an utterance already won.
A plain model takes any batch; a :class:`~serbench.attacks.padding.PaddingGate` (what the harness
attacks when a batch holds padding) is built for one batch's shape, so it is rebuilt on those rows.
"""

from __future__ import annotations

import torch
from torch import nn

from serbench.attacks.padding import PaddingGate


def model_rows(model: nn.Module, index: torch.Tensor, rows: int) -> nn.Module:
    """``model`` for the rows ``index`` (sorted, on the batch's device) of a batch of ``rows`` rows."""
    if len(index) == rows:
        return model
    if isinstance(model, PaddingGate):
        mask = model.mask.flatten(1)  # stored as (B, 1, ..., T): back to (B, T)
        return PaddingGate(model.model, model.clean[index], mask[index]).train(model.training)
    return model
