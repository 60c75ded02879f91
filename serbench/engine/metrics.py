"""SER metrics: UAR (primary), WA, macro-F1, confusion matrix, attack success rate."""

from __future__ import annotations

from typing import Any

import numpy as np

from serbench.errors import SerbenchError


def confusion(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows are true classes, columns predictions.

    A class index outside ``[0, num_classes)`` is an error that says which side
    holds it (numpy would wrap a negative index and count it in the wrong cell).
    """
    y_true, y_pred = np.asarray(y_true, dtype=np.int64).ravel(), np.asarray(y_pred, dtype=np.int64).ravel()
    if y_true.shape != y_pred.shape:
        raise SerbenchError(f"metrics: {y_true.size} targets but {y_pred.size} predictions")
    for what, values, fix in (
        ("prediction", y_pred, "the model emits more logits than the corpus has classes; give it num_classes "
                               "outputs"),
        ("target", y_true, "the labels do not index the corpus's label set"),
    ):
        bad = values[(values < 0) | (values >= num_classes)]
        if bad.size:
            raise SerbenchError(f"metrics: {what} class index {int(bad[0])} is outside the {num_classes} classes "
                                f"(0..{num_classes - 1}): {fix}")
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def uar(cm: np.ndarray) -> float:
    """Unweighted average recall over classes present in the reference (= sklearn balanced accuracy)."""
    support = cm.sum(axis=1)
    present = support > 0
    recalls = np.diag(cm)[present] / support[present]
    return float(recalls.mean()) if recalls.size else float("nan")


def class_recalls(y_true: np.ndarray, correct: np.ndarray, num_classes: int) -> np.ndarray:
    """Per-class mean of ``correct`` (1 / 0, or a share of evaluations) over the utterances of each class.

    One row per row of ``y_true`` (bootstrap replicates when 2-D), so the significance tests score thousands
    of replicates in one call; NaN for a class absent from that row.
    """
    y, correct = np.atleast_2d(y_true), np.atleast_2d(correct)
    rows, _ = y.shape
    flat = (np.arange(rows)[:, None] * num_classes + y).ravel()
    totals = np.bincount(flat, minlength=rows * num_classes).reshape(rows, num_classes).astype(float)
    hits = np.bincount(flat, weights=correct.ravel().astype(float), minlength=rows * num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return hits.reshape(rows, num_classes) / totals


def uar_of_correct(y_true: np.ndarray, correct: np.ndarray, num_classes: int) -> np.ndarray:
    """UAR per row from per-utterance correctness: the mean recall over the classes present, as :func:`uar`
    reads it off a confusion matrix. With shares of correct seeds on the same utterances this is exactly
    the mean over seeds of the seeds' UARs."""
    return np.nanmean(class_recalls(y_true, correct, num_classes), axis=-1)


def uar_of_predictions(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """UAR per row (bootstrap replicates when 2-D) from labels and predictions."""
    y, pred = np.atleast_2d(y_true), np.atleast_2d(y_pred)
    return uar_of_correct(y, y == pred, num_classes)


def wa(cm: np.ndarray) -> float:
    """Weighted accuracy: plain accuracy."""
    total = cm.sum()
    return float(np.trace(cm) / total) if total else float("nan")


def macro_f1(cm: np.ndarray) -> float:
    """Mean F1 over classes present in the reference or the predictions."""
    tp = np.diag(cm).astype(float)
    pred, true = cm.sum(axis=0), cm.sum(axis=1)
    present = (pred + true) > 0
    denom = pred + true
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return float(f1[present].mean()) if present.any() else float("nan")


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: tuple[str, ...]) -> dict[str, Any]:
    cm = confusion(y_true, y_pred, len(labels))
    return {
        "uar": uar(cm), "wa": wa(cm), "macro_f1": macro_f1(cm),
        "confusion": cm.tolist(), "labels": list(labels), "n": int(cm.sum()),
    }


def success_rate(y_true: np.ndarray, clean_pred: np.ndarray, adv_pred: np.ndarray) -> float:
    """Fraction of the clean-correct utterances whose prediction the attack flips."""
    correct = clean_pred == y_true
    if not correct.any():
        return float("nan")
    return float((adv_pred[correct] != y_true[correct]).mean())
