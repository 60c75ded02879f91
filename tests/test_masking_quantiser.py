"""The gradient-masking checks on a deliberately obfuscated gradient: a CNN behind a non-differentiable quantiser.

torch.round has a zero gradient everywhere, so every gradient attack leaves the quantising CNN untouched and its
robust accuracy looks perfect; the score-based Square attack, which needs no gradient, breaks it. The checks must
say so (zero gradients, an unbounded attack that does not reach 0 %, black-box stronger than white-box) and stay
silent on the same CNN without the quantiser.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import serbench
from serbench.attacks import input_gradient
from serbench.attacks.masking import (
    black_box_stronger,
    nondeterministic_forward,
    probability_output,
    unbounded_attack,
    zero_gradients,
)
from serbench.leaderboard.aggregate import MASKING_PREFIX
from serbench.models.cnn4 import CNN4

sys.path.insert(0, str(Path(__file__).parent))
from test_attacks_setup import N_CLASSES, synthetic_task, trained_feature_model  # noqa: E402

EPS = 0.3  # FGSM halves the plain CNN's accuracy here, PGD takes it to 0


class QuantCNN(CNN4):
    """CNN-4 behind a 4-level input quantiser: torch.round's gradient is zero, so no input gradient gets through."""

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward_features(torch.round(x * 3) / 3)


@functools.cache
def _quant_state() -> dict[str, torch.Tensor]:
    """Trained through the quantiser (the weights still get gradients) on the synthetic task."""
    torch.manual_seed(11)
    model = QuantCNN(num_classes=N_CLASSES, width=0.125).train()
    x, y = synthetic_task()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return {k: v.clone() for k, v in model.state_dict().items()}


def quant_model() -> QuantCNN:
    model = QuantCNN(num_classes=N_CLASSES, width=0.125)
    model.load_state_dict(_quant_state())
    return model.eval()


def _correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return (model(x).argmax(1) == y).numpy()


def _under_attacks(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, np.ndarray]:
    """Per-utterance correctness under FGSM, PGD (the harness's defaults) and Square (300 queries) at EPS."""
    out = {}
    for name, params in (("fgsm", {}), ("pgd", {}), ("square", {"n_queries": 300})):
        out[name] = _correct(model, serbench.get("attacks", name, eps=EPS, **params).generate(model, x, y), y)
    return out


@pytest.fixture(scope="module")
def held_out() -> tuple[torch.Tensor, torch.Tensor]:
    return synthetic_task(n=32, seed=9)


def test_the_checks_fire_on_the_quantising_cnn(held_out) -> None:
    x, y = held_out
    model = quant_model()
    assert _correct(model, x, y).all()  # it learned the task: the clean accuracy is 1
    zero = zero_gradients(input_gradient(model, x, y))
    assert zero is not None and zero.startswith(MASKING_PREFIX) and "32 of 32" in zero
    unbounded = unbounded_attack(model, x, y, (0.0, 1.0))
    assert unbounded is not None and unbounded.startswith(MASKING_PREFIX) and "100.0% of 32" in unbounded
    # Gradient attacks leave it untouched; Square, which needs no gradient, breaks most of it.
    acc = _under_attacks(model, x, y)
    assert acc["fgsm"].all() and acc["pgd"].all()
    assert acc["square"].mean() < 0.5
    msg = black_box_stronger(acc["square"], {"fgsm": acc["fgsm"], "pgd": acc["pgd"]}, EPS)
    assert msg is not None and msg.startswith(MASKING_PREFIX)
    assert f"flips {int((~acc['square']).sum())} of 32" in msg and "fgsm, pgd" in msg
    # deterministic, and it returns logits: those two checks have nothing to say
    assert nondeterministic_forward(model, x) is None and probability_output(model, x) is None


def test_the_checks_stay_silent_on_the_plain_cnn(held_out) -> None:
    x, y = held_out
    model = trained_feature_model()
    assert _correct(model, x, y).all()
    assert zero_gradients(input_gradient(model, x, y)) is None
    assert unbounded_attack(model, x, y, (0.0, 1.0)) is None
    acc = _under_attacks(model, x, y)
    assert not acc["pgd"].any()  # the gradient attack works: PGD flips everything
    assert black_box_stronger(acc["square"], {"fgsm": acc["fgsm"], "pgd": acc["pgd"]}, EPS) is None
    assert nondeterministic_forward(model, x) is None and probability_output(model, x) is None


