"""Worst-case ensembles, transfer attacks and per-utterance predictions, through the real runner."""

from __future__ import annotations

import numpy as np
import pytest

from serbench.bench.runner import LocalRunner
from serbench.bench.spec import parse_spec
from serbench.bench.store import Store

SPEC = {
    "name": "conditions",
    "dataset": {"name": "synthetic", "params": {"utterances_per_class": 6}, "folds": [0]},
    "frontend": {"seconds": 1.0},
    "training": {"iterations": 40, "eval_every": 20, "batch_size": 16},
    "models": ["cnn4.tiny"],
    "worst_case": True,
    "attacks": [{"name": "fgsm", "eps": [0.01]}, {"name": "bim", "eps": [0.01], "params": {"steps": 3}}],
    "transfer": [{"source": {"model": "cnn4.small"}, "attack": "fgsm", "eps": [0.01]},
                 {"source": {"model": "cnn4.tiny"}, "attack": "fgsm", "eps": [0.01]}],
}


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("cond"))
    summary = LocalRunner(parse_spec(SPEC), store, device="cpu").run()
    assert summary.ok, summary.failed
    return list(store.records())


def by_type(records, kind):
    return [r for r in records if r["kind"] == "eval" and r["condition"]["type"] == kind]


def test_every_eval_record_carries_predictions_and_ids(records):
    evals = [r for r in records if r["kind"] == "eval"]
    assert len(evals) == 5  # clean, fgsm, bim, worst case, one transfer (self-transfer is skipped)
    for r in evals:
        assert len(r["metrics"]["ids"]) == r["metrics"]["n"] == 48
        if r["condition"]["type"] != "worst_case":
            assert len(r["metrics"]["predictions"]) == 48


def test_worst_case_is_the_per_utterance_minimum(records):
    (wc,) = by_type(records, "worst_case")
    attacks = by_type(records, "attack") + by_type(records, "transfer")  # transfers are inputs too (issue 21)
    assert wc["metrics"]["attacks"] == ["bim", "fgsm", "fgsm←cnn4.small"]
    ids = wc["metrics"]["ids"]
    labels = {"angry": 0, "happy": 1, "neutral": 2, "sad": 3}
    y = np.array([labels[i.split("_")[1]] for i in ids])
    survive = np.all([np.array(a["metrics"]["predictions"]) == y for a in attacks], axis=0)
    recall = [survive[y == c].mean() for c in range(4)]
    assert wc["metrics"]["uar"] == pytest.approx(np.mean(recall))
    assert wc["metrics"]["uar"] <= min(a["metrics"]["uar"] for a in attacks) + 1e-12


def test_transfer_trains_the_source_once_and_scores_the_target(records):
    trains = [r for r in records if r["kind"] == "train"]
    assert sorted(t["train"]["model"]["name"] for t in trains) == ["cnn4.small", "cnn4.tiny"]
    (tr,) = by_type(records, "transfer")
    assert tr["condition"]["source"]["model"]["name"] == "cnn4.small"
    assert tr["train"]["model"]["name"] == "cnn4.tiny"
    assert tr["metrics"]["perturbation"]["linf_max"] <= 0.01 + 1e-6


def test_records_carry_targets_and_compare_recomputes_their_uar(records):
    from serbench.analysis.compare import pair_runs

    evals = [r for r in records if r["kind"] == "eval"]
    labels = {"angry": 0, "happy": 1, "neutral": 2, "sad": 3}
    for r in evals:
        assert r["metrics"]["targets"] == [labels[i.split("_")[1]] for i in r["metrics"]["ids"]]
    pairing = pair_runs(records, records, {"type": "attack", "attack": "fgsm"}, {"type": "attack", "attack": "bim"},
                        replicates=200)
    (c,) = pairing.comparisons
    named = {r["condition"]["attack"]["name"]: r["metrics"]["uar"] for r in by_type(records, "attack")}
    assert (c.uar_a, c.uar_b) == (named["fgsm"], named["bim"])
    assert c.bootstrap.delta == pytest.approx(c.uar_b - c.uar_a, abs=1e-12)  # the bootstrap's UAR is the engine's
