"""channels_last by a fixed rule that enters the keys (issue 20, :mod:`serbench.engine.layout`).

A layout changes a trained model's numbers, so ``training.memory_format: auto`` must resolve the same way in
every process (a table of device type x model, never a timing), the resolved format must be in the train key
(and so in every eval key below it), and contiguous cells must keep the keys they had before the setting.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import yaml

import serbench
from serbench.attacks.base import ThreatModel
from serbench.attacks.budget import check_budget
from serbench.attacks.gradients import input_gradient
from serbench.bench.conditions import Clean, Transfer
from serbench.bench.environment import environment
from serbench.bench.runner import LocalRunner
from serbench.bench.spec import parse_spec
from serbench.bench.store import Store
from serbench.engine.evaluate import evaluate_attack
from serbench.engine.layout import (
    CHANNELS_LAST,
    CHANNELS_LAST_MODELS,
    CONTIGUOUS,
    CONV_MODELS,
    apply_to_model,
    as_input,
    resolve_memory_format,
)
from serbench.errors import SerbenchError, SpecError

ROOT = Path(__file__).resolve().parents[1]
# The commit that put the CPU thread count into every CPU key (so every key before it changed on purpose): keys
# of contiguous cells must be the keys it computed for them.
BASE_REVISION = "7895c88d0923f2d630612ef3345de66ebed0033d"

TINY = {
    "name": "layout",
    "dataset": {"name": "synthetic", "params": {"sessions": 3, "utterances_per_class": 2, "max_seconds": 0.5},
                "protocol": "leave-one-session-out", "folds": [0]},
    "frontend": {"preset": "ren2020", "seconds": 0.5},
    "training": {"schedule": "ren2020", "iterations": 4, "eval_every": 4, "batch_size": 8},
    "models": ["cnn4.tiny"],
    "seeds": [0],
    "attacks": [{"name": "fgsm", "eps": [0.05]}],
    "noises": [{"name": "white", "snr": [10]}],
}


def tiny(**training) -> dict:
    return {**TINY, "training": {**TINY["training"], **training}}


def built_in_models() -> list[str]:
    """Every built-in base model (variants share their base's entry in the table)."""
    return [n for n in serbench.list_components("models") if serbench.info("models", n).source == "serbench"]


def conv_weights(model: torch.nn.Module) -> list[torch.Tensor]:
    """The Conv2d weights of ``model`` whose strides differ in the two layouts: more than one input channel and a
    kernel larger than 1 x 1 (otherwise both layouts are the same bytes)."""
    return [m.weight for m in model.modules()
            if isinstance(m, torch.nn.Conv2d) and m.weight.shape[1] > 1 and m.weight.shape[2] * m.weight.shape[3] > 1]


def planned(spec: dict, tmp_path: Path, device: str = "cpu") -> list:
    """The spec's train cells as a runner on ``device`` plans them (the corpus loaded: keys need its data)."""
    parsed = parse_spec(spec)
    return parsed, LocalRunner(parsed, Store(tmp_path / "results"), device=device).train_cells()


# -- the rule -----------------------------------------------------------------------------------------------------
def test_auto_resolves_by_the_table_and_an_explicit_format_is_kept():
    for name in CONV_MODELS:
        for device in ("cpu", torch.device("cpu"), "cuda", "cuda:1"):
            assert resolve_memory_format("auto", device, name) == CHANNELS_LAST
        assert resolve_memory_format("auto", "mps", name) == CONTIGUOUS  # not measured there: contiguous
    assert resolve_memory_format("auto", "cpu", "acme.rnn") == CONTIGUOUS  # a plugin's model: not in the table
    for fmt in (CHANNELS_LAST, CONTIGUOUS):
        for device in ("cpu", "cuda", "mps", None):
            assert resolve_memory_format(fmt, device, "acme.rnn") == fmt
    assert set(CHANNELS_LAST_MODELS) == {"cpu", "cuda"}


def test_the_table_lists_exactly_the_built_in_models_that_take_4d_input_and_run_conv2d():
    """Built on the meta device (no weights, no compute): each model's structure, as the table claims it. Waveform
    models take (B, samples) and run 1-D convolutions: none is in the table, so they stay contiguous."""
    from serbench.inputs import WAVEFORM, input_kind

    convolutional = set()
    for name in built_in_models():
        if input_kind(serbench.info("models", name).factory) == WAVEFORM:
            assert name not in CONV_MODELS
            continue
        with torch.device("meta"):
            model = serbench.get("models", name, num_classes=4)
            out = model.eval()(torch.empty(2, 1, 64, 32))  # takes (B, C, F, T)
        assert tuple(out.shape) == (2, 4)
        if any(isinstance(m, torch.nn.Conv2d) for m in model.modules()):
            convolutional.add(name)
    assert convolutional == set(CONV_MODELS)


RULE_SCRIPT = """
import json, sys
from serbench.bench.runner import LocalRunner
from serbench.bench.spec import parse_spec
from serbench.bench.store import Store
from serbench.engine.layout import resolve_memory_format
import serbench
spec = parse_spec(json.loads(sys.argv[1]))
cells = LocalRunner(spec, Store(sys.argv[2]), device="cpu").train_cells()
rule = {f"{d}/{m}": resolve_memory_format("auto", d, serbench.info("models", m).name) for d in ("cpu", "cuda", "mps")
        for m in serbench.list_components("models", variants=True)}
print(json.dumps({"rule": rule, "keys": [tc.key for tc in cells] + [e.key for tc in cells for e in spec.eval_cells(tc)],
                  "formats": [tc.memory_format for tc in cells]}))
"""


def test_the_rule_and_the_keys_are_the_same_in_two_fresh_processes(tmp_path):
    """The failure this replaces: "auto" timed in each process, so two processes chose differently."""
    answers = []
    for i in range(2):
        proc = subprocess.run([sys.executable, "-c", RULE_SCRIPT, json.dumps(tiny()), str(tmp_path / f"r{i}")],
                              capture_output=True, text=True, timeout=300, env=dict(os.environ))
        assert proc.returncode == 0, proc.stderr
        answers.append(json.loads(proc.stdout))
    assert answers[0] == answers[1]
    assert answers[0]["formats"] == [CHANNELS_LAST]
    assert answers[0]["rule"]["cpu/cnn4.small"] == CHANNELS_LAST and answers[0]["rule"]["mps/cnn4.small"] == CONTIGUOUS


# -- keys -----------------------------------------------------------------------------------------------------------
def test_channels_last_enters_the_train_and_eval_keys(tmp_path):
    spec, (auto,) = planned(tiny(), tmp_path)
    assert auto.device == "cpu" and auto.memory_format == CHANNELS_LAST
    assert auto.identity["training"]["memory_format"] == CHANNELS_LAST
    on_mps = replace(auto, device="mps")  # auto resolves to contiguous there
    assert on_mps.memory_format == CONTIGUOUS and "memory_format" not in on_mps.identity["training"]
    assert auto.key != on_mps.key
    auto_evals, mps_evals = ([e.key for e in spec.eval_cells(tc)] for tc in (auto, on_mps))
    assert len(auto_evals) == len(mps_evals) and not set(auto_evals) & set(mps_evals)

    # (off the CPU: a CPU key also names the thread count, tests/test_threads.py)
    forced, (cl,) = planned(tiny(memory_format="channels_last"), tmp_path)
    assert replace(cl, device="mps").memory_format == CHANNELS_LAST  # an explicit format holds on every device
    assert replace(cl, device="cuda").key == replace(auto, device="cuda").key
    _, (contiguous,) = planned(tiny(memory_format="contiguous"), tmp_path)
    contiguous = replace(contiguous, device="mps")
    assert contiguous.key == on_mps.key  # the request never enters the key, only what it resolves to
    assert [e.key for e in parse_spec(tiny(memory_format="contiguous")).eval_cells(contiguous)] == mps_evals


def test_a_transfer_source_is_resolved_for_its_own_model(tmp_path):
    spec = {**tiny(), "models": ["cnn4.tiny", "cnn.small"],
            "transfer": [{"source": {"model": "cnn.small"}, "attack": {"name": "fgsm", "eps": [0.05]}}]}
    parsed, cells = planned(spec, tmp_path)
    target, source = cells
    (transfer,) = [e for e in parsed.eval_cells(target) if isinstance(e.condition, Transfer)]
    crafted_on = target.source_of(transfer.condition)
    assert crafted_on.key == source.key and crafted_on.memory_format == CHANNELS_LAST
    assert replace(target, device="mps").source_of(transfer.condition).key == replace(source, device="mps").key


def _dry_run_keys(code: Path, spec: Path, results: Path) -> dict[str, str]:
    """``{label: key}`` of the dry run of ``spec`` under the serbench at ``code`` (as benchmarks/keys_unchanged.py)."""
    proc = subprocess.run([sys.executable, "-m", "serbench", "run", str(spec), "--results", str(results), "--dry-run",
                           "--json"], capture_output=True, text=True, cwd=code, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(code)})
    assert proc.returncode == 0, proc.stderr
    return {f"{c['kind']} {c['label']}": c["key"] for c in json.loads(proc.stdout)["cells"]}


