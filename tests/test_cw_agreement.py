"""Native C&W-L2 and DeepFool against ART's CarliniL2Method and DeepFool: median size to flip, same model and inputs.

The model is the tiny CNN-4 trained on the synthetic band task of :mod:`test_attacks_setup` (as in
:mod:`test_apgd_agreement`); every utterance is classified correctly clean. The ART attacks run through the
``art.cw`` and ``art.deepfool`` adapters, which report the size of every flip exactly as the native ones do
(:mod:`serbench.attacks.minimal`), so the medians are measured the same way.

Tolerances (relative, on the median size to flip over the utterances):
- C&W-L2, 20 %, and native at most 2 % above ART (ART run at 50 steps, where it has already stalled).
  Both minimise ``||delta||_2^2 + c f`` in tanh space with a binary search on ``c``, but the optimisers
  differ: native uses Adam (the paper's choice), ART gradient descent with a line search on the step, and
  ART doubles ``c`` where native multiplies it by 10. ART's line search stalls: its median is 2.48 at 50,
  100 and 200 steps on these 16 utterances, while Adam keeps shrinking (2.15 at 100 steps, 2.07 at 200).
  Measured here: native 2.15, ART 2.48 (native 13 % smaller). A native C&W weaker than ART's (larger
  median) would be a bug; 20 % below it bounds how far a better optimiser gets from the same objective.
- DeepFool, 5 %. Same step and the same stopping rule; ART applies the overshoot once, to the final
  perturbation, where native scores every iterate with it, and omits the 1e-4 push past the linearised
  boundary. Measured on the 64: native 2.99, ART 3.03 (1.2 % apart).
"""

from __future__ import annotations

import pytest
import torch
from serbench_art.minimal import ArtCW, ArtDeepFool
from test_attacks_setup import synthetic_task, trained_feature_model

import serbench
from serbench.attacks import minimal


@pytest.fixture(scope="module")
def task() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    model = trained_feature_model()
    x, y = synthetic_task(64, seed=5)
    with torch.no_grad():
        assert bool((model(x).argmax(1) == y).all())
    return model, x, y


def _summary(attack: serbench.Attack, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
    x_adv = attack.generate(model, x, y)
    serbench.check_budget(attack.name, attack.threat, x, x_adv)
    return minimal.summarize(attack.last_report)


def test_cw_l2_median_agrees_with_art(task) -> None:
    model, x, y = task
    x, y = x[:16], y[:16]  # ART's line search costs several forward passes a step: 16 utterances keep it short
    params = {"eps": 2.3, "norm": "l2", "steps": 100, "binary_search_steps": 6, "initial_const": 1.0}
    native = _summary(serbench.get("attacks", "cw", **params), model, x, y)
    art = _summary(ArtCW(**{**params, "steps": 50}), model, x, y)  # ART stalls by 50 steps (2.48 to 200)
    assert native["fraction_found"] == 1.0 and art["fraction_found"] >= 15 / 16, (native, art)
    a, b = native["median_to_flip"], art["median_to_flip"]
    assert abs(a - b) <= 0.20 * b and a <= 1.02 * b, (a, b)
    assert 0 < native["fraction_flipped"] < 1  # eps 2.3 sits inside the sizes: the cells differ, as they should


def test_deepfool_median_agrees_with_art(task) -> None:
    model, x, y = task
    native = _summary(serbench.get("attacks", "deepfool", eps=3.0), model, x, y)
    art = _summary(ArtDeepFool(eps=3.0), model, x, y)
    assert native["fraction_found"] == art["fraction_found"] == 1.0
    a, b = native["median_to_flip"], art["median_to_flip"]
    assert abs(a - b) <= 0.05 * b, (a, b)
