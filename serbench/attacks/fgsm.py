"""FGSM (Goodfellow et al. 2015) as Ren et al. (ICASSP 2020) use it."""

from __future__ import annotations

import torch
from torch import nn

from serbench.attacks.base import Attack, input_gradient


class FGSM(Attack):
    """Fast gradient sign method: x' = x + eps * sign(grad), clipped to [x - eta, x + eta] and the range.

    ``eta`` defaults to eps (Ren et al.'s eq. 2); a smaller eta tightens the
    clip. Linf only; single step; untargeted.
    """

    norms = ("linf",)

    def __init__(self, eps: float = 0.0, norm: str = "linf", domain: str = "feature",
                 eta: float | None = None) -> None:
        super().__init__(eps=eps, norm=norm, domain=domain)
        self.eta = self.eps if eta is None else min(float(eta), self.eps)

    def generate(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.eps == 0:
            return x.detach().clone()
        grad = input_gradient(model, x, y)
        x_adv = x + self.eps * grad.sign()
        x_adv = torch.max(torch.min(x_adv, x + self.eta), x - self.eta)
        low, high = self.threat.bounds
        return x_adv.clamp(low, high).detach()
