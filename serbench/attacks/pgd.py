"""PGD (Madry et al. 2018): iterated gradient steps projected onto the budget ball."""

from __future__ import annotations

import math

import torch
from torch import nn

from serbench.attacks.base import Attack
from serbench.attacks.projection import project, random_start, step
from serbench.errors import SerbenchError
from serbench.registry import register


@register(
    "attacks", "pgd", version="1.0",
    summary="Projected gradient descent, Linf / L2 / SNR dB, 10 steps of 2.5*eps/10, random start",
    paper="Madry et al., ICLR 2018",
    tags=("native", "white-box", "linf", "l2", "snr", "iterative"),
)
class PGD(Attack):
    r"""Projected gradient descent on the cross-entropy, Linf, L2 or SNR budget, optional random start.

    Paper: Madry et al., "Towards deep learning models resistant to adversarial
    attacks", ICLR 2018.

    Distance measure: Linf (sign steps), L2 (steps along g / ||g||_2), or SNR
    in dB for waveforms (an L2 ball of per-example radius
    ``||x||_2 * 10^(-eps/20)``). Each step is projected onto the ball, then
    clipped to the domain's bounds (torchattacks' order). Returns the last
    iterate, as torchattacks and ART do. Untargeted.

    Arguments:
        eps (float): budget: Linf or L2 radius in the domain's units, or the
            minimum SNR in dB (norm ``snr``). (Default: 0.0)
        norm (str): ``linf``, ``l2`` or ``snr`` (waveform only). (Default: linf)
        domain (str): ``feature`` or ``waveform``. (Default: feature)
        steps (int): number of gradient steps. (Default: 10)
        alpha (float | None): step size. Linf/L2: absolute, in the norm's
            units; default ``2.5 * eps / steps`` (Madry et al.'s rule; with 10
            steps it is torchattacks' 2/255 at eps 8/255). SNR: a fraction of
            each example's radius; default ``2.5 / steps``. (Default: None)
        random_start (bool): start at a random point of the ball (uniform per
            coordinate for Linf; Gaussian direction, radius uniform in [0, r]
            for L2/SNR), as Madry et al. and torchattacks do. (Default: True)
        seed (int): seeds the random start; the same attack object on the same
            batches gives the same result. (Default: 0)

    Shape:
        ``x``: (B, ...) inside the domain's bounds; ``y``: (B,) class indices;
        output: like ``x``, detached. Runs on ``x``'s device, batched.

    Examples::
        >>> attack = serbench.get("attacks", "pgd", eps=0.02, steps=10)
        >>> x_adv = attack(model, x, y)
    """

    norms = ("linf", "l2", "snr")
    alpha_rule = 2.5  # alpha * steps / eps

    def __init__(self, eps: float = 0.0, norm: str = "linf", domain: str = "feature", steps: int = 10,
                 alpha: float | None = None, random_start: bool = True, seed: int = 0) -> None:
        super().__init__(eps=eps, norm=norm, domain=domain)
        if (isinstance(steps, bool) or not isinstance(steps, (int, float)) or not math.isfinite(steps)
                or int(steps) != steps or steps < 1):
            raise SerbenchError(f"attack {self.name!r}: steps must be a positive integer, got {steps!r}")
        if alpha is not None and (isinstance(alpha, bool) or not isinstance(alpha, (int, float))
                                  or not math.isfinite(alpha) or not alpha > 0):
            raise SerbenchError(f"attack {self.name!r}: alpha (step size) must be a finite number > 0, got {alpha!r}")
        self.steps = int(steps)
        self.alpha = None if alpha is None else float(alpha)
        self.random_start = bool(random_start)
        self.seed = int(seed)
        self._generators: dict[str, torch.Generator] = {}

    def step_sizes(self, r: torch.Tensor) -> torch.Tensor:
        """Per-example step size (float64 ``(B,)``) for budget radii ``r``."""
        if self.threat.norm == "snr":
            return r * (self.alpha if self.alpha is not None else self.alpha_rule / self.steps)
        a = self.alpha if self.alpha is not None else self.alpha_rule * self.eps / self.steps
        return torch.full_like(r, a)

    def _generator(self, device: torch.device) -> torch.Generator:
        key = str(device)
        if key not in self._generators:
            self._generators[key] = torch.Generator(device=device).manual_seed(self.seed)
        return self._generators[key]

    def generate(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = x.detach()
        if self.zero_budget or len(x) == 0:
            return x.clone()
        norm, bounds = self.threat.norm, self.threat.bounds
        y = y.to(x.device)
        r = self.radius(x)
        alpha = self.step_sizes(r)
        if self.random_start:
            x_adv = self.project(x, random_start(norm, x, r, self._generator(x.device)))
        else:
            x_adv = x.clone()
        r_step: torch.Tensor | float = r
        a_step: torch.Tensor | float = alpha
        if norm == "linf":  # one radius and one step size for the whole batch: scalar fast path
            r_step, a_step = self.eps, float(alpha[0])
        for _ in range(self.steps):
            x_adv.requires_grad_(True)
            with torch.enable_grad():
                loss = nn.functional.cross_entropy(model(x_adv), y, reduction="sum")
                (grad,) = torch.autograd.grad(loss, x_adv)
            x_adv = project(norm, x, x_adv.detach() + step(norm, grad, a_step), r_step, bounds)
        return x_adv
