"""Native Square attack: budgets, the query budget and its record, and what a score-based attack is for."""

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
from serbench.attacks.square import Square, margin, square_share
from serbench.engine.evaluate import evaluate_attack, predict

LABELS = ("a", "b", "c", "d")


def _accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).double().mean())


class Quantised(torch.nn.Module):
    """A model behind a non-differentiable 8-bit quantiser: every input gradient is exactly zero."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(torch.round(x * 255) / 255)


def test_schedule_and_margin() -> None:
    """AutoAttack's p schedule rescaled to the budget: p_init, halved after 10, 50, 200, ... of 10000."""
    assert square_share(0.8, 0, 10000) == 0.8 and square_share(0.8, 11, 10000) == 0.4
    assert square_share(0.8, 9000, 10000) == 0.8 / 512
    assert square_share(0.8, 100, 1000) == square_share(0.8, 1000, 10000) == 0.8 / 16
    z = torch.tensor([[2.0, 5.0, 1.0], [0.0, -1.0, 3.0]])
    assert torch.equal(margin(z, torch.tensor([1, 0])), torch.tensor([3.0, -3.0]))


@pytest.mark.parametrize("domain", ["feature", "waveform"])
def test_inside_budget(domain: str) -> None:
    if domain == "feature":
        model, (x, y) = feature_model(), feature_batch()
        cases = [(x, None), (-1.5 + 4.0 * x, (-1.5, 2.5))]
        eps = 0.05
    else:
        model, (x, y) = waveform_model(), waveform_batch()
        cases, eps = [(x, None)], 0.01
    for xs, box in cases:
        attack = Square(eps=eps, domain=domain, n_queries=40)
        attack.threat = attack.threat.with_bounds(box)
        x_adv = attack.generate(model, xs, y)
        serbench.check_budget("square", attack.threat, xs, x_adv)
        assert float((x_adv - xs).abs().max()) > 0


def test_query_budget_and_report() -> None:
    """Each utterance uses at most n_queries evaluations, those the model gets wrong none, and the report
    adds up; the still-correct ones used the whole budget."""
    model = trained_feature_model()
    x, y = synthetic_task(32, seed=5)
    y[:4] = (y[:4] + 1) % 4  # four utterances wrong on the clean input
    attack = Square(eps=0.2, n_queries=60)
    x_adv = attack.generate(model, x, y)
    queries = torch.tensor(attack.last_report["per_utterance"]["queries"])
    with torch.no_grad():
        still = model(x_adv).argmax(1) == y
    assert torch.equal(x_adv[:4], x[:4]) and torch.all(queries[:4] == 0)
    assert torch.all((queries[4:] >= 1) & (queries[4:] <= 60))
    assert torch.all(queries[still] == 60)
    assert int((~still[4:]).sum()) > 0 and torch.all(queries[4:][~still[4:]] <= 60)
    assert attack.last_report["totals"] == {"queries": int(queries.sum()), "attacked": 28}


def test_seeded() -> None:
    model = trained_feature_model()
    x, y = synthetic_task(8, seed=5)
    run = lambda seed: Square(eps=0.2, n_queries=20, seed=seed).generate(model, x, y)  # noqa: E731
    assert torch.equal(run(1), run(1)) and not torch.equal(run(1), run(2))


def test_needs_no_gradient() -> None:
    """Behind a quantiser the input gradient is zero: PGD and APGD move nothing useful, Square still wins
    (the black-box attack exposes the masked gradient). Measured: 1.00, 1.00 and 0.23."""
    model = Quantised(trained_feature_model()).eval()
    x, y = synthetic_task(64, seed=5)
    apgd = _accuracy(model, serbench.get("attacks", "apgd", eps=0.2, steps=20).generate(model, x, y), y)
    pgd = _accuracy(model, serbench.get("attacks", "pgd", eps=0.2).generate(model, x, y), y)
    square = _accuracy(model, serbench.get("attacks", "square", eps=0.2, n_queries=300).generate(model, x, y), y)
    assert apgd == pgd == 1.0 and square < 0.5, (apgd, pgd, square)


def test_harness_records_queries_per_utterance() -> None:
    """Through the harness, in two length groups and batches of 3: the queries land on the right utterances."""
    model = trained_feature_model()
    x, y = synthetic_task(16, seed=5)
    y[[1, 6, 12]] = (y[[1, 6, 12]] + 1) % 4
    order = torch.randperm(16, generator=torch.Generator().manual_seed(0))
    first, second = order[:7], order[7:]
    groups = [(first, x[first]), (second, x[second][..., :20])]  # the second group: shorter utterances
    clean = torch.zeros(16, 4)
    for index, xg in groups:
        clean[index] = predict(model, xg)
    attack = Square(eps=0.2, n_queries=30)
    metrics, correct = evaluate_attack("square", attack, model, groups, y, clean, LABELS, batch_size=3,
                                       threat=attack.threat)
    report = metrics["attack_report"]
    queries = torch.tensor(report["per_utterance"]["queries"])
    wrong_clean = clean.argmax(1) != y
    assert torch.all(queries[wrong_clean] == 0) and torch.all(queries[~wrong_clean] >= 1)
    assert torch.all(queries[torch.as_tensor(correct)] == 30)  # what stayed correct spent the whole budget
    assert report["totals"]["queries"] == int(queries.sum()) and report["info"] == {"n_queries": 30}
