"""Measure perturbations and enforce budgets: the harness's check on every attack batch.

An attack's output is never clamped back here; an example outside the budget
fails the cell with :class:`BudgetViolation`.

Checking is split so a cell pays one host sync, not one per batch: :func:`measure` computes,
on the batch's device and without reading anything back, each example's norms and whether it
is finite and inside the domain's bounds; :func:`verify` copies the measurements of any number
of batches to the host at once and raises for the worst. :func:`check_budget` is both on one
batch. :class:`BudgetLedger` collects a cell's batches and verifies them once.
"""

from __future__ import annotations

import torch

from serbench.attacks.base import TOLERANCE, ThreatModel
from serbench.errors import BudgetViolation

__all__ = ["TOLERANCE", "BudgetLedger", "check_budget", "measure", "perturbation", "verify"]

PERTURBATION = ("linf", "l2", "snr_db")
# Per example, besides the norms: its smallest and largest value, finite (1/0), outside the bounds (1/0).
MEASURED = (*PERTURBATION, "low", "high", "finite", "outside")


def perturbation(x: torch.Tensor, x_adv: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-example Linf, L2 and SNR (dB, clean signal power over perturbation power)."""
    delta = (x_adv - x).flatten(1).double()
    clean = x.flatten(1).double()
    linf = delta.abs().amax(dim=1)
    l2 = delta.norm(dim=1)
    snr = 10 * torch.log10(clean.pow(2).sum(1).clamp_min(1e-30) / delta.pow(2).sum(1).clamp_min(1e-30))
    return {"linf": linf, "l2": l2, "snr_db": snr}


def check_shape(name: str, x: torch.Tensor, x_adv: torch.Tensor) -> None:
    """Raise at once for an output of another shape (known on the host: no sync)."""
    if x_adv.shape != x.shape:
        raise BudgetViolation(f"attack {name!r} returned shape {tuple(x_adv.shape)} for input {tuple(x.shape)}")


def measure(threat: ThreatModel, x: torch.Tensor, x_adv: torch.Tensor,
            tol: float = TOLERANCE) -> dict[str, torch.Tensor]:
    """Per-example measurements (:data:`MEASURED`) of a batch of one shape, left on its device.

    The bound test compares in ``x_adv``'s dtype, as a single comparison of the batch's extremes would.
    """
    low, high = threat.bounds
    rows_adv = x_adv.detach().flatten(1)
    row_low, row_high = rows_adv.amin(dim=1), rows_adv.amax(dim=1)
    outside = (row_low < low - tol) | (row_high > high + tol)
    return {**perturbation(x.detach(), x_adv.detach()), "low": row_low.double(), "high": row_high.double(),
            "finite": torch.isfinite(rows_adv).all(dim=1).double(), "outside": outside.double()}


def verify(name: str, threat: ThreatModel, measured: dict[str, torch.Tensor],
           tol: float = TOLERANCE) -> dict[str, torch.Tensor]:
    """Raise :class:`BudgetViolation` for the worst example of ``measured`` (one copy to the host);
    return the measurements on the host.

    Checked in order: finite values, the domain's bounds, then the norm budget.
    """
    host = dict(zip(MEASURED, torch.stack([measured[k].double() for k in MEASURED]).cpu().unbind(0)))
    if host["finite"].numel() == 0:
        return host
    if not bool(host["finite"].all()):
        raise BudgetViolation(f"attack {name!r} returned non-finite values")
    low, high = threat.bounds
    if bool(host["outside"].any()):
        raise BudgetViolation(
            f"attack {name!r} left the {threat.domain} range [{low}, {high}]: "
            f"min {float(host['low'].min()):.6g}, max {float(host['high'].max()):.6g}"
        )
    if threat.norm == "snr":
        worst = float(host["snr_db"].min())
        if worst < threat.eps - tol:
            raise BudgetViolation(f"attack {name!r}: SNR {worst:.4f} dB is below its budget {threat.eps} dB")
    else:
        worst = float(host[threat.norm].max())
        if worst > threat.eps + tol:
            raise BudgetViolation(
                f"attack {name!r}: {threat.norm} perturbation {worst:.8g} exceeds eps {threat.eps}"
            )
    return host


def check_budget(name: str, threat: ThreatModel, x: torch.Tensor, x_adv: torch.Tensor,
                 tol: float = TOLERANCE) -> dict[str, torch.Tensor]:
    """Raise if any example leaves ``threat``'s budget or the domain's bounds; return the measurements."""
    check_shape(name, x, x_adv)
    measured = measure(threat, x, x_adv, tol)
    verify(name, threat, measured, tol)
    return {k: measured[k] for k in PERTURBATION}


class BudgetLedger:
    """A cell's budget check: every batch measured on its device as it comes, all verified at the end.

    A violating batch still fails the cell, only at :meth:`verify` instead of at once; the caller must
    record nothing of the cell before it returns.
    """

    def __init__(self, name: str, threat: ThreatModel, tol: float = TOLERANCE) -> None:
        self.name, self.threat, self.tol = name, threat, tol
        self._batches: list[dict[str, torch.Tensor]] = []

    def add(self, x: torch.Tensor, x_adv: torch.Tensor) -> None:
        """Measure one batch (no host sync; a wrong shape raises at once)."""
        check_shape(self.name, x, x_adv)
        self._batches.append(measure(self.threat, x, x_adv, self.tol))

    def verify(self) -> dict[str, torch.Tensor]:
        """Raise for the worst example of every batch added; return the per-example measurements on the host."""
        if not self._batches:
            raise ValueError("BudgetLedger.verify: no batch was measured")
        measured = {k: torch.cat([b[k] for b in self._batches]) for k in MEASURED}
        return verify(self.name, self.threat, measured, self.tol)
