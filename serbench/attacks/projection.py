"""Budget geometry shared by every attack: per-example radii, gradient steps, projection.

A threat model's budget is a ball around each clean example ``x``: Linf or L2
of radius ``eps``, or, for waveforms, the L2 ball that keeps the
signal-to-perturbation ratio at or above ``eps`` dB, i.e.
``||delta||_2 <= ||x||_2 * 10 ** (-eps / 20)`` (a different radius per
example). :func:`project` maps any candidate back into that ball and the
domain's bounds, and guarantees the result passes
:func:`serbench.attacks.budget.check_budget` despite float32 rounding.
"""

from __future__ import annotations

import math

import torch

# After float32 rounding an L2 projection can land a hair outside the ball; shrink by this much more.
_SHRINK = 1.0 - 1e-6


def flat_norm(t: torch.Tensor) -> torch.Tensor:
    """Per-example L2 norm in float64 (float32 sums over ~1e5 samples lose the last digits we check)."""
    return t.detach().flatten(1).double().norm(dim=1)


def radius(norm: str, eps: float, x: torch.Tensor) -> torch.Tensor:
    """Per-example budget radius (float64, shape ``(B,)``) in the units of ``norm`` (SNR: an L2 radius)."""
    if norm == "snr":
        if math.isinf(eps) and eps > 0:
            return torch.zeros(x.shape[0], dtype=torch.float64, device=x.device)
        return flat_norm(x) * 10.0 ** (-eps / 20.0)
    return torch.full((x.shape[0],), float(eps), dtype=torch.float64, device=x.device)


def _per_example(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``(B,)`` -> ``(B, 1, ..., 1)`` in ``like``'s dtype, broadcastable against ``like``."""
    return v.to(like.dtype).view(-1, *([1] * (like.dim() - 1)))


def step(norm: str, grad: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    """The ascent step of size ``alpha`` (per example, or one float for all): sign(g) for Linf, g / ||g||_2 else.

    Examples whose gradient is all zero do not move (no direction to take).
    May overwrite ``grad``.
    """
    if norm == "linf":
        if isinstance(alpha, float):  # fast path: two in-place passes, as cheap as torchattacks' step
            return grad.sign_().mul_(alpha)
        return _per_example(alpha, grad) * grad.sign()
    if isinstance(alpha, float):
        alpha = torch.full((grad.shape[0],), alpha, dtype=torch.float64, device=grad.device)
    g_norm = flat_norm(grad)
    scale = torch.where(g_norm > 0, alpha / g_norm.clamp_min(1e-300), torch.zeros_like(g_norm))
    return _per_example(scale, grad) * grad


def random_start(norm: str, x: torch.Tensor, r: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """A random point of the ball around ``x`` (before range clipping), as torchattacks draws it.

    Linf: uniform in [-r, r] per coordinate. L2/SNR: a Gaussian direction
    scaled to a radius uniform in [0, r].
    """
    if norm == "linf":
        u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return x + (2 * u - 1) * _per_example(r, x)
    d = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    length = torch.rand(x.shape[0], generator=generator, device=x.device, dtype=torch.float64) * r
    return x + d * _per_example(length / flat_norm(d).clamp_min(1e-300), x)


def project(norm: str, x: torch.Tensor, x_adv: torch.Tensor, r: torch.Tensor | float,
            bounds: tuple[float, float]) -> torch.Tensor:
    """Nearest point of the budget ball around ``x`` (Linf: exact; L2: radial), then clipped to ``bounds``.

    Clipping after projecting never leaves the ball (``x`` is inside the
    bounds, so clipping only moves coordinates towards ``x``). For L2/SNR the
    measured norm of the returned perturbation, in float64, is at most ``r``.
    """
    low, high = bounds
    delta = x_adv.detach() - x
    if norm == "linf":
        if isinstance(r, float):  # one radius for the batch: in-place scalar clamps
            return (x + delta.clamp_(-r, r)).clamp_(low, high)
        rr = _per_example(r, x)
        delta = torch.maximum(torch.minimum(delta, rr), -rr)
        return (x + delta).clamp(low, high)
    if isinstance(r, float):
        r = torch.full((x.shape[0],), r, dtype=torch.float64, device=x.device)
    out = (x + delta * _per_example(_l2_factor(flat_norm(delta), r), x)).clamp(low, high)
    for _ in range(4):  # float32 rounding of x + delta: re-measure and shrink the few that overshoot
        actual = flat_norm(out - x)
        over = actual > r
        if not bool(over.any()):
            return out
        f = torch.where(over, r / actual.clamp_min(1e-300) * _SHRINK, torch.ones_like(actual))
        out = (x + (out - x) * _per_example(f, x)).clamp(low, high)
    over = flat_norm(out - x) > r  # pathological (radius below float resolution): give up the perturbation
    return torch.where(_per_example(over, x).bool(), x, out)


def _l2_factor(norm_delta: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    return torch.where(norm_delta > r, r / norm_delta.clamp_min(1e-300), torch.ones_like(norm_delta))
