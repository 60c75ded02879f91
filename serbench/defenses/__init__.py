"""Defenses (training procedures). Importing this imports the built-ins, which register themselves."""

from serbench.defenses.adversarial import PGDAdversarial, SimilarityAdversarial, VanillaAdversarial
from serbench.defenses.augment import Mixup, NoiseAugmentation, SpeedPerturbation
from serbench.defenses.base import Defense, TrainBatch
from serbench.defenses.compose import Compose
from serbench.defenses.standard import Standard

__all__ = ["Defense", "TrainBatch", "Standard", "VanillaAdversarial", "SimilarityAdversarial", "PGDAdversarial",
           "Mixup", "SpeedPerturbation", "NoiseAugmentation", "Compose"]
