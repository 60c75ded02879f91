"""torchattacks assumes inputs in [0, 1] and clamps to that range without a word; make that true and prove it.

serbench's domains are [0, 1] (scaled features) and [-1, 1] (waveforms). The
adapter hands torchattacks ``u = (x - low) / (high - low)``, always in
[0, 1], and the model it attacks is :class:`UnitBoxModel`, which maps ``u``
back to the domain and *checks every input it receives*: a value outside
[0, 1] raises instead of being silently clamped. The map is affine, so
torchattacks' clamp to [0, 1] is exactly serbench's clip to the domain, and
Linf and L2 distances scale by ``1 / (high - low)``: eps and step sizes are
converted exactly. Feature domain: the map is the identity (no arithmetic).
"""

from __future__ import annotations

import math

import torch
from torch import nn

import serbench


class UnitBoxModel(nn.Module):
    """``u`` in [0, 1] -> the clean batch's domain -> logits; refuses and records what torchattacks feeds it.

    Built per batch around the clean ``x0``: ``u`` maps to
    ``x0 + (high - low) * (u - u0)`` so the model sees exactly ``x0`` at
    ``u0`` (no round-trip error). Non-4-D batches (waveforms) are shown to
    torchattacks as (B, 1, 1, N) since some of its attacks reshape per-example
    norms to (B, 1, 1, 1).
    """

    def __init__(self, model: nn.Module, bounds: tuple[float, float], x0: torch.Tensor) -> None:
        super().__init__()
        self.model = model
        self.low, self.high = float(bounds[0]), float(bounds[1])
        self.x0 = x0.detach()
        self.identity = (self.low, self.high) == (0.0, 1.0) and x0.dim() == 4
        self.u0 = self.x0 if self.identity else ((self.x0 - self.low) / self.scale).reshape(len(x0), 1, 1, -1)
        self.seen_min, self.seen_max, self.calls = math.inf, -math.inf, 0

    @property
    def scale(self) -> float:
        return self.high - self.low

    def from_unit(self, u: torch.Tensor) -> torch.Tensor:
        """``u`` in the domain. A batch of other rows than ``x0``'s (an attack that goes on with the examples it
        has not fooled yet, as APGD and AutoAttack do) maps through ``low + (high - low) * u``: no clean
        anchor for rows it cannot identify, so exact to float rounding only."""
        if self.identity:
            return u
        if len(u) != len(self.x0):
            return (self.low + u * self.scale).reshape(len(u), *self.x0.shape[1:])
        return self.x0 + ((u - self.u0) * self.scale).reshape(self.x0.shape)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        lo, hi = (float(v) for v in torch.aminmax(u.detach()))
        self.seen_min, self.seen_max, self.calls = min(self.seen_min, lo), max(self.seen_max, hi), self.calls + 1
        if not (0.0 <= lo and hi <= 1.0):
            raise serbench.SerbenchError(
                f"torchattacks fed the model values in [{lo:.6g}, {hi:.6g}], outside [0, 1]; "
                "this torchattacks attack does not keep its iterates in range: use a native or art.* attack"
            )
        return self.model(self.from_unit(u))
