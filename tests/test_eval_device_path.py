"""The evaluation side of issue 20: budgets verified once per cell, batch sizes and precision from the spec.

Budgets: every attack batch is measured on its device and the cell's batches are verified together at the
end, with the messages a per-batch check gave; a violating batch still fails the cell and nothing of it is
recorded. Batch sizes change no prediction; a precision other than fp32 (autocast) is another cell, whose
budget is still checked exactly, in fp32.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_attacks_setup import feature_batch, feature_model
from torch import nn

import serbench
from serbench.attacks import budget
from serbench.attacks.base import TOLERANCE, Attack, ThreatModel
from serbench.attacks.padding import masked_generate
from serbench.bench.cells import EvalSettings
from serbench.bench.runner import LocalRunner
from serbench.bench.spec import parse_spec
from serbench.bench.store import Store
from serbench.engine.evaluate import (
    batch_size_for,
    default_batch_size,
    evaluate_attack,
    padded_batches,
    pinned_empty,
    predict,
    to_device,
)
from serbench.errors import BudgetViolation, SpecError
from serbench.noises.base import mix_at_snr

LABELS = ("a", "b", "c", "d")


def tiny(**extra) -> dict:
    return {"name": "tiny", "dataset": {"name": "synthetic", "params": {"utterances_per_class": 3}, "folds": [0]},
            "frontend": {"seconds": 1.0}, "training": {"iterations": 4, "eval_every": 2, "batch_size": 8},
            "models": ["cnn4.tiny"], **extra}


class OverOnBatches(Attack):
    """Steps ``over[k]`` beyond eps on the k-th batch it is given (0: inside the budget); counts its calls."""

    def __init__(self, over: list[float], eps: float = 0.01, **kw) -> None:
        super().__init__(eps=eps, **kw)
        self.over, self.calls = over, 0

    def generate(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        step = self.threat.eps + self.over[self.calls]
        self.calls += 1
        return x + step * torch.where(x < 0.5, 1.0, -1.0)


def _interior(n: int = 9) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    return 0.25 + 0.5 * torch.rand(n, 1, 2, 4), torch.arange(n) % 4


def _linear() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(8, 4)).eval()


# -- budgets: measured per batch, verified once per cell ----------------------------------------------------------
def test_a_cell_is_verified_once_after_every_batch_and_names_its_worst_value(monkeypatch):
    model, (x, y) = _linear(), _interior()
    calls = []
    verify = budget.verify
    monkeypatch.setattr(budget, "verify", lambda *a, **k: calls.append(1) or verify(*a, **k))  # a spy: it runs
    attack = OverOnBatches([0.001, 0.0, 0.004])  # batches 1 and 3 of 3 leave the budget, 3 the most
    with pytest.raises(BudgetViolation, match=r"attack 'over': linf perturbation 0\.014\d* exceeds eps 0\.01"):
        evaluate_attack("over", attack, model, x, y, model(x).detach(), LABELS, 3, threat=ThreatModel(eps=0.01))
    assert attack.calls == 3 and calls == [1]  # every batch attacked, one verification for the cell


def test_inside_the_budget_a_cell_measures_every_batch():
    model, (x, y) = _linear(), _interior()
    metrics, _ = evaluate_attack("ok", OverOnBatches([0.0] * 3), model, x, y, model(x).detach(), LABELS, 3,
                                 threat=ThreatModel(eps=0.01))
    assert metrics["perturbation"]["linf_max"] == pytest.approx(0.01, abs=TOLERANCE)
    assert len(metrics["predictions"]) == 9


@pytest.mark.parametrize("bad, message", [
    (lambda x: x.clone().fill_(float("nan")), "returned non-finite values"),
    (lambda x: torch.where(x > 0.7, torch.full_like(x, 1.004), x), r"left the feature range \[0.0, 1.0\]: min "),
    (lambda x: x[:, :, :1], r"returned shape \(3, 1, 1, 4\) for input \(3, 1, 2, 4\)"),
])
def test_the_ledger_raises_the_messages_of_the_per_batch_check(bad, message):
    x, _ = _interior(3)
    threat = ThreatModel(eps=0.01)
    with pytest.raises(BudgetViolation, match=message):
        budget.check_budget("bad", threat, x, bad(x))
    ledger = budget.BudgetLedger("bad", threat)
    with pytest.raises(BudgetViolation, match=message):
        ledger.add(x, x.clone())
        ledger.add(x, bad(x))
        ledger.verify()


def test_the_range_message_names_the_extremes_of_the_whole_cell():
    x, _ = _interior(4)
    ledger = budget.BudgetLedger("far", ThreatModel(eps=1.0))
    ledger.add(x, x.clamp(max=0.5) - 0.002 * (x < 0.3))  # 0.25 - 0.002 >= 0: inside
    ledger.add(x, torch.where(x > 0.7, torch.full_like(x, 1.5), x))
    ledger.add(x, torch.where(x < 0.3, torch.full_like(x, -0.25), x))
    with pytest.raises(BudgetViolation, match=r"min -0\.25, max 1\.5"):
        ledger.verify()


def test_snr_budgets_are_verified_on_the_cell():
    torch.manual_seed(0)
    x = 0.1 * torch.randn(4, 400)
    threat = ThreatModel(domain="waveform", norm="snr", eps=20.0)
    ledger = budget.BudgetLedger("loud", threat)
    ledger.add(x, x * 1.01)  # 40 dB: inside
    ledger.add(x, x * 1.2)  # 14 dB: below the budget
    with pytest.raises(BudgetViolation, match=r"SNR 13\.9794 dB is below its budget 20.0 dB"):
        ledger.verify()


def test_a_violating_cell_records_nothing_but_its_failure(tmp_path):
    serbench.registry("attacks").register("test.over", summary="leaves its budget on the second batch")(
        OverAfterFirst)
    try:
        spec = tiny(attacks=[{"name": "test.over", "eps": [0.01]}], evaluation={"attack_batch_size": 4})
        store = Store(tmp_path)
        summary = LocalRunner(parse_spec(spec), store, device="cpu").run()
    finally:
        serbench.registry("attacks").unregister("test.over")
    (rec,) = [r for r in store.records() if r["kind"] == "eval" and r["condition"]["type"] == "attack"]
    assert rec["status"] == "failed" and rec["metrics"] == {} and "exceeds eps 0.01" in rec["error"]
    assert not summary.ok


class OverAfterFirst(Attack):
    """Inside the budget on its first batch, 0.005 beyond it on every later one."""

    calls = 0

    def generate(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        over = 0.0 if self.calls == 0 else 0.005
        self.calls += 1
        return x + (self.threat.eps + over) * torch.where(x < 0, 1.0, -1.0)


# -- batch sizes change no result --------------------------------------------------------------------------------
def test_predictions_do_not_depend_on_the_batch_size():
    model, (x, _) = feature_model(), feature_batch()
    x = torch.cat([x, x.flip(0), x * 0.5])
    sizes = [predict(model, x, b).argmax(1) for b in (1, 5, 24, None)]
    assert all(torch.equal(sizes[0], s) for s in sizes[1:])


def test_attacks_do_not_depend_on_the_attack_batch_size():
    """Length groups with padding masks: FGSM's predictions and perturbations at 2, 3 and 8 rows per batch."""
    model, (x, y) = feature_model(), feature_batch()
    mask = torch.ones(8, 24, dtype=torch.bool)
    mask[1, 20:] = mask[6, 10:] = False  # two padded rows: some batches are gated, some are not
    groups = [(torch.tensor([0, 2, 4, 6, 1, 3, 5, 7]), x, mask)]
    attack = serbench.get("attacks", "fgsm", eps=0.05)
    runs = [evaluate_attack("fgsm", attack, model, groups, y, predict(model, x), LABELS, b,
                            threat=ThreatModel(eps=0.05))[0] for b in (2, 3, 8)]
    for other in runs[1:]:
        assert other["predictions"] == runs[0]["predictions"]
        assert other["perturbation"] == runs[0]["perturbation"]


