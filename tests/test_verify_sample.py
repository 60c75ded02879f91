"""`serbench leaderboard --verify`: a seeded sample of cells re-run and compared with the records; the committed
leaderboard's records reproduce (CI re-verifies a sample on every `make test`), an altered record is rejected."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from serbench.bench.store import record_digest, recomputed_metrics
from serbench.bench.verify_sample import sample_records

from test_submission import SPEC as SUBMISSION_SPEC

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "leaderboard"
# The committed records' specs, by the name each record carries (benchmarks/<name>.yaml).
SPEC_NAMES = sorted({json.loads(p.read_text())["spec_name"] for p in (COMMITTED / "records").glob("*.json")})
SPECS = tuple(arg for name in SPEC_NAMES for arg in ("--spec", str(REPO / "benchmarks" / f"{name}.yaml")))
# A new seed every run, so CI re-checks other cells over time: the cost is bounded whichever cell it draws, as
# every committed cell retrains one cnn4.small for 400 iterations (about a minute at 2 threads) and evaluates
# one condition (seconds). The seed is printed in the command's output, so a failure can be reproduced.
COMMITTED_SEED = random.SystemRandom().randrange(2**31)
SPEC = {**SUBMISSION_SPEC, "name": "tiny-verify"}


def serbench(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "serbench", *args], capture_output=True, text=True,
                          env=dict(os.environ), cwd=cwd, timeout=900)


def cell_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith(("ok ", "FAIL "))]


def alter(path: Path, flips: int) -> dict[str, float]:
    """Change ``flips`` predictions of an eval record to another class, recompute its metrics from them and digest
    it again: the store and `submit` accept it (it is self-consistent); only a re-run can tell. Its new metrics."""
    record = json.loads(path.read_text())
    m = record["metrics"]
    n_classes = len(m["labels"])
    for i in range(flips):
        m["predictions"][i] = (m["predictions"][i] + 1) % n_classes
    m.update(recomputed_metrics(m["targets"], m["predictions"], n_classes))
    record["digest"] = record_digest(record)
    path.write_text(json.dumps(record))
    return m


def test_an_altered_record_is_rejected_with_the_measured_difference(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    results = tmp_path / "results"
    assert serbench("run", str(spec), "--results", str(results), "-q").returncode == 0
    (clean,) = [p for p in (results / "records").glob("*.json")
                if json.loads(p.read_text()).get("condition", {}).get("type") == "clean"]
    stored = json.loads(clean.read_text())["metrics"]
    altered = alter(clean, 8)
    submitted = serbench("submit", str(spec), "--results", str(results), "--out", str(tmp_path / "b.tar.gz"))
    assert submitted.returncode == 0, submitted.stderr  # the records check out: only a re-run catches it

    verified = serbench("leaderboard", "--verify", str(tmp_path / "b.tar.gz"), "--sample", "3", "--seed", "0")
    assert verified.returncode == 1, verified.stdout + verified.stderr
    lines = cell_lines(verified.stdout)
    assert len(lines) == 3 and sum(line.startswith("ok ") for line in lines) == 2  # the untouched cells reproduce
    (failed,) = [line for line in lines if line.startswith("FAIL")]
    diff = abs(altered["uar"] - stored["uar"])
    assert diff > 0.01
    assert "clean/test" in failed and f"uar {altered['uar']:.4f} -> {stored['uar']:.4f} (diff {diff:.4f})" in failed
    assert "8/32 predictions differ" in failed
    assert "rejected: 2 of 3 sampled cells (re-evaluated from its checkpoints, seed 0) within tolerance 0.01" \
        in verified.stdout

    lenient = serbench("leaderboard", "--verify", str(tmp_path / "b.tar.gz"), "--sample", "3", "--seed", "0",
                       "--tolerance", "0.5")
    assert lenient.returncode == 0 and "accepted: 3 of 3" in lenient.stdout


def test_a_records_folder_needs_its_specs_and_retraining(tmp_path):
    bare = serbench("leaderboard", "--verify", str(COMMITTED), "--sample", "1")
    assert bare.returncode == 1
    assert f"give --spec for each of its specs (its records name {', '.join(SPEC_NAMES)})" in bare.stderr
    no_retrain = serbench("leaderboard", "--verify", str(COMMITTED), "--sample", "1", *SPECS)
    assert no_retrain.returncode == 1 and "pass --retrain" in no_retrain.stderr


def test_the_sample_is_seeded():
    keys = [r["key"] for r in sample_records(COMMITTED, 5, seed=1)]
    assert keys == [r["key"] for r in sample_records(COMMITTED, 5, seed=1)]
    assert keys != [r["key"] for r in sample_records(COMMITTED, 5, seed=2)]
    assert all(r["condition"]["type"] != "worst_case" for r in sample_records(COMMITTED, 50, seed=1))


@pytest.mark.slow
def test_the_committed_leaderboard_reproduces_a_sampled_cell(tmp_path):
    """CI's sample re-verification: a committed cell's model trained again from its spec, the cell evaluated,
    its UAR and accuracy equal to the committed record's (same code, same threads: exactly)."""
    (picked,) = sample_records(COMMITTED, 1, seed=COMMITTED_SEED)
    verified = serbench("leaderboard", "--verify", str(COMMITTED), "--sample", "1", "--seed", str(COMMITTED_SEED),
                        "--retrain", *SPECS, cwd=tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    (line,) = cell_lines(verified.stdout)
    assert line.startswith("ok ") and "(diff 0.0000)" in line
    assert f"uar {picked['metrics']['uar']:.4f} -> {picked['metrics']['uar']:.4f}" in line
    assert "accepted: 1 of 1 sampled cells (retrained, seed" in verified.stdout
