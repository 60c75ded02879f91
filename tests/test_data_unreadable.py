"""Unreadable files and folders of a local copy: one line naming the path and what to do, never a silent gap
or libsndfile's bare "System error."."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_corpus_fakes import make_emodb

from serbench.data import emodb
from serbench.data.audio import read_audio
from serbench.data.checks import check_corpus, probe_audio, usable
from serbench.errors import DataError


def test_a_dangling_link_is_named_with_what_to_do(tmp_path):
    make_emodb(tmp_path)
    link = tmp_path / "wav" / "03a09Wa.wav"
    link.symlink_to(tmp_path / "gone" / "03a09Wa.wav")  # listed as a file, but nothing can be read
    corpus = emodb(root=str(tmp_path))  # listing (and its fingerprint) still works
    assert corpus["03a09Wa"].path == str(link) and corpus.fingerprint()
    with pytest.raises(DataError) as info:
        read_audio(link)
    msg = str(info.value)
    assert msg.startswith(f"{link}: cannot open file (No such file or directory)") and "permissions" in msg
    assert "System error" not in msg and "\n" not in msg
    for decode in (True, False):
        problem = probe_audio(str(link), decode=decode)
        assert problem is not None and problem.kind == "unreadable" and "permissions" in problem.message
    problems = check_corpus(corpus)
    assert [p.kind for p in problems if p.severity == "error"] == ["unreadable"] and not usable(problems)


def test_a_folder_where_a_file_is_expected_is_named(tmp_path):
    folder = tmp_path / "03a01Wa.wav"
    folder.mkdir()
    with pytest.raises(DataError, match=rf"^{folder}: cannot open file \(Is a directory\); check that it exists"):
        read_audio(folder)


def test_an_unlistable_folder_is_an_error_not_a_gap(tmp_path, monkeypatch):
    make_emodb(tmp_path, folder="wav/batch1")
    (tmp_path / "wav" / "batch2").mkdir()
    blocked = tmp_path / "wav" / "batch2"
    real = os.scandir

    def scandir(path="."):  # tests run as root, where chmod 000 blocks nothing: only this OS call is simulated
        if Path(path) == blocked:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(DataError) as info:
        emodb(root=str(tmp_path))
    msg = str(info.value)
    assert msg.startswith(f"{blocked}: cannot list folder (Permission denied)") and "permissions" in msg
