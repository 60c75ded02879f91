"""Universal adversarial perturbations: budgets under the harness's check, crafting on training data only,
stronger than random noise of the same norm, targeted per class, end to end through the runner, transfer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_attacks_setup import (
    feature_batch,
    feature_model,
    synthetic_task,
    trained_feature_model,
    waveform_batch,
    waveform_model,
)

import serbench
from serbench.attacks.base import ThreatModel
from serbench.attacks.budget import check_budget
from serbench.attacks.ensemble import correct_uar
from serbench.attacks.universal import Universal
from serbench.bench import evaluators
from serbench.bench.runner import LocalRunner
from serbench.bench.spec import parse_spec
from serbench.bench.store import Store
from serbench.engine.evaluate import evaluate_attack
from serbench.errors import SerbenchError

BUDGETS = [("feature", "linf", 0.05), ("feature", "l2", 0.8), ("waveform", "linf", 0.01),
           ("waveform", "l2", 0.3), ("waveform", "snr", 25.0)]


def _inputs(domain: str):
    """(model, training inputs and labels, test inputs and labels) in ``domain``; test rows differ from training."""
    if domain == "feature":
        return feature_model(), feature_batch(seed=7), feature_batch(seed=1)
    return waveform_model(), waveform_batch(seed=7), waveform_batch(seed=2)


@pytest.mark.parametrize("domain,norm,eps", BUDGETS)
def test_inside_the_budget_under_the_harness_check(domain, norm, eps):
    """Every domain and norm, test inputs shorter and longer than the training ones, a louder and quieter mix."""
    model, (x_train, y_train), (x, y) = _inputs(domain)
    attack = serbench.get("attacks", "universal", eps=eps, norm=norm, domain=domain, steps=5, batch_size=4)
    attack.fit(model, x_train[..., :-4], y_train)  # delta as long as the training inputs: shorter than the test
    assert attack.delta is not None and float(attack.delta.abs().max()) > 0
    threat = ThreatModel(domain=domain, norm=norm, eps=eps)  # the harness's own copy
    for length in (x.shape[-1], x.shape[-1] - 8):
        xs = x[..., :length]
        x_adv = attack.generate(model, xs, y)
        check_budget("universal", threat, xs, x_adv)
        assert not torch.equal(x_adv, xs)
    x_long = x  # past the crafted length nothing was crafted: no perturbation there
    assert torch.equal(attack.generate(model, x_long, y)[..., -4:], x_long[..., -4:])
    if norm == "snr":  # one delta for all: the median training level sets its size, quieter rows get it scaled down
        snr = check_budget("universal", threat, x, attack.generate(model, x, y))["snr_db"]
        assert float(snr.min()) == pytest.approx(eps, abs=1e-3)
        assert attack.radius_crafted == pytest.approx(
            float(x_train[..., :-4].double().flatten(1).norm(dim=1).median()) * 10 ** (-eps / 20), rel=1e-6)


def test_padding_stays_padding_and_the_harness_accepts_padded_groups():
    """Length groups with masks, as the runner passes them to fit: evaluate_attack's own budget check passes on
    padded batches, and an utterance seen through the padding gate gets no perturbation on its padding."""
    model, (x_train, y_train), (x, y) = _inputs("waveform")
    lengths = torch.tensor([4096, 3000, 2048, 4096, 1500, 4096, 3500, 4096])
    mask = torch.arange(x.shape[-1])[None] < lengths[:, None]
    x_train, x = x_train * mask, x * mask  # padded rows hold zeros past their length
    attack = serbench.get("attacks", "universal", eps=20.0, norm="snr", domain="waveform", steps=4, batch_size=8)
    attack.fit(model, [x_train], [y_train], [mask])
    with torch.no_grad():
        logits = model(x)
    metrics, _ = evaluate_attack("universal", attack, model, [(torch.arange(8), x, mask)], y, logits,
                                 ("a", "b", "c", "d"), batch_size=4,
                                 threat={"domain": "waveform", "norm": "snr", "eps": 20.0})
    assert metrics["perturbation"]["snr_db_min"] >= 20.0 - 1e-6
    x_adv = attack.generate(_gate(model, x, mask), x, y)
    assert torch.equal(x_adv[~mask], x[~mask]) and not torch.equal(x_adv[mask], x[mask])


def _gate(model, x, mask):
    from serbench.attacks.padding import PaddingGate

    return PaddingGate(model, x, mask)


def test_generate_before_fit_and_bad_parameters_fail_with_one_line():
    model, _, (x, y) = _inputs("feature")
    with pytest.raises(SerbenchError, match="call fit"):
        serbench.get("attacks", "universal", eps=0.1).generate(model, x, y)
    assert torch.equal(serbench.get("attacks", "universal", eps=0.0).generate(model, x, y), x)  # eps 0: identity
    with pytest.raises(SerbenchError, match="needs targeted"):
        serbench.get("attacks", "universal", eps=0.1, target=1)
    with pytest.raises(SerbenchError, match="steps must be a positive integer"):
        serbench.get("attacks", "universal", eps=0.1, steps=0)
    attack = serbench.get("attacks", "universal", eps=0.1, targeted=True, target=7, steps=1)
    with pytest.raises(SerbenchError, match="target 7 is not a class"):
        attack.fit(model, x, y)


@pytest.fixture(scope="module")
def task():
    model = trained_feature_model()
    (x_train, y_train), (x_test, y_test) = synthetic_task(64, seed=3), synthetic_task(64, seed=5)
    return model, x_train, y_train, x_test, y_test


def _uar(model, x, y) -> float:
    with torch.no_grad():
        return correct_uar(y.numpy(), (model(x).argmax(1) == y).numpy())


def test_a_universal_perturbation_beats_random_noise_of_the_same_norm(task):
    """Crafted on training utterances, applied to others: the tiny trained CNN loses UAR (measured 1.00 -> 0.75 at
    Linf 0.2), while one random sign pattern of the same Linf norm for all utterances leaves it at 1.00."""
    model, x_train, y_train, x, y = task
    attack = serbench.get("attacks", "universal", eps=0.2, steps=30)
    attack.fit(model, x_train, y_train)
    x_adv = attack.generate(model, x, y)
    check_budget("universal", ThreatModel(eps=0.2), x, x_adv)
    g = torch.Generator().manual_seed(0)
    noise = (x + 0.2 * torch.randn(x.shape[1:], generator=g).sign()).clamp(0, 1)
    assert _uar(model, x, y) == 1.0
    assert _uar(model, x_adv, y) <= _uar(model, noise, y) - 0.15, (_uar(model, x_adv, y), _uar(model, noise, y))
    assert attack.info["train_utterances"] == 64 and attack.info["steps"] == 30
    assert attack.info["train_fooling_rate"] > 0.1 and attack.info["delta_linf"] == pytest.approx(0.2, abs=1e-6)
    noise_l2 = float((noise - x).flatten(1).norm(dim=1).max())
    assert noise_l2 >= attack.info["delta_l2"] - 1e-6  # not a matter of energy: the noise has as much or more


def test_targeted_perturbations_push_towards_their_class(task):
    """One delta per class; each test utterance gets the one of the next class, and goes there (measured: every
    one at Linf 0.25, none on the clean inputs). A fixed target sends most utterances of other classes to it."""
    model, x_train, y_train, x, y = task
    attack = serbench.get("attacks", "universal", eps=0.25, steps=30, targeted=True)
    attack.fit(model, x_train, y_train)
    assert attack.delta.shape[0] == 4 and attack.info["targets"] == [0, 1, 2, 3]
    x_adv = attack.generate(model, x, y)
    goal = (y + 1) % 4
    with torch.no_grad():
        assert float((model(x).argmax(1) == goal).float().mean()) == 0.0
        assert float((model(x_adv).argmax(1) == goal).float().mean()) >= 0.8
    assert attack.last_report["per_utterance"]["target"] == goal.tolist()
    one = serbench.get("attacks", "universal", eps=0.25, steps=30, targeted=True, target=2)
    one.fit(model, x_train, y_train)
    with torch.no_grad():
        pred = model(one.generate(model, x, y)).argmax(1)
    assert float((pred[y != 2] == 2).float().mean()) >= 0.8 and one.delta.shape[0] == 1


SPEC = {
    "name": "universal",
    "dataset": {"name": "synthetic", "params": {"utterances_per_class": 6}, "folds": [0]},
    "frontend": {"seconds": 1.0},
    "training": {"iterations": 40, "eval_every": 20, "batch_size": 16, "fit_on": "train"},
    "models": ["cnn4.tiny"],
    "partitions": ["valid", "test"],
    "attacks": [{"name": "universal", "eps": [0.1], "params": {"steps": 5, "batch_size": 8}},
                {"name": "universal", "domain": "waveform", "norm": "snr", "eps": [30.0],
                 "params": {"steps": 3, "batch_size": 8}}],
    "transfer": [{"source": {"model": "cnn4.small"}, "attack": {"name": "universal", "params": {"steps": 5}},
                  "eps": [0.1]}],
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The spec through the real runner, with every fit call recorded: what it got and for which model."""
    calls = []
    fit, fitted_attack = Universal.fit, evaluators.fitted_attack

    def spy_fitted(attack, crafter, identity, threat):
        calls.append({"crafter": crafter, "threat": threat})
        return fitted_attack(attack, crafter, identity, threat)

    def spy_fit(self, model, x, y, mask=None):
        calls[-1].update(x=list(x), y=list(y), mask=list(mask))
        return fit(self, model, x, y, mask)

    mp = pytest.MonkeyPatch()
    mp.setattr(evaluators, "fitted_attack", spy_fitted)
    mp.setattr(Universal, "fit", spy_fit)
    try:
        store = Store(tmp_path_factory.mktemp("universal"))
        summary = LocalRunner(parse_spec(SPEC), store, device="cpu").run()
    finally:
        mp.undo()
    assert summary.ok, summary.failed
    return list(store.records()), calls


