"""serbench compare: pairing records of two runs (or two systems in one run) and testing each pair."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score
from typer.testing import CliRunner

from serbench.bench.store import Store
from serbench.cli.main import app
from serbench.errors import SerbenchError
from serbench.analysis.compare import pair_runs, parse_where

LABELS = ["angry", "happy", "neutral", "sad"]
N = 300


def _predictions(seed: int, skill: float) -> tuple[list[int], list[int]]:
    rng = np.random.default_rng(seed)
    y = np.arange(N) % 4
    pred = np.where(rng.random(N) < skill, y, (y + 1) % 4)
    return y.tolist(), pred.tolist()


def rec(n, defense, seed, cond, skill, ids=None, fold=0, draw=None):
    """An eval record; ``draw`` (default: from seed and fold) seeds its predictions."""
    y, pred = _predictions(100 * seed + fold if draw is None else draw, skill)
    ids = ids or [f"u{i:04d}" for i in range(N)]
    return {
        "key": f"{n:064x}", "kind": "eval", "status": "ok", "spec_name": "s", "partition": "test",
        "train": {"dataset": {"name": "synthetic", "params": {"root": f"/data/{n}"}, "protocol": "p", "fold": fold},
                  "frontend": {"preset": "ren2020"}, "training": {"iterations": 10},
                  "model": {"name": "cnn4", "params": {}}, "defense": {"name": defense, "params": {}}, "seed": seed},
        "condition": cond, "metrics": {"uar": balanced_accuracy_score(y, pred), "labels": LABELS,
                                       "predictions": pred, "targets": y, "ids": ids},
    }


CLEAN = {"type": "clean"}
FGSM = {"type": "attack", "attack": {"name": "fgsm", "params": {}},
        "threat": {"domain": "feature", "norm": "linf", "eps": 0.01}}


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "run")
    n = 0
    for defense, skill in (("standard", 0.55), ("vanilla-adv", 0.75)):
        for seed in (0, 1):
            for cond, drop in ((CLEAN, 0.0), (FGSM, 0.2)):
                n += 1
                s.write(rec(n, defense, seed, cond, skill - drop))
    return s


def test_two_defenses_in_one_run_pair_per_condition_pooled_over_seeds(store):
    pairing = pair_runs(store.records(), store.records(), parse_where(["defense=standard"], "--a-where"),
                        parse_where(["defense=vanilla-adv"], "--b-where"), replicates=300)
    assert [c.condition for c in pairing.comparisons] == ["clean", "fgsm 0.01"]
    clean = pairing.comparisons[0]
    assert clean.cells == 2 and clean.n == N  # two seeds of one fold: the same N utterances, not 2 N samples
    assert (clean.a, clean.b) == ("cnn4 / standard", "cnn4 / vanilla-adv")
    assert clean.uar_b - clean.uar_a == pytest.approx(clean.bootstrap.delta)
    assert clean.p_z < 1e-6 and clean.bootstrap.p < 0.01
    assert pairing.unmatched_a == pairing.unmatched_b == pairing.no_predictions == 0


def test_two_runs_of_one_matrix_pair_cell_by_cell_whatever_the_data_root(store, tmp_path):
    other = Store(tmp_path / "other")
    for r in store.records():
        r = {**r, "train": {**r["train"], "dataset": {**r["train"]["dataset"], "params": {"root": "/elsewhere"}}}}
        m = r["metrics"]  # the same cell scored in another order: aligned by utterance id
        order = list(reversed(range(N)))
        other.write({**r, "metrics": {**m, "ids": [m["ids"][i] for i in order],
                                      "predictions": [m["predictions"][i] for i in order],
                                      "targets": [m["targets"][i] for i in order]}})
    pairing = pair_runs(store.records(), other.records(), replicates=200)
    assert len(pairing.comparisons) == 4  # 2 defenses x 2 conditions, seeds pooled
    for c in pairing.comparisons:
        assert c.uar_a == pytest.approx(c.uar_b) and c.bootstrap.delta == pytest.approx(0.0)
        assert c.bootstrap.p == 1.0 and c.p_z == pytest.approx(0.5)


def test_different_utterances_are_refused(store, tmp_path):
    other = Store(tmp_path / "other")
    for r in store.records():
        other.write({**r, "metrics": {**r["metrics"], "ids": [f"x{i}" for i in range(N)]}})
    with pytest.raises(SerbenchError, match="scored different utterances"):
        pair_runs(store.records(), other.records(), replicates=100)


def test_ambiguous_partner_is_refused(store):
    with pytest.raises(SerbenchError, match="matches 2 records of B; narrow --b-where"):
        pair_runs(store.records(), store.records(), {"defense": "standard"}, {}, replicates=100)


@pytest.mark.parametrize("item,message", [
    ("defence=standard", "unknown field 'defence'; did you mean 'defense'?"),
    ("defense", "write FIELD=VALUE"),
])
def test_where_errors_name_the_option(item, message):
    with pytest.raises(SerbenchError, match=message):
        parse_where([item], "--a-where")


def test_where_values_are_yaml():
    assert parse_where(["eps=0.01", "model=[cnn4, vgg*]"], "--b-where") == {"eps": 0.01, "model": ["cnn4", "vgg*"]}


def test_cli_table_json_and_no_match(store):
    runner = CliRunner()
    root = str(store.root)
    res = runner.invoke(app, ["compare", root, "--a-where", "defense=standard", "--b-where", "defense=vanilla-adv",
                              "--replicates", "200", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert [c["condition"] for c in data["comparisons"]] == ["clean", "fgsm 0.01"]
    assert all(c["bootstrap"]["p"] < 0.05 for c in data["comparisons"])
    res = runner.invoke(app, ["compare", root, "--a-where", "defense=standard", "--b-where", "defense=vanilla-adv",
                              "--replicates", "200"])
    assert res.exit_code == 0 and "***" in res.output and "fgsm 0.01" in res.output
    res = runner.invoke(app, ["compare", root, "--a-where", "defense=standard", "--b-where", "defense=none"])
    assert res.exit_code == 1


def _copied_seeds(tmp_path, name, seeds, folds=(0,)):
    """A run whose every seed of a fold repeats seed 0's predictions exactly (for A and B)."""
    s, n = Store(tmp_path / name), 0
    for fold in folds:
        for seed in range(seeds):
            for defense, skill, draw in (("standard", 0.55, 1), ("vanilla-adv", 0.57, 2)):
                n += 1
                s.write(rec(n, defense, seed, CLEAN, skill, fold=fold, draw=10 * fold + draw))
    return s


