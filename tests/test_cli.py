"""The CLI end to end: a tiny run writes one record per cell, reruns are cached, errors are one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from serbench.bench.cells import SCHEMA_VERSION

TINY_SPEC = """
name: tiny
dataset: {name: synthetic, params: {utterances_per_class: 6}, protocol: leave-one-session-out, folds: [0]}
frontend: {preset: ren2020, seconds: 1.0}
training: {schedule: ren2020, iterations: 30, eval_every: 10, batch_size: 16}
models: [cnn4.tiny]
defenses: [standard]
seeds: [0]
attacks:
  - {name: fgsm, eps: [0.0, 0.05]}
noises:
  - {name: white, snr: [10]}
"""


def serbench_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "serbench", *args], capture_output=True, text=True,
                          cwd=cwd, env=dict(os.environ), timeout=300)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    spec = root / "tiny.yaml"
    spec.write_text(TINY_SPEC)
    proc = serbench_cli("run", str(spec), "--results", str(root / "results"), "--quiet")
    return root, spec, proc


def _records(results: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((results / "records").glob("*.json"))]


def test_run_writes_one_record_per_cell(tiny_run):
    root, _, proc = tiny_run
    assert proc.returncode == 0, proc.stderr
    recs = _records(root / "results")
    evals = [r for r in recs if r["kind"] == "eval"]
    trains = [r for r in recs if r["kind"] == "train"]
    assert len(trains) == 1 and len(evals) == 4  # clean, white@10, fgsm@0, fgsm@0.05
    assert len({r["key"] for r in recs}) == len(recs)
    assert all(r["status"] == "ok" and r["schema"] == SCHEMA_VERSION for r in recs)
    assert all(r["train_key"] == trains[0]["key"] for r in evals)
    by_type = {(r["condition"]["type"], r["condition"].get("threat", {}).get("eps")): r for r in evals}
    clean = by_type[("clean", None)]["metrics"]
    assert clean["n"] == 48 and 0.0 <= clean["uar"] <= 1.0 and len(clean["confusion"]) == 4
    # eps = 0 changes nothing: same predictions as clean.
    assert by_type[("attack", 0.0)]["metrics"]["confusion"] == clean["confusion"]
    strong = by_type[("attack", 0.05)]["metrics"]
    assert strong["perturbation"]["linf_max"] <= 0.05 + 1e-6
    assert 0.0 <= strong["success_rate"] <= 1.0
    assert (root / "results" / "checkpoints" / f"{trains[0]['key']}.pt").exists()
    env = clean_env = by_type[("clean", None)]["env"]
    assert env["torch"] and env["serbench"] and clean_env["device"] == "cpu"


def test_rerun_is_cached_and_leaderboard_prints(tiny_run):
    root, spec, _ = tiny_run
    before = {p.name: p.stat().st_mtime_ns for p in (root / "results" / "records").glob("*.json")}
    again = serbench_cli("run", str(spec), "--results", str(root / "results"), "--quiet")
    assert again.returncode == 0 and "0 computed, 4 cached" in again.stderr
    after = {p.name: p.stat().st_mtime_ns for p in (root / "results" / "records").glob("*.json")}
    assert before == after
    board = serbench_cli("leaderboard", "--results", str(root / "results"))
    assert board.returncode == 0, board.stderr
    assert "cnn4.tiny" in board.stdout and "clean" in board.stdout


@pytest.mark.parametrize("args,code,needle", [
    (["run", "missing.yaml"], 1, "missing.yaml: cannot read spec"),
    (["list", "modles"], 1, "did you mean 'models'"),
    (["info", "models", "cnn44"], 1, "did you mean 'cnn4'"),
    (["leaderboard", "--results", "no-such-dir"], 1, "no-such-dir: no results directory"),
    (["run"], 2, "Missing argument"),
    (["run", "x.yaml", "--bogus"], 2, "No such option"),
])
def test_user_errors_are_one_line_with_exit_codes(tmp_path, args, code, needle):
    proc = serbench_cli(*args, cwd=tmp_path)
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    assert needle in proc.stderr
    if code == 1:
        assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr


@pytest.mark.parametrize("body,needle", [
    ("models: [cnn4x]\ndataset: synthetic\n", "models[0]: unknown model 'cnn4x'; did you mean"),
    ("models: [cnn4]\ndataset: synthetic\nattacks: [{name: fgsm, eps: [0.1, -1]}]\n",
     "attacks[0].eps[1]: must be >= 0"),
    ("models: [cnn4]\ndataset: synthetic\nattacks: [{name: fgsm, eps: [fast]}]\n",
     "attacks[0].eps[0]: expected a number"),
    ("models: [cnn4]\ndataset: synthetic\nmodles: [x]\n", "modles: unknown field 'modles'; did you mean 'models'"),
    ("models: [cnn4]\ndataset: synthetic\nattacks: [{name: fgsm, norm: l2, eps: [1]}]\n", "supports norms linf"),
    ("models: [cnn4]\ndataset: {name: synthetic, params: {sessions: three}}\n",
     "dataset: dataset 'synthetic' parameter 'sessions' expects int (default 5), got 'three'"),
    ("models: [cnn4\n", "invalid YAML"),
])
def test_spec_errors_name_file_and_field(tmp_path, body, needle):
    spec = tmp_path / "bad.yaml"
    spec.write_text(body)
    proc = serbench_cli("run", str(spec), "--results", str(tmp_path / "r"), "--quiet")
    assert proc.returncode == 1
    if needle:
        assert f"{spec}:" in proc.stderr and needle in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "r").exists()  # nothing half-written


def test_debug_env_shows_traceback(tmp_path):
    env = dict(os.environ, SERBENCH_DEBUG="1")
    proc = subprocess.run([sys.executable, "-m", "serbench", "info", "models", "nope"], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 1 and "Traceback" in proc.stderr
