"""The runner never records a wrong number as ok (issue 13, runner part): real runs on tiny data.

Worst cases key attacks by their whole identity, budgets are checked against the
cell's threat model, SNR series are ordered by budget, a model with the wrong
number of logits is refused by name, a rerun over failed cells stays red, and a
damaged checkpoint is retrained.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml
from torch import nn
from typer.testing import CliRunner

import serbench
from serbench.attacks.base import Attack, ThreatModel
from serbench.attacks.budget import check_budget
from serbench.bench.cross_cell import cross_cell_warnings
from serbench.bench.runner import LocalRunner, _reason
from serbench.bench.spec import parse_spec
from serbench.bench.store import Store
from serbench.engine.evaluate import evaluate_attack
from serbench.errors import BudgetViolation, DataError

from broken_models import FiveLogits  # noqa: E402


def tiny(**extra) -> dict:
    return {"name": "tiny", "dataset": {"name": "synthetic", "params": {"utterances_per_class": 3}, "folds": [0]},
            "frontend": {"seconds": 1.0}, "training": {"iterations": 4, "eval_every": 2, "batch_size": 8},
            "models": ["cnn4.tiny"], **extra}


class Widening(Attack):
    """A plugin that widens its own threat model to Linf 1.0 and then respects that wider budget."""

    def generate(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.threat = ThreatModel(domain=self.threat.domain, norm="linf", eps=1.0)
        far = torch.where(x > 0.5, torch.zeros_like(x), torch.ones_like(x))
        return self.project(x, far)


@pytest.fixture
def components():
    serbench.registry("attacks").register("test.widen", summary="widens its own budget")(Widening)
    serbench.registry("models").register("test.fivelogits", summary="5 logits for 4 classes")(FiveLogits)
    yield
    serbench.registry("attacks").unregister("test.widen")
    serbench.registry("models").unregister("test.fivelogits")


# -- budgets ---------------------------------------------------------------------------------------------------
def test_evaluate_attack_measures_against_the_harness_threat_not_the_attacks_own():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(8, 4))
    x, y = torch.rand(6, 1, 2, 4), torch.tensor([0, 1, 2, 3, 0, 1])
    attack = Widening(eps=0.01)
    with pytest.raises(BudgetViolation, match="linf perturbation .* exceeds eps 0.01"):
        evaluate_attack("test.widen", attack, model, x, y, model(x).detach(), ("a", "b", "c", "d"),
                        threat=ThreatModel(eps=0.01))


def test_snap_fixes_nothing_beyond_the_harness_tolerance():
    torch.manual_seed(0)
    x = torch.rand(3, 50, dtype=torch.float64) * 0.5 + 0.25
    attack = serbench.get("attacks", "pgd", eps=0.5, norm="l2", domain="waveform")
    d = torch.randn_like(x)
    d = d / d.norm(dim=1, keepdim=True)
    # 5e-6 over (ten ulps of a float32 rounding would be ~1e-7): beyond the 1e-6 tolerance, within the old 1e-5
    x_adv = x + d * torch.tensor([0.5 + 5e-6, 0.5 + 5e-7, 0.4])[:, None]
    snapped = attack.snap(x, x_adv)
    assert torch.equal(snapped[0], x_adv[0])  # left as it is ...
    with pytest.raises(BudgetViolation):  # ... so the harness fails the cell
        check_budget("pgd", attack.threat, x, snapped)
    assert float((snapped[1] - x[1]).norm()) <= 0.5 and torch.equal(snapped[2], x_adv[2])  # rounding: fixed


# -- SNR series and the FGSM reference (the warnings pass over stored records) ------------------------------------
def _store_records(tmp_path, spec: dict, metrics_of) -> tuple[LocalRunner, list]:
    store = Store(tmp_path)
    parsed = parse_spec(spec)
    runner = LocalRunner(parsed, store, device="cpu")
    ((tc, evals),) = runner.plan()  # expands the matrix (keys name the data), trains nothing
    evals = [e for e in evals if e.condition.identity["type"] == "attack"]
    for e in evals:
        store.write({"key": e.key, "kind": "eval", "train_key": tc.key, "status": "ok", "error": None,
                     "train": tc.identity, "partition": e.partition, "condition": e.condition.identity,
                     "metrics": metrics_of(e.condition.identity), "warnings": []})
    cross_cell_warnings(runner.store, evals)
    return runner, [store.read(e.key) for e in evals]


def test_a_healthy_snr_series_is_not_flagged(tmp_path):
    # Success rises as the SNR falls (a lower SNR is a larger budget): healthy.
    rate = {40.0: 0.1, 20.0: 0.5, 10.0: 0.9}
    spec = tiny(attacks=[{"name": "pgd", "domain": "waveform", "norm": "snr", "eps": [40, 20, 10]}])
    _, recs = _store_records(tmp_path, spec, lambda c: {"success_rate": rate[c["threat"]["eps"]], "wa": 0.5})
    assert [r["warnings"] for r in recs] == [[], [], []]


def test_a_falling_snr_series_is_flagged(tmp_path):
    rate = {40.0: 0.9, 20.0: 0.5, 10.0: 0.1}
    spec = tiny(attacks=[{"name": "pgd", "domain": "waveform", "norm": "snr", "eps": [40, 20, 10]}])
    _, recs = _store_records(tmp_path, spec, lambda c: {"success_rate": rate[c["threat"]["eps"]], "wa": 0.5})
    assert all(any("falls from 0.9000 at SNR 40 dB" in w for w in r["warnings"]) for r in recs)


def test_the_fgsm_reference_is_the_full_step_fgsm_and_fgsm_variants_are_not_judged_by_it(tmp_path):
    wa = {("fgsm", 0.001): 0.6, ("fgsm", None): 0.3, ("bim", None): 0.5}
    spec = tiny(attacks=[{"name": "fgsm", "eps": [0.01], "params": {"eta": 0.001}}, {"name": "fgsm", "eps": [0.01]},
                         {"name": "bim", "eps": [0.01], "params": {"steps": 3}}])

    def metrics(c):
        return {"success_rate": 0.5, "wa": wa[(c["attack"]["name"], c["attack"]["params"].get("eta"))]}

    _, recs = _store_records(tmp_path, spec, metrics)
    flags = {(r["condition"]["attack"]["name"], r["condition"]["attack"]["params"].get("eta")): r["warnings"]
             for r in recs}
    assert flags[("fgsm", 0.001)] == [] and flags[("fgsm", None)] == []
    (w,) = flags[("bim", None)]
    assert "bim leaves accuracy 0.5000" in w and "above FGSM's 0.3000" in w


# -- through the real runner -------------------------------------------------------------------------------------
def test_worst_case_keys_attacks_by_identity_not_name(tmp_path):
    spec = tiny(worst_case=True,
                attacks=[{"name": "fgsm", "eps": [0.05], "params": {"eta": 0.001}}, {"name": "fgsm", "eps": [0.05]}])
    store = Store(tmp_path)
    summary = LocalRunner(parse_spec(spec), store, device="cpu").run()
    assert summary.ok, summary.failed
    evals = [r for r in store.records() if r["kind"] == "eval"]
    (wc,) = [r for r in evals if r["condition"]["type"] == "worst_case"]
    attacks = [r for r in evals if r["condition"]["type"] == "attack"]
    assert wc["metrics"]["attacks"] == ["fgsm(eta=0.001)", "fgsm(eta=None)"]
    y = np.array(wc["metrics"]["targets"])
    survive = np.all([np.array(a["metrics"]["predictions"]) == y for a in attacks], axis=0)
    assert wc["metrics"]["wa"] == pytest.approx(survive.mean())
    assert wc["metrics"]["uar"] == pytest.approx(np.mean([survive[y == c].mean() for c in np.unique(y)]))


def test_a_model_with_the_wrong_number_of_logits_is_refused_by_name(tmp_path, components):
    store = Store(tmp_path)
    summary = LocalRunner(parse_spec(tiny(models=["test.fivelogits"])), store, device="cpu").run()
    assert not summary.ok and summary.computed == 0
    ((label, reason),) = summary.failed
    assert "model 'test.fivelogits'" in reason and "(2, 5)" in reason and "expected (2, 4)" in reason
    assert "\n" not in reason
    assert not list(store.checkpoints_dir.glob("*.pt"))  # refused before training


def test_a_failed_cell_keeps_a_rerun_red_and_the_budget_is_the_cells(tmp_path, components):
    from serbench.cli.main import app

    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(tiny(attacks=[{"name": "test.widen", "eps": [0.01]}])))
    results = tmp_path / "results"
    args = ["run", str(spec), "--results", str(results), "--device", "cpu", "--quiet"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 1, first.output
    (failed,) = [r for r in Store(results).records() if r["status"] == "failed"]
    assert failed["condition"]["attack"]["name"] == "test.widen"
    assert "linf perturbation" in failed["error"] and "exceeds eps 0.01" in failed["error"]
    again = CliRunner().invoke(app, args)  # nothing to compute: the failed cell is cached
    assert again.exit_code == 1, again.output
    out = " ".join(again.output.split())  # rich wraps long lines
    assert "0 computed, 2 cached, 1 failed (1 from earlier runs)" in out
    assert "test.widen" in out and "--retry-failed" in out


def test_a_damaged_checkpoint_is_quarantined_and_the_model_retrained(tmp_path):
    store = Store(tmp_path)
    assert LocalRunner(parse_spec(tiny()), store, device="cpu").run().ok
    (ckpt,) = store.checkpoints_dir.glob("*.pt")
    ckpt.write_bytes(b"\x80\x02 a damaged checkpoint")
    more = tiny(noises=[{"name": "white", "snr": [10]}])  # a new eval cell needs the trained model
    with pytest.warns(UserWarning, match=f"{ckpt}.*moved to"):
        summary = LocalRunner(parse_spec(more), store, device="cpu").run()
    assert summary.ok and summary.computed == 1, summary.failed
    assert (tmp_path / "quarantine" / f"{ckpt.name}.digest-mismatch").exists()
    assert store.load_checkpoint(ckpt.stem) is not None  # retrained and saved again


def test_failure_reasons_keep_data_paths_relative_to_the_dataset_root(tmp_path):
    root = tmp_path / "corpus"
    exc = DataError(f"{root}/Session1/a.wav: unreadable audio file")
    assert _reason(exc, [str(root)]) == "Session1/a.wav: unreadable audio file"
    assert _reason(OSError(f"cannot list {root}"), [str(root) + "/"]) == "OSError: cannot list <dataset root>"
