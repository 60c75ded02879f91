"""Measure perturbations and enforce budgets: the harness's check on every attack batch.

An attack's output is never clamped back here; an example outside the budget
fails the cell with :class:`BudgetViolation`.
"""

from __future__ import annotations

import torch

from serbench.attacks.base import TOLERANCE, ThreatModel
from serbench.errors import BudgetViolation

__all__ = ["TOLERANCE", "check_budget", "perturbation"]


def perturbation(x: torch.Tensor, x_adv: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-example Linf, L2 and SNR (dB, clean signal power over perturbation power)."""
    delta = (x_adv - x).flatten(1).double()
    clean = x.flatten(1).double()
    linf = delta.abs().amax(dim=1)
    l2 = delta.norm(dim=1)
    snr = 10 * torch.log10(clean.pow(2).sum(1).clamp_min(1e-30) / delta.pow(2).sum(1).clamp_min(1e-30))
    return {"linf": linf, "l2": l2, "snr_db": snr}


def check_budget(name: str, threat: ThreatModel, x: torch.Tensor, x_adv: torch.Tensor,
                 tol: float = TOLERANCE) -> dict[str, torch.Tensor]:
    """Raise if any example leaves ``threat``'s budget or the domain's bounds; return the measurements."""
    if x_adv.shape != x.shape:
        raise BudgetViolation(f"attack {name!r} returned shape {tuple(x_adv.shape)} for input {tuple(x.shape)}")
    if not torch.isfinite(x_adv).all():
        raise BudgetViolation(f"attack {name!r} returned non-finite values")
    m = perturbation(x, x_adv)
    low, high = threat.bounds
    if x_adv.min() < low - tol or x_adv.max() > high + tol:
        raise BudgetViolation(
            f"attack {name!r} left the {threat.domain} range [{low}, {high}]: "
            f"min {float(x_adv.min()):.6g}, max {float(x_adv.max()):.6g}"
        )
    if threat.norm == "snr":
        worst = float(m["snr_db"].min())
        if worst < threat.eps - tol:
            raise BudgetViolation(f"attack {name!r}: SNR {worst:.4f} dB is below its budget {threat.eps} dB")
    else:
        worst = float(m[threat.norm].max())
        if worst > threat.eps + tol:
            raise BudgetViolation(
                f"attack {name!r}: {threat.norm} perturbation {worst:.8g} exceeds eps {threat.eps}"
            )
    return m
