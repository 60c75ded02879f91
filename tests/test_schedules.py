"""The trainer implements the papers' schedules exactly and selects on validation only."""

from __future__ import annotations

import pytest
import torch

import serbench
from serbench.engine.schedules import schedule
from serbench.engine.train import train
from serbench.errors import SerbenchError


def run(sched, x_valid=None, y_valid=None, defense=None):
    torch.manual_seed(0)
    model = serbench.get("models", "cnn4.tiny", num_classes=4)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(16, 1, 64, 16, generator=g), torch.arange(16) % 4
    xv = x[:8] if x_valid is None else x_valid
    yv = y[:8] if y_valid is None else y_valid
    defense = serbench.get("defenses", "standard") if defense is None else defense
    return train(model, defense, x, y, xv, yv, sched, seed=0, num_classes=4)


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


def test_plateau_and_early_stopping_count_only_defended_evaluations():
    # Flat validation UAR (lr too small to change predictions); adversarial examples from step 10 on. The clean
    # warm-up (evaluations at 2..10) neither halves the lr nor stops training; patience starts at iteration 12.
    sched = schedule("latif2020", lr=1e-12, batch_size=8, max_epochs=20, plateau_patience=2, stop_patience=5)
    result = run(sched, defense=serbench.get("defenses", "vanilla-adv", eps=0.01, start_iteration=10))
    its = [h["iteration"] for h in result.history]
    assert its == list(range(2, 23, 2))  # 5 warm-up evaluations, the first defended one, then 5 without gain
    assert result.best_iteration == 12 and result.summary()["defended_updates_at_selection"] == 2
    lrs = {h["iteration"]: h["lr"] for h in result.history}
    assert lrs[10] == lrs[16] == pytest.approx(1e-12) and lrs[18] == pytest.approx(0.5e-12)


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


def test_final_model_schedule_needs_a_fixed_budget_and_no_plateau():
    assert not schedule("ren2020", fit_on="train+valid").selects_on_valid
    with pytest.raises(SerbenchError, match="training.fit_on: train\\+valid leaves no validation"):
        schedule("latif2020", fit_on="train+valid")
    with pytest.raises(SerbenchError, match="unknown value 'dev'"):
        schedule("ren2020", fit_on="dev")


def test_a_final_model_spec_refuses_to_score_its_own_training_data():
    from serbench.bench.spec import parse_spec
    from serbench.errors import SpecError

    spec = {"dataset": "synthetic", "models": ["cnn4.small"], "partitions": ["test", "valid"],
            "training": {"schedule": "ren2020", "fit_on": "train+valid"}}
    with pytest.raises(SpecError, match=r"<spec>: partitions\[1\]: valid is training data"):
        parse_spec(spec)


@pytest.mark.slow
def test_final_model_is_fitted_on_train_and_valid_without_selection(tmp_path):
    from serbench.bench.runner import LocalRunner
    from serbench.bench.spec import parse_spec
    from serbench.bench.store import Store

    spec = parse_spec({
        "dataset": {"name": "synthetic", "params": {"utterances_per_class": 4, "seed": 5}, "folds": [0]},
        "frontend": {"seconds": 1.0},
        "training": {"schedule": "ren2020", "iterations": 12, "eval_every": 5, "fit_on": "train+valid"},
        "models": ["cnn4.small"],
    })
    store = Store(tmp_path)
    assert LocalRunner(spec, store, device="cpu").run().ok
    (train,) = [r for r in store.records() if r["kind"] == "train"]
    assert train["data"]["fit_on"] == "train+valid"
    assert train["data"]["train_expanded"] == train["data"]["train"] + train["data"]["valid"]
    assert train["metrics"]["best_valid_uar"] is None and train["timings"]["best_iteration"] == 12
    assert [h["iteration"] for h in train["history"]] == [5, 10, 12]
