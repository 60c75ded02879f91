"""Transfer attacks: crafted on a source model only, evaluated on a different target."""

from __future__ import annotations

import torch
from test_attacks_setup import feature_batch, feature_model
from torch import nn

import serbench
from serbench.attacks import check_budget, transfer_attack


class Counting(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.calls = model, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.model(x)


def test_crafted_on_source_evaluated_on_target() -> None:
    source, target = Counting(feature_model(seed=0)), Counting(feature_model(seed=7))
    x, y = feature_batch()
    attack = serbench.get("attacks", "pgd", eps=0.05, random_start=False)
    x_adv = transfer_attack(attack, source, x, y)
    assert source.calls == attack.steps and target.calls == 0  # the target is never queried while crafting
    check_budget("pgd", attack.threat, x, x_adv)
    assert torch.equal(x_adv, attack.generate(source.model, x, y))  # exactly white-box on the source
    white_box = attack.generate(target.model, x, y)
    assert not torch.equal(x_adv, white_box)  # a different model gives different examples

    def loss(model: nn.Module, z: torch.Tensor) -> float:
        with torch.no_grad():
            return float(nn.functional.cross_entropy(model(z), y))

    # Evaluated on the target: white-box is the stronger attack there, transfer the stronger on the source.
    assert loss(target.model, white_box) > loss(target.model, x_adv)
    assert loss(source.model, x_adv) > loss(source.model, white_box)


def test_same_weights_transfer_equals_white_box_and_mode_is_restored() -> None:
    source, target = feature_model(seed=3), feature_model(seed=3)
    source.train()
    x, y = feature_batch()
    attack = serbench.get("attacks", "bim", eps=0.05)
    x_adv = transfer_attack(attack, source, x, y)
    assert source.training  # crafting ran in eval mode and put the source back as it was
    assert torch.equal(x_adv, attack.generate(target, x, y))
