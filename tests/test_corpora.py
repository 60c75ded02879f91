"""Corpus loaders on tiny fake trees: labels, speakers, sessions and folds asserted exactly; bad trees."""

from __future__ import annotations

import os
import time
from collections import Counter

import numpy as np
import pytest
import soundfile as sf
from test_corpus_fakes import (
    check_expected,
    make_crema_d,
    make_demos,
    make_emodb,
    make_iemocap,
    make_msp_improv,
    make_ravdess,
    make_tess,
    write_wav,
)

import serbench
from serbench.data import crema_d, demos, emodb, iemocap, msp_improv, ravdess, tess
from serbench.data.protocols import Fold, check_fold
from serbench.errors import DataError, SerbenchError


def speakers_of(corpus, ids):
    return {corpus[i].speaker for i in ids}


# -- IEMOCAP ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("nested", [True, False], ids=["IEMOCAP_full_release", "session-root"])
def test_iemocap_layouts(tmp_path, nested):
    expected = make_iemocap(tmp_path, nested=nested)
    corpus = iemocap(root=str(tmp_path))
    check_expected(corpus, expected)
    assert corpus.labels == ("angry", "happy", "neutral", "sad")
    assert Counter(u.label for u in corpus.utterances) == {"happy": 10, "neutral": 5, "angry": 5, "sad": 5}
    # speaker = session + the gender of the LAST token, not the dialog prefix
    assert corpus["Ses01F_impro01_M000"].speaker == "Ses01M"
    assert corpus["Ses03M_script01_1_F000"].speaker == "Ses03F"
    assert corpus.speakers == [f"Ses0{s}{g}" for s in range(1, 6) for g in "FM"]
    assert corpus.sessions == ["01", "02", "03", "04", "05"]
    assert not corpus.problems  # sidecars and Categorical/ are skipped silently


def test_fingerprint_survives_moving_the_copy(tmp_path):
    make_iemocap(tmp_path / "a", sessions=3)
    first = iemocap(root=str(tmp_path / "a"))
    (tmp_path / "a").rename(tmp_path / "b")
    moved = iemocap(root=str(tmp_path / "b"))
    assert moved.fingerprint() == first.fingerprint()
    assert iemocap(root=str(tmp_path / "b"), sample_rate=8000).fingerprint() != first.fingerprint()


def test_iemocap_protocols(tmp_path):
    make_iemocap(tmp_path)
    corpus = iemocap(root=str(tmp_path))
    loso = corpus.folds("leave-one-session-out")
    assert [f.name for f in loso] == [f"session-0{s}" for s in range(1, 6)]
    f0 = loso[0]
    assert speakers_of(corpus, f0.test) == {"Ses01F", "Ses01M"}
    assert speakers_of(corpus, f0.valid) == {"Ses02F", "Ses02M"}
    assert {corpus[i].session for i in f0.train} == {"03", "04", "05"}
    assert len(f0.test) == len(f0.valid) == 5 and len(f0.train) == 15
    lospk = corpus.folds("leave-one-speaker-out")
    assert len(lospk) == 10
    fold = corpus.fold("leave-one-speaker-out", "speaker-Ses01M")
    assert set(fold.test) == {"Ses01F_impro01_M000", "Ses01F_impro01_M001", "Ses01M_script01_1_M000"}
    assert set(fold.valid) == {"Ses01F_impro01_F000", "Ses01M_script01_1_F000"}
    assert {corpus[i].session for i in fold.train} == {"02", "03", "04", "05"}


def test_iemocap_reads_audio_lazily_at_target_rate(tmp_path):
    make_iemocap(tmp_path, sessions=3)
    corpus = iemocap(root=str(tmp_path), sample_rate=8000)
    wave = corpus.load_audio(corpus["Ses01F_impro01_F000"])
    assert wave.dtype == np.float32 and wave.shape == (400,)  # 0.05 s at 16 kHz -> 8 kHz


def test_iemocap_missing_label_file(tmp_path):
    make_iemocap(tmp_path)
    label = tmp_path / "IEMOCAP_full_release" / "Session2" / "dialog" / "EmoEvaluation" / "Ses02F_impro01.txt"
    label.unlink()
    with pytest.raises(DataError) as err:
        iemocap(root=str(tmp_path))
    assert str(label) in str(err.value) and "\n" not in str(err.value)


