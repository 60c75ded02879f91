"""Noise conditions. Importing this registers the built-in noise sources."""

from serbench.noises.babble import BabbleNoise
from serbench.noises.base import Noise, mix_at_snr
from serbench.noises.colored import BrownNoise, PinkNoise, WhiteNoise
from serbench.noises.demand import DemandNoise
from serbench.noises.demand import variants as demand_variants
from serbench.noises.musan import SUBSETS as MUSAN_SUBSETS
from serbench.noises.musan import MusanNoise
from serbench.registry import register

register(
    "noises", "white", version="1.0",
    summary="White Gaussian noise mixed at a target SNR",
    tags=("synthetic", "stationary"),
)(WhiteNoise)
register(
    "noises", "pink", version="1.0",
    summary="Pink Gaussian noise (power 1/f, -3 dB/octave above 20 Hz) mixed at a target SNR",
    tags=("synthetic", "stationary"),
)(PinkNoise)
register(
    "noises", "brown", version="1.0",
    summary="Brown Gaussian noise (power 1/f^2, -6 dB/octave above 20 Hz) mixed at a target SNR",
    tags=("synthetic", "stationary"),
)(BrownNoise)
register(
    "noises", "babble", version="1.0",
    summary="Babble: several talkers of a speech corpus (default the embedded synthetic one) at once",
    tags=("speech", "non-stationary", "offline"),
)(BabbleNoise)
register(
    "noises", "demand", version="1.0",
    summary="DEMAND environmental noise from a local copy (default: Latif et al.'s five environments)",
    paper="Thiemann et al. 2013, DEMAND: a collection of multi-channel recordings of acoustic noise",
    tags=("recorded", "local"),
    variants=demand_variants(),
)(DemandNoise)
register(
    "noises", "musan", version="1.0",
    summary="MUSAN noise, music or speech from a local copy",
    paper="Snyder et al. 2015, MUSAN: a music, speech, and noise corpus",
    tags=("recorded", "local"),
    variants={s: {"subset": s} for s in MUSAN_SUBSETS},
)(MusanNoise)

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
