"""Coloured Gaussian noise sources: white (flat), pink (1/f power), brown (1/f^2 power).

Pink and brown noise are shaped in the frequency domain: a white spectrum
times f^(-exponent/2) above ``f_min`` (20 Hz, as audio libraries do; below it
the noise would be inaudible energy that a log-Mel front end barely sees but
that an SNR counts), zero below. Output has unit standard deviation.
"""

from __future__ import annotations

import numpy as np

from serbench.errors import SerbenchError
from serbench.noises.base import Noise
from serbench.registry import register


@register(
    "noises", "white", version="1.0",
    summary="White Gaussian noise mixed at a target SNR",
    tags=("synthetic", "stationary"),
)
class WhiteNoise(Noise):
    """White Gaussian noise: flat power spectrum."""

    def sample(self, num_samples: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        return rng.standard_normal(num_samples).astype(np.float32)


def shaped_noise(num_samples: int, sample_rate: int, rng: np.random.Generator, exponent: float,
                 f_min: float = 20.0) -> np.ndarray:
    """Gaussian noise whose power spectral density falls as 1/f^``exponent`` above ``f_min``."""
    if num_samples < 2:
        raise SerbenchError(f"coloured noise needs at least 2 samples, got {num_samples}")
    spectrum = np.fft.rfft(rng.standard_normal(num_samples))
    freqs = np.fft.rfftfreq(num_samples, d=1.0 / sample_rate)
    gain = np.zeros_like(freqs)
    keep = freqs >= max(f_min, freqs[1])
    gain[keep] = freqs[keep] ** (-exponent / 2.0)
    out = np.fft.irfft(spectrum * gain, n=num_samples)
    std = out.std()
    if std == 0:
        raise SerbenchError(f"coloured noise: f_min {f_min} Hz leaves no band at {sample_rate} Hz")
    return (out / std).astype(np.float32)


@register(
    "noises", "pink", version="1.0",
    summary="Pink Gaussian noise (power 1/f, -3 dB/octave above 20 Hz) mixed at a target SNR",
    tags=("synthetic", "stationary"),
)
class PinkNoise(Noise):
    """Pink noise: power falls 3 dB per octave (1/f)."""

    def __init__(self, f_min: float = 20.0) -> None:
        self.f_min = float(f_min)

    def sample(self, num_samples: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        return shaped_noise(num_samples, sample_rate, rng, 1.0, self.f_min)


@register(
    "noises", "brown", version="1.0",
    summary="Brown Gaussian noise (power 1/f^2, -6 dB/octave above 20 Hz) mixed at a target SNR",
    tags=("synthetic", "stationary"),
)
class BrownNoise(Noise):
    """Brown (red) noise: power falls 6 dB per octave (1/f^2)."""

    def __init__(self, f_min: float = 20.0) -> None:
        self.f_min = float(f_min)

    def sample(self, num_samples: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        return shaped_noise(num_samples, sample_rate, rng, 2.0, self.f_min)