def test_each_batch_is_gated_exactly_when_its_rows_hold_padding():
    model, (x, y) = feature_model(), feature_batch()
    mask = torch.ones(8, 24, dtype=torch.bool)
    mask[5, 12:] = False
    assert padded_batches(mask, 3, 8) == [False, True, False]
    assert padded_batches(mask, 8, 8) == [True] and padded_batches(None, 3, 8) == [False] * 3
    attack = serbench.get("attacks", "fgsm", eps=0.05)
    metrics, _ = evaluate_attack("fgsm", attack, model, [(torch.arange(8), x, mask)], y, predict(model, x), LABELS,
                                 3, threat=ThreatModel(eps=0.05))
    expected = torch.cat([masked_generate(attack, model, x[i:i + 3], y[i:i + 3], mask[i:i + 3])
                          for i in range(0, 8, 3)])  # the per-batch decision the harness made before
    assert metrics["predictions"] == predict(model, expected).argmax(1).tolist()
    assert metrics["perturbation"]["linf_max"] == pytest.approx(float((expected - x).abs().max()), abs=0)


def test_default_batch_sizes_are_todays_on_the_cpu_and_fit_free_memory_elsewhere():
    x = torch.zeros(3, 1, 128, 301)
    assert default_batch_size("predict", x) == 256 and default_batch_size("attack", x) == 128
    row = 128 * 301 * 4
    assert batch_size_for("predict", row, 140 * 2**30) == 1024 and batch_size_for("attack", row, 140 * 2**30) == 256
    assert batch_size_for("predict", row, 15 * 10**9) == 128 and batch_size_for("attack", row, 15 * 10**9) == 32
    assert batch_size_for("attack", row, 10**6) == 1  # nearly full: one row at a time, never zero
    assert batch_size_for("predict", 4, 10**15) == 4096  # capped


