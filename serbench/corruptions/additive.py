"""Additive noise as a corruption family: a built-in noise mixed over the speech at an SNR per severity.

The ``noises`` axis of a spec stays the way to sweep any SNR; this family puts the same noises on the
SER-C severity scale so that they enter the corruption score beside rooms, channels and codecs.

Only serbench's built-in noises are accepted: a corruption's cell key holds its own identity (name,
version, params), so the noise's version must be covered by this family's version. ``NOISE_VERSIONS``
pins them; a test fails when a built-in noise changes version without this family following.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from serbench.corruptions.base import Corruption
from serbench.errors import SerbenchError
from serbench.noises.base import mix_at_snr
from serbench.registry import register, registry

# The built-in noises this family mixes, at the versions its own version ("1.<n>") was released with.
NOISE_VERSIONS = {"white": "1.0", "pink": "1.0", "brown": "1.0", "babble": "1.0", "demand": "1.0", "musan": "1.0"}


@register(
    "corruptions", "additive", version="1.0",
    summary="A built-in noise (white, pink, brown, babble, DEMAND, MUSAN) mixed over the speech at 20..0 dB SNR",
    tags=("additive",),
)
class Additive(Corruption):
    """Noise ``noise`` (with ``noise_params``, e.g. a DEMAND ``root``) at an SNR over the speech per severity."""

    levels = tuple({"snr_db": snr} for snr in (20.0, 15.0, 10.0, 5.0, 0.0))
    measure = "SNR over the speech in dB (falls with severity)"

    def __init__(self, noise: str = "white", noise_params: dict[str, Any] | None = None) -> None:
        if noise not in NOISE_VERSIONS:
            raise SerbenchError(f"corruption additive: noise {noise!r} is not one of the built-in noises "
                                f"({', '.join(NOISE_VERSIONS)}); put a plugin noise on the spec's noises axis")
        self.noise_name = noise
        self.noise = registry("noises").create(noise, **(noise_params or {}))

    def corrupt(self, waves: torch.Tensor, sample_rate: int, params: Mapping[str, Any],
                rngs: Sequence[np.random.Generator], lengths: torch.Tensor) -> torch.Tensor:
        noise = np.zeros(tuple(waves.shape), dtype=np.float32)  # drawn at each utterance's own length
        for i, (n, rng) in enumerate(zip(lengths.tolist(), rngs)):
            noise[i, :n] = self.noise.sample(n, sample_rate, rng)
        return mix_at_snr(waves, torch.from_numpy(noise).to(waves.device), params["snr_db"], lengths=lengths)
