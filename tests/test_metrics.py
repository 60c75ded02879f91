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


def test_the_stores_plain_python_recompute_agrees_with_the_numpy_metrics():
    """Reading records checks their metrics without numpy (serbench.bench.store.recomputed_metrics); both
    implementations must say the same, absent classes and 2-9 classes included."""
    from serbench.bench.store import recomputed_metrics

    rng = np.random.default_rng(1)
    for n_classes in range(2, 10):
        y = rng.integers(0, n_classes, 97)
        p = np.where(rng.random(97) < 0.5, y, rng.integers(0, n_classes, 97))
        y[y == 1] = 0  # class 1 absent from the reference: UAR skips it, macro-F1 counts it where predicted
        want = classification_metrics(y, p, tuple(str(i) for i in range(n_classes)))
        got = recomputed_metrics(y.tolist(), p.tolist(), n_classes)
        for name in ("uar", "wa", "macro_f1"):
            assert np.isclose(got[name], want[name], rtol=0, atol=1e-12), (n_classes, name)
    assert np.isnan(recomputed_metrics([], [], 3)["uar"])
