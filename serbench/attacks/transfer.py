"""Transfer (black-box) attacks: craft on a source model, evaluate on a different target.

The adversary has white-box access to a *source* model only (another
architecture, seed or defense trained on the same task); the *target* is never
queried while crafting. The crafting step is therefore plain
``attack.generate(source_model, x, y)``: what makes it a transfer attack is
that the engine evaluates the result on the target. A spec names the source as
an axis; the engine pairs each target cell with its source checkpoint.
"""

from __future__ import annotations

import torch
from torch import nn

from serbench.attacks.base import Attack


def transfer_attack(attack: Attack, source_model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Adversarial examples for ``x`` crafted white-box on ``source_model`` only.

    Both models must take the same domain (``attack.threat.domain``): for
    the waveform domain, pass the source's front end + model pipeline.
    """
    modes = [(m, m.training) for m in source_model.modules()]  # per module: wrappers may mix modes
    source_model.eval()
    try:
        return attack.generate(source_model, x, y)
    finally:
        for m, training in modes:
            m.training = training
