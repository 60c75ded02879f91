"""CNN-4 of Ren et al. (ICASSP 2020)."""

from __future__ import annotations

import torch
from torch import nn

from serbench.models.base import SERModel, conv_bn_relu, scaled
from serbench.registry import register


@register(
    "models", "cnn4", version="1.0",
    summary="CNN-4 (Ren et al. 2020): conv 64/128/256/512 5x5 + 2x2 max pool, global max pool, FC",
    paper="Ren et al., ICASSP 2020", tags=("cnn", "paper"),
    variants={"small": {"width": 0.25}, "tiny": {"width": 0.125}},
)
class CNN4(SERModel):
    """Four 5x5 conv blocks [64, 128, 256, 512], 2x2 max pooling after each, global max pooling, FC.

    ``width`` scales every channel count (1.0 is the paper's model). The paper
    is silent on normalisation; ``batch_norm`` (default on) puts BN before each
    ReLU as in the authors' earlier spectrogram CNNs.
    """

    def __init__(self, num_classes: int = 4, in_channels: int = 1, width: float = 1.0,
                 batch_norm: bool = True) -> None:
        self.check_params(dict(num_classes=num_classes, in_channels=in_channels, width=width))
        super().__init__()
        widths = [scaled(c, width) for c in (64, 128, 256, 512)]
        blocks: list[nn.Module] = []
        cin = in_channels
        for cout in widths:
            blocks += [conv_bn_relu(cin, cout, 5, batch_norm), nn.MaxPool2d(2, ceil_mode=True)]
            cin = cout
        self.features = nn.Sequential(*blocks)
        self.add_head(cin, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.amax(self.features(x), dim=(2, 3))  # global max pooling
