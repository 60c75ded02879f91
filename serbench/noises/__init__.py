"""Noise conditions. Importing this imports the built-in noise sources, which register themselves."""

from serbench.noises.babble import BabbleNoise
from serbench.noises.base import Noise, mix_at_snr
from serbench.noises.colored import BrownNoise, PinkNoise, WhiteNoise
from serbench.noises.demand import DemandNoise
from serbench.noises.musan import MusanNoise

__all__ = [
    "BabbleNoise",
    "BrownNoise",
    "DemandNoise",
    "MusanNoise",
    "Noise",
    "PinkNoise",
    "WhiteNoise",
    "mix_at_snr",
]
