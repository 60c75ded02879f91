"""Clean predictions run under ``inference_mode``; attacks on the same cached inputs still differentiate them.

An inference tensor can never enter autograd, so anything an attack differentiates (the cached features,
the model's parameters and buffers) must not be made, or rewritten, inside :func:`predict`. These tests
predict first, then attack the very same tensors and models, and compare with a run that never predicted.
"""

from __future__ import annotations

import copy

import pytest
import torch
from test_attacks_setup import feature_batch, feature_model

import serbench
from serbench.attacks.base import ThreatModel
from serbench.bench.runner import LocalRunner
from serbench.bench.spec import parse_spec
from serbench.bench.store import Store
from serbench.engine.evaluate import evaluate_attack, predict
from serbench.engine.lengths import SegmentedClassifier

LABELS = ("a", "b", "c", "d")


def _models():
    recurrent = serbench.get("models", "cnn-lstm.small", num_classes=len(LABELS))
    recurrent(torch.zeros(2, 1, 32, 24))  # lazily sized layers, if any, are made outside inference mode
    return {"cnn4": feature_model(), "cnn-lstm": recurrent.eval(),
            "segments": SegmentedClassifier(feature_model(), 8, 8).eval()}


@pytest.mark.parametrize("name", ["cnn4", "cnn-lstm", "segments"])
@pytest.mark.parametrize("attack", [{"name": "fgsm", "eps": 0.05}, {"name": "pgd", "eps": 0.05, "steps": 3}])
def test_an_attack_after_clean_predictions_on_the_same_inputs_is_unchanged(name, attack):
    model = _models()[name]
    untouched = copy.deepcopy(model)
    x, y = feature_batch()
    clean = predict(model, x, batch_size=3)
    assert clean.is_inference() and not x.is_inference()
    with torch.no_grad():
        assert torch.equal(clean, model(x).float())  # batches of 3 or all at once: row by row the same
    assert not any(t.is_inference() for t in [*model.parameters(), *model.buffers()])
    threat = ThreatModel(eps=attack["eps"])
    params = {k: v for k, v in attack.items() if k != "name"}
    after, correct = evaluate_attack(attack["name"], serbench.get("attacks", attack["name"], **params), model, x, y,
                                     clean, LABELS, 4, threat=threat)
    with torch.no_grad():
        fresh_clean = untouched(x).float()
    never, fresh_correct = evaluate_attack(attack["name"], serbench.get("attacks", attack["name"], **params),
                                           untouched, x, y, fresh_clean, LABELS, 4, threat=threat)
    assert after["predictions"] == never["predictions"] and after["perturbation"] == never["perturbation"]
    assert (correct == fresh_correct).all()
    predict(model, x)  # and predicting again after the attack still works
    loss = torch.nn.functional.cross_entropy(model.train()(x), y)  # so does training the model
    loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_a_run_predicts_clean_then_attacks_and_mixes_noise_on_its_cached_features(tmp_path):
    """The runner's cached features and clean-logit memo: clean, then FGSM in both domains, then noise."""
    spec = {"name": "inference", "frontend": {"seconds": 1.0}, "models": ["cnn4.tiny"],
            "dataset": {"name": "synthetic", "params": {"utterances_per_class": 3}, "folds": [0]},
            "training": {"iterations": 4, "eval_every": 2, "batch_size": 8},
            "attacks": [{"name": "fgsm", "domain": "feature", "eps": [0.01, 0.05]},
                        {"name": "fgsm", "domain": "waveform", "eps": [0.001]}],
            "noises": [{"name": "white", "snr": [10]}]}
    store = Store(tmp_path)
    summary = LocalRunner(parse_spec(spec), store, device="cpu").run()
    records = [r for r in store.records() if r["kind"] == "eval"]
    assert summary.ok and all(r["status"] == "ok" for r in records), [r.get("error") for r in records]
    kinds = sorted(r["condition"]["type"] for r in records)
    assert kinds.count("attack") == 3 and "clean" in kinds and "noise" in kinds