# -- the spec's evaluation section -------------------------------------------------------------------------------
def test_the_evaluation_section_is_read_into_every_eval_cell():
    spec = parse_spec(tiny(attacks=[{"name": "fgsm", "eps": [0.01]}],
                           evaluation={"batch_size": 64, "attack_batch_size": 16, "precision": "bf16"}))
    assert spec.evaluation == EvalSettings(64, 16, "bf16")
    ((_, evals),) = [(tc, spec.eval_cells(tc)) for tc in spec.train_cells(fingerprints={0: "f"})]
    assert {e.settings for e in evals} == {EvalSettings(64, 16, "bf16")}
    assert parse_spec(tiny()).evaluation == EvalSettings()


@pytest.mark.parametrize("section, message", [
    ({"batch_size": 0}, "evaluation.batch_size: must be a positive number of rows, got 0"),
    ({"attack_batch_size": "64"}, "evaluation.attack_batch_size: expected an integer, got '64'"),
    ({"precision": "bf61"}, "evaluation.precision: unknown precision 'bf61'; did you mean 'bf16'?"),
    ({"batchsize": 8}, "evaluation.batchsize: unknown field 'batchsize'; did you mean 'batch_size'?"),
    ([8], "evaluation: expected a mapping"),
])
def test_a_bad_evaluation_section_fails_naming_its_field(section, message):
    with pytest.raises(SpecError, match=message.replace("?", r"\?").replace("(", r"\(")) as err:
        parse_spec(tiny(evaluation=section))
    assert "\n" not in str(err.value)


def _keys(spec: dict) -> tuple[str, list[str]]:
    parsed = parse_spec(spec)
    (tc,) = parsed.train_cells(fingerprints={0: "f"})
    return tc.key, [e.key for e in parsed.eval_cells(tc)]


def test_only_a_precision_other_than_fp32_changes_the_keys():
    axes = {"attacks": [{"name": "fgsm", "eps": [0.01, 0.02]}], "noises": [{"name": "white", "snr": [10]}],
            "worst_case": True}
    plain = _keys(tiny(**axes))
    assert _keys(tiny(**axes, evaluation={"batch_size": 3, "attack_batch_size": 2})) == plain
    assert _keys(tiny(**axes, evaluation={"precision": "fp32"})) == plain
    train, bf16 = _keys(tiny(**axes, evaluation={"precision": "bf16"}))
    fp16 = _keys(tiny(**axes, evaluation={"precision": "fp16"}))[1]
    assert train == plain[0] and len(bf16) == len(plain[1])  # the model is the same; every eval cell is another
    assert not set(bf16) & set(plain[1]) and not set(bf16) & set(fp16)


