"""FGSM (Goodfellow et al. 2015) as Ren et al. (ICASSP 2020) use it."""

from __future__ import annotations

import math

import torch
from torch import nn

from serbench.attacks.base import Attack, input_gradient
from serbench.errors import SerbenchError
from serbench.registry import register


@register(
    "attacks", "fgsm", version="1.0",
    summary="Fast gradient sign method, Linf, clipped to [x - eta, x + eta] (Ren et al. eq. 1-2)",
    paper="Goodfellow et al., ICLR 2015; Ren et al., ICASSP 2020",
    tags=("native", "white-box", "linf", "single-step"),
)
class FGSM(Attack):
    r"""Fast gradient sign method: x' = x + eps * sign(grad), clipped to [x - eta, x + eta] and the range.

    Paper: Goodfellow et al., "Explaining and harnessing adversarial examples",
    ICLR 2015; the eta clip is Ren et al.'s eq. 2 (ICASSP 2020).

    Distance measure: Linf. Single step, untargeted, deterministic.

    Arguments:
        eps (float): Linf budget, in the domain's units (a fraction of the
            scaled feature range, or of full-scale audio). (Default: 0.0)
        norm (str): ``linf`` only.
        domain (str): ``feature`` (scaled log-Mel, inside the fitted normalisation's bounds) or ``waveform``
            (samples in [-1, 1], gradient through the front end). (Default: feature)
        eta (float | None): clip radius in [0, eps]; defaults to eps, a smaller
            value tightens the clip (Ren et al.'s eta, eq. 1-2). A value outside
            [0, eps] is refused, not clamped. (Default: None)

    Shape:
        ``x``: (B, ...) inside the domain's bounds; ``y``: (B,) class indices;
        output: like ``x``, detached.

    Examples::
        >>> attack = serbench.get("attacks", "fgsm", eps=0.08)
        >>> x_adv = attack(model, x, y)
    """

    norms = ("linf",)

    def __init__(self, eps: float = 0.0, norm: str = "linf", domain: str = "feature",
                 eta: float | None = None) -> None:
        super().__init__(eps=eps, norm=norm, domain=domain)
        if eta is not None:
            if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not math.isfinite(eta):
                raise SerbenchError(f"attack {self.name!r}: eta must be a finite number, got {eta!r}")
            # Ren et al.'s eta is a clip inside the budget: [0, eps]. At eps = 0 the attack returns x anyway.
            if eta < 0 or (self.eps > 0 and eta > self.eps):
                raise SerbenchError(f"attack {self.name!r}: eta must be in [0, eps] = [0, {self.eps:g}], got {eta:g}; "
                                    "leave it out to clip at eps")
        self.eta = self.eps if eta is None else min(float(eta), self.eps)

    def generate(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        if self.eps == 0:
            return x.detach().clone()
        grad = input_gradient(model, x, y)
        x_adv = x + self.eps * grad.sign()
        x_adv = torch.max(torch.min(x_adv, x + self.eta), x - self.eta)
        low, high = self.threat.bounds
        return x_adv.clamp(low, high).detach()
