"""The papers' benchmark specs: every spec in benchmarks/ parses, and the paper matrices plan exactly the
cells the papers need on fake corpus trees (a dry run: nothing is trained)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from serbench.bench.spec import load_spec
from serbench.engine.lengths import length_policy
from serbench.features import LogSpectrogram
from serbench.leaderboard.layouts import latif2020
from test_corpus_fakes import make_demos, make_iemocap, make_msp_improv

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def ssl_weights_folder(root: Path) -> dict[str, str]:
    """A stand-in for $SERBENCH_SSL_CHECKPOINTS: files where ssl-checkpoints.yaml looks for weights. A spec is read
    and planned with them (their content keys the cells); only building the models would load them."""
    root.mkdir(parents=True, exist_ok=True)
    for arch in ("wav2vec2", "hubert", "wavlm"):
        (root / f"{arch}-base.pt").write_bytes(arch.encode())
    return {"SERBENCH_SSL_CHECKPOINTS": str(root)}


@pytest.mark.parametrize("path", sorted(BENCHMARKS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_benchmark_spec_parses(path, tmp_path, monkeypatch):
    for key, value in ssl_weights_folder(tmp_path / "ssl").items():
        monkeypatch.setenv(key, value)
    spec = load_spec(path)
    assert spec.name and spec.models


def test_the_checkpoint_spec_plans_waveform_cells_keyed_by_the_weights(tmp_path):
    make_iemocap(tmp_path / "iemocap")
    env = {"SERBENCH_DATA_IEMOCAP": str(tmp_path / "iemocap"), **ssl_weights_folder(tmp_path / "ssl")}
    plan = dry_run("ssl-checkpoints.yaml", env, tmp_path / "r")
    trains = [c for c in plan["cells"] if c["kind"] == "train"]
    assert plan["totals"]["train_cells"] == 4 * 5  # four encoders x IEMOCAP's five sessions
    (tmp_path / "ssl" / "wavlm-base.pt").write_bytes(b"other weights")
    again = dry_run("ssl-checkpoints.yaml", env, tmp_path / "r")
    changed = {c["key"] for c in trains} ^ {c["key"] for c in again["cells"] if c["kind"] == "train"}
    assert len(changed) == 2 * 5 * 2  # the two WavLM models' cells, and only theirs, follow the file's content


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


@pytest.mark.parametrize("name", ["ren2020.yaml", "ren2020-test.yaml"])
def test_ren2020_pads_to_the_papers_373_frames(name):
    """The paper pads every utterance to the longest: (373, 64) log-Mel images, not the 3.0 s default crop."""
    spec = load_spec(BENCHMARKS / name)
    policy = length_policy(spec.seconds, spec.segments, spec.frontend.hop_length, spec.frontend.sample_rate)
    frontend = LogSpectrogram(spec.frontend)
    assert policy.name == "pad_or_crop" and frontend.num_frames(policy.samples) == 373
    assert frontend(torch.zeros(1, policy.samples)).shape[-2:] == (64, 373)
    assert "5.96 s" in " ".join(spec.description.split())


@pytest.mark.slow  # plans 2 000+ cells on fake trees: about a minute on a shared CPU
def test_latif2020_plans_tables_1_to_3_and_cross_corpus(tmp_path):
    make_iemocap(tmp_path / "iemocap")
    make_msp_improv(tmp_path / "msp")
    env = {"SERBENCH_DATA_IEMOCAP": str(tmp_path / "iemocap"), "SERBENCH_DATA_MSP_IMPROV": str(tmp_path / "msp")}
    plan = dry_run("latif2020.yaml", env, tmp_path / "r")
    systems = 5 * 4  # five models x (none, mixup, speed, mixup + speed)
    folds = 10 + 12 + 1  # leave-one-speaker-out on IEMOCAP and MSP-IMPROV, one cross-corpus split
    repetitions = 10  # the paper's mean +- std over 10 repetitions
    assert plan["totals"]["train_cells"] == systems * folds * repetitions
    # clean + FGSM + BIM + DEMAND at 3 SNRs within corpus; clean only across corpora
    assert plan["totals"]["eval_cells"] == systems * (22 * 6 + 1) * repetitions
    assert {c["label"].rsplit(" seed ", 1)[1] for c in plan["cells"] if c["kind"] == "train"} == {
        str(s) for s in range(10)}


def test_latif2020_follows_the_paper():
    """10 seeds; whole utterances segmented (not 2 windows); the cross-corpus 30 % drawn at random."""
    spec = load_spec(BENCHMARKS / "latif2020.yaml")
    assert list(spec.seeds) == list(range(10))
    policy = length_policy(spec.seconds, spec.segments, spec.frontend.hop_length, spec.frontend.sample_rate)
    assert policy.name == "segments" and (policy.window, policy.hop) == (256, 256)
    assert policy.windows_for(35 * 16000) == 14  # IEMOCAP's longest (about 35 s) kept whole
    cross = [d for d in spec.datasets if d.resolved.info.name == "cross-corpus"]
    assert [d.resolved.params["draw"] for d in cross] == ["random"]
    notes = " ".join(latif2020([])[0].notes)  # the layout's caption states what remains different
    assert "up to 60 s" in notes and "random 30 %" in notes and "seeds 0-9" in notes
