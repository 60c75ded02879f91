"""Model selection never returns an undefended model (issue 21): only checkpoints trained with the defense active.

The audit's case: adversarial examples from iteration 100, validation every 50; similarity-adv's "best"
checkpoint was iteration 100, byte-identical to standard training's. Here on a tiny separable problem every
checkpoint reaches validation UAR 1.0, so the first (warm-up) checkpoint ties for best, exactly as there.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import serbench
from serbench.defenses.base import Defense, TrainBatch
from serbench.engine.schedules import schedule
from serbench.engine.train import train
from serbench.errors import SpecError

SCHED = schedule("ren2020", iterations=30, eval_every=5, batch_size=8, lr=0.02)
START = 15  # the checkpoint at iteration 15 has seen steps 0..14 only: all clean


class Tiny(nn.Module):
    """A two-layer net with the model contract (forward_features / forward_head): fast, and real training."""

    def __init__(self, n_in: int = 16 * 8, hidden: int = 8, classes: int = 4) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(n_in, hidden), nn.ReLU())
        self.fc = nn.Linear(hidden, classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward_head(self, z: torch.Tensor) -> torch.Tensor:
        return self.fc(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


class WrongLabels(Defense):
    """A defense that, from ``start`` on, trains towards the next class: it must hurt validation."""

    def __init__(self, start: int) -> None:
        self.start = start

    def first_defended_iteration(self) -> int:
        return self.start

    def loss(self, batch: TrainBatch) -> torch.Tensor:
        if batch.iteration < self.start:
            return nn.functional.cross_entropy(batch.model(batch.x), batch.y)
        return nn.functional.cross_entropy(batch.model(batch.x), (batch.y + 1) % 4)


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(32) % 4
    x = 0.1 * torch.rand(32, 1, 16, 8, generator=g)
    for c in range(4):  # one band of rows per class: separable after a few steps
        x[y == c, :, 4 * c : 4 * c + 4, :] += 0.8
    return x, y, x[:16], y[:16]


def fit(defense: Defense, data, sched=SCHED):
    torch.manual_seed(0)
    model = Tiny()
    x, y, xv, yv = data
    return model, train(model, defense, x, y, xv, yv, sched, seed=0, num_classes=4)


@pytest.fixture(scope="module")
def standard(data):
    return fit(serbench.get("defenses", "standard"), data)


@pytest.mark.parametrize("name", ["similarity-adv", "vanilla-adv"])
def test_a_warm_up_checkpoint_is_never_selected(data, standard, name):
    standard, std = standard
    defense = serbench.get("defenses", name, eps=0.05, start_iteration=START)
    model, res = fit(defense, data)
    pre = [h for h in res.history if h["iteration"] <= START]
    assert max(h["valid_uar"] for h in pre) == max(h["valid_uar"] for h in res.history)  # warm-up ties for best
    assert std.best_iteration == res.history[0]["iteration"]  # standard training keeps its first checkpoint
    assert res.best_iteration == 20  # the first checkpoint with a defended step behind it (steps 15..19)
    assert not all(torch.equal(p, q) for p, q in zip(standard.parameters(), model.parameters()))
    s = res.summary()
    assert (s["selected_iteration"], s["defense_start"]) == (20, START)
    assert s["defended_updates_at_selection"] == 20 - START == 5
    assert s["defended_updates"] == SCHED.iterations - START == defense.adversarial_batches
    assert [h["defended_updates"] for h in res.history] == [max(0, i - START) for i in range(5, 31, 5)]


def test_selection_picks_a_defended_checkpoint_even_when_the_warm_up_validates_better(data):
    model, res = fit(WrongLabels(START), data, schedule("ren2020", iterations=30, eval_every=5, batch_size=8, lr=0.05))
    pre = max(h["valid_uar"] for h in res.history if h["iteration"] <= START)
    post = [h for h in res.history if h["iteration"] > START]
    assert pre == 1.0 and max(h["valid_uar"] for h in post) < pre  # the defense hurts validation
    best = max(post, key=lambda h: h["valid_uar"])
    assert res.best_iteration == best["iteration"] > START and res.best_valid_uar == best["valid_uar"]
    assert res.summary()["defended_updates_at_selection"] == res.best_iteration - START


def test_standard_and_augmentations_count_every_checkpoint(standard):
    assert serbench.get("defenses", "standard").first_defended_iteration() == 0
    assert serbench.get("defenses", "mixup").first_defended_iteration() == 0
    s = standard[1].summary()
    assert s["selected_iteration"] == 5 and s["defended_updates_at_selection"] == 5 and s["defense_start"] == 0


def test_compose_is_defended_once_its_latest_part_is():
    c = serbench.get("defenses", "compose", parts=["speed", {"name": "vanilla-adv", "params": {"start_iteration": 7}}])
    assert c.first_defended_iteration() == 7 and c.defended_updates(10) == 3 and c.defended_updates(5) == 0


@pytest.mark.parametrize("fit_on", ["train", "train+valid"])
def test_a_defense_that_never_starts_is_a_spec_error_before_training(data, fit_on):
    sched = schedule("ren2020", iterations=12, eval_every=6, batch_size=8, fit_on=fit_on)
    defense = serbench.get("defenses", "vanilla-adv", eps=0.05, start_iteration=12)
    torch.manual_seed(0)
    model = Tiny()
    before = [p.detach().clone() for p in model.parameters()]
    x, y, xv, yv = data
    with pytest.raises(SpecError, match=r"^training: .*start_iteration.* 12 iterations.*training\.iterations$") as e:
        train(model, defense, x, y, xv if fit_on == "train" else None, yv, sched, seed=0, num_classes=4)
    assert "\n" not in str(e.value)
    assert all(torch.equal(p, q) for p, q in zip(before, model.parameters())) and defense.adversarial_batches == 0


def test_the_spec_refuses_a_defense_that_starts_after_the_budget():
    from serbench.bench.spec import parse_spec

    spec = {"dataset": "synthetic", "models": ["cnn4.small"], "training": {"schedule": "ren2020", "iterations": 300},
            "defenses": ["standard", {"name": "similarity-adv", "params": {"start_iteration": 300}}]}
    with pytest.raises(SpecError, match=r"<spec>: training.iterations: 300 iterations end before defense "
                                        r"'similarity-adv' starts \(start_iteration 300\)"):
        parse_spec(spec)
    spec["training"]["iterations"] = 301
    parse_spec(spec)


@pytest.mark.slow
def test_the_train_record_states_the_selected_iteration_and_its_defended_updates(tmp_path):
    from serbench.bench.runner import LocalRunner
    from serbench.bench.spec import parse_spec
    from serbench.bench.store import Store

    spec = parse_spec({
        "dataset": {"name": "synthetic", "params": {"utterances_per_class": 4, "seed": 5}, "folds": [0]},
        "frontend": {"seconds": 1.0},
        "training": {"schedule": "ren2020", "iterations": 12, "eval_every": 4},
        "models": ["cnn4.small"],
        "defenses": [{"name": "vanilla-adv", "params": {"eps": 0.01, "start_iteration": 4}}],
    })
    store = Store(tmp_path)
    assert LocalRunner(spec, store, device="cpu").run().ok
    (rec,) = [r for r in store.records() if r["kind"] == "train"]
    t = rec["timings"]
    assert t["selected_iteration"] in (8, 12) and t["selected_iteration"] == t["best_iteration"]
    assert t["defense_start"] == 4 and t["defended_updates_at_selection"] == t["selected_iteration"] - 4
    assert t["defended_updates"] == t["adversarial_batches"] == 8
    assert [h["defended_updates"] for h in rec["history"]] == [0, 4, 8]