def _evals(records, kind):
    return [r for r in records if r["kind"] == "eval" and r["condition"]["type"] == kind]


def test_fit_gets_exactly_the_training_partition_once_per_model_and_threat(run):
    _, calls = run
    fitted = [c for c in calls if "x" in c]  # the calls that crafted (the others reused a fitted attack)
    assert len(calls) == 6 and len(fitted) == 3  # 2 threats x 2 partitions + transfer x 2 partitions
    for c in fitted:
        tm, domain = c["crafter"], c["threat"].domain
        _, groups = tm.attacked("train", domain)
        train = tm.partitions["train"]
        assert len(c["x"]) == len(groups)
        for (index, xg, mg), x, y, m in zip(groups, c["x"], c["y"], c["mask"]):
            assert torch.equal(x, xg) and torch.equal(m, mg) and torch.equal(y.cpu(), train.labels[index])
        evaluated = {i for p in ("valid", "test") for i in tm.partitions[p].ids}
        assert not evaluated & set(train.ids)  # nothing evaluated was seen while crafting
    assert {c["threat"].domain for c in fitted} == {"feature", "waveform"}


def test_records_carry_the_report_and_stay_inside_the_budget(run):
    records, calls = run
    attacks = _evals(records, "attack")
    assert len(attacks) == 4
    n_train = len(calls[0]["crafter"].partitions["train"])
    for r in attacks:
        info = r["metrics"]["attack_report"]["info"]
        assert info["train_partition"] == "train" and info["train_utterances"] == n_train
        assert info["test_utterances"] == r["metrics"]["n"] and 0.0 <= info["test_fooling_rate"] <= 1.0
        assert "train_fooling_rate" in info and info["steps"] in (3, 5)
        if r["condition"]["threat"]["norm"] == "snr":
            assert r["metrics"]["perturbation"]["snr_db_min"] >= 30.0 - 1e-6
        else:
            assert r["metrics"]["perturbation"]["linf_max"] <= 0.1 + 1e-6
    # the fooling rate the record states is the one its predictions show
    r = attacks[0]
    clean = [c for c in _evals(records, "clean") if c["partition"] == r["partition"]][0]
    changed = np.mean(np.array(r["metrics"]["predictions"]) != np.array(clean["metrics"]["predictions"]))
    assert r["metrics"]["attack_report"]["info"]["test_fooling_rate"] == pytest.approx(changed)


def test_transfer_crafts_on_the_source_and_scores_the_target(run):
    records, calls = run
    transfers = _evals(records, "transfer")
    assert len(transfers) == 2
    for r in transfers:
        assert r["condition"]["source"]["model"]["name"] == "cnn4.small" and r["train"]["model"]["name"] == "cnn4.tiny"
        assert r["metrics"]["perturbation"]["linf_max"] <= 0.1 + 1e-6
        assert r["metrics"]["attack_report"]["info"]["train_partition"] == "train"
    sizes = sorted(sum(p.numel() for p in c["crafter"].model.parameters())
                   for c in calls if "x" in c and c["threat"].domain == "feature")
    assert len(sizes) == 2 and sizes[0] < sizes[1]  # the transfer's on cnn4.small, not on the tiny target
