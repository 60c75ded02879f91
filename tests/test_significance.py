"""The significance tests against their peers: statsmodels' z-test, scikit-learn's UAR, SciPy's bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import balanced_accuracy_score
from statsmodels.stats.proportion import proportions_ztest

from serbench.engine.metrics import classification_metrics
from serbench.leaderboard.significance import mark, paired_bootstrap, uar, z_test


@pytest.mark.parametrize("a,b,n_a,n_b", [(0.836, 0.867, 3317, 3317), (0.70, 0.65, 200, 180), (0.5, 0.5, 50, 50)])
def test_z_test_agrees_with_statsmodels(a, b, n_a, n_b):
    z, p = z_test(a, b, n_a, n_b)
    z_ref, p_ref = proportions_ztest([b * n_b, a * n_a], [n_b, n_a], alternative="larger")
    assert z == pytest.approx(z_ref, rel=1e-9, abs=1e-12) and p == pytest.approx(p_ref, rel=1e-9, abs=1e-12)


def test_z_test_needs_utterances():
    with pytest.raises(ValueError, match="at least one utterance"):
        z_test(0.5, 0.6, 0, 10)


def test_uar_agrees_with_sklearn_and_the_engine_per_replicate():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 4, size=(5, 120))
    pred = np.where(rng.random((5, 120)) < 0.6, y, rng.integers(0, 4, size=(5, 120)))
    got = uar(y, pred, 4)
    for i in range(5):
        assert got[i] == pytest.approx(balanced_accuracy_score(y[i], pred[i]))
        assert got[i] == pytest.approx(classification_metrics(y[i], pred[i], ("a", "b", "c", "d"))["uar"])


def _systems(n=400, better=0.15, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, size=n)
    a = np.where(rng.random(n) < 0.6, y, (y + 1) % 4)
    b = np.where(rng.random(n) < better, y, a)  # B fixes some of A's errors, breaks none
    return y, a, b


def test_bootstrap_interval_agrees_with_scipy_paired_bootstrap():
    y, a, b = _systems(better=0.1)
    ours = paired_bootstrap([(y, a, b)], 4, replicates=4000, seed=1)
    def delta(y_, a_, b_):
        return balanced_accuracy_score(y_, b_) - balanced_accuracy_score(y_, a_)

    ref = stats.bootstrap((y, a, b), delta, paired=True, vectorized=False, n_resamples=4000, method="percentile",
                          random_state=2)
    assert ours.delta == pytest.approx(balanced_accuracy_score(y, b) - balanced_accuracy_score(y, a))
    assert ours.low == pytest.approx(ref.confidence_interval.low, abs=0.01)
    assert ours.high == pytest.approx(ref.confidence_interval.high, abs=0.01)


def test_bootstrap_p_values_one_sided():
    y, a, b = _systems()
    assert paired_bootstrap([(y, a, b)], 4, replicates=1000).p < 0.002  # B clearly better
    assert paired_bootstrap([(y, b, a)], 4, replicates=1000).p > 0.99  # asked the other way round
    same = paired_bootstrap([(y, a, a)], 4, replicates=500)
    assert same.p == 1.0 and same.delta == 0.0 and same.low == same.high == 0.0


def test_bootstrap_strata_average_like_the_leaderboard():
    s1, s2 = _systems(seed=1), _systems(n=200, better=0.0, seed=2)
    both = paired_bootstrap([s1, s2], 4, replicates=200)
    d1 = paired_bootstrap([s1], 4, replicates=200).delta
    assert both.delta == pytest.approx((d1 + 0.0) / 2)


@pytest.mark.parametrize("p,want", [(0.0004, "***"), (0.001, "**"), (0.009, "**"), (0.04, "*"), (0.05, ""),
                                    (None, "")])
def test_marks(p, want):
    assert mark(p) == want
