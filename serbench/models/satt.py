"""Latif et al.'s baselines after Satt et al. (Interspeech 2017): a spectrogram CNN and a CNN-LSTM.

Neither paper fixes every layer size; serbench uses three 3x3 conv blocks
[32, 64, 128] (BN before every ReLU, 2x2 max pooling) and 128-unit
embeddings, and says so here so that nobody mistakes them for published sizes.
"""

from __future__ import annotations

import torch
from torch import nn

from serbench.models.base import SERModel, conv_bn_relu, linear_bn_relu, scaled
from serbench.models.recurrent import SequenceLSTM, to_sequence
from serbench.registry import register


def _conv_stack(in_channels: int, width: float) -> tuple[nn.Sequential, int]:
    blocks: list[nn.Module] = []
    cin = in_channels
    for c in (32, 64, 128):
        cout = scaled(c, width)
        blocks += [conv_bn_relu(cin, cout, 3), nn.MaxPool2d(2, ceil_mode=True)]
        cin = cout
    return nn.Sequential(*blocks), cin


@register(
    "models", "cnn", version="1.0",
    summary="Spectrogram CNN baseline after Satt et al. 2017 (layer sizes serbench's: 3 conv blocks 32..128)",
    paper="Satt et al., Interspeech 2017; Latif et al., Interspeech 2020", tags=("cnn", "baseline"),
    variants={"small": {"width": 0.5, "hidden": 64}},
)
class SattCNN(SERModel):
    """Three conv blocks, global average pooling, FC 128 + ReLU (the embedding), linear head."""

    def __init__(self, num_classes: int = 4, in_channels: int = 1, width: float = 1.0, hidden: int = 128) -> None:
        self.check_params(dict(num_classes=num_classes, in_channels=in_channels, width=width, hidden=hidden))
        super().__init__()
        self.features, c = _conv_stack(in_channels, width)
        self.embed = linear_bn_relu(c, hidden)
        self.add_head(hidden, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.features(x).mean(dim=(2, 3)))


@register(
    "models", "cnn-lstm", version="1.0",
    summary="CNN-LSTM baseline after Satt et al. 2017: conv blocks read over time by an LSTM",
    paper="Satt et al., Interspeech 2017; Latif et al., Interspeech 2020", tags=("cnn", "recurrent", "baseline"),
    variants={"small": {"width": 0.5, "hidden": 64}},
)
class SattCNNLSTM(SERModel):
    """The same conv blocks, the feature map read as a sequence over time, an LSTM; its last output embeds."""

    def __init__(self, num_classes: int = 4, in_channels: int = 1, width: float = 1.0, hidden: int = 128) -> None:
        self.check_params(dict(num_classes=num_classes, in_channels=in_channels, width=width, hidden=hidden))
        super().__init__()
        self.features, c = _conv_stack(in_channels, width)
        self.freq_pool = nn.AdaptiveAvgPool2d((4, None))  # any n_features >= 64 maps to 4 frequency rows
        self.lstm = SequenceLSTM(c * 4, hidden)
        self.add_head(hidden, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        seq = to_sequence(self.freq_pool(self.features(x)))
        return self.lstm(seq)[:, -1]
