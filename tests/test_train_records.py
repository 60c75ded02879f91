"""Train records are as durable as eval records (issue 13, found by benchmarks/fault_injection.py).

A train record that is damaged, or never written because the run died right after
saving the checkpoint, comes back on the next run: restored from the checkpoint
(which holds it) without training again, or by training again when the checkpoint
predates that. The dry run and the planner apply the same rule. Also: ``serbench
validate attacks`` measures budgets against its own threat model, not the attack's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
import yaml
from torch import nn
from typer.testing import CliRunner

import serbench
from serbench.attacks.base import Attack, ThreatModel
from serbench.bench.runner import LocalRunner
from serbench.bench.spec import parse_spec
from serbench.bench.store import Store

from broken_models import FiveLogits  # noqa: E402


def tiny(**extra) -> dict:
    return {"name": "tiny", "dataset": {"name": "synthetic", "params": {"utterances_per_class": 3}, "folds": [0]},
            "frontend": {"seconds": 1.0}, "training": {"iterations": 4, "eval_every": 2, "batch_size": 8},
            "models": ["cnn4.tiny"], "noises": [{"name": "white", "snr": [10]}], **extra}


def run(store: Store, spec: dict, **kwargs) -> tuple[object, list[str]]:
    """One real run of ``spec``; returns its summary and the progress events it emitted (in order)."""
    events: list[str] = []
    runner = LocalRunner(parse_spec(spec), store, device="cpu", progress=lambda ev, _: events.append(ev), **kwargs)
    return runner.run(), events


def first_run(tmp_path) -> tuple[Store, str, bytes]:
    """A complete run into a fresh store: the store, its train key and the train record's bytes."""
    store = Store(tmp_path / "results")
    summary, events = run(store, tiny())
    assert summary.ok and summary.computed == 2 and events.count("train_start") == 1
    (ckpt,) = store.checkpoints_dir.glob("*.pt")
    return store, ckpt.stem, store.record_path(ckpt.stem).read_bytes()


# -- (a) a damaged train record ----------------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["edited", "truncated"])
def test_a_damaged_train_record_is_restored_from_the_checkpoint_without_training(tmp_path, damage):
    store, key, original = first_run(tmp_path)
    path = store.record_path(key)
    if damage == "edited":  # still valid JSON: only the digest tells
        rec = json.loads(original)
        rec["metrics"]["best_valid_uar"] = 0.999
        path.write_text(json.dumps(rec))
    else:
        path.write_bytes(original[: len(original) // 2])
    with pytest.warns(UserWarning, match="invalid record"):
        summary, events = run(store, tiny())
    assert summary.ok and summary.computed == 0 and summary.cached == 2  # every eval cell was done
    assert "train_start" not in events and "train_cached" in events  # loaded, not trained again
    assert path.read_bytes() == original  # the record as first written, byte for byte
    assert store.read(key)["status"] == "ok"
    assert len(list(store.quarantine_dir.iterdir())) == 1  # the damaged one, kept aside
    _, again = run(store, tiny())
    assert again == ["start", "cached"]  # and now nothing is left to do


# -- (b) a run killed between the checkpoint and the train record ---------------------------------------------------
def test_a_checkpoint_without_its_train_record_gets_the_record_back_without_training(tmp_path):
    # What a run killed right after saving the checkpoint leaves: the checkpoint, no record at all.
    store, key, original = first_run(tmp_path)
    for path in store.records_dir.glob("*.json"):
        path.unlink()
    summary, events = run(store, tiny())
    assert summary.ok and summary.computed == 2
    assert "train_start" not in events  # the checkpoint's model was evaluated
    assert store.record_path(key).read_bytes() == original


_KILL_AFTER_TRAINING = """
import os, sys
from serbench.bench.runner import LocalRunner
from serbench.bench.spec import load_spec
from serbench.bench.store import Store

def progress(event, payload):
    if event == "train_end":  # count atomic writes from here: 1 the checkpoint's digest, 2 it, 3 the train record
        os.environ["SERBENCH_FAULT_KILL_WRITE"] = "3"

LocalRunner(load_spec(sys.argv[1]), Store(sys.argv[2]), device="cpu", progress=progress).run()
"""


@pytest.mark.slow
def test_a_run_sigkilled_while_writing_the_train_record_loses_nothing(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(tiny()))
    store = Store(tmp_path / "results")
    env = {k: v for k, v in os.environ.items() if k != "SERBENCH_FAULT_KILL_WRITE"}
    killed = subprocess.run([sys.executable, "-c", textwrap.dedent(_KILL_AFTER_TRAINING), str(spec), str(store.root)],
                            capture_output=True, text=True, timeout=300, env=env)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    (ckpt,) = store.checkpoints_dir.glob("*.pt")
    assert f"SIGKILL in atomic write 3 of {store.record_path(ckpt.stem)}" in killed.stderr, killed.stderr
    assert not list(store.records_dir.glob("*.json"))
    summary, events = run(store, tiny())  # undisturbed
    assert summary.ok and summary.computed == 2 and "train_start" not in events, (summary, events)
    rec = store.read(ckpt.stem)
    assert rec is not None and rec["kind"] == "train" and rec["status"] == "ok"


def test_a_checkpoint_saved_without_its_record_is_trained_again_to_write_it(tmp_path):
    store, key, original = first_run(tmp_path)
    payload = store.load_checkpoint(key)
    store.save_checkpoint(key, {"model": payload["model"], "scaler": payload["scaler"]})  # as older serbench did
    store.record_path(key).unlink()
    summary, events = run(store, tiny())
    assert summary.ok and summary.computed == 0 and events.count("train_start") == 1
    first, again = json.loads(original), store.read(key)
    legit = ("created", "env", "timings", "digest")  # when, where and how fast it ran
    assert {k: v for k, v in again.items() if k not in legit} == {k: v for k, v in first.items() if k not in legit}


# -- the planner and the dry run apply the same rule ----------------------------------------------------------------
def dry_run(store: Store, tmp_path) -> dict:
    from serbench.cli.main import app

    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(tiny()))
    out = CliRunner().invoke(app, ["run", str(spec), "--results", str(store.root), "--dry-run", "--json"])
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)


