"""Attacks. Importing this registers the built-in (native torch) attacks."""

from serbench.attacks.base import DOMAIN_BOUNDS, Attack, ThreatModel, input_gradient
from serbench.attacks.bim import BIM
from serbench.attacks.budget import check_budget, perturbation
from serbench.attacks.ensemble import robust_accuracy, robust_uar, worst_case_correct
from serbench.attacks.fgsm import FGSM
from serbench.attacks.pgd import PGD
from serbench.attacks.transfer import transfer_attack
from serbench.registry import register

register(
    "attacks", "fgsm", version="1.0",
    summary="Fast gradient sign method, Linf, clipped to [x - eta, x + eta] (Ren et al. eq. 1-2)",
    paper="Goodfellow et al., ICLR 2015; Ren et al., ICASSP 2020",
    tags=("native", "white-box", "linf", "single-step"),
)(FGSM)

register(
    "attacks", "bim", version="1.0",
    summary="Basic iterative method (iterative FGSM), Linf, 10 steps of 1.25*eps/10 from the clean input",
    paper="Kurakin et al., ICLR workshop 2017; Latif et al., Interspeech 2020",
    tags=("native", "white-box", "linf", "iterative"),
)(BIM)

register(
    "attacks", "pgd", version="1.0",
    summary="Projected gradient descent, Linf / L2 / SNR dB, 10 steps of 2.5*eps/10, random start",
    paper="Madry et al., ICLR 2018",
    tags=("native", "white-box", "linf", "l2", "snr", "iterative"),
)(PGD)

__all__ = [
    "BIM", "DOMAIN_BOUNDS", "FGSM", "PGD", "Attack", "ThreatModel", "check_budget", "input_gradient",
    "perturbation", "robust_accuracy", "robust_uar", "transfer_attack", "worst_case_correct",
]
