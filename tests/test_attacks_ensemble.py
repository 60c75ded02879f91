"""Worst-case robust UAR over an attack set: an utterance counts only if it survives every attack."""

from __future__ import annotations

import numpy as np
import pytest

import serbench
from serbench.attacks import robust_accuracy, robust_uar, worst_case_correct
from serbench.attacks.ensemble import correct_uar


def test_per_utterance_minimum() -> None:
    y = [0, 0, 0, 0, 1, 1]
    correct = {
        "fgsm": [1, 1, 1, 0, 1, 1],
        "pgd": [1, 0, 1, 1, 1, 0],
    }
    assert worst_case_correct(correct).tolist() == [True, False, True, False, True, False]
    # class 0: 2/4 survive both, class 1: 1/2 -> UAR 0.5; accuracy 3/6
    assert robust_uar(y, correct) == pytest.approx(0.5)
    assert robust_accuracy(correct) == pytest.approx(0.5)
    assert correct_uar(y, correct["fgsm"]) == pytest.approx((3 / 4 + 1) / 2)
    assert correct_uar(y, correct["pgd"]) == pytest.approx((3 / 4 + 1 / 2) / 2)


def test_never_above_any_single_attack() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 200)
    correct = [rng.random(200) < p for p in (0.8, 0.6, 0.7)]
    worst = robust_uar(y, correct)
    assert all(worst <= correct_uar(y, c) + 1e-12 for c in correct)
    assert robust_uar(y, correct[:1]) == pytest.approx(correct_uar(y, correct[0]))


def test_mismatched_or_empty_sets_are_user_errors() -> None:
    with pytest.raises(serbench.SerbenchError, match="different utterance counts"):
        worst_case_correct({"a": [1, 0], "b": [1, 0, 1]})
    with pytest.raises(serbench.SerbenchError, match="at least one"):
        worst_case_correct({})
    with pytest.raises(serbench.SerbenchError, match="labels"):
        robust_uar([0, 1, 1], {"a": [1, 1]})
