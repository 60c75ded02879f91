"""The attack contract: ``generate(model, x, y) -> x_adv`` inside a threat model.

A threat model is a domain (``feature``: the scaled log-Mel in [0, 1];
``waveform``: samples in [-1, 1], gradients through the front end), a norm
(``linf``, ``l2``, or ``snr`` in dB of the perturbation against the clean
signal, waveforms only) and a budget ``eps``. Every attack receives them at
construction; the harness measures every batch an attack returns and fails the
cell when any example leaves the budget (:mod:`serbench.attacks.budget`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from serbench.errors import SerbenchError

DOMAINS = ("feature", "waveform")
NORMS = ("linf", "l2", "snr")
DOMAIN_BOUNDS = {"feature": (0.0, 1.0), "waveform": (-1.0, 1.0)}


@dataclass(frozen=True)
class ThreatModel:
    domain: str = "feature"
    norm: str = "linf"
    eps: float = 0.0

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise SerbenchError(f"threat model: unknown domain {self.domain!r}; use {' or '.join(DOMAINS)}")
        if self.norm not in NORMS:
            raise SerbenchError(f"threat model: unknown norm {self.norm!r}; use one of {', '.join(NORMS)}")
        if self.norm == "snr" and self.domain != "waveform":
            raise SerbenchError("threat model: an SNR budget applies to the waveform domain only")
        if self.norm != "snr" and not (self.eps >= 0):
            raise SerbenchError(f"threat model: eps must be >= 0, got {self.eps}")

    @property
    def bounds(self) -> tuple[float, float]:
        return DOMAIN_BOUNDS[self.domain]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Attack:
    """Base class: stores the threat model; subclasses implement :meth:`generate`.

    ``generate`` receives a model mapping the attacked domain to logits (for
    the waveform domain, the whole front end + model pipeline), in eval mode,
    and must return a tensor of ``x``'s shape and dtype, detached.
    """

    norms: tuple[str, ...] = ("linf",)
    domains: tuple[str, ...] = DOMAINS

    def __init__(self, eps: float = 0.0, norm: str = "linf", domain: str = "feature") -> None:
        self.threat = ThreatModel(domain=domain, norm=norm, eps=float(eps))
        name = type(self).__name__
        if norm not in self.norms:
            raise SerbenchError(f"attack {name} supports norms {', '.join(self.norms)}, not {norm!r}")
        if domain not in self.domains:
            raise SerbenchError(f"attack {name} supports domains {', '.join(self.domains)}, not {domain!r}")

    @property
    def eps(self) -> float:
        return self.threat.eps

    def generate(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.generate(model, x, y)


def input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Gradient of the summed cross-entropy w.r.t. ``x`` (per-example scale independent of batch size)."""
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        loss = nn.functional.cross_entropy(model(x), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    return grad
