"""`serbench data check|summary` on fake trees: usable copies pass, a silent file fails with its path."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from test_corpus_fakes import make_emodb, write_wav


def cli(*args):
    return subprocess.run([sys.executable, "-m", "serbench", "data", *args], capture_output=True, text=True,
                          env=dict(os.environ), timeout=180)


def test_check_and_summary(tmp_path):
    expected = make_emodb(tmp_path)
    ok = cli("check", "emodb", "--root", str(tmp_path))
    assert ok.returncode == 0, ok.stderr
    assert "usable" in ok.stdout
    summary = cli("summary", "emodb", "--root", str(tmp_path), "--json")
    data = json.loads(summary.stdout)
    labels = sorted(label for label, _, _ in expected.values())
    assert data["utterances"] == len(expected) == 20
    assert data["labels"] == {label: labels.count(label) for label in set(labels)}
    assert len(data["speakers"]) == 10 and data["usable"] is True
    write_wav(tmp_path / "wav" / "03a05Wa.wav", silent=True)
    bad = cli("check", "emodb", "--root", str(tmp_path))
    assert bad.returncode == 1
    assert "03a05Wa.wav: audio file is silent" in bad.stderr and "unusable" in bad.stdout


def test_missing_root_is_one_line(tmp_path):
    proc = cli("check", "emodb", "--root", str(tmp_path / "nope"))
    assert proc.returncode == 1 and "SERBENCH_DATA_EMODB" in proc.stderr and "Traceback" not in proc.stderr
