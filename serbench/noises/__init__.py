"""Noise conditions. Importing this registers the built-in noise sources."""

from serbench.noises.base import Noise, mix_at_snr
from serbench.noises.colored import WhiteNoise
from serbench.registry import register

register(
    "noises", "white", version="1.0",
    summary="White Gaussian noise mixed at a target SNR",
    tags=("synthetic", "stationary"),
)(WhiteNoise)

__all__ = ["Noise", "WhiteNoise", "mix_at_snr"]