def test_the_dry_run_and_the_planner_see_a_missing_train_record_as_work_left(tmp_path):
    store, key, _ = first_run(tmp_path)
    store.record_path(key).unlink()
    planner = LocalRunner(parse_spec(tiny()), store, device="cpu")
    ((tc, evals),) = planner.plan()
    assert planner.needs_work(tc, evals)  # what the local executor and the Ray driver ask
    (train,) = [c for c in dry_run(store, tmp_path)["cells"] if c["kind"] == "train"]
    assert train["key"] == key and train["state"] == "missing" and train["checkpoint"] is True
    run(store, tiny())
    assert not planner.needs_work(tc, evals)
    cells = dry_run(store, tmp_path)["cells"]
    assert [c["state"] for c in cells] == ["done"] * 3


# -- a failed training stays failed until --retry-failed (not trained again on every run) ---------------------------
@pytest.fixture
def five_logits():
    serbench.registry("models").register("test.fivelogits5", summary="5 logits for 4 classes")(FiveLogits)
    yield
    serbench.registry("models").unregister("test.fivelogits5")


def test_a_failed_training_is_recorded_and_left_to_retry_failed(tmp_path, five_logits):
    store = Store(tmp_path)
    spec = tiny(models=["test.fivelogits5"])
    first, _ = run(store, spec)
    assert len(first.failed) == 2
    ((tc, _),) = LocalRunner(parse_spec(spec), store, device="cpu").plan()
    rec = store.read(tc.key)
    assert rec["kind"] == "train" and rec["status"] == "failed" and "test.fivelogits5" in rec["error"]
    again, events = run(store, spec)
    assert again.computed == 0 and not again.failed and len(again.failed_cached) == 2
    assert "prepare" not in events  # not loaded, let alone trained
    retried, events = run(store, spec, retry_failed=True)
    assert len(retried.failed) == 2 and "prepare" in events


# -- serbench validate attacks: the budget is the validation's own ---------------------------------------------------
class WideFromTheStart(Attack):
    """Claims a Linf budget of 1.0 whatever it is given (also over a threat model the harness hands it), and
    respects that wider budget."""

    domains = ("feature",)

    def generate(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.threat = ThreatModel(domain=self.threat.domain, norm=self.threat.norm, eps=1.0, box=self.threat.box)
        return self.project(x, torch.where(x > 0.5, x - 1.0, x + 1.0))


def test_validate_attack_measures_budgets_against_its_own_threat_model():
    from serbench.validation import validate

    serbench.registry("attacks").register("test.widefromstart", summary="widens its budget")(WideFromTheStart)
    try:
        report = validate("attacks", "test.widefromstart")
    finally:
        serbench.registry("attacks").unregister("test.widefromstart")
    budget = {label: (ok, msg) for label, ok, msg in report.rows()}["feature/linf budget"]
    assert budget[0] is False and "exceeds eps 0.03" in budget[1], budget
    assert not report.ok
