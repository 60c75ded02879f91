"""The noise contract: a source of noise waveforms, mixed into clean speech at a target SNR."""

from __future__ import annotations

import abc

import numpy as np
import torch
import torchaudio.functional as AF

from serbench.errors import SerbenchError


class Noise(abc.ABC):
    """Base class: subclasses must implement :meth:`sample`, ``num_samples`` of noise at ``sample_rate``.

    Draws come only from ``rng`` so a seed fixes every noise condition.

    The contract the harness relies on (``serbench validate noises NAME`` checks it):

    - Construction: once per eval cell, with the spec's ``params`` over the defaults; the SNR is not a
      parameter (the harness mixes at each SNR of the spec).
    - :meth:`sample` is called once per utterance, length group by length group, with ``num_samples`` the padded width
      of the utterance's length group and the corpus's ``sample_rate``; ``rng`` is one numpy generator per
      cell, seeded by the train cell's seed and the SNR, shared by the utterances in turn. Return a 1-D float
      array of exactly ``num_samples``, finite and not silent; its level does not matter.
    - The harness mixes it with :func:`mix_at_snr` on the model's device, over each utterance's speech only
      (the padding stays silent), so a noise never sees the clean signal (a corruption does).
    - Keys: a noise cell's key holds the name, ``version``, distribution and its version, every resolved
      parameter and the SNR; bump ``version`` when the same parameters draw other noise.
    """

    @abc.abstractmethod
    def sample(self, num_samples: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        """A noise waveform of ``num_samples`` at ``sample_rate``, drawn from ``rng`` only."""


def mix_at_snr(clean: torch.Tensor, noise: torch.Tensor, snr_db: float,
               lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Scale ``noise`` so that 10 log10(P_clean / P_noise) = ``snr_db`` per row, and add it (torchaudio).

    With ``lengths`` (one active sample count per row) both powers are measured over each row's
    first ``lengths`` samples only, and the padding after them stays silent: the SNR is the one
    over the utterance, not over the padded window (zero padding would otherwise dilute the speech
    power and put noise where there is no speech).

    The mixing runs on ``clean``'s device (``noise`` is moved there if it is not); ``lengths`` are checked
    where they are given (on the host, usually: no device sync) before they are moved.
    """
    if clean.shape != noise.shape:
        raise SerbenchError(f"noise mixing: clean {tuple(clean.shape)} and noise {tuple(noise.shape)} differ")
    snr = torch.full(clean.shape[:-1], float(snr_db), dtype=clean.dtype, device=clean.device)
    noise = noise.to(device=clean.device, dtype=clean.dtype)
    if lengths is None:
        return AF.add_noise(clean, noise, snr)
    lengths = torch.as_tensor(lengths, dtype=torch.long)
    if lengths.shape != clean.shape[:-1] or bool((lengths < 1).any()) or bool((lengths > clean.shape[-1]).any()):
        raise SerbenchError(f"noise mixing: lengths {tuple(lengths.shape)} must hold one count in 1.."
                            f"{clean.shape[-1]} per row of clean {tuple(clean.shape)}")
    lengths = lengths.to(clean.device, non_blocking=True)
    active = torch.arange(clean.shape[-1], device=clean.device) < lengths.unsqueeze(-1)
    return AF.add_noise(clean, noise * active, snr, lengths)
