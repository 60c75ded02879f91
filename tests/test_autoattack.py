"""The native ``autoattack`` ensemble: budgets, the per-utterance worst case, its report, through the harness."""

from __future__ import annotations

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
from serbench.attacks.autoattack import STANDARD, AutoAttack
from serbench.attacks.padding import masked_generate, sample_mask
from serbench.engine.evaluate import evaluate_attack, predict
from serbench.models.cnn4 import CNN4

LABELS = ("a", "b", "c", "d")
SMALL = {"steps": 8, "n_queries": 30}


def _wrong(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x).argmax(1) != y


@pytest.mark.parametrize("domain, norm, eps", [
    ("feature", "linf", 0.05), ("feature", "l2", 1.0),
    ("waveform", "linf", 0.01), ("waveform", "l2", 0.5), ("waveform", "snr", 20.0),
])
def test_inside_budget_every_domain_and_norm(domain: str, norm: str, eps: float) -> None:
    if domain == "feature":
        model, (x, y) = feature_model(), feature_batch()
        cases = [(x, None), (-1.5 + 4.0 * x, (-1.5, 2.5))]
    else:
        model, (x, y) = waveform_model(), waveform_batch()
        cases = [(x, None)]
    for xs, box in cases:
        attack = AutoAttack(eps=eps, norm=norm, domain=domain, **SMALL)
        attack.threat = attack.threat.with_bounds(box)  # as the harness does: the members must follow
        serbench.check_budget("autoattack", attack.threat, xs, attack.generate(model, xs, y))


def test_worst_case_and_report_on_a_trained_model() -> None:
    """Per utterance: wrong after the ensemble exactly where the report names a member (or the clean input);
    APGD-CE, the first member, flips what the standalone APGD-CE with the same seed flips; the ensemble is at
    least as strong as PGD and APGD alone. Measured at eps 0.14: PGD 0.52, APGD 0.22, autoattack 0.11."""
    model = trained_feature_model()
    x, y = synthetic_task(64, seed=5)
    y[:3] = (y[:3] + 1) % 4  # three wrong on the clean input
    attack = serbench.get("attacks", "autoattack", eps=0.14, steps=20, n_queries=100)
    x_adv = attack.generate(model, x, y)
    serbench.check_budget("autoattack", attack.threat, x, x_adv)
    report = attack.last_report
    flipped_by = report["per_utterance"]["flipped_by"]
    wrong = _wrong(model, x_adv, y)
    assert [f is not None for f in flipped_by] == wrong.tolist()
    assert flipped_by[:3] == ["clean"] * 3 and torch.equal(x_adv[:3], x[:3])
    assert report["info"] == {"order": list(STANDARD), "skipped": {}}
    assert sum(v for k, v in report["totals"].items() if k.startswith("flipped.")) + report["totals"]["clean_wrong"] \
        + report["totals"]["robust"] == 64
    apgd = serbench.get("attacks", "apgd", eps=0.14, steps=20).generate(model, x, y)
    by_apgd = _wrong(model, apgd, y) & ~_wrong(model, x, y)
    assert [f == "apgd-ce" for f in flipped_by] == by_apgd.tolist()
    assert report["totals"]["flipped.apgd-t"] + report["totals"]["flipped.apgd-t-ce"] > 0  # later members add
    pgd = serbench.get("attacks", "pgd", eps=0.14, steps=20).generate(model, x, y)
    assert int(wrong.sum()) > int(_wrong(model, apgd, y).sum()) > int(_wrong(model, pgd, y).sum())


def test_members_skipped_with_the_reason() -> None:
    """Three classes: no targeted DLR (it needs four); an L2 budget: no Square (Linf only). Both are said."""
    x, y = feature_batch()
    three = CNN4(num_classes=3, width=0.125).eval()
    attack = AutoAttack(eps=0.05, **SMALL)
    attack.generate(three, x, y % 3)
    assert attack.last_report["info"]["skipped"] == {"apgd-t": "needs 4 classes, the model has 3"}
    assert attack.last_report["totals"]["flipped.apgd-t"] == 0
    l2 = AutoAttack(eps=1.0, norm="l2", **SMALL)
    l2.generate(feature_model(), x, y)
    assert l2.last_report["info"]["skipped"] == {"square": "Linf only, the budget is l2"}


def test_padded_batch_through_the_gate() -> None:
    """Every member runs on a subset of rows; each gets a padding gate rebuilt for its rows."""
    model = waveform_model()
    x, y = waveform_batch()
    mask = sample_mask(torch.tensor([4096, 3000, 4096, 2500, 4096, 3500, 1800, 4096]), x.shape[1])
    x = x * mask
    attack = AutoAttack(eps=0.01, domain="waveform", **SMALL)
    x_adv = masked_generate(attack, model, x, y, mask)
    serbench.check_budget("autoattack", attack.threat, x, x_adv)
    assert torch.equal(x_adv[~mask], x[~mask])


def test_harness_records_who_flipped_what() -> None:
    """Through the harness (two length groups, batches of 5): the report's per-utterance member is in the
    cell's order, non-empty exactly where the cell's prediction is wrong, and the counts add up."""
    model = trained_feature_model()
    x, y = synthetic_task(24, seed=5)
    order = torch.randperm(24, generator=torch.Generator().manual_seed(1))
    groups = [(order[:11], x[order[:11]]), (order[11:], x[order[11:]][..., :20])]
    clean = torch.zeros(24, 4)
    for index, xg in groups:
        clean[index] = predict(model, xg)
    attack = AutoAttack(eps=0.14, steps=10, n_queries=30)
    metrics, correct = evaluate_attack("autoattack", attack, model, groups, y, clean, LABELS, batch_size=5,
                                       threat=attack.threat)
    report = metrics["attack_report"]
    flipped_by = report["per_utterance"]["flipped_by"]
    assert [f is None for f in flipped_by] == correct.tolist()
    assert 0 < sum(correct) < 24
    for name in STANDARD:
        assert report["totals"][f"flipped.{name}"] == flipped_by.count(name)
    assert report["totals"]["robust"] == int(correct.sum()) and report["info"]["order"] == list(STANDARD)
