"""Is B better than A? Two tests on per-utterance predictions from the store.

``z_test``: the one-tailed two-proportion z-test Ren et al. (ICASSP 2020) use,
treating each UAR as a proportion over the n test utterances of its system
(pooled variance). It ignores that both systems saw the same utterances, so it
is conservative for paired data.

``paired_bootstrap``: resample the utterances (the same draw for both systems)
and count how often B fails to beat A (Koehn 2004; Berg-Kirkpatrick et al.
2012). It uses the pairing and makes no normality assumption.

Both answer the one-sided question "is B's UAR higher than A's"; p-values near
1 mean A is the better one (swap the runs to ask the other way).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: p-value thresholds and their marks, strictest first (the usual * / ** / *** convention).
MARKS = ((0.001, "***"), (0.01, "**"), (0.05, "*"))


def mark(p: float | None) -> str:
    """``***`` for p < .001, ``**`` < .01, ``*`` < .05, else empty."""
    if p is None:
        return ""
    return next((m for threshold, m in MARKS if p < threshold), "")


def z_test(uar_a: float, uar_b: float, n_a: int, n_b: int) -> tuple[float, float]:
    """(z, one-tailed p) for H1: B > A, two proportions with pooled variance."""
    if n_a <= 0 or n_b <= 0:
        raise ValueError("z-test needs at least one utterance on each side")
    pooled = (uar_a * n_a + uar_b * n_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b))
    if se == 0.0:
        return 0.0, 1.0 if uar_b <= uar_a else 0.0
    z = (uar_b - uar_a) / se
    return z, 0.5 * math.erfc(z / math.sqrt(2.0))


def recall_per_class(y: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Recall of each class present in ``y`` (rows: bootstrap replicates when 2-D)."""
    y, pred = np.atleast_2d(y), np.atleast_2d(pred)
    hits = np.zeros((y.shape[0], n_classes))
    totals = np.zeros((y.shape[0], n_classes))
    rows = np.repeat(np.arange(y.shape[0]), y.shape[1])
    np.add.at(totals, (rows, y.ravel()), 1.0)
    np.add.at(hits, (rows, y.ravel()), (y == pred).ravel().astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        return hits / totals


def uar(y: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """UAR over the classes present (per replicate when 2-D), as the engine's metric computes it."""
    return np.nanmean(recall_per_class(y, pred, n_classes), axis=-1)


@dataclass(frozen=True)
class Bootstrap:
    delta: float  # UAR_B - UAR_A on the full set (mean over strata)
    low: float  # 95 % percentile interval of the delta
    high: float
    p: float  # one-sided: share of replicates where B does not beat A
    replicates: int


def paired_bootstrap(strata: list[tuple[np.ndarray, np.ndarray, np.ndarray]], n_classes: int,
                     replicates: int = 2000, seed: int = 0) -> Bootstrap:
    """Paired bootstrap over utterances. ``strata``: (labels, pred_a, pred_b) per matched cell (fold or
    seed); each stratum is resampled on its own and the UARs averaged over strata, as the leaderboard
    averages folds and seeds."""
    if not strata:
        raise ValueError("paired bootstrap needs at least one matched cell")
    rng = np.random.default_rng(seed)
    observed, deltas = [], np.zeros(replicates)
    for y, a, b in strata:
        observed.append(float(uar(y, b, n_classes)[0] - uar(y, a, n_classes)[0]))
        idx = rng.integers(0, len(y), size=(replicates, len(y)))
        deltas += uar(y[idx], b[idx], n_classes) - uar(y[idx], a[idx], n_classes)
    deltas /= len(strata)
    p = (1.0 + float(np.sum(deltas <= 0.0))) / (1.0 + replicates)
    low, high = np.percentile(deltas, [2.5, 97.5])
    return Bootstrap(float(np.mean(observed)), float(low), float(high), p, replicates)
