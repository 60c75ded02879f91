"""Defenses (training procedures). Importing this registers the built-ins."""

from serbench.defenses.adversarial import PGDAdversarial, SimilarityAdversarial, VanillaAdversarial
from serbench.defenses.augment import Mixup, NoiseAugmentation, SpeedPerturbation
from serbench.defenses.base import Defense, TrainBatch
from serbench.defenses.compose import Compose
from serbench.defenses.standard import Standard
from serbench.registry import register

REN = "Ren et al., ICASSP 2020"
# 1.1 (vanilla-adv, similarity-adv, pgd-adv, compose): model selection only considers checkpoints trained with
# the defense active (issue 21), so models cached by 1.0 keys, possibly warm-up checkpoints, are not reused;
# similarity-adv 1.1 also compares the final layer's output by default (similarity_on: logits).
LATIF = "Latif et al., Interspeech 2020"

register("defenses", "standard", version="1.0",
         summary="Single training: cross-entropy on clean data, no defense",
         paper=f"{REN} ('single training')", tags=("baseline",))(Standard)
register("defenses", "vanilla-adv", version="1.1",
         summary="Vanilla adversarial training: a*L(x) + (1-a)*L(x'), x' from any attack (FGSM default)",
         paper=REN, tags=("adversarial",))(VanillaAdversarial)
register("defenses", "similarity-adv", version="1.1",
         summary="Similarity-based adversarial training: b*L(x) + g*L(x') + (1-b-g)*||v - v'||_2, v: logits",
         paper=REN, tags=("adversarial",))(SimilarityAdversarial)
register("defenses", "pgd-adv", version="1.1",
         summary="PGD adversarial training (min-max), a defense none of the three papers tried",
         paper="Madry et al., ICLR 2018", tags=("adversarial",))(PGDAdversarial)
register("defenses", "mixup", version="1.0",
         summary="Mixup on features: convex combinations of inputs and labels, l ~ Beta(alpha, alpha)",
         paper=f"Zhang et al., ICLR 2018; {LATIF}", tags=("augmentation",))(Mixup)
register("defenses", "speed", version="1.0",
         summary="Speed perturbation: extra copies of each training utterance at factors 0.9 and 1.1",
         paper=LATIF, tags=("augmentation", "waveform"))(SpeedPerturbation)
register("defenses", "noise-aug", version="1.0",
         summary="Noise augmentation: coloured (and background) noise copies at random SNR (audiomentations)",
         tags=("augmentation", "waveform"))(NoiseAugmentation)
register("defenses", "compose", version="1.1",
         summary="Combine defenses written in the spec: augmentations chain, one part may define the loss",
         tags=("composition",))(Compose)

__all__ = ["Defense", "TrainBatch", "Standard", "VanillaAdversarial", "SimilarityAdversarial", "PGDAdversarial",
           "Mixup", "SpeedPerturbation", "NoiseAugmentation", "Compose"]
