"""A rerun that loads a saved model reads only the partitions its new cells evaluate (issue 20)."""

from __future__ import annotations

import serbench.bench.folds as folds
from serbench.bench.runner import LocalRunner
from serbench.bench.spec import parse_spec
from serbench.bench.store import Store

SPEC = {
    "name": "lazy",
    "dataset": {"name": "synthetic", "params": {"utterances_per_class": 3}, "folds": [0]},
    "frontend": {"seconds": 0.5},
    "training": {"iterations": 4, "eval_every": 2, "batch_size": 8},
    "models": ["cnn4.tiny"],
}


def test_a_rerun_with_a_saved_model_reads_only_the_test_partition(tmp_path, monkeypatch):
    store = Store(tmp_path)
    assert LocalRunner(parse_spec(SPEC), store, device="cpu").run().ok
    sizes = []
    real = folds.load_partition

    def spy(corpus, ids, policy, cache):
        sizes.append(len(ids))
        return real(corpus, ids, policy, cache)

    monkeypatch.setattr(folds, "load_partition", spy)
    more = parse_spec({**SPEC, "noises": [{"name": "white", "snr": [10]}]})  # one new cell, same model
    summary = LocalRunner(more, store, device="cpu").run()
    assert summary.ok and summary.computed == 1
    trained = LocalRunner(more, store, device="cpu").train_cells()[0]
    corpus = LocalRunner(more, store, device="cpu").corpus(0)
    test_size = len(corpus.fold(trained.data.protocol, trained.data.fold).partition("test"))
    assert sizes == [test_size]


def test_partitions_load_on_first_use_and_once():
    calls = []
    parts = folds.Partitions(lambda p: calls.append(p) or p)
    assert parts.loaded() == [] and list(parts) == ["train", "valid", "test"]
    assert parts["valid"] == "valid" and parts["valid"] == "valid"
    assert calls == ["valid"] and parts.loaded() == ["valid"]
