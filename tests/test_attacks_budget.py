"""Every attack x domain x norm stays inside its budget (per check_budget) and eps = 0 returns the input."""

from __future__ import annotations

import math

import pytest
import torch
from test_attacks_setup import feature_batch, feature_model, waveform_batch, waveform_model

import serbench
from serbench.attacks.budget import check_budget, perturbation

# Budgets large enough that the domain bounds bind for some coordinates.
EPS = {("feature", "linf"): 0.1, ("feature", "l2"): 2.0,
       ("waveform", "linf"): 0.05, ("waveform", "l2"): 1.0, ("waveform", "snr"): 10.0}
ZERO = {"linf": 0.0, "l2": 0.0, "snr": math.inf}

# (attack, norms, extra params); few steps keep the suite fast, the budget logic is per step anyway.
ATTACKS = [
    ("fgsm", ("linf",), {}),
    ("bim", ("linf",), {"steps": 3}),
    ("pgd", ("linf", "l2", "snr"), {"steps": 3}),
    ("art.fgsm", ("linf",), {}),
    ("art.bim", ("linf",), {"steps": 3}),
    ("art.pgd", ("linf", "l2"), {"steps": 3}),
    ("art.pgd", ("snr",), {"steps": 3, "random_start": False}),
    ("art.evasion", ("linf",), {"cls": "ProjectedGradientDescent", "max_iter": 3, "eps_step": 0.05}),
    ("art.evasion", ("l2",), {"cls": "ProjectedGradientDescent", "max_iter": 3, "eps_step": 1.0}),
    ("torchattacks.fgsm", ("linf",), {}),
    ("torchattacks.bim", ("linf",), {"steps": 3}),
    ("torchattacks.pgd", ("linf", "l2"), {"steps": 3}),
    ("torchattacks.generic", ("linf",), {"cls": "MIFGSM", "steps": 3, "alpha": 0.02}),
    ("torchattacks.generic", ("l2",), {"cls": "PGDL2", "steps": 3, "alpha": 0.2}),
]

CASES = [
    pytest.param(name, domain, norm, params, id=f"{name}-{domain}-{norm}")
    for name, norms, params in ATTACKS
    for domain in ("feature", "waveform")
    for norm in norms
    if (domain, norm) in EPS
]

_MODELS: dict[str, tuple] = {}


def _setup(domain: str) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    if domain not in _MODELS:
        _MODELS[domain] = (feature_model(), *feature_batch()) if domain == "feature" \
            else (waveform_model(), *waveform_batch())
    return _MODELS[domain]


@pytest.mark.parametrize("name, domain, norm, params", CASES)
def test_attack_stays_in_budget(name: str, domain: str, norm: str, params: dict) -> None:
    model, x, y = _setup(domain)
    eps = EPS[(domain, norm)]
    attack = serbench.get("attacks", name, eps=eps, norm=norm, domain=domain, **params)
    x_adv = attack.generate(model, x, y)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and not x_adv.requires_grad
    m = check_budget(name, attack.threat, x, x_adv)  # raises BudgetViolation when outside
    # The attack did something: at least one example moved, and the budget is used, not just respected.
    if norm == "snr":
        assert float(m["snr_db"].min()) < eps + 6.0
    else:
        assert float(m[norm].max()) > 0.25 * eps


@pytest.mark.parametrize("name, domain, norm, params", CASES)
def test_zero_budget_returns_input(name: str, domain: str, norm: str, params: dict) -> None:
    model, x, y = _setup(domain)
    attack = serbench.get("attacks", name, eps=ZERO[norm], norm=norm, domain=domain, **params)
    x_adv = attack.generate(model, x, y)
    assert torch.equal(x_adv, x) and x_adv is not x


def test_check_budget_rejects_what_projection_fixes() -> None:
    """The projection really is needed: an unprojected step leaves the budget and check_budget says so."""
    _, x, _ = _setup("waveform")
    attack = serbench.get("attacks", "pgd", eps=20.0, norm="snr", domain="waveform")
    raw = x + 0.3 * torch.randn_like(x)
    with pytest.raises(serbench.BudgetViolation):
        check_budget("raw", attack.threat, x, raw)
    fixed = attack.project(x, raw)
    m = check_budget("projected", attack.threat, x, fixed)
    assert float(m["snr_db"].min()) == pytest.approx(20.0, abs=1e-3)  # on the sphere, not deep inside


def test_snr_radius_matches_the_definition() -> None:
    """SNR >= eps dB  <=>  ||delta||_2 <= ||x||_2 * 10^(-eps/20), per example."""
    _, x, _ = _setup("waveform")
    attack = serbench.get("attacks", "pgd", eps=15.0, norm="snr", domain="waveform")
    r = attack.radius(x)
    expected = x.double().flatten(1).norm(dim=1) * 10 ** (-15.0 / 20)
    assert torch.allclose(r, expected, rtol=1e-12)
    delta = torch.randn_like(x)
    delta = delta * (r / delta.double().flatten(1).norm(dim=1)).float()[:, None]
    assert torch.allclose(perturbation(x, x + delta)["snr_db"], torch.full((len(x),), 15.0, dtype=torch.float64),
                          atol=1e-3)


def test_unbounded_art_attack_is_rejected_unless_projected() -> None:
    """An ART attack without eps (DeepFool) ignores the budget: the harness rejects it; project=True bounds it."""
    model, x, y = _setup("feature")
    raw = serbench.get("attacks", "art.evasion", eps=0.01, cls="DeepFool", max_iter=5)
    with pytest.raises(serbench.BudgetViolation):
        check_budget("art.evasion", raw.threat, x, raw.generate(model, x, y))
    bounded = serbench.get("attacks", "art.evasion", eps=0.01, cls="DeepFool", max_iter=5, project=True)
    check_budget("art.evasion", bounded.threat, x, bounded.generate(model, x, y))


def test_snap_fixes_rounding_only() -> None:
    """Attack.snap (used by the library adapters) pulls back float-rounding overshoot, never a real violation."""
    _, x, _ = _setup("waveform")
    attack = serbench.get("attacks", "pgd", eps=0.5, norm="l2", domain="waveform")
    d = torch.randn_like(x)
    d = d / d.flatten(1).norm(dim=1, keepdim=True)
    r = 0.5
    x_adv = x + d * torch.tensor([r * (1 + 1e-6)] + [r * 1.5] + [r * 0.9] * (len(x) - 2))[:, None]
    snapped = attack.snap(x, x_adv)
    l2 = (snapped - x).double().flatten(1).norm(dim=1)
    assert l2[0] <= r and l2[0] > r * (1 - 1e-5)  # rounding overshoot: pulled onto the sphere
    assert torch.equal(snapped[1:], x_adv[1:])  # a real violation and a valid example: untouched
    with pytest.raises(serbench.BudgetViolation):
        check_budget("snapped", attack.threat, x, snapped)
