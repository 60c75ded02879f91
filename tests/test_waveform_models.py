"""Waveform models through the harness: cells, keys, refusals, records, boards, and a real run (M5, built in).

The plugin encoders (plugins/serbench-ssl) have their own tests; what is checked here is the harness's side of
the contract (serbench.models.waveform), with the built-in raw-waveform CNN, so it holds without any plugin.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from serbench.bench.runner import LocalRunner
from serbench.bench.spec import parse_spec
from serbench.bench.store import Store
from serbench.errors import SerbenchError

SPEC = {
    "name": "waveform",
    "dataset": {"name": "synthetic", "params": {"utterances_per_class": 8}, "folds": [0]},
    "frontend": {"seconds": 1.0},
    "training": {"iterations": 80, "eval_every": 20, "batch_size": 16, "threads": 1},
    "models": ["m5.tiny", "cnn4.tiny"],
    "attacks": [{"name": "pgd", "domain": "waveform", "norm": "snr", "eps": [50, 30, 10], "params": {"steps": 5}}],
    "noises": [{"name": "white", "snr": [10]}],
}


def _cells(spec: dict, tmp_path) -> list:
    runner = LocalRunner(parse_spec(spec, "spec.yaml"), Store(tmp_path / "r"), device="cpu", threads=1)
    return runner.train_cells()


def test_a_waveform_models_cell_names_its_input_and_no_features(tmp_path):
    m5, cnn = _cells(SPEC, tmp_path)
    assert m5.identity["model"]["input"] == "waveform" and "input" not in cnn.identity["model"]
    assert m5.identity["frontend"] == {"input": "waveform", "sample_rate": 16000, "seconds": 1.0}
    assert "n_mels" in cnn.identity["frontend"]


def test_front_end_settings_key_spectrogram_models_only(tmp_path):
    """Another Mel setting is another CNN, and the same waveform model: it never sees the features."""
    other = {**SPEC, "frontend": {"seconds": 1.0, "n_mels": 40}}
    (m5, cnn), (m5_other, cnn_other) = _cells(SPEC, tmp_path), _cells(other, tmp_path)
    assert m5.key == m5_other.key and cnn.key != cnn_other.key


def test_a_feature_domain_attack_on_a_waveform_model_is_refused_in_one_line(tmp_path):
    spec = {**SPEC, "attacks": [{"name": "fgsm", "domain": "feature", "eps": [0.05]}]}
    runner = LocalRunner(parse_spec(spec, "spec.yaml"), Store(tmp_path / "r"), device="cpu", threads=1)
    with pytest.raises(SerbenchError, match=r"'fgsm' \(domain: feature\) cannot attack 'm5.tiny'.*exclude") as err:
        [runner.spec.eval_cells(tc) for tc in runner.train_cells()]
    assert "\n" not in str(err.value)
    # ... and the exclude rule the message suggests makes the spec run: the CNN keeps its feature attack
    excluded = {**spec, "exclude": [{"model": "m5.tiny", "domain": "feature"}]}
    runner = LocalRunner(parse_spec(excluded, "spec.yaml"), Store(tmp_path / "r2"), device="cpu", threads=1)
    attacked = {tc.model.requested: [c for c in runner.spec.eval_cells(tc) if c.condition.identity["type"] == "attack"]
                for tc in runner.train_cells()}
    assert attacked["m5.tiny"] == [] and len(attacked["cnn4.tiny"]) == 1


def test_a_transfer_between_input_kinds_is_refused(tmp_path):
    spec = {k: v for k, v in SPEC.items() if k != "attacks"} | {"transfer": [
        {"source": {"model": "cnn4.tiny"}, "attack": "pgd", "domain": "waveform", "norm": "snr", "eps": [30]}]}
    runner = LocalRunner(parse_spec(spec, "spec.yaml"), Store(tmp_path / "r"), device="cpu", threads=1)
    with pytest.raises(SerbenchError, match="transfer from 'cnn4.tiny' .* to 'm5.tiny'"):
        [runner.spec.eval_cells(tc) for tc in runner.train_cells()]


def test_segments_and_a_waveform_front_end_are_refused():
    with pytest.raises(SerbenchError, match="frontend.kind"):
        parse_spec({**SPEC, "frontend": {"kind": "waveform"}}, "spec.yaml")
    spec = parse_spec({**SPEC, "frontend": {"seconds": 1.0, "segments": {"window": 20}}}, "spec.yaml")
    with pytest.raises(SerbenchError, match="segments.*m5.tiny"):
        spec.frontend_part(spec.models[0])


def run_spec(spec: dict, folder) -> list[dict]:
    """``serbench run`` of ``spec`` on one CPU thread into ``folder/r``; its records."""
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    done = subprocess.run([sys.executable, "-m", "serbench", "run", str(path), "--results", str(folder / "r"), "-q",
                           "--device", "cpu", "--threads", "1"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return [json.loads(p.read_text()) for p in (folder / "r" / "records").glob("*.json")]


@pytest.fixture(scope="module")
def waveform_run(tmp_path_factory):
    """One real run: M5 and CNN-4 trained on the embedded corpus, PGD at SNR budgets, white noise."""
    tmp = tmp_path_factory.mktemp("waveform")
    return tmp, run_spec(SPEC, tmp)


def test_the_run_records_the_input_kind_and_parameter_counts(waveform_run):
    _, records = waveform_run
    trains = {r["train"]["model"]["name"]: r for r in records if r["kind"] == "train"}
    assert trains["m5.tiny"]["data"]["input"] == "waveform" and trains["cnn4.tiny"]["data"]["input"] == "spectrogram"
    import serbench

    built = serbench.get("models", "m5.tiny", num_classes=4)
    assert trains["m5.tiny"]["data"]["parameters"]["total"] == sum(p.numel() for p in built.parameters())
    assert all(r["status"] == "ok" for r in records)


def test_waveform_pgd_stays_in_its_snr_budget_and_hurts_more_as_the_budget_grows(waveform_run):
    _, records = waveform_run
    m5 = [r for r in records if r["kind"] == "eval" and r["train"]["model"]["name"] == "m5.tiny"]
    by_snr = {r["condition"]["threat"]["eps"]: r for r in m5 if r["condition"]["type"] == "attack"}
    clean = next(r for r in m5 if r["condition"]["type"] == "clean")["metrics"]["uar"]
    # The harness measured every batch against the cell's budget (a violation fails the cell) ...
    for snr, rec in by_snr.items():
        assert rec["status"] == "ok" and rec["metrics"]["perturbation"]["snr_db_min"] >= snr - 1e-6
    # ... and a larger perturbation (lower SNR) never leaves more correct
    uars = [by_snr[snr]["metrics"]["uar"] for snr in (50, 30, 10)]
    assert clean >= uars[0] >= uars[1] >= uars[2]
    assert uars[2] < clean


def test_the_board_marks_the_waveform_row(waveform_run):
    tmp, _ = waveform_run
    done = subprocess.run([sys.executable, "-m", "serbench", "leaderboard", "--results", str(tmp / "r"), "--format",
                           "json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    boards = json.loads(done.stdout)["boards"]
    rows = [row for board in boards for row in board["rows"]]
    # ranked at the largest perturbation: for an SNR budget that is the lowest SNR, not the largest number
    assert [b["ranked_by"] for b in boards if b["threat"] == "waveform/snr"] == ["pgd 10"]
    assert {(r["model"], r["input"]) for r in rows} == {("m5.tiny", "waveform"), ("cnn4.tiny", "spectrogram")}
    text = subprocess.run([sys.executable, "-m", "serbench", "leaderboard", "--results", str(tmp / "r"), "--format",
                           "markdown"], capture_output=True, text=True).stdout
    assert "m5.tiny (waveform)" in text and "cnn4.tiny (waveform)" not in text
