"""The papers' benchmark specs: every spec in benchmarks/ parses, and the paper matrices plan exactly the
cells the papers need on fake corpus trees (a dry run: nothing is trained)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from serbench.bench.spec import load_spec
from test_corpus_fakes import make_demos, make_iemocap, make_msp_improv

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize("path", sorted(BENCHMARKS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_benchmark_spec_parses(path):
    spec = load_spec(path)
    assert spec.name and spec.models


def dry_run(spec: str, env: dict[str, str], results: Path) -> dict:
    proc = subprocess.run([sys.executable, "-m", "serbench", "run", str(BENCHMARKS / spec), "--results",
                           str(results), "--dry-run", "--json"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_ren2020_dev_and_test_plan_table_2(tmp_path):
    make_demos(tmp_path / "demos")
    env = {"SERBENCH_DATA_DEMOS": str(tmp_path / "demos")}
    dev = dry_run("ren2020.yaml", env, tmp_path / "r")
    test = dry_run("ren2020-test.yaml", env, tmp_path / "r")
    trains = 3 * 11  # CNN-4, ResNet-50, VGG-16 x single + vanilla and similarity at five eps; one split
    for plan, partition in ((dev, "valid"), (test, "test")):
        assert plan["totals"]["train_cells"] == trains
        assert plan["totals"]["eval_cells"] == trains * 6  # real + FGSM at five eps
        assert {c["partition"] for c in plan["cells"] if c["kind"] == "eval"} == {partition}
    keys = {c["key"] for c in dev["cells"] if c["kind"] == "train"}
    assert not keys & {c["key"] for c in test["cells"] if c["kind"] == "train"}  # test models: train+dev


def test_latif2020_plans_tables_1_to_3_and_cross_corpus(tmp_path):
    make_iemocap(tmp_path / "iemocap")
    make_msp_improv(tmp_path / "msp")
    env = {"SERBENCH_DATA_IEMOCAP": str(tmp_path / "iemocap"), "SERBENCH_DATA_MSP_IMPROV": str(tmp_path / "msp")}
    plan = dry_run("latif2020.yaml", env, tmp_path / "r")
    systems = 5 * 4  # five models x (none, mixup, speed, mixup + speed)
    folds = 10 + 12 + 1  # leave-one-speaker-out on IEMOCAP and MSP-IMPROV, one cross-corpus split
    assert plan["totals"]["train_cells"] == systems * folds
    # clean + FGSM + BIM + DEMAND at 3 SNRs within corpus; clean only across corpora
    assert plan["totals"]["eval_cells"] == systems * (22 * 6 + 1)