def test_contiguous_keys_are_the_keys_of_before_the_setting(tmp_path):
    """The base revision's code plans the spec with ``memory_format: contiguous``; this code plans it so too (same
    keys) and with ``auto`` on the CPU (channels_last: every key new)."""
    probe = subprocess.run(["git", "cat-file", "-e", f"{BASE_REVISION}^{{commit}}"], cwd=ROOT, capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"revision {BASE_REVISION[:9]} is not in this checkout's history")
    archive = tmp_path / "base.tar"
    subprocess.run(["git", "archive", "-o", str(archive), BASE_REVISION], cwd=ROOT, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "base", filter="data")
    spec = {**tiny(), "transfer": [{"source": {"model": "cnn4.tiny", "defense": "mixup"},
                                    "attack": {"name": "fgsm", "eps": [0.05]}}],
            "defenses": ["standard", "mixup"], "worst_case": True}
    paths = {}
    for name, training in (("base", {"memory_format": "contiguous"}), ("contiguous", {"memory_format": "contiguous"}),
                           ("auto", {})):
        paths[name] = tmp_path / f"{name}.yaml"
        paths[name].write_text(yaml.safe_dump({**spec, "training": {**spec["training"], **training}}))
    before = _dry_run_keys(tmp_path / "base", paths["base"], tmp_path / "results")
    contiguous = _dry_run_keys(ROOT, paths["contiguous"], tmp_path / "results")
    auto = _dry_run_keys(ROOT, paths["auto"], tmp_path / "results")
    assert len(before) == 10 and contiguous == before  # 2 train cells, 5 + 3 eval cells
    assert auto.keys() == before.keys() and not set(auto.values()) & set(before.values())


