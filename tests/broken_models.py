"""Models that break the model contract on purpose, for tests that the harness refuses them."""

from __future__ import annotations

import torch
from torch import nn

from serbench.models.base import SERModel


class FiveLogits(SERModel):
    """One logit too many: 5 outputs for a 4-class corpus."""

    def __init__(self, num_classes: int = 4) -> None:
        super().__init__()
        self.num_classes, self.embedding_dim = num_classes, 1
        self.head = nn.Linear(1, num_classes + 1)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(1, 2, 3))[:, None]

    def forward_head(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(z)
