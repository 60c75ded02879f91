"""The model contract every architecture follows (timm's split).

Input (B, 1, n_features, T) with T free; ``forward_features`` returns the
penultimate embedding (what similarity-based adversarial training compares),
``forward_head`` the logits, and ``forward = forward_head(forward_features)``.
"""

from __future__ import annotations

import torch
from torch import nn


class SERModel(nn.Module):
    """Base class of serbench models. Subclasses implement the two halves."""

    num_classes: int
    embedding_dim: int

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward_head(self, z: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def conv_bn_relu(cin: int, cout: int, kernel: int, batch_norm: bool = True) -> nn.Sequential:
    """Conv -> (BatchNorm) -> ReLU, 'same' padding: BN sits before the non-linearity."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def scaled(channels: int, width: float) -> int:
    return max(4, int(round(channels * width)))
