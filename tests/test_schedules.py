"""The trainer implements the papers' schedules exactly and selects on validation only."""

from __future__ import annotations

import pytest
import torch

import serbench
from serbench.engine.schedules import schedule
from serbench.engine.train import train
from serbench.errors import SerbenchError


def run(sched, x_valid=None, y_valid=None):
    torch.manual_seed(0)
    model = serbench.get("models", "cnn4.tiny", num_classes=4)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(16, 1, 64, 16, generator=g), torch.arange(16) % 4
    xv = x[:8] if x_valid is None else x_valid
    yv = y[:8] if y_valid is None else y_valid
    return train(model, serbench.get("defenses", "standard"), x, y, xv, yv, sched, seed=0, num_classes=4)


def test_ren2020_decays_lr_by_0_9_every_100_iterations():
    result = run(schedule("ren2020", iterations=250, eval_every=50, batch_size=8))
    lrs = {h["iteration"]: h["lr"] for h in result.history}
    assert lrs[50] == pytest.approx(1e-3) and lrs[100] == pytest.approx(1e-3 * 0.9)
    assert lrs[200] == pytest.approx(1e-3 * 0.81) and lrs[250] == pytest.approx(1e-3 * 0.81)
    assert result.iterations == 250
    assert schedule("ren2020").iterations == 10_000


def test_latif2020_halves_on_plateau_and_stops_after_patience():
    # A learning rate too small to change predictions makes validation UAR flat: every evaluation after the
    # first is "no improvement".
    sched = schedule("latif2020", lr=1e-12, batch_size=8, max_epochs=50)
    assert (sched.plateau_patience, sched.stop_patience, sched.plateau_factor) == (5, 20, 0.5)
    result = run(sched)
    assert len(result.history) == 21  # the first evaluation, then 20 without improvement
    lrs = [h["lr"] for h in result.history]
    assert lrs[5] == pytest.approx(1e-12) and lrs[6] == pytest.approx(0.5e-12)  # halved after 5 flat epochs
    assert lrs[-1] == pytest.approx(1e-12 * 0.5**4)
    assert result.best_iteration == result.history[0]["iteration"]


def test_selection_uses_the_validation_partition_only():
    result = run(schedule("ren2020", iterations=40, eval_every=10, batch_size=8))
    best = max(result.history, key=lambda h: h["valid_uar"])
    assert result.best_valid_uar == best["valid_uar"]
    assert result.best_iteration == min(h["iteration"] for h in result.history if h["valid_uar"] == best["valid_uar"])


def test_unknown_schedule_fields_are_refused():
    with pytest.raises(SerbenchError, match="no field 'iteratons'"):
        schedule("ren2020", iteratons=5)
    with pytest.raises(SerbenchError, match="unknown training schedule"):
        schedule("adam")
