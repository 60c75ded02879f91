"""APGD (Croce & Hein, ICML 2020): PGD with momentum and a step size that halves when progress stalls."""

from __future__ import annotations

import math

import torch
from torch import nn

from serbench.attacks.base import Attack
from serbench.attacks.projection import flat_norm, project, step
from serbench.attacks.subsets import model_rows
from serbench.errors import SerbenchError
from serbench.registry import register

LOSSES = ("ce", "dlr")
RHO = 0.75  # halve the step when fewer than this share of the steps since the last checkpoint raised the loss
MOMENTUM = 0.75  # weight of the new step against the previous move (the paper's alpha)
# Fewest classes each loss needs: DLR's denominator is z_pi1 - z_pi3 (untargeted) or z_pi1 - (z_pi3 + z_pi4) / 2
# (targeted); a targeted attack needs a class other than the true one.
MIN_CLASSES = {("ce", False): 2, ("ce", True): 2, ("dlr", False): 3, ("dlr", True): 4}


def checkpoints(steps: int) -> list[int]:
    """Iterations ``w_j = ceil(p_j * steps)`` after which the step size is reviewed, 0 excluded.

    ``p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)`` while ``p <= 1`` (the paper's
    schedule), computed in hundredths so that 0.22 + 0.19 is exactly 0.41 and ceil gives 41, not 42.
    """
    p = [0, 22]
    while (nxt := p[-1] + max(p[-1] - p[-2] - 3, 6)) <= 100:
        p.append(nxt)
    return sorted({-(-q * steps // 100) for q in p} - {0})


def ce_loss(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    """Per-example cross-entropy of the true class (to raise), or minus that of the target (targeted)."""
    if target is None:
        return nn.functional.cross_entropy(logits, y, reduction="none")
    return -nn.functional.cross_entropy(logits, target, reduction="none")


def dlr_loss(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    """Difference of logits ratio: ``-(z_y - max_{i!=y} z_i) / (z_pi1 - z_pi3)``, or targeted
    ``-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2)`` (``pi``: logits sorted in decreasing order).

    Shift- and scale-invariant in the logits, so a model cannot hide behind a rescaled output.
    """
    z, order = logits.sort(dim=1)
    z_y = logits.gather(1, y[:, None])[:, 0]
    if target is None:
        top_is_y = order[:, -1] == y
        other = torch.where(top_is_y, z[:, -2], z[:, -1])
        return -(z_y - other) / (z[:, -1] - z[:, -3] + 1e-12)
    z_t = logits.gather(1, target[:, None])[:, 0]
    return -(z_y - z_t) / (z[:, -1] - 0.5 * (z[:, -3] + z[:, -4]) + 1e-12)


@register(
    "attacks", "apgd", version="1.0",
    summary="Auto-PGD: CE or DLR loss, untargeted or targeted, Linf / L2 / SNR dB, 100 steps, adaptive step size",
    paper="Croce & Hein, ICML 2020",
    tags=("native", "white-box", "linf", "l2", "snr", "iterative", "parameter-free"),
)
class APGD(Attack):
    r"""Auto-PGD: momentum PGD whose step size halves at checkpoints where the loss stopped rising.

    Paper: Croce & Hein, "Reliable evaluation of adversarial robustness with an
    ensemble of diverse parameter-free attacks", ICML 2020 (Algorithm 1).

    Distance measure: Linf (sign steps), L2 (steps along g / ||g||_2), or SNR
    in dB for waveforms (an L2 ball of per-example radius
    ``||x||_2 * 10^(-eps/20)``), the same ball and bounds as ``pgd``
    (:mod:`serbench.attacks.projection`; for Linf one clamp to the interval
    ``[max(x - eps, low), min(x + eps, high)]``, the point ``project``
    returns). Starts at a random point of the
    ball's surface (Linf: uniform noise scaled to Linf = r; L2: a Gaussian
    direction at radius r), with step 2r. Each step ``z = P(x_k + eta * step(g))``
    is mixed with the previous move, ``x_{k+1} = P(x_k + 0.75 (z - x_k) + 0.25
    (x_k - x_{k-1}))``. At checkpoints ``w_j = ceil(p_j * steps)`` (``p_0 = 0,
    p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)``) an example's
    step halves, and it restarts from its best point, when fewer than 75 % of
    its steps since the last checkpoint raised the loss, or when neither its
    step nor its best loss changed over the last interval. Only utterances the
    model classifies correctly are attacked; restarts and target classes run
    on those not fooled yet. Returns, per example, the last misclassified
    iterate found, else the iterate of highest loss (the paper's x_max; over
    restarts, the highest). Deterministic given ``seed``.

    Losses: ``ce`` (cross-entropy; targeted: minus the cross-entropy of the
    target) and ``dlr`` (difference of logits ratio, invariant to shifting and
    scaling the logits; targeted as in the paper). Untargeted DLR needs at
    least 3 classes, targeted DLR at least 4 (its denominator uses the third
    and fourth largest logits); fewer raise a one-line error. Targeted runs
    aim at the 2nd, 3rd, ... most likely classes of the clean input, up to
    ``n_target_classes`` (at most the number of classes - 1), each with
    ``n_restarts`` restarts; success is still any misclassification.

    Arguments:
        eps (float): budget: Linf or L2 radius in the domain's units, or the
            minimum SNR in dB (norm ``snr``). (Default: 0.0)
        norm (str): ``linf``, ``l2`` or ``snr`` (waveform only). (Default: linf)
        domain (str): ``feature`` or ``waveform``. (Default: feature)
        steps (int): iterations per run (the paper's 100; one forward and
            backward pass each). (Default: 100)
        loss (str): ``ce`` or ``dlr``. (Default: ce)
        targeted (bool): aim at the most likely other classes (APGD-T).
            (Default: False)
        n_target_classes (int): target classes tried when targeted
            (AutoAttack's 9; clipped to the number of classes - 1). (Default: 9)
        n_restarts (int): random restarts per run. (Default: 1)
        seed (int): seeds the random starts; the same attack object on the
            same batches gives the same result. (Default: 0)

    Shape:
        ``x``: (B, ...) inside the domain's bounds; ``y``: (B,) class indices;
        output: like ``x``, detached. Runs on ``x``'s device, batched.

    Examples::
        >>> attack = serbench.get("attacks", "apgd", eps=0.02, loss="dlr", targeted=True)
        >>> x_adv = attack(model, x, y)
    """

    norms = ("linf", "l2", "snr")

    def __init__(self, eps: float = 0.0, norm: str = "linf", domain: str = "feature", steps: int = 100,
                 loss: str = "ce", targeted: bool = False, n_target_classes: int = 9, n_restarts: int = 1,
                 seed: int = 0) -> None:
        super().__init__(eps=eps, norm=norm, domain=domain)
        self.steps = self._count("steps", steps)
        self.n_target_classes = self._count("n_target_classes", n_target_classes)
        self.n_restarts = self._count("n_restarts", n_restarts)
        if loss not in LOSSES:
            raise SerbenchError(f"attack {self.name!r}: loss must be one of {', '.join(LOSSES)}, got {loss!r}")
        if not isinstance(targeted, bool):
            raise SerbenchError(f"attack {self.name!r}: targeted must be true or false, got {targeted!r}")
        self.loss, self.targeted, self.seed = loss, targeted, int(seed)
        self._generators: dict[str, torch.Generator] = {}

    def _count(self, what: str, value: object) -> int:
        if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                or int(value) != value or value < 1):
            raise SerbenchError(f"attack {self.name!r}: {what} must be a positive integer, got {value!r}")
        return int(value)

    def _generator(self, device: torch.device) -> torch.Generator:
        key = str(device)
        if key not in self._generators:
            self._generators[key] = torch.Generator(device=device).manual_seed(self.seed)
        return self._generators[key]

    def check_classes(self, n_classes: int) -> None:
        """Refuse a loss the model has too few classes for (DLR: 3, targeted DLR: 4)."""
        need = MIN_CLASSES[(self.loss, self.targeted)]
        if n_classes < need:
            kind = f"{'targeted ' if self.targeted else ''}{self.loss.upper()}"
            raise SerbenchError(f"attack {self.name!r}: the {kind} loss needs at least {need} classes, the model has "
                                f"{n_classes}; use loss: ce" + ("" if self.loss == "ce" else " or fewer classes"))

    def start(self, x: torch.Tensor, r: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The paper's random start on the ball's surface, before clipping to the bounds."""
        shape = (-1, *([1] * (x.dim() - 1)))
        if self.threat.norm == "linf":
            t = 2 * torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) - 1
            size = t.flatten(1).abs().amax(dim=1).clamp_min(1e-12)
        else:
            t = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            size = flat_norm(t).clamp_min(1e-12).to(x.dtype)
        return x + t * (r.to(x.dtype) / size).view(shape)

    def generate(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = x.detach()
        if self.zero_budget or len(x) == 0:
            return x.clone()
        y = y.to(x.device)
        with torch.no_grad():
            clean = model(x).float()
        self.check_classes(clean.shape[1])
        return self.attack_correct(model, x, y, clean)

    def attack_correct(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
        """Every run of the attack on the rows of ``x`` that ``clean`` (their logits) classifies correctly."""
        out = x.clone()
        robust = clean.argmax(1) == y
        best = torch.full((len(x),), -math.inf, device=x.device)
        ranked = clean.argsort(dim=1)  # ascending: column -c is the c-th most likely class
        n_targets = min(self.n_target_classes, clean.shape[1] - 1) if self.targeted else 1
        generator = self._generator(x.device)
        for c in range(2, n_targets + 2):
            for _ in range(self.n_restarts):
                index = robust.nonzero()[:, 0]
                if len(index) == 0:
                    return out
                target = ranked[index, -c] if self.targeted else None
                found, fooled, x_max, f_max = self.run(model_rows(model, index, len(x)), x[index], y[index],
                                                       target, generator)
                higher = ~fooled & (f_max > best[index])
                keep = _rows(fooled, x) | _rows(higher, x)
                out[index] = torch.where(keep, torch.where(_rows(fooled, x), found, x_max), out[index])
                best[index] = torch.where(higher, f_max, best[index])
                robust[index] = ~fooled
        return out

    def run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None,
            generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One APGD run: (last misclassified iterate, fooled (B,) bool, best iterate, its loss)."""
        norm, bounds = self.threat.norm, self.threat.bounds
        loss_fn = ce_loss if self.loss == "ce" else dlr_loss
        r = self.radius(x)
        eta = 2.0 * r  # per-example step size, float64
        if norm == "linf":  # ball and box are one interval per coordinate: projecting is one clamp to it
            low, high = bounds
            lo, hi = (x - self.eps).clamp_(min=low), (x + self.eps).clamp_(max=high)

            def ascend(v: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
                return torch.clamp(torch.addcmul(v, g.sign(), _rows(eta, x).to(x.dtype)), lo, hi)

            def proj(v: torch.Tensor) -> torch.Tensor:
                return torch.clamp(v, lo, hi)
        else:
            def ascend(v: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
                return project(norm, x, v + step(norm, g, eta), r, bounds)

            def proj(v: torch.Tensor) -> torch.Tensor:
                return project(norm, x, v, r, bounds)

        def evaluate(z: torch.Tensor, need_grad: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
            if not need_grad:
                with torch.no_grad():
                    logits = model(z).float()
                return logits, loss_fn(logits, y, target), None
            z = z.detach().requires_grad_(True)
            with torch.enable_grad():
                logits = model(z).float()
                loss = loss_fn(logits, y, target)
                (grad,) = torch.autograd.grad(loss.sum(), z)
            return logits.detach(), loss.detach(), grad

        x_adv = project(norm, x, self.start(x, r, generator), r, bounds)
        logits, loss, grad = evaluate(x_adv, True)
        fooled = logits.argmax(1) != y
        found, x_max, f_max, grad_max = x_adv.clone(), x_adv.clone(), loss.clone(), grad.clone()
        x_prev, f_prev = x_adv, loss
        marks, last_mark = set(checkpoints(self.steps)), 0
        raised = torch.zeros(len(x), device=x.device)
        f_max_mark = f_max.clone()
        halved_mark = torch.ones(len(x), dtype=torch.bool, device=x.device)  # as the reference: no halving by
        for k in range(self.steps):                                           # condition 2 at the first mark
            z = ascend(x_adv, grad)
            if k > 0:  # x_k + a (z - x_k) + (1 - a)(x_k - x_{k-1}) = lerp(2 x_k - x_{k-1}, z, a): 2 passes, not 6
                z = proj(torch.lerp(torch.lerp(x_prev, x_adv, 2.0), z, MOMENTUM))
            x_prev, x_adv = x_adv, z
            last = k == self.steps - 1
            logits, loss, new_grad = evaluate(x_adv, not last)
            wrong = logits.argmax(1) != y
            found = torch.where(_rows(wrong, x), x_adv, found)
            fooled |= wrong
            raised += (loss > f_prev).float()
            f_prev = loss
            better = loss > f_max
            x_max = torch.where(_rows(better, x), x_adv, x_max)
            f_max = torch.where(better, loss, f_max)
            if last:
                break
            grad = new_grad
            grad_max = torch.where(_rows(better, x), grad, grad_max)
            if k + 1 in marks:
                since = k + 1 - last_mark
                stalled = (~halved_mark) & (f_max <= f_max_mark)  # step and best loss both unchanged since
                halve = (raised < RHO * since) | stalled           # the last mark
                f_max_mark, halved_mark = f_max.clone(), halve
                eta = torch.where(halve, eta / 2, eta)
                x_adv = torch.where(_rows(halve, x), x_max, x_adv)
                grad = torch.where(_rows(halve, x), grad_max, grad)
                f_prev = torch.where(halve, f_max, f_prev)
                raised.zero_()
                last_mark = k + 1
        return found, fooled, x_max, f_max


def _rows(flags: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``(B,)`` flags shaped to broadcast over ``like`` ``(B, ...)``."""
    return flags.view(-1, *([1] * (like.dim() - 1)))