# -- precision -----------------------------------------------------------------------------------------------------
def test_bf16_reaches_the_model_and_the_budget_is_still_checked_in_fp32():
    model, (x, y) = feature_model(), feature_batch()
    seen = []
    model.register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    attack = serbench.get("attacks", "pgd", eps=0.05, steps=3)
    metrics, _ = evaluate_attack("pgd", attack, model, x, y, predict(model, x, precision="bf16"), LABELS,
                                 threat=ThreatModel(eps=0.05), precision="bf16")
    assert set(seen) == {torch.bfloat16}  # the attack's and the scoring's forwards ran under autocast
    assert metrics["perturbation"]["linf_max"] <= 0.05 + TOLERANCE

    class Bf16Output(Attack):  # steps exactly eps, then hands back bf16: rounding leaves the budget
        def generate(self, model, x, y):
            return (x + self.threat.eps * torch.where(x < 0.5, 1.0, -1.0)).bfloat16()

    with pytest.raises(BudgetViolation, match="exceeds eps 0.05"):
        evaluate_attack("bf16", Bf16Output(eps=0.05), model, x, y, predict(model, x), LABELS,
                        threat=ThreatModel(eps=0.05), precision="bf16")


def test_a_bf16_spec_runs_through_the_runner_as_other_cells(tmp_path):
    axes = {"attacks": [{"name": "fgsm", "eps": [0.02]}, {"name": "bim", "eps": [0.02], "params": {"steps": 2}}],
            "noises": [{"name": "white", "snr": [10]}], "worst_case": True}
    store = Store(tmp_path)
    plain = LocalRunner(parse_spec(tiny(**axes)), store, device="cpu")
    assert plain.run().ok
    low = LocalRunner(parse_spec(tiny(**axes, evaluation={"precision": "bf16", "attack_batch_size": 5})), store,
                      device="cpu")
    summary = low.run()
    assert summary.ok, summary.failed
    assert summary.computed == 5  # clean, noise, two attacks, worst case: none reused from the fp32 run
    recs = {r["key"]: r for r in store.records() if r["kind"] == "eval"}
    ((_, evals),) = low.plan()
    for e in evals:
        rec = recs[e.key]
        assert rec["status"] == "ok" and rec["precision"] == "bf16" and e.label.endswith("[bf16]")
        if rec["condition"]["type"] == "attack":
            assert rec["metrics"]["perturbation"]["linf_max"] <= 0.02 + TOLERANCE
    assert len(recs) == 10 and all("precision" not in r for r in recs.values() if r["key"] not in
                                   {e.key for e in evals})


def test_batch_sizes_from_the_spec_change_no_record(tmp_path):
    axes = {"attacks": [{"name": "fgsm", "eps": [0.02]}], "noises": [{"name": "white", "snr": [10]}]}
    runs = []
    for i, section in enumerate(({}, {"batch_size": 3, "attack_batch_size": 2})):
        store = Store(tmp_path / str(i))
        assert LocalRunner(parse_spec(tiny(**axes, evaluation=section)), store, device="cpu").run().ok
        runs.append({r["key"]: r["metrics"] for r in store.records() if r["kind"] == "eval"})
    assert runs[0].keys() == runs[1].keys()
    for key, metrics in runs[0].items():
        assert runs[1][key]["predictions"] == metrics["predictions"]
        assert runs[1][key].get("perturbation") == metrics.get("perturbation")


# -- noise on the device -------------------------------------------------------------------------------------------
def test_host_copies_stay_put_on_the_cpu():
    t = torch.arange(6.0)
    assert to_device(t, torch.device("cpu")) is t
    assert not pinned_empty((2, 3), torch.float32, torch.device("cpu")).is_pinned()


def test_mixing_checks_host_lengths_and_mixes_on_the_clean_device():
    torch.manual_seed(0)
    clean, noise = torch.randn(3, 100), torch.randn(3, 100)
    lengths = np.array([100, 50, 10])
    mixed = mix_at_snr(clean, noise, 10.0, lengths=lengths)
    again = mix_at_snr(clean, noise, 10.0, lengths=torch.tensor([100, 50, 10]))
    assert torch.equal(mixed, again) and torch.equal(mixed[1, 50:], clean[1, 50:])
    speech, added = clean[1, :50], mixed[1, :50] - clean[1, :50]
    assert float(10 * torch.log10(speech.pow(2).sum() / added.pow(2).sum())) == pytest.approx(10.0, abs=1e-4)
    with pytest.raises(serbench.SerbenchError, match="must hold one count in 1..100"):
        mix_at_snr(clean, noise, 10.0, lengths=[100, 0, 10])
