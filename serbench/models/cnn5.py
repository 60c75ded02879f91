"""CNN-5 of the robust-SER paper on IEMOCAP (paper C in docs/papers.md)."""

from __future__ import annotations

import torch
from torch import nn

from serbench.models.base import SERModel, conv_bn_relu, scaled
from serbench.registry import register


@register(
    "models", "cnn5", version="1.0",
    summary="CNN-5 (robust SER on IEMOCAP): five 5x5 conv blocks 64..512 + 2x2 max pool stride 2, FC",
    paper="Robust SER under FGSM adversarial training on IEMOCAP (seed C)", tags=("cnn", "paper"),
    variants={"small": {"width": 0.25}},
)
class CNN5(SERModel):
    """Five 5x5 conv blocks [64, 128, 256, 512, 512], 2x2 max pooling stride 2 after each, global max pool, FC.

    The paper's table is OCR-damaged past the fourth block; the fifth repeats
    512 channels as VGG-style stacks do. ``width`` scales channel counts.
    """

    def __init__(self, num_classes: int = 4, in_channels: int = 1, width: float = 1.0,
                 batch_norm: bool = True) -> None:
        self.check_params(dict(num_classes=num_classes, in_channels=in_channels, width=width))
        super().__init__()
        blocks: list[nn.Module] = []
        cin = in_channels
        for c in (64, 128, 256, 512, 512):
            cout = scaled(c, width)
            blocks += [conv_bn_relu(cin, cout, 5, batch_norm), nn.MaxPool2d(2, stride=2, ceil_mode=True)]
            cin = cout
        self.features = nn.Sequential(*blocks)
        self.add_head(cin, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.amax(self.features(x), dim=(2, 3))
