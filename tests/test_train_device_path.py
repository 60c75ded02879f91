"""The trainer reads no loss from the device per step, and on the CPU trains exactly as the old loop did.

``old_loop`` below is the trainer's step loop before losses stayed on the device and shuffles moved there:
a CPU generator for the batch order (the one every TrainBatch carries), and ``float(loss)`` every step.
On the CPU the trainer must give the same weights, history and selection to the last bit.
"""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from serbench.defenses.augment import Mixup
from serbench.defenses.base import Defense, TrainBatch
from serbench.defenses.standard import Standard
from serbench.engine.evaluate import predict
from serbench.engine.metrics import confusion, uar
from serbench.engine.schedules import schedule
from serbench.engine.train import total_iterations, train

CLASSES = 3
# 20 rows in batches of 6: 4 steps an epoch (the last one short), so 11 steps reshuffle twice
SCHED = schedule("ren2020", iterations=11, eval_every=4, batch_size=6, lr=0.01, lr_step=5)


def make_model() -> nn.Module:
    """Convolution, batch norm (running statistics) and dropout (global RNG): all of a step's state."""
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, CLASSES))


class NoisyInputs(Defense):
    """A plugin-like defense drawing from the trainer's generator between its shuffles."""

    def loss(self, batch: TrainBatch) -> torch.Tensor:
        noise = torch.randn(batch.x.shape, generator=batch.generator)
        return nn.functional.cross_entropy(batch.model(batch.x + 0.1 * noise), batch.y)


def old_loop(model, defense, x, y, x_valid, y_valid, sched, seed):
    """The old step loop (no plateau or early stopping): history and the weights at every evaluation."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=sched.lr, weight_decay=sched.weight_decay)
    n, total = len(x), total_iterations(sched, len(x))
    eval_every = sched.eval_every or math.ceil(n / sched.batch_size)
    order, pos, it, losses, history, weights = torch.randperm(n, generator=gen), 0, 0, [], [], {}
    while it < total:
        if pos >= n:
            order, pos = torch.randperm(n, generator=gen), 0
        idx = order[pos : pos + sched.batch_size]
        pos += sched.batch_size
        model.train()
        loss = defense.loss(TrainBatch(model, x[idx], y[idx], it, gen))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        it += 1
        if sched.lr_decay != 1.0 and sched.lr_step and it % sched.lr_step == 0:
            for g in opt.param_groups:
                g["lr"] *= sched.lr_decay
        if it % eval_every == 0 or it == total:
            entry = {"iteration": it, "loss": float(np.mean(losses)), "lr": opt.param_groups[0]["lr"]}
            if x_valid is not None:
                preds = predict(model, x_valid).argmax(1).numpy()
                entry["valid_uar"] = uar(confusion(y_valid.numpy(), preds, CLASSES))
            history.append(entry)
            weights[it] = copy.deepcopy(model.state_dict())
            losses = []
    return history, weights


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(20, 1, 8, 12, generator=g), torch.randint(0, CLASSES, (20,), generator=g)
    x_valid, y_valid = torch.randn(9, 1, 8, 12, generator=g), torch.arange(9) % CLASSES
    return x, y, x_valid, y_valid


def _same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


@pytest.mark.parametrize("make_defense", [Standard, NoisyInputs, Mixup], ids=["standard", "noisy", "mixup"])
@pytest.mark.parametrize("selecting", [False, True], ids=["final", "selected"])
def test_cpu_training_is_the_old_loop_to_the_last_bit(data, make_defense, selecting):
    x, y, x_valid, y_valid = data
    valid = (x_valid, y_valid) if selecting else (None, y_valid)
    torch.manual_seed(7)  # the initial weights, then dropout's draws: the same for both
    old_history, old_weights = old_loop(make_model(), make_defense(), x, y, *valid, SCHED, seed=3)
    torch.manual_seed(7)
    result = train(make_model(), make_defense(), x, y, *valid, SCHED, seed=3, num_classes=CLASSES)
    assert result.iterations == SCHED.iterations and len(result.history) == len(old_history) == 3
    for new, old in zip(result.history, old_history):
        assert {k: new[k] for k in old} == old  # losses equal exactly, not just closely
    if selecting:
        uars = [h["valid_uar"] for h in old_history]
        best = old_history[uars.index(max(uars))]["iteration"]
        assert (result.best_iteration, result.best_valid_uar) == (best, max(uars))
    else:
        best = SCHED.iterations
    _same_weights(result.state_dict, old_weights[best])


class LossReads(torch.Tensor):
    """A loss that counts every read of its value (or of a tensor made from it) onto the host."""

    reads = 0
    READS = {"__float__", "__int__", "__bool__", "item", "tolist", "cpu"}

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", None) in cls.READS:
            cls.reads += 1
        return super().__torch_function__(func, types, args, kwargs or {})


class CountedLoss(Defense):
    def loss(self, batch: TrainBatch) -> torch.Tensor:
        return nn.functional.cross_entropy(batch.model(batch.x), batch.y).as_subclass(LossReads)


@pytest.mark.parametrize("selecting", [False, True], ids=["final", "selected"])
def test_step_losses_are_read_once_per_history_entry_not_once_per_step(data, selecting):
    x, y, x_valid, y_valid = data
    sched = schedule("ren2020", iterations=24, eval_every=12, batch_size=6, lr=0.01)
    LossReads.reads = 0
    result = train(make_model(), CountedLoss(), x, y, x_valid if selecting else None, y_valid, sched, seed=0,
                   num_classes=CLASSES)
    assert len(result.history) == 2
    assert LossReads.reads <= len(result.history) < sched.iterations  # the old loop read all 24


@pytest.mark.skipif(not torch.cuda.is_available(), reason="host syncs are counted on a CUDA device only")
def test_cuda_syncs_do_not_grow_with_steps(data):
    """On CUDA, torch reports every synchronising call: twice the steps (same evaluations) adds none per step."""
    device = torch.device("cuda")
    x, y = (t.to(device) for t in data[:2])

    def syncs(iterations: int) -> int:
        sched = schedule("ren2020", iterations=iterations, eval_every=iterations, batch_size=5, lr=0.01)
        model = make_model().to(device)
        train(model, Standard(), x, y, None, y, sched, seed=0, num_classes=CLASSES)  # warm-up: kernels, allocator
        torch.cuda.synchronize()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                train(model, Standard(), x, y, None, y, sched, seed=0, num_classes=CLASSES)
            finally:
                torch.cuda.set_sync_debug_mode("default")
        return sum("synchroniz" in str(w.message) for w in caught)

    assert syncs(16) <= syncs(8) + 2  # 8 more steps, 2 more epochs (4 steps each); the old loop synced 8 more
