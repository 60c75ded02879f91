"""The pytest plugin serbench ships for plugin authors: loaded by its entry point, cheap to import, and fixtures
that give what they promise."""

from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

import serbench

TREE_PLUGIN = """
import csv
from pathlib import Path

import serbench


@serbench.declare_protocols("leave-one-session-out")
def tree(root: str = ""):
    base = Path(root)
    with open(base / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    utts = [serbench.Utterance(id=r["id"], label=r["label"], speaker=r["speaker"], session=r["session"],
                               gender=r["gender"], path=str(base / r["file"])) for r in rows]
    return serbench.Corpus("test.tree", utts, ("angry", "happy", "neutral", "sad"), 16000,
                           {"leave-one-session-out": serbench.leave_one_session_out}, "leave-one-session-out",
                           loader=lambda u: serbench.read_audio(u.path, target_rate=16000)[0])
"""
SILENT_NOISE = """
import numpy as np
import serbench


class Silence(serbench.Noise):
    def sample(self, num_samples, sample_rate, rng):
        return np.zeros(num_samples, dtype=np.float32)
"""


def test_pytest_loads_it_by_its_entry_point(request):
    plugin = request.config.pluginmanager.get_plugin("serbench")
    assert plugin is not None and plugin.__name__ == "serbench.testing.pytest_plugin"


def test_importing_it_loads_neither_torch_nor_a_component():
    code = ("import sys, serbench.testing.pytest_plugin; "
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith(('serbench.models', "
            "'serbench.data', 'serbench.validation'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_trained_model_is_trained_and_consistent(serbench_trained_model):
    m = serbench_trained_model
    assert not m.model.training and m.x.shape[:2] == (len(m.y), 1) and m.labels == ("angry", "happy", "neutral", "sad")
    low, high = m.bounds
    assert float(m.x.min()) >= low and float(m.x.max()) <= high
    assert float(m.waves.abs().max()) <= 1.0
    assert m.accuracy() >= 0.4  # four classes: chance is 0.25
    with torch.no_grad():  # the waveform pipeline is the feature model behind its front end and scaler
        assert torch.allclose(m.pipeline(m.waves), m.model(m.x), atol=1e-4)


def test_corpus_tree_holds_what_its_manifest_says(serbench_corpus_tree):
    tree = serbench_corpus_tree
    with open(tree.manifest, newline="") as fh:
        assert tuple(csv.DictReader(fh)) == tree.rows
    assert len(tree.rows) == 48 and len({r["speaker"] for r in tree.rows}) == 6
    synthetic = serbench.get("datasets", "synthetic", sessions=3, utterances_per_class=2, max_seconds=0.5)
    for row in tree.rows[::7]:  # the synthesiser's audio, as 16-bit PCM
        wave, rate = sf.read(str(tree.root / row["file"]), dtype="float32")
        assert rate == 16000
        assert np.abs(wave - synthetic.load_audio(synthetic[row["id"]])).max() <= 1 / 32768 + 1e-7
    corpus = tree.corpus()
    assert [f.name for f in corpus.folds()] == ["session-01", "session-02", "session-03"]


def test_a_dataset_plugin_reading_the_tree_validates(installed, serbench_corpus_tree, serbench_validate):
    installed("serbench-test-tree", "dummy_tree", TREE_PLUGIN, {"serbench.datasets": {"test.tree": "dummy_tree:tree"}})
    report = serbench_validate("datasets", "test.tree", root=str(serbench_corpus_tree.root))
    assert report.ok and len(report.rows()) == 10


def test_validate_fails_the_test_naming_each_check(installed, serbench_validate):
    installed("serbench-test-silence", "dummy_silence", SILENT_NOISE,
              {"serbench.noises": {"test.silence": "dummy_silence:Silence"}})
    with pytest.raises(pytest.fail.Exception) as failed:
        serbench_validate("noises", "test.silence")
    assert str(failed.value) == ("serbench validate noises test.silence: 1 check(s) failed\n"
                                 "  shape, finite, not silent: samples are non-finite or all zero")


def test_generator_is_seeded_and_fresh(serbench_generator):
    assert serbench_generator.device.type == "cpu"
    expected = torch.rand(4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.rand(4, generator=serbench_generator), expected)
