"""Native DeepFool (L2, Linf, SNR): budgets in every domain and norm, the step by hand on a linear model, the curve
through the harness (padded batches included), determinism."""

from __future__ import annotations

import math

import pytest
import torch
from test_attacks_setup import (
    feature_batch,
    feature_model,
    synthetic_task,
    trained_feature_model,
    waveform_batch,
    waveform_model,
)

import serbench
from serbench.attacks import minimal
from serbench.attacks.budget import perturbation
from serbench.attacks.deepfool import DeepFool
from serbench.engine.evaluate import evaluate_attack, predict

LABELS = ("a", "b", "c", "d")


@pytest.mark.parametrize("domain, norm, eps", [
    ("feature", "l2", 1.0), ("feature", "linf", 0.05),
    ("waveform", "l2", 0.5), ("waveform", "linf", 0.01), ("waveform", "snr", 20.0),
])
def test_inside_budget_every_domain_and_norm(domain: str, norm: str, eps: float) -> None:
    """The harness's own check passes (features also in a normalisation's wider box); what is returned
    perturbed is misclassified and of the size the report says."""
    if domain == "feature":
        model, (x, y) = feature_model(), feature_batch()
        cases = [(x, None), (-1.5 + 4.0 * x, (-1.5, 2.5))]
    else:
        model, (x, y) = waveform_model(), waveform_batch()
        cases = [(x, None)]
    for xs, box in cases:
        attack = DeepFool(eps=eps, norm=norm, domain=domain, steps=10)
        attack.threat = attack.threat.with_bounds(box)
        x_adv = attack.generate(model, xs, y)
        serbench.check_budget("deepfool", attack.threat, xs, x_adv)
        assert x_adv.shape == xs.shape and x_adv.dtype == xs.dtype and not x_adv.requires_grad
        moved = (x_adv != xs).flatten(1).any(1)
        with torch.no_grad():
            assert bool((model(x_adv).argmax(1)[moved] != y[moved]).all())
        size = perturbation(xs, x_adv)["linf" if norm == "linf" else "l2"]
        listed = torch.tensor([math.nan if v is None else v for v in attack.last_report["per_utterance"]["min_size"]],
                              dtype=torch.float64)
        assert torch.equal(size[moved], listed[moved])
        assert attack.last_report["totals"]["flipped"] == int(moved.sum())


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_one_step_on_a_linear_model_lands_past_the_boundary(norm: str) -> None:
    """For an affine two-class model the linearisation is exact: one step of size
    (|f| + 1e-4) / ||w||_q (q: 2 or 1) times 1.02 crosses the boundary, and that is the size reported."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 2)).double().eval()
    x = (0.3 + 0.4 * torch.rand(4, 12, dtype=torch.float64))
    with torch.no_grad():
        y = model(x).argmax(1)
    w = (model[1].weight[1 - y] - model[1].weight[y]).detach()
    with torch.no_grad():
        logits = model(x)
    f = (logits.gather(1, (1 - y)[:, None]) - logits.gather(1, y[:, None]))[:, 0].abs()
    dual = w.abs().sum(1) if norm == "linf" else w.norm(dim=1)
    expected = 1.02 * (f + 1e-4) / dual
    attack = DeepFool(eps=10.0, norm=norm, domain="feature", steps=5)
    x_adv = attack.generate(model, x, y)
    found = torch.tensor(attack.last_report["per_utterance"]["min_size"], dtype=torch.float64)
    assert torch.allclose(found, expected, rtol=1e-6, atol=0), (found, expected)  # logits are read in fp32
    with torch.no_grad():
        assert bool((model(x_adv).argmax(1) != y).all())


def test_curve_through_the_harness_with_padding() -> None:
    """Two length groups (one padded, attacked through the harness's gate), batches of 5, three utterances wrong
    clean: the curve is monotone and its value at eps is the cell's robust UAR and accuracy."""
    model = trained_feature_model()
    x, y = synthetic_task(16, seed=5)
    y[[1, 6, 12]] = (y[[1, 6, 12]] + 1) % 4
    order = torch.randperm(16, generator=torch.Generator().manual_seed(0))
    mask = torch.ones(9, 24, dtype=torch.bool)
    mask[::2, 20:] = False
    groups = [(order[:7], x[order[:7]]), (order[7:], x[order[7:]], mask)]
    clean = torch.zeros(16, 4)
    for index, xg, *_ in groups:
        clean[index] = predict(model, xg)
    attack = DeepFool(eps=3.0, norm="l2")
    metrics, _ = evaluate_attack("deepfool", attack, model, groups, y, clean, LABELS, batch_size=5,
                                 threat=attack.threat)
    summary = attack.finish_report(metrics["attack_report"])["summary"]
    curve = summary["curve"]
    assert all(a >= b for a, b in zip(curve["uar"], curve["uar"][1:]))
    at = curve["budget"].index(3.0)
    assert curve["uar"][at] == summary["robust_uar_at_eps"] == pytest.approx(metrics["uar"], abs=1e-12)
    assert curve["accuracy"][at] == pytest.approx(metrics["wa"], abs=1e-12)
    assert 0 < metrics["wa"] < 13 / 16 and summary["fraction_found"] == 1.0


def test_deterministic() -> None:
    model = trained_feature_model()
    x, y = synthetic_task(8, seed=5)
    for norm in ("l2", "linf"):
        a, b = DeepFool(eps=0.2, norm=norm), DeepFool(eps=0.2, norm=norm)
        assert torch.equal(a.generate(model, x, y), b.generate(model, x, y)) and a.last_report == b.last_report
        assert minimal.summarize(a.last_report)["fraction_found"] == 1.0


def test_refusals_and_eps_zero() -> None:
    with pytest.raises(serbench.SerbenchError, match="steps must be a positive integer"):
        DeepFool(eps=1.0, steps=0)
    with pytest.raises(serbench.SerbenchError, match="overshoot must be a finite number >= 0"):
        DeepFool(eps=1.0, overshoot=-0.1)
    model, (x, y) = feature_model(), feature_batch()
    assert torch.equal(serbench.get("attacks", "deepfool", eps=0.0).generate(model, x, y), x)
