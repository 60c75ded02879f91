"""Minimal-perturbation attacks (C&W, DeepFool): per-utterance sizes to flip, and the UAR-against-budget curve.

A minimal-perturbation attack searches, per utterance, for the smallest perturbation that flips the
prediction, whatever the cell's budget. As a harness attack it still has a budget ``eps``: it returns
the smallest adversarial example it found when that lies inside the budget, else the clean input, so
the cell's robust UAR is the one at ``eps`` and passes the harness's budget check. The sizes it found
are reported per utterance, so one run gives the whole curve of UAR against budget:

- :func:`select` picks, per row, the candidate or the clean input, after checking with one forward
  pass that the candidate is misclassified, and builds the batch's ``last_report``:
  ``per_utterance.min_size`` (the size in the norm's units of the smallest perturbation found that
  flips the prediction: ``0.0`` where the clean input is already wrong, ``None`` where none was found),
  ``per_utterance.label``, for waveforms ``per_utterance.min_snr_db`` (from the L2 size), ``totals``
  (``clean_correct``, ``flipped`` within the budget, ``found`` at any size) and ``info.minimal``.
- :func:`summarize` turns a (merged) report into the cell's summary: the median size to flip over the
  utterances classified correctly clean (and its SNR for waveforms), the fraction flipped, and the
  curve of UAR and accuracy against budget on a grid of quantiles of the found sizes plus ``eps``.
  An utterance is correct at budget ``b`` when its ``min_size`` is above ``b``, so the curve is
  non-increasing in ``b`` and its value at ``eps`` is the cell's robust UAR.
- :func:`with_summary` is what an attack's ``finish_report`` returns: the merged report plus its
  ``summary`` (the harness calls it on the merged report where it supports the hook).

JSON cannot hold infinity: "never flipped" is ``None`` per utterance and a median that is infinite
(more than half never flipped) is ``None`` too.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from serbench.attacks.base import ThreatModel
from serbench.attacks.ensemble import correct_uar
from serbench.errors import SerbenchError

# Quantiles of the found sizes (over utterances flipped at any size) that make the curve's grid, besides 0 and eps.
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9, 1.0)


def sizes(norm: str, x: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor:
    """Per-row size of ``x_adv - x`` in float64: Linf for ``linf``, else L2 (an SNR budget is an L2 ball)."""
    delta = (x_adv.detach() - x.detach()).flatten(1).double()
    return delta.abs().amax(dim=1) if norm == "linf" else delta.norm(dim=1)


def snr_db(x: torch.Tensor, l2: torch.Tensor) -> torch.Tensor:
    """SNR in dB of a perturbation of L2 size ``l2`` against the clean rows ``x`` (+inf where ``l2`` is 0)."""
    return 20.0 * torch.log10(x.detach().flatten(1).double().norm(dim=1) / l2)


def misclassified(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(B,) bool: ``model``'s prediction on ``x`` is not ``y`` (one forward, no gradient)."""
    with torch.no_grad():
        return model(x).float().argmax(1) != y


