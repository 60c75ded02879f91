"""The embedded eSpeak NG corpus (plugin serbench-espeak): registry, determinism, acted cues, folds."""

from __future__ import annotations

import numpy as np
import pytest

import serbench
from serbench.data.protocols import check_fold

pytest.importorskip("serbench_espeak", reason="install plugins/serbench-espeak (pip install -e)")

SMALL = {"sessions": 3, "sentences": 2}


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    monkeypatch.setenv("SERBENCH_CACHE", str(tmp_path / "cache"))
    return serbench.get("datasets", "espeak.acted", **SMALL)


def test_registered_as_a_plugin():
    assert "espeak.acted" in serbench.list_components("datasets")
    info = serbench.info("datasets", "espeak.acted")
    assert info.source == "serbench-espeak" and info.defaults["sample_rate"] == 16000


def test_layout_and_folds(corpus):
    assert len(corpus) == 3 * 2 * 4 * 2 and corpus.labels == ("angry", "happy", "neutral", "sad")
    assert corpus.speakers == [
        "en+f2", "en+m2", "en-gb-scotland+f3", "en-gb-scotland+m3", "en-us+f1", "en-us+m1",
    ]
    assert corpus.sessions == ["01", "02", "03"]
    assert {u.gender for u in corpus.utterances if u.speaker.endswith(("f1", "f2", "f3"))} == {"F"}
    loso = corpus.folds()
    assert [f.name for f in loso] == ["session-01", "session-02", "session-03"]
    for fold in loso + corpus.folds("leave-one-speaker-out"):
        check_fold(corpus, fold)
    fold = corpus.fold("leave-one-speaker-out", "speaker-en-us+f1")
    assert {corpus[i].speaker for i in fold.valid} == {"en-us+m1"}
    assert {corpus[i].session for i in fold.train} == {"02", "03"}


def test_deterministic_across_processes_and_cached(corpus, tmp_path, monkeypatch):
    first = {u.id: corpus.load_audio(u) for u in corpus.utterances}
    for w in first.values():
        assert w.dtype == np.float32 and w.ndim == 1 and 0.5 * 16000 < len(w) < 5 * 16000
    monkeypatch.setenv("SERBENCH_CACHE", str(tmp_path / "other"))  # a fresh generation, in a new process
    again = serbench.get("datasets", "espeak.acted", **SMALL)
    for u in again.utterances:
        np.testing.assert_array_equal(again.load_audio(u), first[u.id])
    cached = serbench.get("datasets", "espeak.acted", **SMALL)

    def fail():
        raise AssertionError("regenerated although cached")

    cached.generate = fail
    np.testing.assert_array_equal(cached.load_audio(cached.utterances[5]), first[cached.utterances[5].id])


def test_emotions_are_acted_through_prosody(corpus):
    def mean(label, fn):
        return float(np.mean([fn(corpus.load_audio(u)) for u in corpus.utterances if u.label == label]))

    duration = {lab: mean(lab, len) for lab in corpus.labels}
    loudness = {lab: mean(lab, lambda w: np.sqrt(np.mean(w**2))) for lab in corpus.labels}
    assert duration["sad"] > duration["neutral"] > duration["angry"]
    assert loudness["angry"] > loudness["happy"] > loudness["neutral"] > loudness["sad"]
    pitch = {lab: np.mean([corpus.prosody(u.id)["pitch"] for u in corpus.utterances if u.label == lab])
             for lab in corpus.labels}
    assert pitch["happy"] > pitch["neutral"] > pitch["sad"]


def test_bad_sizes():
    with pytest.raises(serbench.SerbenchError, match="sessions"):
        serbench.get("datasets", "espeak.acted", sessions=9)
