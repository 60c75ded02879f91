"""Is B better than A? Two tests on per-utterance predictions from the store.

``paired_bootstrap`` (the default): a hierarchical paired bootstrap whose unit
is the utterance (Koehn 2004; Berg-Kirkpatrick et al. 2012). Repeated
evaluations of one fold (seeds) score the same test utterances, so they are
not independent samples: each utterance's correctness is first averaged over
the seeds, then the distinct utterances of each fold are resampled once (the
same draw for both systems) and the per-fold UARs averaged over folds, as the
leaderboard averages them. Folds are disjoint test sets: their utterances are
distinct units, resampled within their fold. Copying a run's predictions as
ten more seeds changes nothing.

``z_test``: Ren et al.'s z-test (unpaired, as in the paper; ICASSP 2020): the
one-tailed two-proportion z-test with pooled variance, treating each UAR as a
proportion over the n distinct test utterances. It ignores that both systems
saw the same utterances and that UAR weighs classes equally; serbench keeps it
to reproduce the paper's marks (``--test ztest``, the ``ren2020`` layout).

UAR is the engine's (:func:`serbench.engine.metrics.uar_of_correct`), on each utterance's share of correct
evaluations.

Both answer the one-sided question "is B's UAR higher than A's"; p-values near
1 mean A is the better one (swap the runs to ask the other way).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from serbench.engine.metrics import uar_of_correct

#: p-value thresholds and their marks, strictest first (the usual * / ** / *** convention).
MARKS = ((0.001, "***"), (0.01, "**"), (0.05, "*"))

#: The tests ``serbench compare --test`` offers, the default first, with the names reports print.
TESTS = {"bootstrap": "paired bootstrap over utterances (seeds averaged per utterance, resampled within folds)",
         "ztest": "Ren et al.'s z-test (unpaired, as in the paper)"}


def mark(p: float | None) -> str:
    """``***`` for p < .001, ``**`` < .01, ``*`` < .05, else empty."""
    if p is None:
        return ""
    return next((m for threshold, m in MARKS if p < threshold), "")


def z_test(uar_a: float, uar_b: float, n_a: int, n_b: int) -> tuple[float, float]:
    """Ren et al.'s z-test (unpaired, as in the paper): (z, one-tailed p) for H1: B > A, two proportions with
    pooled variance; ``n_a``, ``n_b``: distinct test utterances (never a sum over seeds)."""
    if n_a <= 0 or n_b <= 0:
        raise ValueError("z-test needs at least one utterance on each side")
    pooled = (uar_a * n_a + uar_b * n_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b))
    if se == 0.0:
        return 0.0, 1.0 if uar_b <= uar_a else 0.0
    z = (uar_b - uar_a) / se
    return z, 0.5 * math.erfc(z / math.sqrt(2.0))


@dataclass(frozen=True)
class Fold:
    """One fold's distinct test utterances: the label of each and, per system, the share of its evaluations
    (seeds) that classified it right. The unit the bootstrap resamples."""

    labels: np.ndarray
    correct_a: np.ndarray
    correct_b: np.ndarray

    @classmethod
    def of_predictions(cls, y: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray) -> Fold:
        """One evaluation of each system on the same utterances, in the same order."""
        y = np.asarray(y)
        return cls(y, (np.asarray(pred_a) == y).astype(float), (np.asarray(pred_b) == y).astype(float))

    @classmethod
    def of_seeds(cls, evaluations: list[tuple[list[str], np.ndarray, np.ndarray, np.ndarray]]) -> Fold:
        """Average repeated evaluations of one fold per utterance. ``evaluations``: (ids, labels, predictions
        of A, predictions of B) per seed, A and B aligned; utterances are matched by id across seeds, so a
        seed that scored only some of them counts only there. Raises ValueError on a duplicated id or an
        utterance labelled differently in two evaluations."""
        ids = sorted({str(u) for uids, *_ in evaluations for u in uids})
        index = {u: i for i, u in enumerate(ids)}
        labels = np.full(len(ids), -1, dtype=np.int64)
        hits_a, hits_b, count = np.zeros(len(ids)), np.zeros(len(ids)), np.zeros(len(ids))
        for uids, y, a, b in evaluations:
            pos = np.fromiter((index[str(u)] for u in uids), dtype=np.int64, count=len(uids))
            if len(np.unique(pos)) != len(pos):
                raise ValueError("an evaluation lists the same utterance id twice")
            y = np.asarray(y, dtype=np.int64)
            clash = (labels[pos] >= 0) & (labels[pos] != y)
            if clash.any():
                at = int(np.argmax(clash))
                raise ValueError(f"utterance {ids[pos[at]]!r} is labelled {int(labels[pos[at]])} in one "
                                 f"evaluation and {int(y[at])} in another")
            labels[pos] = y
            hits_a[pos] += np.asarray(a) == y
            hits_b[pos] += np.asarray(b) == y
            count[pos] += 1.0
        return cls(labels, hits_a / count, hits_b / count)

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Bootstrap:
    delta: float  # UAR_B - UAR_A on the full set (mean over folds)
    low: float  # 95 % percentile interval of the delta
    high: float
    p: float  # one-sided: share of replicates where B does not beat A
    replicates: int


def paired_bootstrap(folds: list[Fold], n_classes: int, replicates: int = 2000, seed: int = 0) -> Bootstrap:
    """Paired bootstrap over utterances. ``folds``: disjoint test sets, each with its utterances' seed-averaged
    correctness; each fold's utterances are resampled once per replicate (the same draw for A and B) and
    the fold UARs averaged, as the leaderboard averages folds. The draws depend only on the folds' sizes
    and order, so the same data with more copies of a seed gives the same replicates."""
    if not folds:
        raise ValueError("paired bootstrap needs at least one matched cell")
    if any(len(f) == 0 for f in folds):
        raise ValueError("paired bootstrap needs at least one utterance in every fold")
    rng = np.random.default_rng(seed)
    observed, deltas = [], np.zeros(replicates)
    for f in folds:
        observed.append(float(uar_of_correct(f.labels, f.correct_b, n_classes)[0]
                              - uar_of_correct(f.labels, f.correct_a, n_classes)[0]))
        idx = rng.integers(0, len(f), size=(replicates, len(f)))
        y = f.labels[idx]
        deltas += uar_of_correct(y, f.correct_b[idx], n_classes) - uar_of_correct(y, f.correct_a[idx], n_classes)
    deltas /= len(folds)
    p = (1.0 + float(np.sum(deltas <= 0.0))) / (1.0 + replicates)
    low, high = np.percentile(deltas, [2.5, 97.5])
    return Bootstrap(float(np.mean(observed)), float(low), float(high), p, replicates)
