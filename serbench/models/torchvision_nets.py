"""VGG-16 and ResNet-50 from torchvision, adapted to 1-channel spectrograms.

torchvision's definitions are reused as they are; only the input convolution
(1 channel instead of RGB) and the head change: global average pooling and one
linear layer instead of ImageNet's classifier (VGG's 4096-wide FC stack would
dwarf the network on a 64-bin spectrogram). torchvision is imported in the constructors: registering the
models (``serbench list``) must not load it.
"""

from __future__ import annotations

import torch
from torch import nn

from serbench.models.base import SERModel
from serbench.registry import register


@register(
    "models", "vgg16", version="1.0",
    summary="VGG-16 (torchvision, configuration D), 1-channel input, global average pooling + FC head",
    paper="Simonyan & Zisserman 2015; Ren et al., ICASSP 2020", tags=("cnn", "paper", "torchvision"),
)
class VGG16(SERModel):
    """torchvision VGG-16 (configuration D, no BN) convolution stack, 1-channel input, GAP + FC."""

    def __init__(self, num_classes: int = 4, in_channels: int = 1, batch_norm: bool = False) -> None:
        self.check_params(dict(num_classes=num_classes, in_channels=in_channels))
        from torchvision import models as tvm

        super().__init__()
        net = (tvm.vgg16_bn if batch_norm else tvm.vgg16)(weights=None)
        first = net.features[0]
        net.features[0] = nn.Conv2d(in_channels, first.out_channels, first.kernel_size, first.stride,
                                    first.padding)
        self.features = net.features
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.add_head(512, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(x)).flatten(1)


@register(
    "models", "resnet50", version="1.0",
    summary="ResNet-50 (torchvision bottlenecks [3,4,6,3]), 1-channel 7x7 stem, global average pooling + FC",
    paper="He et al. 2016; Ren et al., ICASSP 2020", tags=("cnn", "paper", "torchvision"),
)
class ResNet50(SERModel):
    """torchvision ResNet-50 (bottlenecks [3, 4, 6, 3]), 1-channel 7x7 stem, GAP + FC."""

    def __init__(self, num_classes: int = 4, in_channels: int = 1) -> None:
        self.check_params(dict(num_classes=num_classes, in_channels=in_channels))
        from torchvision import models as tvm

        super().__init__()
        net = tvm.resnet50(weights=None)
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        net.fc = nn.Identity()
        self.backbone = net
        self.add_head(2048, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)  # torchvision's forward ends in avgpool + flatten + (identity) fc
