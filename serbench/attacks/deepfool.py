"""DeepFool (Moosavi-Dezfooli et al., CVPR 2016): step to the nearest linearised decision boundary, repeat."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from serbench.attacks import params
from serbench.attacks import minimal
from serbench.attacks.base import Attack
from serbench.registry import register

TINY = 1e-4  # the reference's push past the linearised boundary, on top of the overshoot


@register(
    "attacks", "deepfool", version="1.0",
    summary="DeepFool minimal perturbation, multi-class, L2 / Linf, overshoot 0.02, 50 steps; "
            "returns it where it fits eps",
    paper="Moosavi-Dezfooli, Fawzi & Frossard, CVPR 2016",
    tags=("native", "white-box", "l2", "linf", "snr", "minimal-perturbation", "iterative"),
)
class DeepFool(Attack):
    r"""DeepFool: the smallest step to the nearest linearised class boundary, repeated until the label flips.

    Paper: Moosavi-Dezfooli, Fawzi & Frossard, "DeepFool: a simple and
    accurate method to fool deep neural networks", CVPR 2016 (Algorithm 2,
    multi-class; the Linf variant of its section 3.3).

    Distance measure: L2 (``l2``; ``snr`` for waveforms, the same search, the
    budget an L2 ball of radius ``||x||_2 * 10^(-eps/20)``) or Linf (``linf``).
    At each step, with ``k0`` the clean label, ``w_k = grad z_k - grad z_k0``
    and ``f_k = z_k - z_k0`` for every other class ``k``, the class
    ``l = argmin_k |f_k| / ||w_k||_q`` (q = 2 for L2, 1 for Linf, the dual
    norm) gives the step ``r = (|f_l| + 1e-4) / ||w_l||_2^2 * w_l`` (L2) or
    ``(|f_l| + 1e-4) / ||w_l||_1 * sign(w_l)`` (Linf). The steps add up to
    ``r_tot`` and the iterate is ``clip(x + (1 + overshoot) r_tot)`` to the
    domain's bounds; an example stops at its first misclassified iterate or
    after ``steps`` steps. Each step costs a forward pass and one backward
    pass per class.

    As a harness attack the cell's ``eps`` is the budget: per utterance the
    adversarial example found is returned when its size is within the
    budget, else the clean input, so the cell's robust UAR is the one at
    ``eps``. The sizes found (of any size) are in :attr:`last_report`
    (:mod:`serbench.attacks.minimal`); :meth:`finish_report` adds the median
    size to flip and the curve of UAR against budget. Deterministic. Only
    utterances classified correctly are attacked; the batch is attacked whole
    (rows done are frozen).

    Arguments:
        eps (float): budget: L2 or Linf radius in the domain's units, or the
            minimum SNR in dB (norm ``snr``). (Default: 0.0)
        norm (str): ``l2``, ``linf`` or ``snr`` (waveform only). (Default: l2)
        domain (str): ``feature`` or ``waveform``. (Default: feature)
        steps (int): most steps per example (the paper's 50). (Default: 50)
        overshoot (float): the final perturbation is ``(1 + overshoot) r_tot``
            (the paper's 0.02). (Default: 0.02)

    Shape:
        ``x``: (B, ...) inside the domain's bounds; ``y``: (B,) class indices;
        output: like ``x``, detached. Runs on ``x``'s device, batched.

    Examples::
        >>> attack = serbench.get("attacks", "deepfool", eps=1.0, norm="l2")
        >>> x_adv = attack(model, x, y)
    """

    norms = ("l2", "linf", "snr")

    def __init__(self, eps: float = 0.0, norm: str = "l2", domain: str = "feature", steps: int = 50,
                 overshoot: float = 0.02) -> None:
        super().__init__(eps=eps, norm=norm, domain=domain)
        self.steps = params.integer(self.name, "steps", steps)
        self.overshoot = params.number(self.name, "overshoot", overshoot, positive=False)
        self.last_report: dict[str, Any] | None = None

    finish_report = staticmethod(minimal.with_summary)

    def generate(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = x.detach()
        self.last_report = None
        if self.zero_budget or len(x) == 0:
            return x.clone()
        y = y.to(x.device)
        low, high = self.threat.bounds
        linf = self.threat.norm == "linf"
        r_tot = torch.zeros_like(x)
        x_adv = x.clone()
        active: torch.Tensor | None = None
        clean_wrong = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        for k in range(self.steps + 1):
            z = x_adv.requires_grad_(k < self.steps)
            with torch.enable_grad() if k < self.steps else torch.no_grad():
                logits = model(z).float()
            wrong = logits.detach().argmax(1) != y
            if active is None:  # step 0 scores the clean input: only what it gets right is attacked
                clean_wrong, active = wrong, ~wrong
            active = active & ~wrong
            if k == self.steps or not bool(active.any()):
                break
            n_classes = logits.shape[1]
            grads = torch.stack([torch.autograd.grad(logits[:, c].sum(), z, retain_graph=c < n_classes - 1)[0]
                                 for c in range(n_classes)], dim=1)  # (B, K, ...)
            with torch.no_grad():
                rows = torch.arange(len(x), device=x.device)
                w = (grads - grads[rows, y][:, None]).flatten(2).double()  # (B, K, D)
                f = (logits.detach() - logits.detach()[rows, y][:, None]).double()  # (B, K)
                w_norm = w.abs().sum(2) if linf else w.norm(dim=2)
                dist = f.abs() / w_norm.clamp_min(1e-12)
                dist[rows, y] = torch.inf
                best = dist.argmin(1)
                w_l, f_l, n_l = w[rows, best], f[rows, best].abs(), w_norm[rows, best].clamp_min(1e-12)
                step = (f_l + TINY)[:, None] * (w_l.sign() / n_l[:, None] if linf else w_l / n_l.pow(2)[:, None])
                step = torch.where(active[:, None], step, torch.zeros_like(step))
                r_tot = r_tot + step.view_as(x).to(x.dtype)
                x_adv = (x + (1 + self.overshoot) * r_tot).clamp(low, high).detach()
        x_adv = x_adv.detach()
        out, self.last_report = minimal.select(self.threat, self.radius(x), model, x, y, clean_wrong, x_adv)
        return out
