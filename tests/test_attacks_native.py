"""Native attacks: registry, documented defaults, validation, model untouched, determinism, strength."""

from __future__ import annotations

import pytest
import torch
from test_attacks_setup import feature_batch, feature_model, waveform_batch, waveform_model

import serbench
from serbench.attacks import BIM, FGSM, PGD


def test_registered_with_metadata() -> None:
    assert {"fgsm", "bim", "pgd"} <= set(serbench.list_components("attacks"))
    assert serbench.info("attacks", "pgd").defaults == {
        "eps": 0.0, "norm": "linf", "domain": "feature", "steps": 10, "alpha": None, "random_start": True, "seed": 0}
    assert serbench.info("attacks", "bim").defaults["steps"] == 10
    assert isinstance(serbench.get("attacks", "bim", eps=0.1), BIM)
    assert isinstance(serbench.get("attacks", "fgsm", eps=0.1), FGSM)


def test_default_step_sizes() -> None:
    """BIM: 1.25 * eps / steps (Kurakin's total travel); PGD: 2.5 * eps / steps (Madry); SNR: fraction of radius."""
    r = torch.tensor([0.08, 0.08], dtype=torch.float64)
    assert torch.allclose(BIM(eps=0.08).step_sizes(r), torch.full((2,), 0.01, dtype=torch.float64))
    assert torch.allclose(PGD(eps=0.08, steps=20).step_sizes(r), torch.full((2,), 0.01, dtype=torch.float64))
    assert torch.allclose(PGD(eps=0.08, alpha=0.03).step_sizes(r), torch.full((2,), 0.03, dtype=torch.float64))
    snr = PGD(eps=20, norm="snr", domain="waveform", steps=5)
    radii = torch.tensor([1.0, 3.0], dtype=torch.float64)
    assert torch.allclose(snr.step_sizes(radii), radii * 0.5)


@pytest.mark.parametrize("name, params", [
    ("bim", {"norm": "l2"}),
    ("fgsm", {"norm": "snr", "domain": "waveform"}),
    ("pgd", {"norm": "snr"}),  # SNR is a waveform budget
    ("pgd", {"norm": "l1"}),
    ("pgd", {"domain": "spectrogram"}),
    ("pgd", {"steps": 0}),
    ("pgd", {"alpha": -0.1}),
    ("bim", {"steps": 2.5}),
])
def test_bad_parameters_raise_serbench_errors(name: str, params: dict) -> None:
    with pytest.raises(serbench.SerbenchError):
        serbench.get("attacks", name, eps=0.1, **params)


def test_out_of_range_input_is_refused() -> None:
    model = feature_model()
    x, y = feature_batch()
    with pytest.raises(serbench.SerbenchError, match="outside the domain's range"):
        serbench.get("attacks", "pgd", eps=0.1).generate(model, x * 2, y)


@pytest.mark.parametrize("name", ["fgsm", "bim", "pgd"])
def test_model_state_untouched(name: str) -> None:
    model = feature_model()
    x, y = feature_batch()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    serbench.get("attacks", name, eps=0.05).generate(model, x, y)
    assert not model.training
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_iterative_attacks_are_stronger_than_fgsm() -> None:
    model = feature_model()
    x, y = feature_batch()

    def loss(z: torch.Tensor) -> float:
        with torch.no_grad():
            return float(torch.nn.functional.cross_entropy(model(z), y))

    clean, fgsm = loss(x), loss(serbench.get("attacks", "fgsm", eps=0.05).generate(model, x, y))
    bim = loss(serbench.get("attacks", "bim", eps=0.05).generate(model, x, y))
    pgd = loss(serbench.get("attacks", "pgd", eps=0.05).generate(model, x, y))
    assert clean < fgsm < bim and fgsm < pgd


def test_silent_waveform_under_snr_budget_is_left_alone() -> None:
    """A silent utterance has no SNR headroom: its radius is 0 and nothing may be added (no NaN either)."""
    model = waveform_model()
    x, y = waveform_batch()
    x[0] = 0.0
    x_adv = serbench.get("attacks", "pgd", eps=10.0, norm="snr", domain="waveform", steps=2).generate(model, x, y)
    assert torch.equal(x_adv[0], x[0]) and torch.isfinite(x_adv).all()
    assert not torch.equal(x_adv[1:], x[1:])


def test_waveform_budget_is_spent_on_the_sphere() -> None:
    """A step twice the radius lands on the ball's surface: the L2 projection is radial, not a shrink."""
    model = waveform_model()
    x, y = waveform_batch()
    attack = serbench.get("attacks", "pgd", eps=0.5, norm="l2", domain="waveform", random_start=False,
                          steps=1, alpha=1.0)
    l2 = (attack.generate(model, x, y) - x).double().flatten(1).norm(dim=1)
    assert torch.all(l2 <= 0.5) and torch.all(l2 > 0.5 - 1e-4)


def test_batch_independence() -> None:
    """Summed loss: an example's adversarial does not depend on its batch mates."""
    model = feature_model()
    x, y = feature_batch()
    attack = serbench.get("attacks", "bim", eps=0.05, steps=3)
    whole = attack.generate(model, x, y)
    single = torch.cat([attack.generate(model, x[i : i + 1], y[i : i + 1]) for i in range(len(x))])
    assert float((whole - single).abs().max()) <= 1e-6


def test_deterministic_with_seed() -> None:
    model = feature_model()
    x, y = feature_batch()
    a = serbench.get("attacks", "pgd", eps=0.05, steps=2, seed=3)
    b = serbench.get("attacks", "pgd", eps=0.05, steps=2, seed=3)
    assert torch.equal(a.generate(model, x, y), b.generate(model, x, y))
