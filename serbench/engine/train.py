"""The trainer: mini-batches by iteration, the defense's loss, the schedule, selection on validation.

Selection only considers checkpoints trained with the defense active: a checkpoint evaluated after
``it`` optimisation steps is a candidate when at least one of them applied the defense
(``defense.defended_updates(it) >= 1``). Before that (an adversarial objective's clean warm-up, e.g.
Ren et al.'s first 1 000 iterations) the weights are standard training's, and picking them would
report an undefended model under the defense's name. For ``standard`` and the augmentations every
checkpoint counts, exactly as before.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from serbench.defenses.base import Defense, TrainBatch
from serbench.engine.evaluate import predict
from serbench.engine.metrics import confusion, uar
from serbench.engine.schedules import Schedule
from serbench.errors import SerbenchError, SpecError

ProgressFn = Callable[[int, int, dict[str, float]], None]


@dataclass
class TrainResult:
    state_dict: dict[str, torch.Tensor]
    best_iteration: int  # the selected checkpoint (the last iteration when there is no selection)
    best_valid_uar: float | None  # None: no selection (final model fitted on train + valid)
    iterations: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    defense_start: int = 0  # first defended optimisation step (0-based), Defense.first_defended_iteration
    defended_updates_at_selection: int = 0  # defended steps behind the selected checkpoint
    defended_updates: int = 0  # defended steps in the whole run

    def summary(self) -> dict[str, Any]:
        """Flat figures for the train record's ``timings``: what was selected and how defended it is."""
        return {
            "best_iteration": self.best_iteration, "best_valid_uar": self.best_valid_uar,
            "selected_iteration": self.best_iteration,
            "defense_start": self.defense_start,
            "defended_updates_at_selection": self.defended_updates_at_selection,
            "defended_updates": self.defended_updates,
            "iterations": self.iterations, "seconds": self.seconds,
            "seconds_per_iteration": self.seconds / max(1, self.iterations),
        }


def total_iterations(sched: Schedule, n_train: int) -> int:
    if sched.iterations > 0:
        return sched.iterations
    return sched.max_epochs * math.ceil(n_train / sched.batch_size)


def check_defense_schedule(defense: Defense, total: int) -> None:
    """Refuse a run in which no step would apply the defense (its start at or after the budget's end).

    Every such model, selected or final, is standard training under the defense's name, so this is a
    spec error raised before the first step rather than a quietly undefended model.
    """
    start = defense.first_defended_iteration()
    if start >= total:
        raise SpecError(
            f"training: defense {type(defense).__name__} starts at iteration {start} (its start_iteration) but "
            f"training stops after {total} iterations, so no checkpoint would be defended; lower the defense's "
            f"start_iteration below {total} or raise training.iterations")


def _check_mask(mask: torch.Tensor | None, x_train: torch.Tensor) -> torch.Tensor | None:
    """``mask`` as bool on ``x_train``'s device, after checking it has one (N, T) row per training example."""
    if mask is None:
        return None
    if mask.dim() != 2 or mask.shape[0] != len(x_train) or mask.shape[1] != x_train.shape[-1]:
        raise SerbenchError(
            f"training: padding mask has shape {tuple(mask.shape)} but the training features are "
            f"{tuple(x_train.shape)}; it needs one row per example and one column per frame of the last axis, "
            f"({len(x_train)}, {x_train.shape[-1]})")
    return mask.to(device=x_train.device, dtype=torch.bool)


def shuffle_generator(gen: torch.Generator, device: torch.device, seed: int) -> torch.Generator:
    """The generator the batch order is drawn from, on the training device.

    On the CPU it is ``gen`` itself, the one every :class:`TrainBatch` carries, so the batch order, and
    any draw a defense makes from ``gen`` between two shuffles, are exactly those of a CPU run before
    shuffles moved to the device. Elsewhere a generator on ``device`` seeded with ``seed``: the order is
    drawn where it is used, with no host copy per step; defenses keep the CPU ``gen`` (the built-in ones
    only read its seed), which no longer advances with the shuffles.
    """
    return gen if device.type == "cpu" else torch.Generator(device=device).manual_seed(seed)


def mean_loss(losses: list[torch.Tensor]) -> float:
    """The mean of a period's step losses, read from the device in one copy: the float64 mean of the
    same values ``float(loss)`` would have read one sync per step."""
    return float(np.mean(torch.stack(losses).cpu().double().numpy()))


def _autocast(device: torch.device):
    return torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")


