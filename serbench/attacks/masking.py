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

import numpy as np
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
def nondeterministic_forward(model: nn.Module, x: torch.Tensor, atol: float = 0.0, passes: int = 5) -> str | None:
    """Flag a model whose logits differ between identical forward passes (as AutoAttack's ``check_randomized``,
    which compares 5).

    A randomised forward pass (dropout left on, random input transforms)
    makes gradients noisy and single-run robustness optimistic; such a model
    needs an expectation-over-transformation attack. ``model`` is used in the
    mode it is in (the engine passes it in eval mode). Several passes catch a
    transform that only sometimes changes the output.
    """
    a = model(x).float()
    diff = max((float((model(x).float() - a).abs().max()) for _ in range(passes - 1)), default=0.0) \
        if a.numel() else 0.0
    if diff > atol:
        return (f"gradient masking? the forward pass is not deterministic (logits differ by up to {diff:.3g} "
                "between two identical calls); use an expectation-over-transformation attack")
    return None


@torch.no_grad()
def probability_output(model: nn.Module, x: torch.Tensor, atol: float = 1e-5) -> str | None:
    """Flag a model whose outputs look like probabilities (in [0, 1], rows summing to 1), not logits.

    As AutoAttack's ``check_range_output``: the attacks' cross-entropy and
    margin losses expect logits; on softmax outputs the cross-entropy saturates
    and its gradient nearly vanishes, so attacks look weaker than they are.
    """
    out = model(x).float()
    if out.numel() == 0:
        return None
    if float(out.max()) < 1 + atol and float(out.min()) > -atol and bool(((out.sum(-1) - 1).abs() < atol).all()):
        return ("gradient masking? the model's outputs are in [0, 1] and sum to 1 per utterance: it returns "
                "probabilities, not logits; return the logits (before softmax) so the attacks' losses work")
    return None


def unbounded_box_eps(bounds: tuple[float, float]) -> float:
    """The Linf radius that reaches every input of the box ``bounds``: an attack with no budget but the box."""
    low, high = bounds
    return float(high - low)


def unbounded_attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, bounds: tuple[float, float],
                     domain: str = "feature", steps: int = 20, threshold: float = 0.1) -> str | None:
    """Flag a model that a gradient attack with an unbounded budget cannot bring near 0 % accuracy.

    Carlini et al. (2019): with no budget but the input box, any working
    gradient attack flips (nearly) every prediction, so accuracy above
    ``threshold`` on the utterances classified correctly at first means the
    gradients lead nowhere. Runs PGD (Linf, radius the box's width, ``steps``
    steps, no random start: a random point of the whole box would flip
    predictions without any gradient) on ``x``; cost ``steps`` forward and
    backward passes of the batch.
    """
    from serbench.attacks.base import ThreatModel
    from serbench.attacks.pgd import PGD

    with torch.no_grad():
        correct = model(x).argmax(1) == y
    if not bool(correct.any()):
        return None
    xs, ys = x[correct], y[correct]
    eps = unbounded_box_eps(bounds)
    attack = PGD(eps=eps, norm="linf", domain=domain, steps=steps, random_start=False)
    attack.threat = ThreatModel(domain=domain, norm="linf", eps=eps, box=tuple(bounds))
    adv = attack.generate(model, xs, ys)
    with torch.no_grad():
        acc = float((model(adv).argmax(1) == ys).double().mean())
    if acc > threshold:
        return (f"gradient masking? an unbounded attack (PGD, {steps} steps, Linf radius {eps:g}: the whole input "
                f"box) leaves {acc:.1%} of {len(ys)} correctly classified utterances correct, above {threshold:.0%}; "
                "with no budget a working gradient attack reaches about 0 %")
    return None


def black_box_stronger(black_correct: Sequence[bool], white_correct: dict[str, Sequence[bool]], eps: float,
                       black: str = "square", tolerance: float = 0.01, min_count: int = 2) -> str | None:
    """Flag a black-box attack that flips utterances every white-box attack at the same budget left correct.

    As AutoAttack's ``check_square_sr``: a score-based attack uses no
    gradient, so where it beats gradient attacks with the same budget their
    gradients are masked. Per utterance (``*_correct``: still classified
    correctly under the attack, one entry per utterance, same order): flags
    when at least ``min_count`` and more than ``tolerance`` of the utterances
    are flipped by ``black`` only, or when ``black``'s accuracy is more than
    ``tolerance`` below the strongest white-box attack's.
    """
    if not white_correct:
        return None
    b = np.asarray(black_correct, dtype=bool)
    whites = {name: np.asarray(c, dtype=bool) for name, c in white_correct.items()}
    for name, c in whites.items():
        if c.shape != b.shape:
            raise ValueError(f"{black}: {b.size} utterances but white-box {name!r} has {c.size}")
    n = b.size
    if n == 0:
        return None
    only = int((~b & np.logical_and.reduce(list(whites.values()))).sum())
    black_acc = float(b.mean())
    strongest, white_acc = min(((name, float(c.mean())) for name, c in whites.items()), key=lambda t: t[1])
    if (only >= min_count and only > tolerance * n) or black_acc < white_acc - tolerance:
        return (f"gradient masking? black-box {black} at eps {eps:g} flips {only} of {n} utterances that every "
                f"white-box attack ({', '.join(sorted(whites))}) left correct (accuracy {black_acc:.4f}, strongest "
                f"white-box {strongest} {white_acc:.4f}); the gradient attacks are likely misled")
    return None