def test_iemocap_unknown_code(tmp_path):
    make_iemocap(tmp_path)
    label = tmp_path / "IEMOCAP_full_release" / "Session1" / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt"
    label.write_text(label.read_text().replace("\tneu\t", "\tzzz\t"))
    with pytest.raises(DataError, match="unknown emotion code 'zzz'") as err:
        iemocap(root=str(tmp_path))
    assert str(label) in str(err.value)


def test_iemocap_missing_wav_is_reported_not_fatal(tmp_path):
    make_iemocap(tmp_path)
    wav = (tmp_path / "IEMOCAP_full_release" / "Session4" / "sentences" / "wav" / "Ses04F_impro01"
           / "Ses04F_impro01_M001.wav")
    wav.unlink()
    corpus = iemocap(root=str(tmp_path))
    assert "Ses04F_impro01_M001" not in {u.id for u in corpus.utterances}
    assert [(p.kind, p.path) for p in corpus.problems] == [("missing", str(wav))]


# -- roots ------------------------------------------------------------------------------------------------


def test_root_from_environment(tmp_path, monkeypatch):
    expected = make_msp_improv(tmp_path)
    monkeypatch.setenv("SERBENCH_DATA_MSP_IMPROV", str(tmp_path))
    corpus = serbench.get("datasets", "msp-improv")
    check_expected(corpus, expected)


