"""Adversarial training crafts its examples inside the normalisation's bounds and never perturbs padding."""

from __future__ import annotations

import pytest
import torch

import serbench
from serbench.defenses.adversarial import VanillaAdversarial
from serbench.defenses.base import TrainBatch
from serbench.engine.schedules import schedule
from serbench.engine.train import train
from serbench.errors import SerbenchError

BOUNDS = (-5.0, 5.0)  # a log normalisation's range, not [0, 1]
EPS = 0.25
SCHED = schedule("ren2020", iterations=6, eval_every=3, batch_size=8)


def features(n: int = 8, seed: int = 0) -> torch.Tensor:
    """(n, 1, 64, 24) features spread over BOUNDS, with some entries exactly on either bound."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 64, 24, generator=g) * (BOUNDS[1] - BOUNDS[0]) + BOUNDS[0]
    x[:, :, ::7, ::5] = BOUNDS[0]
    x[:, :, 3::7, 2::5] = BOUNDS[1]
    return x


def padding_mask(n: int, frames: int = 24, padded: int = 10) -> torch.Tensor:
    mask = torch.ones(n, frames, dtype=torch.bool)
    mask[:, frames - padded:] = False
    return mask


def batch(x: torch.Tensor, **fields) -> TrainBatch:
    torch.manual_seed(0)
    model = serbench.get("models", "cnn4.tiny", num_classes=4).train()
    return TrainBatch(model, x, torch.arange(len(x)) % 4, 0, torch.Generator().manual_seed(0), **fields)


def test_fgsm_examples_stay_inside_the_batch_bounds_not_the_unit_box():
    x = features()
    defense = serbench.get("defenses", "vanilla-adv", eps=EPS, start_iteration=0)
    x_adv = defense.adversarial(batch(x, bounds=BOUNDS))
    assert defense.attack.threat.bounds == BOUNDS
    assert float(x_adv.min()) >= BOUNDS[0] and float(x_adv.max()) <= BOUNDS[1]
    moved = x_adv != x
    assert bool((moved & (x < 0)).any()) and float(x_adv.min()) < 0  # [0, 1] clipping would have lifted these
    assert float((x_adv - x).abs().max()) <= EPS + 1e-6
    # Away from the bounds every moved entry took a full eps step: nothing was clipped inside the box.
    inner = moved & (x > BOUNDS[0] + EPS) & (x < BOUNDS[1] - EPS)
    assert torch.allclose((x_adv - x).abs()[inner], torch.full_like(x[inner], EPS))


def test_batch_without_bounds_keeps_the_attack_default():
    x = torch.rand(8, 1, 64, 24, generator=torch.Generator().manual_seed(1))
    defense = serbench.get("defenses", "vanilla-adv", eps=EPS, start_iteration=0)
    x_adv = defense.adversarial(batch(x))
    assert defense.attack.threat.box is None and defense.attack.threat.bounds == (0.0, 1.0)
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0


@pytest.mark.parametrize("name", ["vanilla-adv", "pgd-adv"])
def test_adversarial_examples_leave_padding_exactly_clean(name):
    x = features()
    mask = padding_mask(len(x))
    defense = serbench.get("defenses", name, eps=EPS, start_iteration=0)
    x_adv = defense.adversarial(batch(x, bounds=BOUNDS, mask=mask))
    assert torch.equal(x_adv[..., -10:], x[..., -10:])
    assert bool((x_adv[..., :-10] != x[..., :-10]).flatten(1).any(1).all())  # every row perturbed where active


class RecordingVanilla(VanillaAdversarial):
    """Vanilla adversarial training that keeps, per adversarial batch, what it was given and what it made."""

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.seen: list[tuple[tuple[float, float] | None, torch.Tensor | None, torch.Tensor, torch.Tensor]] = []

    def adversarial(self, batch: TrainBatch) -> torch.Tensor:
        x_adv = super().adversarial(batch)
        self.seen.append((batch.bounds, batch.mask, batch.x.detach(), x_adv))
        return x_adv


def test_train_hands_bounds_and_row_masks_to_the_defense():
    x, y = features(32, seed=2), torch.arange(32) % 4
    mask = padding_mask(32)
    mask[::2, 14:] = True  # every other row fully active: masks must follow the shuffled rows
    torch.manual_seed(0)
    model = serbench.get("models", "cnn4.tiny", num_classes=4)
    defense = RecordingVanilla(eps=EPS, start_iteration=0)
    train(model, defense, x, y, x[:8], y[:8], SCHED, seed=0, num_classes=4, bounds=BOUNDS, mask=mask)
    assert defense.attack.threat.bounds == BOUNDS
    assert len(defense.seen) == SCHED.iterations
    rows = {tuple(r.flatten().tolist()): i for i, r in enumerate(x)}
    for bounds, batch_mask, xb, x_adv in defense.seen:
        assert bounds == BOUNDS
        expected = mask[[rows[tuple(r.flatten().tolist())] for r in xb]]
        assert torch.equal(batch_mask, expected)
        padded = ~batch_mask[:, None, None, :].expand_as(xb)
        assert torch.equal(x_adv[padded], xb[padded])
        assert float(x_adv.min()) >= BOUNDS[0] and float(x_adv.max()) <= BOUNDS[1]


@pytest.mark.parametrize("shape", [(31, 24), (32, 23), (32,)])
def test_train_refuses_a_mask_that_does_not_fit_the_features(shape):
    x, y = features(32), torch.arange(32) % 4
    defense = serbench.get("defenses", "vanilla-adv", eps=EPS, start_iteration=0)
    model = serbench.get("models", "cnn4.tiny", num_classes=4)
    with pytest.raises(SerbenchError, match="padding mask has shape"):
        train(model, defense, x, y, x[:8], y[:8], SCHED, seed=0, num_classes=4, bounds=BOUNDS,
              mask=torch.ones(shape, dtype=torch.bool))