def test_black_box_stronger_thresholds() -> None:
    white = {"pgd": [True] * 100}
    one = [False] + [True] * 99
    assert black_box_stronger(one, white, 0.1) is None  # a single utterance is noise
    assert "flips 2 of 100" in black_box_stronger([False, False] + [True] * 98, white, 0.1)
    assert black_box_stronger([False, False] + [True] * 998, {"pgd": [True] * 1000}, 0.1) is None  # 0.2 % < 1 %
    # lower accuracy than the strongest white-box attack, on utterances another white-box attack did flip
    two = {"pgd": [True] * 50 + [False] * 50, "fgsm": [False] * 50 + [True] * 50}
    assert black_box_stronger([False] * 100, two, 0.1).startswith(MASKING_PREFIX)
    assert black_box_stronger([True] * 60 + [False] * 40, {"pgd": [True] * 50 + [False] * 50}, 0.1) is None
    assert black_box_stronger([False] * 3, {}, 0.1) is None  # no white-box attack at this budget: nothing to compare
    with pytest.raises(ValueError, match="utterances"):
        black_box_stronger([True], {"pgd": [True, True]}, 0.1)


class _DropoutAlwaysOn(nn.Module):
    """Dropout that model.eval() does not switch off (F.dropout with training=True), as some models ship."""

    def __init__(self) -> None:
        super().__init__()
        self.model = trained_feature_model()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(nn.functional.dropout(x, 0.2, training=True))


class _NoiseInjection(nn.Module):
    """A randomising input defense (random self-ensemble style): fresh Gaussian noise on the input every call."""

    def __init__(self) -> None:
        super().__init__()
        self.model = trained_feature_model()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x + 0.01 * torch.randn_like(x))


class _Softmax(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.model = trained_feature_model()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).softmax(-1)


@pytest.mark.parametrize("model", [_DropoutAlwaysOn, _NoiseInjection])
def test_randomised_models_are_flagged_in_eval_mode(model, held_out) -> None:
    msg = nondeterministic_forward(model().eval(), held_out[0])
    assert msg is not None and msg.startswith(MASKING_PREFIX) and "not deterministic" in msg


def test_probabilities_for_logits_are_flagged(held_out) -> None:
    msg = probability_output(_Softmax().eval(), held_out[0])
    assert msg is not None and msg.startswith(MASKING_PREFIX) and "probabilities" in msg
    assert probability_output(trained_feature_model(), held_out[0]) is None


# -- a real run: the checks run for every attacked cell and reach the records and the board ------------------------
class RunQuantCNN(CNN4):
    """CNN-4 behind the quantiser, as a model plugin the runner trains (features scaled to about [0, 1])."""

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward_features(torch.round(x * 3) / 3)


@pytest.fixture
def quant_plugin():
    serbench.registry("models").register("test.quantcnn", summary="CNN-4 behind torch.round")(RunQuantCNN)
    yield
    serbench.registry("models").unregister("test.quantcnn")


@pytest.mark.slow
def test_a_run_flags_the_quantising_cnn_and_not_the_plain_one(tmp_path: Path, quant_plugin) -> None:
    from serbench.bench.runner import LocalRunner
    from serbench.bench.spec import parse_spec
    from serbench.bench.store import Store
    from serbench.leaderboard import build_boards

    spec = parse_spec({
        "name": "quantiser", "dataset": {"name": "synthetic", "params": {"utterances_per_class": 6}, "folds": [0]},
        "frontend": {"seconds": 1.0}, "training": {"iterations": 40, "eval_every": 20, "batch_size": 16},
        "models": [{"name": "test.quantcnn", "params": {"width": 0.125}}, {"name": "cnn4", "params": {"width": 0.125}}],
        "attacks": [{"name": "pgd", "eps": [0.3]}, {"name": "square", "params": {"n_queries": 300}, "eps": [0.3]}],
    })
    store = Store(tmp_path)
    summary = LocalRunner(spec, store, device="cpu").run()
    assert summary.ok, summary.failed
    attacks = {(r["train"]["model"]["name"], r["condition"]["attack"]["name"]): r
               for r in store.records() if r["kind"] == "eval" and r["condition"]["type"] == "attack"}
    masked = [w for (model, _), r in attacks.items() if model == "test.quantcnn" for w in r["warnings"]]
    assert any("all-zero input gradient" in w for w in masked)
    assert any("unbounded attack" in w for w in masked)
    assert any("black-box square" in w for w in masked)
    assert all(w.startswith(MASKING_PREFIX) for w in masked)
    plain = [w for (model, _), r in attacks.items() if model == "cnn4" for w in r["warnings"]]
    assert not [w for w in plain if w.startswith(MASKING_PREFIX)], plain
    q_pgd, q_square = attacks[("test.quantcnn", "pgd")], attacks[("test.quantcnn", "square")]
    assert q_square["metrics"]["uar"] < q_pgd["metrics"]["uar"]  # the black-box attack exposes it
    (board,) = build_boards(store.records())
    assert board.unreliable == {("test.quantcnn", "standard")}
    assert board.ranked_rows()[-1] == ("test.quantcnn", "standard")
