"""Attacks. Importing this registers the built-in (native torch) attacks."""

from serbench.attacks.base import DOMAIN_BOUNDS, Attack, ThreatModel, input_gradient
from serbench.attacks.budget import check_budget, perturbation
from serbench.attacks.fgsm import FGSM
from serbench.registry import register

register(
    "attacks", "fgsm", version="1.0",
    summary="Fast gradient sign method, Linf, clipped to [x - eta, x + eta] (Ren et al. eq. 1-2)",
    paper="Goodfellow et al., ICLR 2015; Ren et al., ICASSP 2020",
    tags=("native", "white-box", "linf", "single-step"),
)(FGSM)

__all__ = ["Attack", "ThreatModel", "DOMAIN_BOUNDS", "FGSM", "check_budget", "perturbation", "input_gradient"]
