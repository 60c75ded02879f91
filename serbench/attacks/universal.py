"""Universal adversarial perturbations: one perturbation per model (or per target class), learnt on training data.

Moosavi-Dezfooli et al. (CVPR 2017) showed that one input-agnostic perturbation fools most inputs of a
model; Shafahi et al. (AAAI 2020) craft it by stochastic gradient ascent on the mean loss of ``x + delta``
over the training set, projecting ``delta`` onto the budget after every step (SGD-UAP). That is what
:class:`Universal` does in :meth:`~Universal.fit`, on the training partition the harness hands it; every
evaluated utterance then gets the same ``delta`` in :meth:`~Universal.generate`, only cut to its length,
kept out of its padding, and projected to its own budget and the domain's bounds.

Keys: the perturbation depends on the model, its training data and the attack's parameters; the model and
the training data are the eval cell's train cell, the parameters (seed included) its attack identity, so
the cell's key already covers the crafting and no key changes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from serbench.attacks import params
from serbench.attacks.base import Attack
from serbench.attacks.padding import PaddingGate, _view
from serbench.attacks.projection import flat_norm, step
from serbench.errors import SerbenchError
from serbench.registry import register

# Rows per forward pass when the fooling rate on the training set is measured after crafting.
_SCORE_BATCH = 128


def fit_length(delta: torch.Tensor, length: int) -> torch.Tensor:
    """``delta`` cut (or zero-padded) along its last axis to ``length``: the crafted perturbation of an input
    of that many frames or samples (past the longest training input there is nothing crafted: zero)."""
    have = delta.shape[-1]
    if length <= have:
        return delta[..., :length]
    return nn.functional.pad(delta, (0, length - have))


@register(
    "attacks", "universal", version="1.0",
    summary="Universal perturbation (SGD-UAP): one delta per model, or per target class, crafted on training "
            "data; Linf / L2 / SNR dB",
    paper="Moosavi-Dezfooli et al., CVPR 2017; Shafahi et al., AAAI 2020",
    tags=("native", "white-box", "universal", "linf", "l2", "snr", "iterative", "needs-training-data"),
)
class Universal(Attack):
    r"""Universal adversarial perturbation: one ``delta`` for every utterance, learnt on training data.

    Papers: Moosavi-Dezfooli, Fawzi, Fawzi & Frossard, "Universal adversarial perturbations", CVPR 2017;
    Shafahi, Najibi, Xu, Dickerson, Davis & Goldstein, "Universal adversarial training", AAAI 2020 (the
    SGD formulation used here).

    :meth:`fit` (the harness calls it once with the fold's ``train`` partition, never the evaluated one)
    runs ``steps`` steps of projected stochastic gradient ascent: each draws ``batch_size`` training
    utterances and moves ``delta`` along sign(g) (Linf) or g / ||g||_2 (L2, SNR) of the summed
    cross-entropy of ``x + delta``, then projects ``delta`` onto the budget ball. With ``targeted``
    it descends the cross-entropy of a target class instead: one ``delta`` per class (each step gives
    every drawn utterance a random class other than its own), or only the one of ``target``.
    :meth:`generate` adds the crafted ``delta`` unchanged to every utterance it is given.

    Budgets (each example still passes the harness's per-utterance check):

    - Linf / L2 (both domains): ``delta`` lies in the eps ball; an input gets it cut to its length, zero
      on padding, clipped to the domain's bounds, all of which only shrink it.
    - SNR (waveforms): one ``delta`` cannot have every utterance's radius ``||x||_2 * 10^(-eps/20)``.
      It is crafted in the L2 ball of the radius of the *median* training utterance, and each utterance
      gets it scaled down (never up) to its own radius: at least as loud as the median, the full
      ``delta``; quieter, the same direction at eps dB exactly. Crafting applies the same scaling, so it
      optimises what is applied.

    Lengths and padding: ``delta`` is as long as the longest training input (frames or samples); a
    shorter input gets its first frames, a longer one zero past them. Padded positions (the masks the
    harness passes to :meth:`fit`, the padding gate in :meth:`generate`) are never perturbed.

    Report (:attr:`last_report`, recorded by the harness as ``attack_report``): ``info`` holds the
    number of training utterances, steps, the crafted perturbation's Linf and L2 norms (one per target
    class when targeted), the ball it was crafted in, and the fooling rate on the training set (share
    whose prediction ``x + delta`` changes; targeted: share of those not of the target sent to it);
    ``per_utterance.target`` the class each utterance was pushed to (targeted). The harness adds the
    test fooling rates (:func:`add_test_rates`).

    Arguments:
        eps (float): Linf or L2 radius, or minimum SNR in dB (norm ``snr``). (Default: 0.0)
        norm (str): ``linf``, ``l2`` or ``snr`` (waveform only). (Default: linf)
        domain (str): ``feature`` or ``waveform``. (Default: feature)
        steps (int): crafting steps (minibatches). (Default: 100)
        batch_size (int): training utterances per step. (Default: 32)
        alpha (float | None): step size; Linf/L2: absolute, default ``2.5 * eps / steps`` (pgd's rule);
            SNR: a fraction of the crafting radius, default ``2.5 / steps``. (Default: None)
        targeted (bool): push towards a class instead of away from the true one. (Default: False)
        target (int | None): with ``targeted``, the one class index to push every utterance to; None:
            one ``delta`` per class, and each utterance of class ``y`` gets the one of ``(y + 1) mod K``.
            (Default: None)
        seed (int): seeds the minibatches and random targets (drawn on the CPU: the same on any device).
            (Default: 0)

    Examples::
        >>> attack = serbench.get("attacks", "universal", eps=0.05, steps=200)
        >>> attack.fit(model, x_train, y_train)
        >>> x_adv = attack(model, x_test, y_test)
    """

    norms = ("linf", "l2", "snr")
    needs_training_data = True
    alpha_rule = 2.5  # alpha * steps / eps, as pgd's

    def __init__(self, eps: float = 0.0, norm: str = "linf", domain: str = "feature", steps: int = 100,
                 batch_size: int = 32, alpha: float | None = None, targeted: bool = False,
                 target: int | None = None, loss_clip: float | None = None, seed: int = 0) -> None:
        super().__init__(eps=eps, norm=norm, domain=domain)
        self.steps = params.integer(self.name, "steps", steps)
        self.batch_size = params.integer(self.name, "batch_size", batch_size)
        if alpha is not None and (isinstance(alpha, bool) or not isinstance(alpha, (int, float))
                                  or not math.isfinite(alpha) or not alpha > 0):
            raise SerbenchError(f"attack {self.name!r}: alpha (step size) must be a finite number > 0, got {alpha!r}")
        if target is not None:
            if not targeted:
                raise SerbenchError(f"attack {self.name!r}: target {target!r} needs targeted: true")
            if isinstance(target, bool) or not isinstance(target, int) or target < 0:
                raise SerbenchError(f"attack {self.name!r}: target must be a class index >= 0, got {target!r}")
        if loss_clip is not None and (isinstance(loss_clip, bool) or not isinstance(loss_clip, (int, float))
                                      or not math.isfinite(loss_clip) or not loss_clip > 0):
            raise SerbenchError(f"attack {self.name!r}: loss_clip must be a finite number > 0 or null, got "
                                f"{loss_clip!r}")
        self.loss_clip = None if loss_clip is None else float(loss_clip)
        self.alpha = None if alpha is None else float(alpha)
        self.targeted, self.target, self.seed = bool(targeted), target, int(seed)
        self.delta: torch.Tensor | None = None  # (one per target, *input shape without batch); set by fit
        self.targets: list[int] = []
        self.classes = 0
        self.radius_crafted = 0.0  # the L2 or Linf radius delta is crafted in (set by fit)
        self.info: dict[str, Any] = {}
        self.last_report: dict[str, Any] | None = None

    # -- crafting -----------------------------------------------------------------
    def fit(self, model: nn.Module, x: torch.Tensor | Sequence[torch.Tensor], y: torch.Tensor | Sequence[torch.Tensor],
            mask: torch.Tensor | Sequence[torch.Tensor | None] | None = None) -> None:
        """Craft the perturbation(s) on training data: ``x`` (B, ..., T) in the attacked domain with labels ``y``
        and optional active-position masks (B, T), or lists of them, one per length group."""
        groups = self._groups(x, y, mask)
        n = sum(len(g[1]) for g in groups)
        if n == 0:
            raise SerbenchError(f"attack {self.name!r}: no training utterances to craft the perturbation on")
        for xg, _, _ in groups:
            self.check_input(xg)
        inner = {tuple(xg.shape[1:-1]) for xg, _, _ in groups}
        if len(inner) != 1:
            raise SerbenchError(f"attack {self.name!r}: training inputs differ in shape ({sorted(inner)}) "
                                "beyond their length; one perturbation needs one input shape")
        ref = groups[0][0]
        with torch.no_grad():
            self.classes = int(model(ref[:1]).shape[1])
        if self.targeted:
            if self.target is not None and self.target >= self.classes:
                raise SerbenchError(f"attack {self.name!r}: target {self.target} is not a class of a model with "
                                    f"{self.classes} classes; use 0..{self.classes - 1}")
            if self.classes < 2:
                raise SerbenchError(f"attack {self.name!r}: a targeted perturbation needs at least 2 classes")
            self.targets = [self.target] if self.target is not None else list(range(self.classes))
        else:
            self.targets = []
        length = max(xg.shape[-1] for xg, _, _ in groups)
        delta = torch.zeros((max(1, len(self.targets)), *inner.pop(), length), dtype=ref.dtype, device=ref.device)
        # Rows as (group, row) pairs in one pool; a fixed target leaves out its own class.
        pool = [(gi, r) for gi, (_, yg, _) in enumerate(groups) for r in range(len(yg))]
        labels = torch.cat([yg.cpu() for _, yg, _ in groups])
        if self.target is not None:
            pool = [p for p, label in zip(pool, labels.tolist()) if label != self.target]
            if not pool:
                raise SerbenchError(f"attack {self.name!r}: every training utterance is of target class "
                                    f"{self.target}; nothing to push towards it")
        self.radius_crafted = self._crafting_radius(groups)
        generator = torch.Generator().manual_seed(self.seed)
        if not self.zero_budget:
            size = self.step_size()
            for _ in range(self.steps):
                chosen = torch.randperm(len(pool), generator=generator)[: self.batch_size].tolist()
                grad = self._gradient(model, groups, delta, [pool[i] for i in chosen], generator)
                delta = self._project_delta(delta + step(self._step_norm, grad, float(size)))
        self.delta = delta.detach()
        self.info = self._describe(model, groups, n)

    def step_size(self) -> float:
        """Linf/L2: ``alpha`` or ``2.5 * eps / steps``; SNR: that fraction (``alpha`` or ``2.5 / steps``) of the
        crafting radius."""
        if self.threat.norm == "snr":
            return (self.alpha if self.alpha is not None else self.alpha_rule / self.steps) * self.radius_crafted
        return self.alpha if self.alpha is not None else self.alpha_rule * self.eps / self.steps

    @property
    def _step_norm(self) -> str:
        return "linf" if self.threat.norm == "linf" else "l2"

    def _groups(self, x, y, mask) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]:
        xs = [x] if isinstance(x, torch.Tensor) else list(x)
        ys = [y] if isinstance(y, torch.Tensor) else list(y)
        ms = [mask] * len(xs) if mask is None or isinstance(mask, torch.Tensor) else list(mask)
        if not (len(xs) == len(ys) == len(ms)):
            raise SerbenchError(f"attack {self.name!r}: fit got {len(xs)} input groups, {len(ys)} label groups "
                                f"and {len(ms)} masks; give one of each per length group")
        out = []
        for xg, yg, mg in zip(xs, ys, ms):
            if len(xg) != len(yg):
                raise SerbenchError(f"attack {self.name!r}: fit got {len(xg)} inputs and {len(yg)} labels")
            xg = xg.detach()
            out.append((xg, yg.to(xg.device).long(), None if mg is None else _view(mg, xg)))
        return out

    def _crafting_radius(self, groups) -> float:
        """The ball ``delta`` is crafted in: eps (Linf, L2), or the SNR radius of the median training utterance."""
        if self.threat.norm != "snr":
            return float(self.eps)
        if self.zero_budget:
            return 0.0
        levels = torch.cat([flat_norm(xg if mg is None else xg * mg) for xg, _, mg in groups])
        return float(levels.median()) * 10.0 ** (-self.eps / 20.0)

    def _project_delta(self, delta: torch.Tensor) -> torch.Tensor:
        if self.threat.norm == "linf":
            return delta.clamp(-self.eps, self.eps)
        norms = flat_norm(delta)
        factor = torch.where(norms > self.radius_crafted, self.radius_crafted / norms.clamp_min(1e-300),
                             torch.ones_like(norms))
        return delta * factor.to(delta.dtype).view(-1, *([1] * (delta.dim() - 1)))

    def _gradient(self, model, groups, delta, rows, generator) -> torch.Tensor:
        """Gradient w.r.t. every ``delta`` of the summed loss on ``rows``: ascent on the cross-entropy of the true
        class, or on minus that of the target."""
        var = delta.clone().requires_grad_(True)
        by_group: dict[int, list[int]] = {}
        for gi, r in rows:
            by_group.setdefault(gi, []).append(r)
        with torch.enable_grad():
            loss = var.new_zeros((), dtype=torch.float32)
            for gi, rs in sorted(by_group.items()):
                xg, yg, mg = groups[gi]
                index = torch.tensor(rs, device=xg.device)
                xb, yb = xg[index], yg[index]
                mb = None if mg is None else mg[index]
                if not self.targeted:
                    which, goal, sign = None, yb, 1.0
                elif self.target is not None:
                    which, goal, sign = None, torch.full_like(yb, self.target), -1.0
                else:  # a random class other than each row's own: its delta is the one moved by that row
                    shift = torch.randint(1, self.classes, (len(rs),), generator=generator).to(yb.device)
                    goal = (yb + shift) % self.classes
                    which, sign = goal, -1.0
                d = var[0:1] if which is None else var[which]
                logits = model(self._perturb(xb, d, mb))
                per_row = nn.functional.cross_entropy(logits.float(), goal, reduction="none")
                if self.loss_clip is not None and not self.targeted:  # a fooled row stops pulling delta
                    per_row = per_row.clamp(max=self.loss_clip)
                loss = loss + sign * per_row.sum()
            (grad,) = torch.autograd.grad(loss, var)
        return grad

    def _perturb(self, x: torch.Tensor, delta: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """``x`` plus ``delta`` (one row, or one per row) cut to its length, kept off padding, scaled down to each
        row's SNR radius (SNR budgets) and clipped to the bounds; differentiable in ``delta``."""
        d = fit_length(delta, x.shape[-1]).to(x.dtype)
        if mask is not None:
            d = d * mask.to(x.dtype)
        if self.threat.norm == "snr":
            d = d.expand_as(x)
            r = self.radius(x).to(x.dtype)
            n = d.flatten(1).norm(dim=1)
            scale = torch.where(n > r, r / n.clamp_min(1e-30), torch.ones_like(n))
            d = d * scale.view(-1, *([1] * (x.dim() - 1)))
        low, high = self.threat.bounds
        return (x + d).clamp(low, high)

    @torch.no_grad()
    def _describe(self, model, groups, n: int) -> dict[str, Any]:
        """What the report says of the crafting: data, steps, norms, and the fooling rate on the training set."""
        changed = hits = others = 0
        per_target = {t: [0, 0] for t in self.targets}
        for xg, yg, mg in groups:
            for i in range(0, len(xg), _SCORE_BATCH):
                xb, yb = xg[i : i + _SCORE_BATCH], yg[i : i + _SCORE_BATCH]
                mb = None if mg is None else mg[i : i + _SCORE_BATCH]
                clean = model(xb).argmax(1)
                if not self.targeted:
                    changed += int((model(self._perturb(xb, self.delta[0:1], mb)).argmax(1) != clean).sum())
                    continue
                for k, t in enumerate(self.targets):
                    keep = yb != t
                    pred = model(self._perturb(xb, self.delta[k : k + 1], mb)).argmax(1)
                    per_target[t][0] += int((pred[keep] == t).sum())
                    per_target[t][1] += int(keep.sum())
        linf = self.delta.flatten(1).abs().amax(dim=1).double().tolist()
        l2 = flat_norm(self.delta).tolist()
        info: dict[str, Any] = {
            "train_utterances": n, "steps": self.steps, "batch_size": self.batch_size,
            "crafted_in": {"norm": "linf" if self.threat.norm == "linf" else "l2", "radius": self.radius_crafted},
            "delta_linf": linf if self.targeted else linf[0], "delta_l2": l2 if self.targeted else l2[0],
        }
        if self.threat.norm == "snr":
            info["crafted_in"]["reference"] = "median training utterance"
        if self.targeted:
            for t, (h, o) in per_target.items():
                hits, others = hits + h, others + o
            info["targets"] = list(self.targets)
            info["train_targeted_success"] = {str(t): (h / o if o else None) for t, (h, o) in per_target.items()}
            info["train_targeted_success_mean"] = hits / others if others else None
        else:
            info["train_fooling_rate"] = changed / n
        return info

    # -- applying -----------------------------------------------------------------
    def row_targets(self, y: torch.Tensor) -> torch.Tensor | None:
        """The class each row is pushed to (targeted), else None: ``target``, or ``(y + 1) mod K``."""
        if not self.targeted:
            return None
        if self.target is not None:
            return torch.full_like(y, self.target)
        return (y + 1) % self.classes

    def generate(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = x.detach()
        if self.zero_budget or len(x) == 0:
            return x.clone()
        if self.delta is None:
            raise SerbenchError(f"attack {self.name!r} has no perturbation yet: it is crafted on training data, so "
                                "call fit(model, x_train, y_train) first (the harness does, with the train partition)")
        if tuple(x.shape[1:-1]) != tuple(self.delta.shape[1:-1]):
            raise SerbenchError(f"attack {self.name!r}: inputs of shape {tuple(x.shape)} do not fit the perturbation "
                                f"crafted for {tuple(self.delta.shape[1:])}")
        y = y.to(x.device)
        targets = self.row_targets(y)
        delta = self.delta.to(x.device)
        if targets is None or self.target is not None:
            rows = delta[0:1]
        else:
            rows = delta[targets]
        mask = model.mask if isinstance(model, PaddingGate) else None
        x_adv = self.project(x, self._perturb(x, rows, mask))
        self.last_report = {"info": self.info}
        if targets is not None:
            self.last_report["per_utterance"] = {"target": targets.tolist()}
        return x_adv


def add_test_rates(report: dict[str, Any] | None, y: np.ndarray, clean_pred: np.ndarray,
                   pred: np.ndarray) -> dict[str, Any]:
    """``report`` (a cell's merged ``attack_report``) with the rates on the evaluated utterances in ``info``:
    ``test_fooling_rate`` (share whose prediction changed) and, where rows carry a ``target``,
    ``test_targeted_success`` (share of those not of their target that went to it)."""
    report = {"totals": {}, "per_utterance": {}, "info": {}} if report is None else report
    info = report.setdefault("info", {})
    info["test_utterances"] = int(len(y))
    info["test_fooling_rate"] = float(np.mean(pred != clean_pred)) if len(y) else None
    targets = (report.get("per_utterance") or {}).get("target")
    if targets is not None:
        t = np.asarray(targets)
        keep = t != np.asarray(y)
        info["test_targeted_success"] = float(np.mean(pred[keep] == t[keep])) if keep.any() else None
    return report
