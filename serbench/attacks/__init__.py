"""Attacks. Importing this imports the built-in (native torch) attacks, which register themselves."""

from serbench.attacks.apgd import APGD
from serbench.attacks.autoattack import AutoAttack
from serbench.attacks.base import DOMAIN_BOUNDS, Attack, ThreatModel, input_gradient
from serbench.attacks.bim import BIM
from serbench.attacks.cw import CW
from serbench.attacks.deepfool import DeepFool
from serbench.attacks.budget import check_budget, perturbation
from serbench.attacks.ensemble import robust_accuracy, robust_uar, worst_case_correct
from serbench.attacks.fgsm import FGSM
from serbench.attacks.pgd import PGD
from serbench.attacks.psychoacoustic import Psychoacoustic  # noqa: F401 - registers 'psychoacoustic'
from serbench.attacks.square import Square
from serbench.attacks.transfer import transfer_attack
from serbench.attacks.universal import Universal  # noqa: F401 - registers `universal`

__all__ = [
    "APGD", "AutoAttack", "BIM", "CW", "DeepFool", "DOMAIN_BOUNDS", "FGSM", "PGD", "Attack", "Square", "ThreatModel",
    "check_budget",
    "input_gradient", "perturbation", "robust_accuracy", "robust_uar", "transfer_attack", "worst_case_correct",
]
