"""Recurrent layers that give input gradients in eval mode on CUDA.

cuDNN's RNN backward refuses to run in eval mode, which breaks every
white-box attack on a recurrent model (ART and torchattacks both had to work
around it). serbench's recurrent models run their LSTM through
:class:`SequenceLSTM`, which falls back to the native kernel exactly when
cuDNN would refuse, so attacks and defenses never need to know.
"""

from __future__ import annotations

import torch
from torch import nn


def cudnn_allowed(training: bool, grad_enabled: bool, is_cuda: bool) -> bool:
    """cuDNN may run the RNN unless we are in eval mode, need gradients, and are on CUDA."""
    return not (is_cuda and grad_enabled and not training)


class SequenceLSTM(nn.Module):
    """Batch-first LSTM over a (B, T, D) sequence returning (B, T, H * directions)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers=num_layers, batch_first=True,
                            bidirectional=bidirectional)
        self.output_size = hidden_size * (2 if bidirectional else 1)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        allowed = cudnn_allowed(self.training, torch.is_grad_enabled(), seq.is_cuda)
        with torch.backends.cudnn.flags(enabled=allowed and torch.backends.cudnn.enabled):
            out, _ = self.lstm(seq)
        return out


def to_sequence(fmap: torch.Tensor) -> torch.Tensor:
    """(B, C, F, T) feature map -> (B, T, C * F) sequence over time."""
    b, c, f, t = fmap.shape
    return fmap.permute(0, 3, 1, 2).reshape(b, t, c * f)
