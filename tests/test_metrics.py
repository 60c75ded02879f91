"""Metrics agree with scikit-learn."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score

from serbench.engine.metrics import classification_metrics, success_rate


def test_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 500)
    p = np.where(rng.random(500) < 0.6, y, rng.integers(0, 4, 500))
    m = classification_metrics(y, p, ("a", "b", "c", "d"))
    assert np.isclose(m["uar"], balanced_accuracy_score(y, p))
    assert np.isclose(m["wa"], accuracy_score(y, p))
    assert np.isclose(m["macro_f1"], f1_score(y, p, average="macro"))
    assert m["confusion"] == confusion_matrix(y, p, labels=[0, 1, 2, 3]).tolist()


def test_success_rate_counts_only_clean_correct():
    y = np.array([0, 1, 2, 3])
    clean = np.array([0, 1, 0, 0])  # two correct
    adv = np.array([1, 1, 2, 3])  # flips the first correct one
    assert success_rate(y, clean, adv) == 0.5
