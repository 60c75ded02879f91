"""Gradient-masking flags: cheap sanity checks that a robustness number is not an artefact.

After the checks AutoAttack runs before trusting an evaluation (Croce & Hein,
ICML 2020, ``autoattack/checks.py``) and the checklist of Carlini et al.,
"On evaluating adversarial robustness" (2019). Each function takes what the
evaluation engine has already measured and returns a one-line warning, or
None when the check passes. None of them changes a result; they are attached
to the result record so a reader knows when a robustness figure is suspect.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import nn


def zero_gradients(grad: torch.Tensor, max_fraction: float = 0.0) -> str | None:
    """Flag when more than ``max_fraction`` of the examples have an all-zero input gradient.

    ``grad``: (B, ...) input gradients of the loss (e.g. from
    :func:`serbench.attacks.input_gradient`). A gradient-based attack cannot
    move such examples, so their "robustness" says nothing. AutoAttack warns
    on any (``max_fraction`` 0).
    """
    if grad.shape[0] == 0:
        return None
    zero = grad.detach().flatten(1).abs().amax(dim=1) == 0
    frac = float(zero.double().mean())
    if frac > max_fraction:
        return (f"gradient masking? {int(zero.sum())} of {grad.shape[0]} examples ({frac:.1%}) have an all-zero "
                "input gradient; gradient-based attacks cannot move them")
    return None


def iterative_weaker_than_single_step(iterative_accuracy: float, single_step_accuracy: float, eps: float,
                                      iterative: str = "iterative attack", tolerance: float = 0.0) -> str | None:
    """Flag when an iterative attack leaves a higher accuracy than FGSM at the same ``eps``.

    Many small steps can always reproduce one big one, so an iterative attack
    that does worse points at a masked or noisy loss surface (or a too small
    step size). Accuracies are under attack (lower = stronger attack);
    ``tolerance`` absorbs sampling noise.
    """
    if iterative_accuracy > single_step_accuracy + tolerance:
        return (f"gradient masking? {iterative} leaves accuracy {iterative_accuracy:.4f} at eps {eps:g}, "
                f"above FGSM's {single_step_accuracy:.4f}: the iterative attack should be at least as strong")
    return None


def success_not_rising(eps: Sequence[float], success_rates: Sequence[float], attack: str = "attack",
                       tolerance: float = 0.0, norm: str = "linf") -> str | None:
    """Flag when an attack's success rate falls as the budget grows, or does not rise at all across it.

    A larger budget contains every smaller one, so success must not drop;
    staying flat below 100 % from the smallest to the largest budget suggests
    the gradients carry no information. NaN rates (no clean-correct
    utterance) are ignored. For ``norm="snr"`` eps is a minimum SNR in dB: a
    *higher* eps is a *smaller* budget, so the series is ordered by decreasing dB.
    """
    if len(eps) != len(success_rates):
        raise ValueError(f"{len(eps)} eps values but {len(success_rates)} success rates")
    snr = norm == "snr"
    # (budget order, eps, rate): ascending budget means descending dB for an SNR budget
    pts = sorted(((-float(e) if snr else float(e)), float(e), float(s))
                 for e, s in zip(eps, success_rates) if not math.isnan(s))
    pairs = [(e, s) for _, e, s in pts]
    if len(pairs) < 2 or pairs[0][0] == pairs[-1][0]:
        return None
    unit = (lambda e: f"SNR {e:g} dB") if snr else (lambda e: f"eps {e:g}")  # noqa: E731
    for (e0, s0), (e1, s1) in itertools.pairwise(pairs):
        if s1 < s0 - tolerance:
            return (f"gradient masking? {attack} success falls from {s0:.4f} at {unit(e0)} "
                    f"to {s1:.4f} at {unit(e1)}; a larger budget should never succeed less")
    (e_lo, s_lo), (e_hi, s_hi) = pairs[0], pairs[-1]
    if s_hi <= s_lo + tolerance and s_hi < 1.0:
        return (f"gradient masking? {attack} success does not rise with the budget ({s_lo:.4f} at {unit(e_lo)}, "
                f"{s_hi:.4f} at {unit(e_hi)})")
    return None


@torch.no_grad()
def nondeterministic_forward(model: nn.Module, x: torch.Tensor, atol: float = 0.0) -> str | None:
    """Flag a model whose logits differ between two identical forward passes (as AutoAttack's check).

    A randomised forward pass (dropout left on, random input transforms)
    makes gradients noisy and single-run robustness optimistic; such a model
    needs an expectation-over-transformation attack. ``model`` is used in the
    mode it is in (the engine passes it in eval mode).
    """
    a, b = model(x).float(), model(x).float()
    diff = float((a - b).abs().max()) if a.numel() else 0.0
    if diff > atol:
        return (f"gradient masking? the forward pass is not deterministic (logits differ by up to {diff:.3g} "
                "between two identical calls); use an expectation-over-transformation attack")
    return None
