"""Gradient-masking flags fire on constructed masked cases and stay quiet on a healthy model."""

from __future__ import annotations

import pytest
import torch
from test_attacks_setup import feature_batch, feature_model, synthetic_task, trained_feature_model
from torch import nn

import serbench
from serbench.attacks import input_gradient
from serbench.attacks.masking import (
    iterative_weaker_than_single_step,
    nondeterministic_forward,
    success_not_rising,
    zero_gradients,
)


class Quantized(nn.Module):
    """A 'defense' that rounds its input to 4 levels: the gradient through round() is zero everywhere."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(torch.round(x * 3) / 3)


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def _success(model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor) -> float:
    """Flip rate against the model's own clean predictions (labels = clean predictions, so every one counts)."""
    with torch.no_grad():
        return float((model(x).argmax(1) != model(x_adv).argmax(1)).float().mean())


def _labelled() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A healthy model: tiny CNN-4 trained on the synthetic task (clean accuracy 1 on this held-out batch)."""
    model = trained_feature_model()
    x, y = synthetic_task(n=32, seed=9)
    assert _accuracy(model, x, y) == 1.0
    return model, x, y


def test_zero_gradients() -> None:
    model = feature_model()
    x, y = feature_batch()
    assert zero_gradients(input_gradient(model, x, y)) is None
    msg = zero_gradients(input_gradient(Quantized(model), x, y))
    assert msg is not None and "8 of 8" in msg
    partial = input_gradient(model, x, y)
    partial[:2] = 0
    assert "2 of 8" in zero_gradients(partial)
    assert zero_gradients(partial, max_fraction=0.5) is None


def test_iterative_weaker_than_fgsm() -> None:
    model, x, y = _labelled()
    eps = 0.3
    fgsm = _accuracy(model, serbench.get("attacks", "fgsm", eps=eps).generate(model, x, y), y)
    pgd = _accuracy(model, serbench.get("attacks", "pgd", eps=eps).generate(model, x, y), y)
    assert iterative_weaker_than_single_step(pgd, fgsm, eps, "pgd") is None
    # A mis-configured iterative attack (steps far too small to leave the neighbourhood) is weaker: flagged.
    crippled = serbench.get("attacks", "pgd", eps=eps, steps=2, alpha=eps / 100, random_start=False)
    weak = _accuracy(model, crippled.generate(model, x, y), y)
    assert weak > fgsm
    msg = iterative_weaker_than_single_step(weak, fgsm, eps, "pgd")
    assert msg is not None and "pgd" in msg and "0.3" in msg


def test_success_not_rising() -> None:
    model, x, y = _labelled()
    eps = [0.05, 0.15, 0.3]
    rates = [_success(model, x, serbench.get("attacks", "pgd", eps=e).generate(model, x, y)) for e in eps]
    assert rates[-1] > rates[0]
    assert success_not_rising(eps, rates, "pgd") is None
    # Masked model: gradients are zero, PGD never moves, success stays flat at 0 however large eps is.
    masked = Quantized(model)
    flat = [_success(masked, x, serbench.get("attacks", "pgd", eps=e, random_start=False).generate(masked, x, y))
            for e in eps]
    assert flat == [0.0, 0.0, 0.0]
    assert "does not rise" in success_not_rising(eps, flat, "pgd")
    assert "falls from 0.6000" in success_not_rising([0.1, 0.01, 0.05], [0.3, 0.5, 0.6])
    assert success_not_rising([0.1, 0.2], [float("nan"), 0.5]) is None  # one usable point: nothing to compare
    with pytest.raises(ValueError):
        success_not_rising([0.1], [0.1, 0.2])


def test_nondeterministic_forward() -> None:
    model = feature_model()
    x, _ = feature_batch()
    assert nondeterministic_forward(model, x) is None
    noisy = nn.Sequential(nn.Dropout(0.3), feature_model()).train()  # dropout left on at evaluation
    noisy[1].eval()
    assert "not deterministic" in nondeterministic_forward(noisy, x)


def test_flags_quiet_on_trained_model() -> None:
    model, x, y = _labelled()
    assert zero_gradients(input_gradient(model, x, y)) is None
    assert nondeterministic_forward(model, x) is None


# -- black-box stronger than white-box, across the records of one threat ----------------------------------------
def _attack_record(key: str, name: str, correct: list[bool], eps: float = 0.1, flipped_by: list | None = None) -> dict:
    """An ok attack record over len(correct) utterances, all of class 0: predicted 0 where ``correct``."""
    metrics = {"predictions": [0 if c else 1 for c in correct], "targets": [0] * len(correct)}
    if flipped_by is not None:
        metrics["attack_report"] = {"totals": {}, "per_utterance": {"flipped_by": flipped_by},
                                    "info": {"order": ["apgd-ce", "apgd-t", "apgd-t-ce", "square"]}}
    return {"key": key, "partition": "test", "metrics": metrics, "warnings": [],
            "condition": {"type": "attack", "attack": {"name": name},
                          "threat": {"domain": "feature", "norm": "linf", "eps": eps}}}


def _black_box(recs: list[dict]) -> dict[str, list[str]]:
    from serbench.bench.cross_cell import black_box_warnings
    from serbench.canonical import canonical_json

    labels = {canonical_json(r["condition"]["attack"]): r["condition"]["attack"]["name"] for r in recs}
    out: dict[str, list[str]] = {}
    for key, w in black_box_warnings(recs, labels):
        out.setdefault(key, []).append(w)
    return out


def test_square_flipping_what_pgd_left_warns_every_record_of_the_threat() -> None:
    pgd, square = [True] * 10, [False] * 4 + [True] * 6
    other_eps = _attack_record("c", "pgd", [True] * 10, eps=0.2)
    flags = _black_box([_attack_record("a", "pgd", pgd), _attack_record("b", "square", square), other_eps])
    assert set(flags) == {"a", "b"}  # the pgd at another eps is not judged by this square
    (w,) = flags["a"]
    assert w.startswith("gradient masking?") and "square at eps 0.1 flips 4 of 10" in w and "(pgd)" in w
    # the same square where pgd flipped those utterances too: healthy, no flag
    assert _black_box([_attack_record("a", "pgd", square), _attack_record("b", "square", square)]) == {}
    # a square with no white-box attack at its threat: nothing to compare
    assert _black_box([_attack_record("b", "square", square)]) == {}


def test_autoattack_whose_square_flips_what_its_apgd_left_warns() -> None:
    healthy = ["apgd-ce"] * 6 + ["clean", None, None, "square"]  # one utterance left to Square: noise
    assert _black_box([_attack_record("a", "autoattack", [False] * 7 + [True, True, False], flipped_by=healthy)]) == {}
    masked = ["clean"] + ["square"] * 6 + [None] * 3  # APGD flips nothing, Square most
    flags = _black_box([_attack_record("a", "autoattack", [False] * 7 + [True] * 3, flipped_by=masked)])
    (w,) = flags["a"]
    assert "autoattack's square" in w and "flips 6 of 10" in w and "autoattack (gradient members)" in w
    # pgd at the same eps flipping those six: Square found nothing the white-box attacks missed
    pgd = _attack_record("p", "pgd", [False] * 7 + [True] * 3)
    assert _black_box([_attack_record("a", "autoattack", [False] * 7 + [True] * 3, flipped_by=masked), pgd]) == {}