# -- the model and its inputs ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, channels", [("cnn4.tiny", 1), ("cnn4.tiny", 3), ("cnn.small", 1),
                                            ("cnn-lstm.small", 1), ("densenet-lstm-highway.small", 1)])
def test_a_model_gives_the_same_logits_and_input_gradients_in_both_layouts(name, channels):
    torch.manual_seed(0)
    params = {"in_channels": channels} if channels != 1 else {}
    contiguous = serbench.get("models", name, num_classes=4, **params).eval()
    torch.manual_seed(0)
    channels_last = apply_to_model(serbench.get("models", name, num_classes=4, **params), CHANNELS_LAST).eval()
    convs = conv_weights(channels_last)
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous() for w in convs)
    x = torch.rand(5, channels, 64, 40)
    y = torch.tensor([0, 1, 2, 3, 0])
    x_cl = as_input(x, CHANNELS_LAST)
    assert torch.equal(x_cl, x)
    if channels > 1:  # with one channel both layouts are the same bytes: nothing moves
        assert x_cl.is_contiguous(memory_format=torch.channels_last) and not x_cl.is_contiguous()
    with torch.no_grad():
        torch.testing.assert_close(channels_last(x_cl), contiguous(x), rtol=0, atol=1e-5)
    torch.testing.assert_close(input_gradient(channels_last, x_cl, y), input_gradient(contiguous, x, y),
                               rtol=1e-4, atol=1e-6)


def test_as_input_leaves_other_ranks_alone_and_refuses_an_unresolved_format():
    wave = torch.rand(3, 800)
    assert as_input(wave, CHANNELS_LAST) is wave
    with pytest.raises(SerbenchError, match="memory format 'auto' is not resolved"):
        as_input(torch.rand(2, 1, 4, 4), "auto")


