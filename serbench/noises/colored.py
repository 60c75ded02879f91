"""Coloured Gaussian noise sources."""

from __future__ import annotations

import numpy as np

from serbench.noises.base import Noise


class WhiteNoise(Noise):
    """White Gaussian noise: flat power spectrum."""

    def sample(self, num_samples: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        return rng.standard_normal(num_samples).astype(np.float32)
