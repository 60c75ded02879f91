"""Input gradients shared between attack cells of one model: same results, fewer backward passes (issue 20)."""

from __future__ import annotations

import torch
from torch import nn

import serbench
from serbench.attacks.base import ThreatModel
from serbench.attacks.gradients import GradientMemo, input_gradient, sharing_gradients
from serbench.attacks.padding import masked_generate


def _model(dropout: float = 0.0) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(64, 4)).eval()


def _batch():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(6, 1, 8, 8, generator=g)
    mask = torch.ones(6, 8, dtype=torch.bool)  # (batch, frames): the last two frames are padding
    mask[:, 6:] = False
    return x, torch.tensor([0, 1, 2, 3, 0, 1]), mask


def _fgsm(eps: float):
    attack = serbench.get("attacks", "fgsm", eps=eps)
    attack.threat = ThreatModel("feature", "linf", eps).with_bounds((0.0, 1.0))
    return attack


def test_fgsm_at_three_budgets_computes_one_gradient_and_returns_the_same_examples():
    model, (x, y, mask) = _model(), _batch()
    alone = [masked_generate(_fgsm(e), model, x, y, mask) for e in (0.02, 0.05, 0.1)]
    memo = GradientMemo()
    with sharing_gradients(memo):
        shared = [masked_generate(_fgsm(e), model, x, y, mask) for e in (0.02, 0.05, 0.1)]
    assert (memo.misses, memo.hits) == (1, 2)
    for a, b in zip(alone, shared):
        assert torch.equal(a, b)


def test_another_mask_labels_inputs_or_model_is_a_miss():
    model, (x, y, mask) = _model(), _batch()
    memo = GradientMemo()
    with sharing_gradients(memo):
        masked_generate(_fgsm(0.1), model, x, y, mask)
        other = mask.clone()
        other[:, 5] = False
        masked_generate(_fgsm(0.1), model, x, y, other)
        masked_generate(_fgsm(0.1), model, x, y.flip(0), mask)
        masked_generate(_fgsm(0.1), _model(), x, y, mask)  # same weights, another module: not assumed equal
        input_gradient(model, x, y)  # ungated
        x.add_(0.01)  # changed in place after it was stored: the stored copy no longer matches
        input_gradient(model, x, y)
    assert (memo.misses, memo.hits) == (6, 0)


def test_a_model_in_training_mode_is_never_shared():
    model, (x, y, _) = _model(dropout=0.5).train(), _batch()
    memo = GradientMemo()
    with sharing_gradients(memo):
        input_gradient(model, x, y)
        input_gradient(model, x, y)
    assert (memo.misses, memo.hits) == (0, 0)


def test_outside_a_scope_nothing_is_stored():
    model, (x, y, _) = _model(), _batch()
    memo = GradientMemo()
    input_gradient(model, x, y)
    with sharing_gradients(memo):
        pass
    assert (memo.misses, memo.hits) == (0, 0)
