"""check_corpus / summary: corrupt, empty and silent files reported with their path; counts; folds."""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf
from test_corpus_fakes import make_crema_d, make_emodb, make_iemocap

from serbench.data import crema_d, emodb, iemocap
from serbench.data.checks import check_corpus, probe_audio, summary, usable


def test_clean_copy_has_no_errors(tmp_path):
    make_emodb(tmp_path)
    corpus = emodb(root=str(tmp_path))
    problems = check_corpus(corpus)
    assert usable(problems)
    # two classes of seven are present in the fake tree: warned, not fatal
    assert {p.kind for p in problems} == {"labels", "folds"}
    assert all(p.severity == "warning" for p in problems)


def test_bad_files_are_reported_with_their_path(tmp_path):
    make_emodb(tmp_path)
    wav = tmp_path / "wav"
    sf.write(str(wav / "08a01Wa.wav"), np.zeros(800, dtype=np.float32), 16000)  # silent
    (wav / "09a01Wa.wav").write_bytes(b"RIFF\x00\x00garbage")  # corrupt
    sf.write(str(wav / "10a01Wa.wav"), np.zeros(0, dtype=np.float32), 16000)  # empty
    corpus = emodb(root=str(tmp_path))
    found = {(p.kind, p.path) for p in check_corpus(corpus) if p.severity == "error"}
    assert found == {
        ("silent", str(wav / "08a01Wa.wav")), ("corrupt", str(wav / "09a01Wa.wav")),
        ("empty", str(wav / "10a01Wa.wav")),
    }
    assert not usable(check_corpus(corpus))
    # header-only checks see corrupt and empty files, not silence
    quick = {(p.kind, p.path) for p in check_corpus(corpus, decode=False) if p.severity == "error"}
    assert quick == {("corrupt", str(wav / "09a01Wa.wav")), ("empty", str(wav / "10a01Wa.wav"))}
    for p in check_corpus(corpus):
        assert "\n" not in str(p)
    assert probe_audio(str(wav / "03a01Wa.wav")) is None


def test_known_silent_crema_file_is_a_warning(tmp_path):
    make_crema_d(tmp_path)
    problems = check_corpus(crema_d(root=str(tmp_path)))
    excluded = [p for p in problems if p.kind == "excluded"]
    assert len(excluded) == 1 and excluded[0].path.endswith("1076_MTI_SAD_XX.wav")
    assert usable(problems)


def test_broken_protocol_is_an_error(tmp_path):
    make_iemocap(tmp_path, sessions=2)  # leave-one-session-out needs three sessions
    problems = check_corpus(iemocap(root=str(tmp_path)), decode=False)
    assert any(p.kind == "folds" and p.severity == "error" and "3 sessions" in p.message for p in problems)
    assert not usable(problems)


def test_summary_is_plain_json(tmp_path):
    make_iemocap(tmp_path)
    corpus = iemocap(root=str(tmp_path))
    data = json.loads(json.dumps(summary(corpus)))
    assert data["utterances"] == 25 and data["labels"] == {"angry": 5, "happy": 10, "neutral": 5, "sad": 5}
    assert data["speakers"]["Ses01M"] == 3 and data["sessions"]["01"] == 5
    assert data["genders"] == {"F": 10, "M": 15}
    assert data["root"] == str(tmp_path)
    fold = data["protocols"]["leave-one-speaker-out"]["folds"][0]
    assert fold["name"] == "speaker-Ses01F"
    assert fold["test"] == {"utterances": 2, "speakers": ["Ses01F"]}
    assert fold["valid"] == {"utterances": 3, "speakers": ["Ses01M"]}
    assert fold["train"]["utterances"] == 20 and len(fold["train"]["speakers"]) == 8
    assert data["usable"] is True
    # each speaker acts two of the four classes in the fake tree: every leave-one-speaker-out test lacks some
    assert [p["kind"] for p in data["problems"]] == ["folds"] * 10
