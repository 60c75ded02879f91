"""Worst-case evaluation over a set of attacks, as RobustBench reports AutoAttack.

An utterance counts as robustly correct only if it is classified correctly
under *every* attack of the set (per-utterance minimum of correctness). The
robust accuracy and UAR of that vector are upper bounds on the true robust
figures, tighter than any single attack's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from serbench.engine.metrics import uar_of_correct
from serbench.errors import SerbenchError


def attack_labels(attacks: Sequence[Mapping[str, Any]]) -> list[str]:
    """A distinct label per attack identity (``{name, version, params}``), in input order.

    An attack's identity is its name and every parameter: two attacks that share
    a name are labelled with the parameters (and version) where they differ,
    e.g. ``fgsm(eta=0.001)`` and ``fgsm(eta=None)``; a name used once stays bare.
    """
    def fmt(v: Any) -> str:
        if isinstance(v, (dict, list)):
            return json.dumps(v, sort_keys=True, separators=(",", ":"))
        return repr(v) if isinstance(v, str) else str(v)

    labels = []
    for a in attacks:
        peers = [b for b in attacks if b["name"] == a["name"]]
        params = a.get("params") or {}
        keys = sorted({k for b in peers for k in (b.get("params") or {})})
        differ = [k for k in keys if len({fmt((b.get("params") or {}).get(k)) for b in peers}) > 1]
        parts = [f"{k}={fmt(params.get(k))}" for k in differ]
        if len({str(b.get("version")) for b in peers}) > 1:
            parts.insert(0, f"version={a.get('version')}")
        labels.append(f"{a['name']}({', '.join(parts)})" if parts else str(a["name"]))
    return labels


def worst_case_correct(correct: Mapping[str, Sequence[bool]] | Sequence[Sequence[bool]]) -> np.ndarray:
    """Per-utterance AND over attacks: (n_attacks, n) or {attack: (n,)} -> bool (n,)."""
    rows = list(correct.values()) if isinstance(correct, Mapping) else list(correct)
    if not rows:
        raise SerbenchError("worst-case evaluation needs at least one attack's per-utterance correctness")
    arr = [np.asarray(r, dtype=bool).ravel() for r in rows]
    n = {a.size for a in arr}
    if len(n) != 1:
        names = list(correct) if isinstance(correct, Mapping) else list(range(len(arr)))
        sizes = ", ".join(f"{k}: {a.size}" for k, a in zip(names, arr))
        raise SerbenchError(f"worst-case evaluation: attacks cover different utterance counts ({sizes})")
    return np.logical_and.reduce(np.stack(arr), axis=0)


def correct_uar(y_true: Sequence[int], correct: Sequence[bool]) -> float:
    """UAR from per-utterance correctness: mean over classes present in ``y_true`` of their recall."""
    y = np.asarray(y_true).ravel()
    c = np.asarray(correct, dtype=bool).ravel()
    if y.size != c.size:
        raise SerbenchError(f"UAR: {y.size} labels but {c.size} correctness values")
    if not y.size:
        return float("nan")
    classes, label_index = np.unique(y, return_inverse=True)  # any label values; only the present classes count
    return float(uar_of_correct(label_index, c, classes.size)[0])


def robust_uar(y_true: Sequence[int],
               correct: Mapping[str, Sequence[bool]] | Sequence[Sequence[bool]]) -> float:
    """Worst-case robust UAR: an utterance is correct only if it survives every attack."""
    return correct_uar(y_true, worst_case_correct(correct))


def robust_accuracy(correct: Mapping[str, Sequence[bool]] | Sequence[Sequence[bool]]) -> float:
    """Worst-case robust accuracy (WA) over the attack set."""
    w = worst_case_correct(correct)
    return float(w.mean()) if w.size else float("nan")