@pytest.mark.parametrize("norm, eps", [("linf", 0.03), ("l2", 0.5)])
def test_budget_checks_and_projection_hold_for_channels_last_inputs(norm, eps):
    """Three input channels, so the channels_last batch really has other strides: an attack's gradient comes back
    channels_last, and the harness's checks (flattened, logical order) see the same values as contiguous."""
    torch.manual_seed(0)
    contiguous = serbench.get("models", "cnn4.tiny", num_classes=4, in_channels=3).eval()
    channels_last = apply_to_model(serbench.get("models", "cnn4.tiny", num_classes=4, in_channels=3), CHANNELS_LAST)
    channels_last.load_state_dict(contiguous.state_dict())
    channels_last.eval()
    x = torch.rand(6, 3, 32, 24)
    x_cl = as_input(x, CHANNELS_LAST)
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    assert input_gradient(channels_last, x_cl, y).is_contiguous(memory_format=torch.channels_last)
    threat = ThreatModel(domain="feature", norm=norm, eps=eps)

    def pgd(random_start: bool):
        attack = serbench.get("attacks", "pgd", eps=eps, norm=norm, steps=3, random_start=random_start)
        attack.threat = threat
        return attack

    plain = pgd(False)(contiguous, x, y)
    adv = pgd(False)(channels_last, x_cl, y)
    torch.testing.assert_close(adv, plain, rtol=0, atol=1e-5)
    for a in (adv, pgd(True)(channels_last, x_cl, y)):
        measured = check_budget("pgd", threat, x_cl, a)
        assert float(measured[norm].max()) <= eps + 1e-6
    # the harness's path: padding held clean (rows 3-5 end in padding), every batch measured, verified once
    mask = torch.ones(6, 24, dtype=torch.bool)
    mask[3:, 16:] = False
    with torch.no_grad():
        clean = channels_last(x_cl)
    metrics, _ = evaluate_attack("pgd", pgd(True), channels_last, [(torch.arange(6), x_cl, mask)], y, clean,
                                 ("a", "b", "c", "d"), batch_size=4, threat=threat)
    assert 0 < metrics["perturbation"][f"{norm}_max"] <= eps + 1e-6


# -- the spec -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, hint", [("channels-last", "; did you mean 'channels_last'?"), (1, ""),
                                         ("nhwc", "")])
def test_a_bad_memory_format_is_one_line_naming_the_field_and_the_choices(value, hint):
    with pytest.raises(SpecError) as err:
        parse_spec(tiny(memory_format=value))
    message = str(err.value)
    assert "\n" not in message
    assert message == (f"<spec>: training.memory_format: unknown memory format {value!r}{hint} "
                       "(use one of auto, channels_last, contiguous)")


# -- a run ----------------------------------------------------------------------------------------------------------
def test_a_run_trains_channels_last_and_says_so_in_its_records(tmp_path):
    spec, (tc,) = planned(tiny(), tmp_path)
    store = Store(tmp_path / "results")
    runner = LocalRunner(spec, store, device="cpu")
    summary = runner.run()
    assert summary.ok and summary.computed == len(spec.eval_cells(tc))
    train = store.read(tc.key)
    assert train["data"]["memory_format"] == CHANNELS_LAST
    assert train["train"]["training"]["memory_format"] == CHANNELS_LAST
    evals = [store.read(e.key) for e in spec.eval_cells(tc)]
    assert all(r["status"] == "ok" and r["train"] == train["train"] for r in evals)

    # the checkpoint loads into a channels_last model that predicts what the records say
    events = []
    again = LocalRunner(spec, store, device="cpu", progress=lambda event, payload: events.append(event))
    trained = again.builder.build(tc, again.corpus(0), environment(again.device))
    assert "train_cached" in events and trained.memory_format == CHANNELS_LAST
    convs = conv_weights(trained.model)
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous() for w in convs)
    (clean,) = [r for e, r in zip(spec.eval_cells(tc), evals) if isinstance(e.condition, Clean)]
    assert trained.clean_logits("test").argmax(1).tolist() == clean["metrics"]["predictions"]


def test_two_processes_write_the_same_records(tmp_path):
    """Same keys, same numbers: the format is decided by the rule, not by the process."""
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(tiny()))
    stores = []
    for i in range(2):
        results = tmp_path / f"results{i}"
        proc = subprocess.run([sys.executable, "-m", "serbench", "run", str(spec), "--results", str(results),
                               "--quiet"], capture_output=True, text=True, timeout=600, env=dict(os.environ))
        assert proc.returncode == 0, proc.stderr
        stores.append({r["key"]: r for r in Store(results).records()})
    assert stores[0].keys() == stores[1].keys() and len(stores[0]) > 2
    for key, rec in stores[0].items():
        assert rec["train"]["training"]["memory_format"] == CHANNELS_LAST
        other = stores[1][key]
        if rec["kind"] == "eval":
            assert rec["metrics"]["predictions"] == other["metrics"]["predictions"], rec["condition"]
            assert rec["metrics"]["uar"] == other["metrics"]["uar"]
        else:
            assert rec["metrics"] == other["metrics"]
