"""The significance tests against their peers: statsmodels' z-test, scikit-learn's UAR, SciPy's bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import balanced_accuracy_score
from statsmodels.stats.proportion import proportions_ztest

from serbench.engine.metrics import classification_metrics
from serbench.analysis.significance import Fold, mark, paired_bootstrap, z_test
from serbench.engine.metrics import uar_of_correct as uar_of_shares
from serbench.engine.metrics import uar_of_predictions as uar


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
    ours = paired_bootstrap([Fold.of_predictions(y, a, b)], 4, replicates=4000, seed=1)

    def balanced(y_, p_):  # vectorised over SciPy's resamples (last axis); every class is present at n = 400
        return np.mean([((y_ == c) & (p_ == c)).sum(-1) / (y_ == c).sum(-1) for c in range(4)], axis=0)

    def delta(y_, a_, b_, axis=-1):
        return balanced(y_, b_) - balanced(y_, a_)

    assert delta(y, a, b) == pytest.approx(balanced_accuracy_score(y, b) - balanced_accuracy_score(y, a))
    ref = stats.bootstrap((y, a, b), delta, paired=True, vectorized=True, n_resamples=4000, method="percentile",
                          random_state=2)
    assert ours.delta == pytest.approx(balanced_accuracy_score(y, b) - balanced_accuracy_score(y, a))
    assert ours.low == pytest.approx(ref.confidence_interval.low, abs=0.01)
    assert ours.high == pytest.approx(ref.confidence_interval.high, abs=0.01)


def test_bootstrap_p_values_one_sided():
    y, a, b = _systems()
    assert paired_bootstrap([Fold.of_predictions(y, a, b)], 4, replicates=1000).p < 0.002  # B clearly better
    assert paired_bootstrap([Fold.of_predictions(y, b, a)], 4, replicates=1000).p > 0.99  # the other way round
    same = paired_bootstrap([Fold.of_predictions(y, a, a)], 4, replicates=500)
    assert same.p == 1.0 and same.delta == 0.0 and same.low == same.high == 0.0


def test_bootstrap_folds_average_like_the_leaderboard():
    s1, s2 = Fold.of_predictions(*_systems(seed=1)), Fold.of_predictions(*_systems(n=200, better=0.0, seed=2))
    both = paired_bootstrap([s1, s2], 4, replicates=200)
    d1 = paired_bootstrap([s1], 4, replicates=200).delta
    assert both.delta == pytest.approx((d1 + 0.0) / 2)


def _ids(n):
    return [f"u{i:04d}" for i in range(n)]


def test_seeds_averaged_per_utterance_give_the_mean_of_the_seeds_uars():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 4, size=150)
    seeds = [_systems(n=150, seed=s)[1:] for s in range(3)]  # (pred A, pred B) of three seeds
    seeds = [(np.where(rng.random(150) < 0.7, y, a), np.where(rng.random(150) < 0.8, y, b)) for a, b in seeds]
    order = rng.permutation(150)  # the third seed listed its utterances in another order
    evals = [(_ids(150), y, a, b) for a, b in seeds[:2]]
    evals.append(([_ids(150)[i] for i in order], y[order], seeds[2][0][order], seeds[2][1][order]))
    fold = Fold.of_seeds(evals)
    assert len(fold) == 150 and set(np.unique(fold.correct_a)) <= {0.0, 1 / 3, 2 / 3, 1.0}
    for correct, k in ((fold.correct_a, 0), (fold.correct_b, 1)):
        want = np.mean([balanced_accuracy_score(y, s[k]) for s in seeds])
        assert uar_of_shares(fold.labels, correct, 4)[0] == pytest.approx(want, abs=1e-12)


def test_copies_of_a_seed_are_not_more_samples():
    y, a, b = _systems(n=300, better=0.03, seed=4)
    one = paired_bootstrap([Fold.of_seeds([(_ids(300), y, a, b)])], 4, replicates=1000, seed=3)
    ten = paired_bootstrap([Fold.of_seeds([(_ids(300), y, a, b)] * 10)], 4, replicates=1000, seed=3)
    assert 0.01 < one.p < 0.9  # a p-value that a wrong n would move
    assert (ten.p, ten.low, ten.high, ten.delta) == (one.p, one.low, one.high, one.delta)


def test_an_utterance_labelled_two_ways_is_refused():
    y, a, b = _systems(n=20)
    y2 = y.copy()
    y2[7] = (y2[7] + 1) % 4
    with pytest.raises(ValueError, match="'u0007' is labelled"):
        Fold.of_seeds([(_ids(20), y, a, b), (_ids(20), y2, a, b)])


@pytest.mark.parametrize("p,want", [(0.0004, "***"), (0.001, "**"), (0.009, "**"), (0.04, "*"), (0.05, ""),
                                    (None, "")])
def test_marks(p, want):
    assert mark(p) == want
