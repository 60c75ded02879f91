"""Native FGSM: never leaves its budget, eps = 0 is the identity, the harness catches violations."""

from __future__ import annotations

import pytest
import torch

import serbench
from serbench.attacks.budget import check_budget
from serbench.errors import BudgetViolation, SerbenchError


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = serbench.get("models", "cnn4.tiny", num_classes=4).eval()
    x = torch.rand(8, 1, 64, 40)
    x[:, :, :5] = 0.0  # some inputs at the lower bound
    x[:, :, -5:] = 1.0  # and at the upper bound
    y = torch.randint(0, 4, (8,))
    return model, x, y


@pytest.mark.parametrize("eps", [0.0, 0.01, 0.04, 0.1, 0.5])
def test_fgsm_stays_in_budget_and_range(setup, eps):
    model, x, y = setup
    attack = serbench.get("attacks", "fgsm", eps=eps)
    x_adv = attack.generate(model, x, y)
    assert ((x_adv - x).abs() <= eps + 1e-7).all()
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    check_budget("fgsm", attack.threat, x, x_adv)
    if eps == 0.0:
        assert torch.equal(x_adv, x)


def test_fgsm_is_the_sign_step_and_raises_loss(setup):
    model, x, y = setup
    eps = 0.02
    x_adv = serbench.get("attacks", "fgsm", eps=eps).generate(model, x, y)
    xg = x.clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(model(xg), y, reduction="sum").backward()
    expected = (x + eps * xg.grad.sign()).clamp(0, 1)
    assert torch.allclose(x_adv, expected, atol=1e-7)
    loss = lambda inp: torch.nn.functional.cross_entropy(model(inp), y).item()  # noqa: E731
    assert loss(x_adv) > loss(x)


def test_eta_clip_tightens_the_step(setup):
    model, x, y = setup
    x_adv = serbench.get("attacks", "fgsm", eps=0.1, eta=0.03).generate(model, x, y)
    assert (x_adv - x).abs().max() <= 0.03 + 1e-7


def test_budget_check_catches_violations(setup):
    _, x, _ = setup
    threat = serbench.ThreatModel(domain="feature", norm="linf", eps=0.01)
    with pytest.raises(BudgetViolation, match="exceeds eps 0.01"):
        check_budget("sneaky", threat, x, (x + 0.02).clamp(0, 1))
    with pytest.raises(BudgetViolation, match="left the feature range"):
        check_budget("sneaky", threat, x, x + 0.005 * (x >= 0.999))
    with pytest.raises(SerbenchError, match="supports norms linf"):
        serbench.get("attacks", "fgsm", eps=0.1, norm="l2")
