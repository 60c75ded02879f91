"""The embedded corpus: deterministic, IEMOCAP-shaped, speaker-disjoint folds, learnable but not trivial."""

from __future__ import annotations

import numpy as np
import pytest

import serbench
from serbench.data.protocols import Fold, check_fold
from serbench.errors import SerbenchError


@pytest.fixture(scope="module")
def small():
    return serbench.get("datasets", "synthetic", utterances_per_class=3)


def test_structure_matches_iemocap(small):
    assert small.labels == ("angry", "happy", "neutral", "sad")
    assert small.sessions == ["01", "02", "03", "04", "05"]
    assert len(small.speakers) == 10
    for session in small.sessions:
        genders = sorted({u.gender for u in small.utterances if u.session == session})
        assert genders == ["F", "M"]
    assert len(small) == 10 * 4 * 3
    assert small.summary()["labels"] == {label: 30 for label in small.labels}


def test_deterministic_and_seed_dependent(small, tmp_path, monkeypatch):
    a = small.generate()
    b = serbench.get("datasets", "synthetic", utterances_per_class=3).generate()
    c = serbench.get("datasets", "synthetic", utterances_per_class=3, seed=1).generate()
    u = small.utterances[7].id
    assert np.array_equal(a[u], b[u])
    assert not np.array_equal(a[u], c[u])
    # Independent of corpus size: utterance 0 is the same whether 3 or 4 per class are generated.
    first = small.utterances[0].id
    assert np.array_equal(a[first], serbench.get("datasets", "synthetic", utterances_per_class=4).generate()[first])


def test_audio_is_cached_and_plausible(small):
    wave = small.load_audio(small.utterances[0])
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert 0.5 * 16000 < len(wave) <= 2.0 * 16000
    assert np.abs(wave).max() <= 1.0 and np.sqrt(np.mean(wave**2)) > 1e-3
    again = serbench.get("datasets", "synthetic", utterances_per_class=3)
    assert np.array_equal(again.load_audio(again.utterances[0]), wave)  # from the disk cache


def test_emotion_cues_follow_the_literature(small):
    audio = small.generate()

    def mean_rms(label):
        return np.mean([np.sqrt(np.mean(audio[u.id] ** 2)) for u in small.utterances if u.label == label])

    assert mean_rms("angry") > mean_rms("neutral") > mean_rms("sad")


@pytest.mark.parametrize("protocol,count", [("leave-one-session-out", 5), ("leave-one-speaker-out", 10)])
def test_protocols_are_speaker_disjoint(small, protocol, count):
    folds = small.folds(protocol)
    assert len(folds) == count
    for fold in folds:
        spk = {p: {small[i].speaker for i in fold.partition(p)} for p in ("train", "valid", "test")}
        assert not (spk["train"] & spk["test"]) and not (spk["train"] & spk["valid"])
        assert not (spk["valid"] & spk["test"])
        assert len(fold.train) + len(fold.valid) + len(fold.test) == len(small)
    if protocol == "leave-one-speaker-out":
        fold = folds[0]
        test_spk = {small[i].speaker for i in fold.test}
        valid_spk = {small[i].speaker for i in fold.valid}
        assert len(test_spk) == len(valid_spk) == 1
        assert {small[i].session for i in fold.test} == {small[i].session for i in fold.valid}


def test_leaky_fold_is_refused(small):
    ids = [u.id for u in small.utterances]
    leaky = Fold("leaky", tuple(ids[:50]), tuple(ids[50:60]), tuple(ids[55:70]))
    with pytest.raises(SerbenchError, match="two partitions"):
        check_fold(small, leaky)
    same_speaker = [u.id for u in small.utterances if u.speaker == "Ses01F"]
    train = [u.id for u in small.utterances if u.session in ("02", "03")]
    valid = [u.id for u in small.utterances if u.session == "04"]
    with pytest.raises(SerbenchError, match="leaks speakers \\['Ses01F'\\] between train and test"):
        check_fold(small, Fold("leaky", tuple(same_speaker[:6] + train), tuple(valid), tuple(same_speaker[6:])))
    with pytest.raises(SerbenchError, match="no protocol 'random'"):
        small.folds("random")
