"""The noise contract: a source of noise waveforms, mixed into clean speech at a target SNR."""

from __future__ import annotations

import numpy as np
import torch
import torchaudio.functional as AF

from serbench.errors import SerbenchError


class Noise:
    """Base class: :meth:`sample` returns ``num_samples`` of noise at ``sample_rate``.

    Draws come only from ``rng`` so a seed fixes every noise condition.
    """

    def sample(self, num_samples: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError


def mix_at_snr(clean: torch.Tensor, noise: torch.Tensor, snr_db: float) -> torch.Tensor:
    """Scale ``noise`` so that 10 log10(P_clean / P_noise) = ``snr_db`` per row, and add it (torchaudio)."""
    if clean.shape != noise.shape:
        raise SerbenchError(f"noise mixing: clean {tuple(clean.shape)} and noise {tuple(noise.shape)} differ")
    snr = torch.full(clean.shape[:-1], float(snr_db), dtype=clean.dtype, device=clean.device)
    return AF.add_noise(clean, noise.to(clean.dtype), snr)