def test_copying_predictions_as_more_seeds_changes_no_statistic(tmp_path):
    def compare(store):
        (c,) = pair_runs(store.records(), store.records(), {"defense": "standard"}, {"defense": "vanilla-adv"},
                         replicates=500, seed=7).comparisons
        return c

    one, ten = compare(_copied_seeds(tmp_path, "one", 1)), compare(_copied_seeds(tmp_path, "ten", 10))
    assert (one.cells, ten.cells) == (1, 10) and one.n == ten.n == N
    assert 0.1 < one.p_z < 0.6 and 0.1 < one.bootstrap.p < 0.6  # not significant: more copies must not make it so
    assert ten.p_z == pytest.approx(one.p_z, rel=1e-9) and ten.z == pytest.approx(one.z, rel=1e-9)
    assert (ten.bootstrap.p, ten.bootstrap.low, ten.bootstrap.high) == (one.bootstrap.p, one.bootstrap.low,
                                                                      one.bootstrap.high)
    assert ten.bootstrap.delta == pytest.approx(one.bootstrap.delta, abs=1e-12)


def test_folds_are_distinct_utterances_resampled_within_their_fold(tmp_path):
    store = _copied_seeds(tmp_path, "folds", 3, folds=(0, 1))  # same id strings, different test sets
    (c,) = pair_runs(store.records(), store.records(), {"defense": "standard"}, {"defense": "vanilla-adv"},
                     replicates=300).comparisons
    assert (c.cells, c.folds, c.n) == (6, 2, 2 * N)
    assert c.bootstrap.delta == pytest.approx(c.uar_b - c.uar_a, abs=1e-12)  # the leaderboard's mean difference


def test_seeds_that_disagree_on_a_label_are_refused(tmp_path):
    records = []
    for r in _copied_seeds(tmp_path, "bad", 2).records():
        if r["train"]["seed"] == 1:  # seed 1 (A and B) relabels the first utterance
            m = r["metrics"]
            targets = [(m["targets"][0] + 1) % 4] + m["targets"][1:]
            r = {**r, "metrics": {**m, "targets": targets, "uar": balanced_accuracy_score(targets, m["predictions"])}}
        records.append(r)
    with pytest.raises(SerbenchError, match="other seed.* of its fold: utterance 'u0000' is labelled"):
        pair_runs(records, records, {"defense": "standard"}, {"defense": "vanilla-adv"}, replicates=100)


def test_cli_test_option_selects_the_marks(tmp_path):
    root = str(_copied_seeds(tmp_path, "cli", 2).root)
    runner = CliRunner()
    args = ["compare", root, "--a-where", "defense=standard", "--b-where", "defense=vanilla-adv", "--replicates", "200"]
    boot = json.loads(runner.invoke(app, [*args, "--json"]).output)
    ztest = json.loads(runner.invoke(app, [*args, "--json", "--test", "ztest"]).output)
    assert boot["test"] == "bootstrap" and boot["comparisons"][0]["p"] == boot["comparisons"][0]["bootstrap"]["p"]
    assert ztest["test_name"] == "Ren et al.'s z-test (unpaired, as in the paper)"
    assert ztest["comparisons"][0]["p"] == ztest["comparisons"][0]["z_test"]["p"] == ztest["comparisons"][0]["p_z"]
    assert boot["comparisons"][0]["utterances"] == N
    res = runner.invoke(app, [*args, "--test", "ztest"])
    assert res.exit_code == 0 and "Ren et al.'s z-test (unpaired, as in the paper)" in " ".join(res.output.split())
    res = runner.invoke(app, [*args])
    assert res.exit_code == 0 and "paired bootstrap over utterances" in " ".join(res.output.split())
    res = runner.invoke(app, [*args, "--test", "t-test"])
    assert res.exit_code == 2 and "unknown test 't-test'" in res.output
