"""A matrix decodes every file once: waveforms and features are cached by content, ids and front end."""

from __future__ import annotations

from serbench.bench.runner import LocalRunner
from serbench.bench.spec import parse_spec
from serbench.bench.store import Store
from serbench.data.synthetic import SyntheticCorpus


def test_each_file_is_decoded_once_across_models_and_reruns(tmp_path, monkeypatch):
    calls: list[str] = []
    original = SyntheticCorpus.load_audio

    def counting(self, utt):
        calls.append(utt.id)
        return original(self, utt)

    monkeypatch.setattr(SyntheticCorpus, "load_audio", counting)
    spec = {
        "dataset": {"name": "synthetic", "params": {"utterances_per_class": 3}, "folds": [0]},
        "frontend": {"seconds": 1.0}, "training": {"iterations": 4, "eval_every": 2, "batch_size": 8},
        "models": ["cnn4.tiny", "cnn.small"], "noises": [{"name": "white", "snr": [10]}],
    }
    store = Store(tmp_path)
    assert LocalRunner(parse_spec(spec), store, device="cpu").run().ok
    assert len(calls) == len(set(calls)) == 120  # every utterance of the fold's three partitions, once
    spec["models"] = ["cnn4.small"]
    assert LocalRunner(parse_spec(spec), store, device="cpu").run().ok
    assert len(calls) == 120  # a new model on the same fold decodes nothing