def train(
    model: nn.Module,
    defense: Defense,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_valid: torch.Tensor | None,
    y_valid: torch.Tensor,
    sched: Schedule,
    seed: int,
    num_classes: int,
    progress: ProgressFn | None = None,
    valid_logits: Callable[[nn.Module], torch.Tensor] | None = None,
    *,
    bounds: tuple[float, float] | None = None,
    mask: torch.Tensor | None = None,
) -> TrainResult:
    """Train ``model`` in place on device tensors; return the best-on-validation weights.

    Only checkpoints with at least one defended step behind them are candidates (module docstring);
    the plateau and early-stopping patience likewise count only their evaluations, so the clean
    warm-up neither decays the learning rate nor stops training. The last iteration is always
    evaluated, so a candidate exists whenever the defense starts within the budget; when it does
    not (``start_iteration >= iterations``) a :class:`SpecError` naming ``training`` and the
    defense's ``start_iteration`` is raised before the first step (see
    :func:`check_defense_schedule`), with or without selection.

    Without validation data (``x_valid`` and ``valid_logits`` both None: a final model fitted on
    train + valid) there is no selection: the weights after the last iteration are returned.

    ``valid_logits(model)`` replaces ``predict(model, x_valid)`` where the validation decision is
    not one forward pass per row (Latif et al.'s segments: mean posterior over an utterance's windows).

    ``bounds`` (the fitted normalisation's scaled feature range) and ``mask`` ((N, T) bool, True on
    each training row's active frames, any device) reach the defense in every :class:`TrainBatch`, so
    adversarial objectives craft examples inside the real feature domain and leave padding clean.

    A step reads nothing back to the host: the batch order is drawn on the training device
    (:func:`shuffle_generator`) and step losses stay there until a history entry reads their mean
    (:func:`mean_loss`), so an accelerator runs steps back to back. On the CPU every number is the same
    as when each step read its loss.
    """
    device = x_train.device
    mask = _check_mask(mask, x_train)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    shuffles = shuffle_generator(gen, device, seed)
    opt = torch.optim.Adam(model.parameters(), lr=sched.lr, weight_decay=sched.weight_decay)
    n = len(x_train)
    steps_per_epoch = math.ceil(n / sched.batch_size)
    total = total_iterations(sched, n)
    check_defense_schedule(defense, total)
    eval_every = sched.eval_every or steps_per_epoch
    selecting = x_valid is not None or valid_logits is not None
    best: tuple[float | None, int, dict[str, torch.Tensor]] = (-1.0, 0, {})
    since_best, since_decay, history = 0, 0, []
    start = time.perf_counter()
    order = torch.randperm(n, generator=shuffles, device=device)
    pos, it, losses = 0, 0, []  # losses: this evaluation period's step losses, still on the device
    while it < total:
        if pos >= n:
            order, pos = torch.randperm(n, generator=shuffles, device=device), 0
        idx = order[pos : pos + sched.batch_size]
        pos += sched.batch_size
        model.train()
        with _autocast(device):
            batch_mask = None if mask is None else mask[idx]
            loss = defense.loss(TrainBatch(model, x_train[idx], y_train[idx], it, gen, bounds=bounds, mask=batch_mask))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.detach())  # read once per history entry (mean_loss), not synced every step
        it += 1
        if sched.lr_decay != 1.0 and sched.lr_step and it % sched.lr_step == 0:
            for g in opt.param_groups:
                g["lr"] *= sched.lr_decay
        if not selecting:
            if it == total or it % eval_every == 0:
                history.append({"iteration": it, "loss": mean_loss(losses), "lr": opt.param_groups[0]["lr"],
                                "defended_updates": defense.defended_updates(it)})
                losses = []
                if progress:
                    progress(it, total, {})
            elif progress and it % 10 == 0:
                progress(it, total, {})
            continue
        if it % eval_every == 0 or it == total:
            if valid_logits is None:
                logits = predict(model, x_valid)
            else:
                model.eval()
                with torch.no_grad():
                    logits = valid_logits(model)
            preds = logits.argmax(1).cpu().numpy()
            valid_uar = uar(confusion(y_valid.cpu().numpy(), preds, num_classes))
            defended = defense.defended_updates(it)
            history.append({"iteration": it, "loss": mean_loss(losses), "valid_uar": valid_uar,
                            "lr": opt.param_groups[0]["lr"], "defended_updates": defended})
            losses = []
            if defended < 1:
                pass  # warm-up checkpoint: standard training's weights, never a candidate
            elif valid_uar > best[0]:
                best = (valid_uar, it, copy.deepcopy(model.state_dict()))
                since_best = since_decay = 0
            else:
                since_best += 1
                since_decay += 1
                if sched.plateau_patience and since_decay >= sched.plateau_patience:
                    for g in opt.param_groups:
                        g["lr"] *= sched.plateau_factor
                    since_decay = 0
            if progress:
                progress(it, total, history[-1])
            if sched.stop_patience and since_best >= sched.stop_patience:
                break
        elif progress and it % 10 == 0:
            progress(it, total, {})
    if not selecting:
        best = (None, it, copy.deepcopy(model.state_dict()))
    if best[1] == 0:  # cannot happen: the last iteration is evaluated and check_defense_schedule passed
        raise RuntimeError(f"no defended checkpoint was evaluated in {it} iterations")
    model.load_state_dict(best[2])
    model.eval()
    return TrainResult(best[2], best[1], best[0], it, time.perf_counter() - start, history,
                       defense_start=defense.first_defended_iteration(),
                       defended_updates_at_selection=defense.defended_updates(best[1]),
                       defended_updates=defense.defended_updates(it))
