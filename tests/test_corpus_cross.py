"""Cross-corpus pairs: Latif et al.'s IEMOCAP -> MSP-IMPROV with a 30 % speaker-disjoint selection."""

from __future__ import annotations

import numpy as np
import pytest
from test_corpus_fakes import make_emodb, make_iemocap, make_msp_improv

import serbench
from serbench.data import emodb, iemocap, msp_improv
from serbench.data.cross_corpus import CrossCorpus
from serbench.errors import SerbenchError


@pytest.fixture
def pair_roots(tmp_path):
    make_iemocap(tmp_path / "iemocap")
    make_msp_improv(tmp_path / "msp")
    return str(tmp_path / "iemocap"), str(tmp_path / "msp")


def test_latif_pair(pair_roots):
    src, tgt = pair_roots
    pair = serbench.get("datasets", "cross-corpus", source="iemocap", target="msp-improv",
                        source_params={"root": src}, target_params={"root": tgt})
    assert pair.labels == ("angry", "happy", "neutral", "sad")
    (fold,) = pair.folds()  # checked speaker-disjoint when built
    assert {pair[i].meta["corpus"] for i in fold.train} == {"iemocap"} and len(fold.train) == 25
    valid_speakers = {pair[i].speaker for i in fold.valid}
    test_speakers = {pair[i].speaker for i in fold.test}
    assert len(valid_speakers) == 4 and len(test_speakers) == 8  # 4 of 12 equal speakers: closest to 30 %
    assert sorted(s.split("/")[1][0] for s in valid_speakers) == ["F", "F", "M", "M"]
    assert len(fold.valid) / (len(fold.valid) + len(fold.test)) == pytest.approx(1 / 3)
    again = serbench.get("datasets", "cross-corpus", source="iemocap", target="msp-improv",
                         source_params={"root": src}, target_params={"root": tgt})
    assert again.folds()[0] == fold
    utt = pair[fold.test[0]]
    original = pair.target[utt.meta["original_id"]]
    np.testing.assert_array_equal(pair.load_audio(utt), pair.target.load_audio(original))
    (source_valid,) = pair.folds("source-valid")
    assert {pair[i].meta["corpus"] for i in source_valid.test} == {"msp-improv"}
    assert {pair[i].meta["corpus"] for i in source_valid.valid} == {"iemocap"}


def test_label_mapping(tmp_path, pair_roots):
    make_emodb(tmp_path / "emodb")
    src = iemocap(root=pair_roots[0])
    tgt = emodb(root=str(tmp_path / "emodb"))
    pair = CrossCorpus(src, tgt)
    assert pair.labels == ("angry", "happy", "neutral", "sad")  # EmoDB's boredom, disgust, fear: dropped
    mapped = CrossCorpus(src, tgt, mapping={"source": {"sad": "neutral"}, "emodb": {"boredom": "neutral"}})
    assert mapped.labels == ("angry", "happy", "neutral")
    source = [u for u in mapped.utterances if u.meta["role"] == "source"]
    assert sum(u.label == "neutral" for u in source) == 10 and len(source) == 25
    assert {u.meta["original_label"] for u in source if u.label == "neutral"} == {"neutral", "sad"}
    with pytest.raises(SerbenchError, match="does not have"):
        CrossCorpus(src, tgt, mapping={"target": {"anger": "angry"}})
    with pytest.raises(SerbenchError, match="not shared"):
        CrossCorpus(src, tgt, labels=["angry", "boredom"])
    with pytest.raises(SerbenchError, match="sample_rate"):
        CrossCorpus(src, msp_improv(root=pair_roots[1], sample_rate=8000))


def test_random_draw_follows_latif_and_lets_speakers_overlap(pair_roots):
    """Latif et al. draw the 30 % of MSP-IMPROV at random: per class, reproducibly, speakers on both sides."""
    src, tgt = pair_roots
    params = {"source": "iemocap", "target": "msp-improv", "source_params": {"root": src},
              "target_params": {"root": tgt}}
    pair = serbench.get("datasets", "cross-corpus", draw="random", **params)
    (fold,) = pair.folds()
    assert not fold.speaker_independent and {pair[i].meta["corpus"] for i in fold.train} == {"iemocap"}
    assert {pair[i].meta["corpus"] for i in fold.valid + fold.test} == {"msp-improv"}
    for label in pair.labels:  # 12 fake utterances per class: round(0.3 x 12) = 4 selected
        assert sum(pair[i].label == label for i in fold.valid) == 4
        assert sum(pair[i].label == label for i in fold.test) == 8
    assert {pair[i].speaker for i in fold.valid} & {pair[i].speaker for i in fold.test}
    assert serbench.get("datasets", "cross-corpus", draw="random", **params).folds()[0] == fold
    other = serbench.get("datasets", "cross-corpus", draw="random", seed=1, **params).folds()[0]
    assert set(other.valid) != set(fold.valid)
    assert pair.describe()["draw"] == "random"
    assert pair.content_fingerprint() != serbench.get("datasets", "cross-corpus", **params).content_fingerprint()
    default = serbench.get("datasets", "cross-corpus", **params).folds()[0]  # unchanged: speaker-disjoint
    assert default.speaker_independent
    assert not {pair[i].speaker for i in default.valid} & {pair[i].speaker for i in default.test}
    with pytest.raises(SerbenchError, match="draw 'speakers' is unknown"):
        serbench.get("datasets", "cross-corpus", draw="speakers", **params)
