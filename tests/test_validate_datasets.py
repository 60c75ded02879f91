"""`serbench validate datasets NAME`: corpora that work pass; each fault of a broken corpus fails with one line
naming it; a local corpus without its copy fails with one line naming the root."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from serbench.validation import validate
from test_corpus_fakes import (
    make_crema_d,
    make_demos,
    make_emodb,
    make_iemocap,
    make_msp_improv,
    make_ravdess,
    make_tess,
)

# A dataset plugin as a third party writes one: a manifest of files, read with serbench's public API. Its
# loader can be told to skip resampling (a classic plugin bug: the file's own rate is not the declared one).
MANIFEST_PLUGIN = """
import csv
from pathlib import Path

import numpy as np
import serbench

LABELS = ("angry", "happy", "neutral", "sad")


class Loader:
    def __init__(self, rate):
        self.rate = rate

    def __call__(self, utt):
        return serbench.read_audio(utt.path, target_rate=self.rate)[0]


@serbench.declare_protocols("leave-one-session-out")
def manifest(root: str = "", sample_rate: int = 16000, resample: bool = True):
    base = Path(root)
    with open(base / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    utts = [serbench.Utterance(id=r["id"], label=r["label"], speaker=r["speaker"], session=r["session"],
                               path=str(base / r["file"])) for r in rows]
    return serbench.Corpus("test.manifest", utts, LABELS, sample_rate,
                           {"leave-one-session-out": serbench.leave_one_session_out}, "leave-one-session-out",
                           loader=Loader(sample_rate if resample else None))


def drifting(utterances: int = 12):
    # audio from an unseeded generator and no content fingerprint: keys blind to the audio, runs irreproducible
    utts = [serbench.Utterance(id=f"u{i:02d}", label=LABELS[i % 4], speaker=f"s{i % 6}", session=f"{i % 3}")
            for i in range(utterances)]
    rng = np.random.default_rng()
    return serbench.Corpus("test.drifting", utts, LABELS, 16000,
                           {"leave-one-session-out": serbench.leave_one_session_out}, "leave-one-session-out",
                           loader=lambda u: (0.1 * rng.standard_normal(800)).astype(np.float32))
"""
LABELS = ("angry", "happy", "neutral", "sad")


def write_tree(root: Path) -> list[dict[str, str]]:
    """3 sessions x 2 speakers x 4 labels, one 0.1 s file each at 16 kHz, and manifest.csv listing them."""
    rows = []
    for s in (1, 2, 3):
        for gender in "FM":
            speaker = f"Ses0{s}{gender}"
            for k, label in enumerate(LABELS):
                rel = f"Session{s}/{speaker}_{label}.wav"
                t = np.arange(1600) / 16000
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                sf.write(str(root / rel), (0.3 * np.sin(2 * np.pi * (200 + 50 * k) * t)).astype(np.float32), 16000)
                rows.append({"id": f"{speaker}_{label}", "label": label, "speaker": speaker, "session": f"0{s}",
                             "file": rel})
    write_manifest(root, rows)
    return rows


def write_manifest(root: Path, rows: list[dict[str, str]]) -> None:
    with open(root / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def manifest(installed, tmp_path):
    """The manifest plugin installed (entry points, as pip leaves them) and a good tree; returns the tree."""
    installed("serbench-test-manifest", "dummy_manifest", MANIFEST_PLUGIN,
              {"serbench.datasets": {"test.manifest": "dummy_manifest:manifest",
                                     "test.drifting": "dummy_manifest:drifting"}})
    root = tmp_path / "tree"
    root.mkdir()
    return root, write_tree(root)


def failures(root: Path, **params) -> list[str]:
    return validate("datasets", "test.manifest", root=str(root), samples=100, **params).failures()


# -- corpora that work pass ---------------------------------------------------------------------------------


def test_synthetic_passes_every_check():
    report = validate("datasets", "synthetic")
    assert report.ok, report.failures()
    checks = dict((c, m) for c, _, m in report.rows())
    assert checks["protocol 'leave-one-session-out': folds built, speaker-disjoint"] == "5 folds, speaker-independent"
    assert checks["audio readable at the declared rate"] == "20 of 960 utterances decoded"


def test_espeak_passes_every_check(tmp_path, monkeypatch):
    pytest.importorskip("serbench_espeak", reason="install plugins/serbench-espeak (pip install -e)")
    monkeypatch.setenv("SERBENCH_CACHE", str(tmp_path))
    (name,) = [ep.name for ep in metadata.entry_points(group="serbench.datasets")  # the name it ships under
               if ep.dist is not None and ep.dist.metadata["Name"] == "serbench-espeak"]
    report = validate("datasets", name)
    assert report.ok, report.failures()


@pytest.mark.parametrize("name,make", [("emodb", make_emodb), ("iemocap", make_iemocap),
                                       ("msp-improv", make_msp_improv), ("demos", make_demos),
                                       ("ravdess", make_ravdess), ("crema-d", make_crema_d), ("tess", make_tess)])
def test_local_corpora_pass_on_a_copy(tmp_path, name, make):
    """Each built-in corpus read from a copy in its layout (48 kHz RAVDESS and 24.4 kHz TESS resampled)."""
    make(tmp_path)
    report = validate("datasets", name, root=str(tmp_path))
    assert report.ok, report.failures()


def test_the_good_tree_passes(manifest):
    root, _ = manifest
    assert failures(root) == []


# -- each fault fails with one line naming it --------------------------------------------------------------


def test_speaker_in_two_partitions(manifest):
    root, rows = manifest
    rows[0]["session"] = "02"  # Ses01F recorded once more in session 02: test of fold session-01, valid there
    write_manifest(root, rows)
    found = failures(root)
    assert found == ["protocol 'leave-one-session-out': folds built, speaker-disjoint: corpus 'test.manifest' "
                     "fold 'session-01' leaks speakers ['Ses01F'] between valid and test"]


def test_wrong_sample_rate(manifest):
    root, rows = manifest
    path = root / rows[5]["file"]
    sf.write(str(path), 0.3 * np.sin(np.arange(800) / 5).astype(np.float32), 8000)
    found = failures(root, resample=False)
    assert len(found) == 1 and found[0].startswith("audio readable at the declared rate: utterance Ses01M_happy")
    assert "holds 800 samples at 8000 Hz, load_audio returned 800, where 1600 are expected at the corpus's declared " \
           "16000 Hz" in found[0]
    assert failures(root) == []  # the same file through a resampling loader is what the corpus promises


def test_unreadable_file(manifest):
    root, rows = manifest
    path = root / rows[-1]["file"]
    path.write_bytes(b"RIFF not really audio")
    found = failures(root)
    assert len(found) == 1 and found[0].startswith(f"audio readable at the declared rate: {path}: cannot read audio")


def test_missing_file(manifest):
    root, rows = manifest
    (root / rows[3]["file"]).unlink()
    found = failures(root)
    assert found[0] == f"audio files exist: 1 of 24 audio files are missing, e.g. {root / rows[3]['file']} " \
                       f"({rows[3]['id']})"
    assert str(root / rows[3]["file"]) in found[1]


def test_unknown_label(manifest):
    root, rows = manifest
    rows[7]["label"] = "joy"
    write_manifest(root, rows)
    assert failures(root) == ["builds a Corpus: corpus 'test.manifest': labels ['joy'] are not in its label set "
                              "['angry', 'happy', 'neutral', 'sad']"]


def test_generated_audio_outside_the_key(manifest):
    report = validate("datasets", "test.drifting")
    found = report.failures()
    assert [f.split(":")[0] for f in found] == ["fingerprint stable and covers the audio", "audio deterministic"]
    assert "content_fingerprint() is empty" in found[0] and "gives other audio" in found[1]


# -- the command line ----------------------------------------------------------------------------------------


def cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SERBENCH_DATA_")}
    return subprocess.run([sys.executable, "-m", "serbench", *args], capture_output=True, text=True,
                          env={**base, **env}, timeout=300)


def test_cli_names_the_missing_root(tmp_path):
    unset = cli("validate", "datasets", "emodb")
    assert unset.returncode == 1 and unset.stdout == ""
    assert unset.stderr.count("\n") == 1 and "SERBENCH_DATA_EMODB" in unset.stderr
    gone = cli("validate", "datasets", "emodb", SERBENCH_DATA_EMODB=str(tmp_path / "nowhere"))
    assert gone.returncode == 1 and gone.stderr.count("\n") == 1 and str(tmp_path / "nowhere") in gone.stderr


def test_cli_checks_the_users_copy(tmp_path):
    make_emodb(tmp_path)
    ok = cli("validate", "datasets", "emodb", "--json", SERBENCH_DATA_EMODB=str(tmp_path))
    assert ok.returncode == 0, ok.stderr
    (tmp_path / "wav" / "03a01Wa.wav").write_bytes(b"broken")
    broken = cli("validate", "datasets", "emodb", "--json", SERBENCH_DATA_EMODB=str(tmp_path))
    assert broken.returncode == 1
    assert f"{tmp_path / 'wav' / '03a01Wa.wav'}: cannot read audio" in broken.stdout


def test_cli_takes_the_root_as_a_param(tmp_path):
    make_emodb(tmp_path)
    ok = cli("validate", "datasets", "emodb", "--json", "--param", f"root={tmp_path}")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["ok"] is True
    gone = cli("validate", "datasets", "emodb", "-p", f"root={tmp_path / 'nowhere'}")
    assert gone.returncode == 1 and gone.stderr.count("\n") == 1 and str(tmp_path / "nowhere") in gone.stderr
    bad = cli("validate", "datasets", "emodb", "-p", "root")
    assert bad.returncode == 2 and "KEY=VALUE" in bad.stderr