@pytest.mark.parametrize("name", ["iemocap", "msp-improv", "demos", "ravdess", "crema-d", "emodb", "tess"])
def test_missing_and_empty_roots(tmp_path, monkeypatch, name):
    var = "SERBENCH_DATA_" + name.upper().replace("-", "_")
    monkeypatch.delenv(var, raising=False)
    with pytest.raises(DataError, match=var):
        serbench.get("datasets", name)
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError) as err:
        serbench.get("datasets", name, root=str(missing))
    assert str(missing) in str(err.value) and var in str(err.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    write_wav(empty / "._sidecar.wav")  # a sidecar alone is still an empty copy
    with pytest.raises(DataError) as err:
        serbench.get("datasets", name, root=str(empty))
    assert str(empty) in str(err.value) and var in str(err.value) and "\n" not in str(err.value)


# -- MSP-IMPROV -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix,eval_dir", [("", ""), ("Audio", "Evaluation")])
def test_msp_improv_layouts_and_folds(tmp_path, prefix, eval_dir):
    expected = make_msp_improv(tmp_path, prefix, eval_dir)
    corpus = msp_improv(root=str(tmp_path))
    check_expected(corpus, expected)
    assert len(corpus.speakers) == 12 and corpus.sessions == [f"0{s}" for s in range(1, 7)]
    folds = corpus.folds("leave-one-session-out")
    assert len(folds) == 6
    assert speakers_of(corpus, folds[5].test) == {"F06", "M06"}
    assert speakers_of(corpus, folds[5].valid) == {"F01", "M01"}
    assert len(corpus.folds("leave-one-speaker-out")) == 12


def test_msp_improv_bad_trees(tmp_path):
    make_msp_improv(tmp_path)
    evaluation = tmp_path / "Evaluation.txt"
    text = evaluation.read_text()
    evaluation.write_text(text.replace("; H;", "; Q;", 1))
    with pytest.raises(DataError, match="unknown consensus label 'Q'") as err:
        msp_improv(root=str(tmp_path))
    assert str(evaluation) in str(err.value)
    evaluation.unlink()
    with pytest.raises(DataError, match=r"Evaluation\.txt") as err:
        msp_improv(root=str(tmp_path))
    assert str(tmp_path) in str(err.value)


# -- DEMoS ------------------------------------------------------------------------------------------------


def test_demos_ren2020_split(tmp_path):
    expected = make_demos(tmp_path)
    corpus = demos(root=str(tmp_path))
    check_expected(corpus, expected)  # neutral files are left out by default
    assert corpus.labels == ("angry", "disgust", "fear", "guilt", "happy", "sad", "surprise")
    assert len(corpus.speakers) == 68
    (fold,) = corpus.folds("ren2020")
    parts = {p: speakers_of(corpus, fold.partition(p)) for p in ("train", "valid", "test")}
    assert [len(parts[p]) for p in ("train", "valid", "test")] == [24, 22, 22]
    # gender balance: 23 F / 45 M spread in proportion (about 34 % female in each partition)
    females = {p: sum(s.startswith("F") for s in parts[p]) for p in parts}
    assert females == {"train": 8, "valid": 8, "test": 7}
    # deterministic: a second scan gives the same fold
    assert demos(root=str(tmp_path)).folds("ren2020")[0] == fold


def test_demos_neutral_and_bad_code(tmp_path):
    make_demos(tmp_path, females=2, males=2)
    corpus = demos(root=str(tmp_path), neutral=True)
    assert "neutral" in corpus.labels and Counter(u.label for u in corpus.utterances)["neutral"] == 4
    assert corpus["f_01_neu01a"].speaker == "F01"
    assert len(corpus.folds("ren2020")[0].test) > 0  # scaled to 4 speakers
    bad = write_wav(tmp_path / "DEMoS" / "DEMOS" / "PR_f_01_xyz01a.wav")
    with pytest.raises(DataError, match="unknown emotion code 'xyz'") as err:
        demos(root=str(tmp_path))
    assert str(bad) in str(err.value)


# -- RAVDESS ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("nested", [True, False], ids=["Audio_Speech_Actors_01-24", "Actor_NN"])
def test_ravdess_layouts_and_folds(tmp_path, nested):
    expected = make_ravdess(tmp_path, nested=nested)
    corpus = ravdess(root=str(tmp_path))
    check_expected(corpus, expected)  # the song file is skipped
    assert corpus["03-01-05-02-01-01-03"].gender == "M" and corpus["03-01-05-02-01-01-04"].gender == "F"
    folds = corpus.folds("speaker-kfold")
    # gender-balanced groups, females (02, 04, 06) dealt first, males continue the deal
    assert [(speakers_of(corpus, f.test), speakers_of(corpus, f.valid)) for f in folds] == [
        ({"02"}, {"04"}), ({"04"}, {"06"}), ({"06"}, {"01"}), ({"01"}, {"03"}), ({"03"}, {"05"}),
        ({"05"}, {"02"}),
    ]
    assert len(corpus.folds("leave-one-speaker-out")) == 6


def test_ravdess_copy_unpacked_twice(tmp_path):
    make_ravdess(tmp_path, actors=1, nested=True)
    make_ravdess(tmp_path, actors=1, nested=False)
    with pytest.raises(DataError, match="two copies of 03-01-01-01-01-01-01") as err:
        ravdess(root=str(tmp_path))
    assert str(tmp_path / "Actor_01" / "03-01-01-01-01-01-01.wav") in str(err.value)


# -- CREMA-D ----------------------------------------------------------------------------------------------


def test_crema_d_known_silent_file_is_left_out(tmp_path):
    expected = make_crema_d(tmp_path)
    corpus = crema_d(root=str(tmp_path))
    check_expected(corpus, expected)
    (problem,) = corpus.problems
    assert problem.kind == "excluded" and problem.path == str(tmp_path / "AudioWAV" / "1076_MTI_SAD_XX.wav")
    assert corpus["1001_DFA_ANG_HI"].gender == "M" and corpus["1002_DFA_ANG_HI"].gender == "F"
    folds = corpus.folds("speaker-kfold")
    assert len(folds) == 5
    assert sorted(s for f in folds for s in speakers_of(corpus, f.test)) == sorted(corpus.speakers)


def test_crema_d_without_demographics_and_bad_code(tmp_path):
    make_crema_d(tmp_path, demographics=False)
    corpus = crema_d(root=str(tmp_path))
    assert {u.gender for u in corpus.utterances} == {""}
    bad = write_wav(tmp_path / "AudioWAV" / "1001_DFA_XYZ_HI.wav")
    with pytest.raises(DataError, match="unknown emotion code 'XYZ'") as err:
        crema_d(root=str(tmp_path))
    assert str(bad) in str(err.value)


# -- EmoDB ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("folder", ["wav", "wav_corpus"])
def test_emodb_layouts_and_folds(tmp_path, folder):
    expected = make_emodb(tmp_path, folder)
    corpus = emodb(root=str(tmp_path))
    check_expected(corpus, expected)
    assert {u.speaker for u in corpus.utterances if u.gender == "M"} == {"03", "10", "11", "12", "15"}
    folds = corpus.folds()  # leave-one-speaker-out by default
    assert [f.name for f in folds] == [f"speaker-{s}" for s in corpus.speakers]
    assert speakers_of(corpus, folds[0].test) == {"03"} and speakers_of(corpus, folds[0].valid) == {"08"}
    kfold = corpus.folds("speaker-kfold")
    assert all(sorted(corpus[i].gender for i in f.test) == ["F", "F", "M", "M"] for f in kfold)


def test_emodb_bad_letter(tmp_path):
    make_emodb(tmp_path)
    bad = write_wav(tmp_path / "wav" / "03a01Xa.wav")
    with pytest.raises(DataError, match="unknown emotion letter 'X'") as err:
        emodb(root=str(tmp_path))
    assert str(bad) in str(err.value)


# -- TESS -------------------------------------------------------------------------------------------------


def test_tess_train_one_test_other(tmp_path):
    expected = make_tess(tmp_path)
    corpus = tess(root=str(tmp_path))
    check_expected(corpus, expected)
    assert "surprise" in corpus.labels and corpus["OAF_back_ps"].label == "surprise"
    folds = corpus.folds()
    assert [f.name for f in folds] == ["test-OAF", "test-YAF"]
    for fold, train_speaker in zip(folds, ["YAF", "OAF"], strict=True):
        assert fold.speaker_independent and fold.valid_shares_train_speakers
        assert speakers_of(corpus, fold.train) == speakers_of(corpus, fold.valid) == {train_speaker}
        assert speakers_of(corpus, fold.test) == {"OAF", "YAF"} - {train_speaker}
        valid_words = {corpus[i].meta["word"] for i in fold.valid}
        assert len(valid_words) == 1 and len(fold.valid) == 7  # one word of five, all seven emotions
        assert not valid_words & {corpus[i].meta["word"] for i in fold.train}


def test_fold_check_still_refuses_a_leaking_test_speaker(tmp_path):
    make_tess(tmp_path)
    corpus = tess(root=str(tmp_path))
    fold = corpus.folds()[0]
    leaky = Fold("leaky", fold.train + fold.test[:1], fold.valid, fold.test[1:],
                 valid_shares_train_speakers=True)
    with pytest.raises(SerbenchError, match="leaks speakers"):
        check_fold(corpus, leaky)


# -- listing is fast ------------------------------------------------------------------------------------


def test_listing_does_not_decode_audio(tmp_path):
    """A tree of corrupt files still lists: scanning never opens the audio."""
    expected = make_emodb(tmp_path)
    for path in (tmp_path / "wav").glob("*.wav"):
        if not path.name.startswith("._"):
            path.write_bytes(b"garbage")
    start = time.perf_counter()
    corpus = emodb(root=str(tmp_path))
    assert time.perf_counter() - start < 5
    check_expected(corpus, expected)
    with pytest.raises(DataError, match="cannot read audio") as err:
        corpus.load_audio(corpus["03a01Wa"])
    assert str(tmp_path / "wav" / "03a01Wa.wav") in str(err.value)


def test_tess_rate_resamples_fast_and_exactly(tmp_path):
    """24414 Hz -> 16 kHz: torchaudio's kernel for gcd 2 takes seconds; serbench goes polyphase."""
    path = write_wav(tmp_path / "YAF_bar_sad.wav", rate=24414, seconds=1.0, freq=440.0)
    corpus = tess(root=str(tmp_path))
    utt = corpus["YAF_bar_sad"]
    assert sf.info(utt.path).samplerate == 24414 and os.path.isabs(utt.path)
    start = time.perf_counter()
    wave = corpus.load_audio(corpus["YAF_bar_sad"])
    assert time.perf_counter() - start < 1.0
    expected = 0.3 * np.sin(2 * np.pi * 440.0 * np.arange(16000) / 16000)
    assert wave.shape == (16000,)
    np.testing.assert_allclose(wave[400:-400], expected[400:-400], atol=2e-3)  # int16 quantisation
    assert path.exists()
