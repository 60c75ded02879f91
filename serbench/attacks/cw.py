"""Carlini & Wagner (IEEE S&P 2017): minimal L2 perturbations by Adam on a tanh change of variables, and CW-Linf."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from serbench.attacks import params
from serbench.attacks import minimal
from serbench.attacks.base import Attack
from serbench.attacks.projection import project
from serbench.registry import register

BOUND_SHRINK = 1.0 - 1e-6  # keeps atanh finite for inputs on the bounds (log-floor frames are)
UPPER_LIMIT = 1e10  # the reference's "no c found yet" upper bound of the binary search


def margin_loss(logits: torch.Tensor, y: torch.Tensor, kappa: float) -> torch.Tensor:
    """C&W's f: ``max(z_y - max_{i != y} z_i, -kappa)`` per example (untargeted)."""
    z_y = logits.gather(1, y[:, None])[:, 0]
    other = logits.scatter(1, y[:, None], -math.inf).amax(dim=1)
    return (z_y - other).clamp_min(-kappa)


def _rows(flags: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return flags.view(-1, *([1] * (like.dim() - 1)))


@register(
    "attacks", "cw", version="1.0",
    summary="Carlini & Wagner minimal perturbation: L2 (tanh + Adam + binary search on c) or CW-Linf; "
            "returns it where it fits eps",
    paper="Carlini & Wagner, IEEE S&P 2017",
    tags=("native", "white-box", "l2", "linf", "snr", "minimal-perturbation", "iterative"),
)
class CW(Attack):
    r"""Carlini & Wagner: the smallest perturbation that flips the prediction, returned where it fits the budget.

    Paper: Carlini & Wagner, "Towards evaluating the robustness of neural
    networks", IEEE S&P 2017.

    Distance measure: L2 (``l2``; ``snr`` for waveforms, the same search, the
    budget an L2 ball of radius ``||x||_2 * 10^(-eps/20)``) or Linf (``linf``).

    L2: ``x' = low + (high - low) (tanh(w) + 1) / 2`` keeps every iterate inside
    the domain's bounds (the threat model's, e.g. a normalisation's box), and
    Adam (``lr``) minimises ``||x' - x||_2^2 + c * max(z_y - max_{i!=y} z_i, -kappa)``
    for ``steps`` iterations, stopping early, as the reference does, when the
    loss stops falling by 0.01 % over a tenth of the steps. A binary search on
    ``c`` per example (``binary_search_steps`` rounds from ``initial_const``;
    multiply by 10 until the first success, then bisect) keeps the smallest
    misclassified iterate of all rounds.

    Linf ("CW-Linf"): projected gradient descent on the same margin loss ``f``
    (sign steps of ``2.5 r / steps``, from the clean input), with a binary
    search on the radius ``r`` per example: start at the cell's ``eps``, double
    until a flip, then bisect (``binary_search_steps`` rounds, ``r`` at most the
    domain's width). This is the CW-Linf of Madry et al., RobustBench and
    torchattacks (PGD on C&W's loss) made minimal-norm by the radius search, not
    the paper's iterative tau method: that one reruns a full optimisation for
    every tau it shrinks, costs tens of times more per example, and its result
    depends on the tau schedule; the PGD form is the variant whose numbers the
    literature reports.

    As a harness attack the cell's ``eps`` is the budget: per utterance the
    smallest adversarial example found is returned when its size is within the
    budget, else the clean input, so the cell's robust UAR is the one at
    ``eps``. The sizes found (of any size) are in :attr:`last_report`
    (:mod:`serbench.attacks.minimal`): ``per_utterance.min_size`` in the
    norm's units, ``min_snr_db`` for waveforms under L2/SNR; :meth:`finish_report`
    adds the median size to flip and the curve of UAR against budget.
    Deterministic (no random start). Only utterances classified correctly are
    attacked; the batch is attacked whole (rows done are frozen).

    Arguments:
        eps (float): budget: L2 or Linf radius in the domain's units, or the
            minimum SNR in dB (norm ``snr``). (Default: 0.0)
        norm (str): ``l2``, ``linf`` or ``snr`` (waveform only). (Default: l2)
        domain (str): ``feature`` or ``waveform``. (Default: feature)
        steps (int): optimisation steps per binary-search round. (Default: 100)
        binary_search_steps (int): rounds of the search on ``c`` (L2) or the
            radius (Linf). (Default: 9)
        initial_const (float): first ``c`` (L2). (Default: 0.01)
        lr (float): Adam's learning rate on ``w`` (L2). (Default: 0.01)
        kappa (float): confidence: the margin the flip must reach. (Default: 0.0)

    Shape:
        ``x``: (B, ...) inside the domain's bounds; ``y``: (B,) class indices;
        output: like ``x``, detached. Runs on ``x``'s device, batched.

    Examples::
        >>> attack = serbench.get("attacks", "cw", eps=1.0, norm="l2", steps=100)
        >>> x_adv = attack(model, x, y)
        >>> serbench.attacks.minimal.summarize(attack.last_report)["median_to_flip"]
    """

    norms = ("l2", "linf", "snr")

    def __init__(self, eps: float = 0.0, norm: str = "l2", domain: str = "feature", steps: int = 100,
                 binary_search_steps: int = 9, initial_const: float = 0.01, lr: float = 0.01,
                 kappa: float = 0.0) -> None:
        super().__init__(eps=eps, norm=norm, domain=domain)
        self.steps = params.integer(self.name, "steps", steps)
        self.binary_search_steps = params.integer(self.name, "binary_search_steps", binary_search_steps)
        self.initial_const = params.number(self.name, "initial_const", initial_const, positive=True)
        self.lr = params.number(self.name, "lr", lr, positive=True)
        self.kappa = params.number(self.name, "kappa", kappa, positive=False)
        self.last_report: dict[str, Any] | None = None

    finish_report = staticmethod(minimal.with_summary)

    def generate(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = x.detach()
        self.last_report = None
        if self.zero_budget or len(x) == 0:
            return x.clone()
        y = y.to(x.device)
        clean_wrong = minimal.misclassified(model, x, y)
        search = self._linf if self.threat.norm == "linf" else self._l2
        candidate = search(model, x, y, ~clean_wrong)
        out, self.last_report = minimal.select(self.threat, self.radius(x), model, x, y, clean_wrong, candidate)
        return out

    def _l2(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, todo: torch.Tensor) -> torch.Tensor:
        """Smallest misclassified iterate per row over every round of the search on c (x where none)."""
        low, high = self.threat.bounds
        half = (high - low) / 2.0
        w0 = torch.atanh(((x - low) / half - 1.0).clamp(-1, 1) * BOUND_SHRINK)
        n = len(x)
        c = torch.full((n,), self.initial_const, dtype=torch.float64, device=x.device)
        lower = torch.zeros_like(c)
        upper = torch.full_like(c, UPPER_LIMIT)
        best_l2 = torch.full((n,), math.inf, dtype=torch.float64, device=x.device)
        best = x.clone()
        check_every = max(1, self.steps // 10)
        for _ in range(self.binary_search_steps):
            w = w0.clone().requires_grad_(True)
            optimizer = torch.optim.Adam([w], lr=self.lr)
            succeeded = torch.zeros(n, dtype=torch.bool, device=x.device)
            c_x = c.to(x.dtype)
            previous = math.inf
            for k in range(self.steps):
                with torch.enable_grad():
                    x_adv = low + half * (torch.tanh(w) + 1.0)
                    logits = model(x_adv).float()
                    l2sq = (x_adv - x).flatten(1).pow(2).sum(1)
                    f = margin_loss(logits, y, self.kappa)
                    loss_rows = (l2sq + c_x * f) * todo
                    loss = loss_rows.sum()
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                with torch.no_grad():  # the iterate just scored: is it adversarial with margin kappa, and smaller?
                    z = logits.scatter_add(1, y[:, None], torch.full_like(logits[:, :1], -self.kappa))
                    wrong = (z.argmax(1) != y) if self.kappa > 0 else (logits.argmax(1) != y)
                    wrong &= todo
                    l2 = (x_adv.detach() - x).flatten(1).double().norm(dim=1)
                    smaller = wrong & (l2 < best_l2)
                    best_l2 = torch.where(smaller, l2, best_l2)
                    best = torch.where(_rows(smaller, x), x_adv.detach(), best)
                    succeeded |= wrong
                optimizer.step()
                if (k + 1) % check_every == 0:  # the reference's early abort: no progress over a tenth of the steps
                    value = float(loss.detach())
                    if value > previous * 0.9999:
                        break
                    previous = value
            # the reference's update of c: bisect after a success, else x10 until the first success
            upper = torch.where(succeeded, torch.minimum(upper, c), upper)
            lower = torch.where(succeeded, lower, torch.maximum(lower, c))
            found_upper = upper < UPPER_LIMIT
            c = torch.where(found_upper, (lower + upper) / 2, c * 10)
        return best.detach()

    def _linf(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, todo: torch.Tensor) -> torch.Tensor:
        """Smallest-radius misclassified PGD-on-f iterate per row over the search on the radius (x where none)."""
        low, high = self.threat.bounds
        width = high - low
        n = len(x)
        r = torch.full((n,), min(self.eps, width), dtype=torch.float64, device=x.device)
        lower = torch.zeros_like(r)
        upper = torch.full_like(r, math.inf)
        best_size = torch.full((n,), math.inf, dtype=torch.float64, device=x.device)
        best = x.clone()
        for _ in range(self.binary_search_steps):
            alpha = _rows(2.5 * r / self.steps, x).to(x.dtype)
            x_adv = x.clone()
            succeeded = torch.zeros(n, dtype=torch.bool, device=x.device)
            for k in range(self.steps + 1):  # scores iterate k (k = 0: the clean input), then steps from it
                x_adv = x_adv.detach().requires_grad_(k < self.steps)
                with torch.enable_grad() if k < self.steps else torch.no_grad():
                    logits = model(x_adv).float()
                    if k < self.steps:
                        loss = (margin_loss(logits, y, self.kappa) * todo).sum()
                        (grad,) = torch.autograd.grad(loss, x_adv)
                with torch.no_grad():
                    wrong = (logits.argmax(1) != y) & todo
                    size = (x_adv.detach() - x).flatten(1).double().abs().amax(dim=1)
                    smaller = wrong & (size < best_size)
                    best_size = torch.where(smaller, size, best_size)
                    best = torch.where(_rows(smaller, x), x_adv.detach(), best)
                    succeeded |= wrong
                if k == self.steps or bool((succeeded | ~todo).all()):
                    break
                x_adv = project("linf", x, x_adv.detach() - alpha * grad.sign(), r, (low, high))
            upper = torch.where(succeeded, torch.minimum(upper, r), upper)
            lower = torch.where(succeeded, lower, torch.maximum(lower, r))
            r = torch.where(torch.isfinite(upper), (lower + upper) / 2, (2 * r).clamp_max(width))
        return best.detach()