def select(threat: ThreatModel, radius: torch.Tensor, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
           clean_wrong: torch.Tensor, candidate: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
    """The batch's output and ``last_report`` from each row's smallest adversarial ``candidate``.

    ``candidate`` rows that are not misclassified (checked here, on exactly the tensor returned) count as
    not found. A row is returned perturbed only when its candidate is adversarial and its size is at most
    ``radius`` (float64, per row; no tolerance), else clean; rows in ``clean_wrong`` are returned clean.
    """
    low, high = threat.bounds
    candidate = candidate.detach().clamp(low, high).to(x.dtype)
    found = misclassified(model, candidate, y) & ~clean_wrong
    size = sizes(threat.norm, x, candidate)
    inside = found & (size <= radius)
    out = torch.where(inside.view(-1, *([1] * (x.dim() - 1))), candidate, x.detach()).detach()
    size = torch.where(clean_wrong, torch.zeros_like(size), torch.where(found, size, torch.full_like(size, math.inf)))
    measure = "linf" if threat.norm == "linf" else "l2"
    per_utterance: dict[str, list] = {"min_size": _json(size), "label": [int(v) for v in y.tolist()]}
    if threat.domain == "waveform" and measure == "l2":
        per_utterance["min_snr_db"] = _json(torch.where(found, snr_db(x, size), torch.full_like(size, -math.inf)),
                                            clean_wrong)
    report = {
        "totals": {"clean_correct": int((~clean_wrong).sum()), "flipped": int(inside.sum()), "found": int(found.sum())},
        "per_utterance": per_utterance,
        "info": {"minimal": {"norm": measure, "budget": threat.norm, "eps": float(threat.eps)}},
    }
    return out, report


def _json(values: torch.Tensor, zero: torch.Tensor | None = None) -> list:
    """Floats, ``None`` where not finite (never flipped); with ``zero``: ``None`` on those rows too."""
    out = [float(v) if math.isfinite(v) else None for v in values.tolist()]
    if zero is not None:
        out = [None if z else v for v, z in zip(out, zero.tolist())]
    return out


def summarize(report: dict[str, Any], quantiles: tuple[float, ...] = QUANTILES) -> dict[str, Any]:
    """The cell's minimal-perturbation summary from its (merged) report; small and JSON-serialisable.

    ``median_to_flip``: median ``min_size`` over the utterances classified correctly clean (never
    flipped counts as infinite; ``None`` when the median is). ``fraction_flipped``: share of them
    flipped within the budget; ``fraction_found``: at any size. ``curve``: ``budget`` (ascending sizes
    in the norm's units: 0, quantiles of the found sizes, and ``eps`` under a Linf or L2 budget) with
    ``uar`` and ``accuracy`` over all utterances (clean-wrong ones count wrong at every budget),
    non-increasing. Waveforms under L2 or SNR add ``median_snr_db`` and ``snr_curve`` (``snr_db``
    descending: +inf, quantiles of the found SNRs, and ``eps`` under an SNR budget), also
    non-increasing. ``robust_uar_at_eps`` is the curve's value at the cell's budget: the cell's robust UAR.
    """
    try:
        per = report["per_utterance"]
        meta = report["info"]["minimal"]
        size = _floats(per["min_size"], math.inf)
        label = np.asarray(per["label"], dtype=int)
    except (KeyError, TypeError) as error:
        raise SerbenchError(f"minimal-perturbation summary: the attack report lacks {error}; it must come from "
                            "serbench.attacks.minimal.select") from None
    if len(size) != len(label):
        raise SerbenchError(f"minimal-perturbation summary: {len(size)} sizes for {len(label)} labels")
    eps, by_snr = float(meta["eps"]), meta["budget"] == "snr"
    clean_ok = size > 0
    flips = size[clean_ok]
    grid = _grid(flips, quantiles) | ({0.0} if by_snr else {0.0, eps})
    budgets = sorted(grid)
    out: dict[str, Any] = {
        "norm": meta["norm"],
        "median_to_flip": _median(flips),
        "fraction_found": float(np.isfinite(flips).mean()) if flips.size else None,
        "curve": {"budget": budgets, "uar": [correct_uar(label, size > b) for b in budgets],
                  "accuracy": [float((size > b).mean()) for b in budgets]},
    }
    if not by_snr:
        out["fraction_flipped"] = float((flips <= eps).mean()) if flips.size else None
        out["robust_uar_at_eps"] = correct_uar(label, size > eps)
    if "min_snr_db" in per:
        snr = _floats(per["min_snr_db"], -math.inf)  # never flipped: -inf; clean wrong: +inf (no change needed)
        snr[~clean_ok] = math.inf
        levels = sorted(_grid(snr[clean_ok], quantiles) | {math.inf} | ({eps} if by_snr else set()), reverse=True)
        out["median_snr_db"] = _median(snr[clean_ok])
        out["snr_curve"] = {"snr_db": [v if math.isfinite(v) else None for v in levels],
                            "uar": [correct_uar(label, snr < s) for s in levels],
                            "accuracy": [float((snr < s).mean()) for s in levels]}
        if by_snr:
            out["fraction_flipped"] = float((snr[clean_ok] >= eps).mean()) if clean_ok.any() else None
            out["robust_uar_at_eps"] = correct_uar(label, snr < eps)
    return out


def _floats(values: list, missing: float) -> np.ndarray:
    return np.array([missing if v is None else float(v) for v in values], dtype=float)


def _grid(found: np.ndarray, quantiles: tuple[float, ...]) -> set[float]:
    """Quantiles of the finite values of ``found``."""
    finite = found[np.isfinite(found)]
    return {float(v) for v in np.quantile(finite, quantiles)} if finite.size else set()


def _median(values: np.ndarray) -> float | None:
    """Median (inf counts), ``None`` when empty or infinite."""
    if not values.size:
        return None
    med = float(np.median(values))
    return med if math.isfinite(med) else None


def with_summary(report: dict[str, Any]) -> dict[str, Any]:
    """``report`` plus its :func:`summarize` under ``summary`` (a new dict)."""
    return {**report, "summary": summarize(report)}


# The public names (``serbench.select_minimal``, ``serbench.minimal_summary``): a plugin's minimal-perturbation
# attack (ART's C&W and DeepFool in serbench-art) selects and reports exactly as the native ones.
select_minimal = select
minimal_summary = with_summary
