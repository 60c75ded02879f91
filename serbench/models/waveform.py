"""The waveform-model contract: models that take raw audio and own their front end (wav2vec 2.0, HuBERT, WavLM).

A :class:`WaveformModel` declares ``input_kind = "waveform"`` and the ``sample_rate`` its input must be at. The
harness then skips the spectrogram front end and the feature normalisation: the model's input is the batch of
waveforms itself, (B, samples) float32 in [-1, 1], each row zero-padded at its end to the batch's length. No
lengths are passed (attacks call ``model(x)`` alone), so a waveform model must find them in the input:
:func:`active_lengths` is the rule, the same for the harness and every plugin. A row's prediction must not depend
on its padding (the same logits alone and padded in a batch); attacks and the harness keep padding exactly zero.

Feature-domain attacks are refused for these models (there are no features to perturb); waveform-domain attacks
(Linf and L2 on samples, SNR in dB), noises and corruptions work as for spectrogram models.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from serbench.inputs import INPUT_KINDS, SPECTROGRAM, WAVEFORM, input_kind
from serbench.models.base import SERModel

__all__ = ["WaveformModel", "active_lengths", "input_kind", "INPUT_KINDS", "SPECTROGRAM", "WAVEFORM"]


class WaveformModel(SERModel):
    """Base class of models whose input is (B, samples) audio at :attr:`sample_rate` (see the module docstring).

    ``forward_features(wave)`` returns the (B, embedding_dim) utterance embedding, ``forward_head`` the logits, as
    for every :class:`SERModel`. Subclasses set :attr:`sample_rate` (class attribute or in ``__init__``).
    """

    input_kind: ClassVar[str] = WAVEFORM
    sample_rate: int = 16000

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract in spirit
        raise NotImplementedError


def active_lengths(wave: torch.Tensor) -> torch.Tensor:
    """(B, samples) zero-padded waveforms -> (B,) int64 active lengths: one past each row's last non-zero sample.

    At least 1, so an all-zero row keeps one sample. Computed without gradient: the lengths are where the padding
    starts, a property of the batch layout, not something an attack can move (it never writes to padding).
    """
    if wave.dim() != 2:
        raise ValueError(f"active_lengths: expected (batch, samples), got shape {tuple(wave.shape)}")
    with torch.no_grad():
        nonzero = wave.detach() != 0
        positions = torch.arange(1, wave.shape[-1] + 1, device=wave.device).expand_as(nonzero)
        return torch.where(nonzero, positions, torch.zeros_like(positions)).amax(dim=-1).clamp_min(1).long()
