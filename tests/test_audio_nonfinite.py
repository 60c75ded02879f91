"""NaN or Inf audio is a named problem wherever audio is read: the reader, `data check`, corpora, and runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from test_corpus_fakes import make_emodb

from serbench.bench.runner import LocalRunner
from serbench.bench.spec import parse_spec
from serbench.bench.store import Store
from serbench.data import emodb
from serbench.data.audio import read_audio
from serbench.data.checks import check_corpus, probe_audio, usable
from serbench.data.corpus import Corpus, Utterance
from serbench.data.generated import GeneratedCorpus
from serbench.data.protocols import leave_one_session_out
from serbench.errors import DataError


def write_float_wav(path: Path, bad: float, rate: int = 16000, seconds: float = 0.05) -> Path:
    """A 32-bit float WAV (the subtype that can hold NaN and Inf) with one bad sample in a tone."""
    t = np.arange(int(rate * seconds)) / rate
    wave = (0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    wave[10] = bad
    sf.write(str(path), wave, rate, subtype="FLOAT")
    return path


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_the_reader_refuses_non_finite_audio_naming_the_file(tmp_path, bad):
    path = write_float_wav(tmp_path / "x.wav", bad)
    with pytest.raises(DataError) as info:
        read_audio(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: audio has 1 NaN or Inf samples") and "replace or re-export" in msg
    assert "\n" not in msg
    with pytest.raises(DataError, match="NaN or Inf"):
        read_audio(path, target_rate=8000)


def test_data_check_reports_non_finite_files(tmp_path):
    make_emodb(tmp_path)
    bad = write_float_wav(tmp_path / "wav" / "03a01Wa.wav", np.nan)
    problem = probe_audio(str(bad))
    assert problem is not None and problem.kind == "nonfinite" and problem.path == str(bad)
    assert probe_audio(str(tmp_path / "wav" / "08a01Wa.wav")) is None
    problems = check_corpus(emodb(root=str(tmp_path)))
    assert [p.kind for p in problems if p.severity == "error"] == ["nonfinite"] and not usable(problems)
    proc = subprocess.run([sys.executable, "-m", "serbench", "data", "check", "emodb", "--root", str(tmp_path)],
                          capture_output=True, text=True, timeout=180, env=dict(os.environ))
    assert proc.returncode == 1 and "unusable" in proc.stdout
    assert f"{bad}: audio has 1 NaN or Inf samples" in proc.stderr


def test_a_corpus_loader_and_a_generator_yielding_non_finite_audio_are_refused(tmp_path, monkeypatch):
    utts = [Utterance(f"u{s}{c}", c, f"spk{s}", f"s{s}") for s in range(3) for c in "ab"]

    def loader(u: Utterance) -> np.ndarray:
        return np.full(100, np.nan if u.id == "u1a" else 0.1, dtype=np.float32)

    corpus = Corpus("plugin", utts, ("a", "b"), 16000, {"p": leave_one_session_out}, "p", loader=loader)
    assert corpus.load_audio(corpus["u0a"]).shape == (100,)
    with pytest.raises(DataError, match=r"^corpus 'plugin' utterance u1a \(no file\): audio has 100 NaN"):
        corpus.load_audio(corpus["u1a"])

    class Broken(GeneratedCorpus):
        def cache_key(self) -> str:
            return "broken"

        def generate(self) -> dict[str, np.ndarray]:
            return {u.id: loader(u) for u in self.utterances}

    monkeypatch.setenv("SERBENCH_CACHE", str(tmp_path))
    gen = Broken("gen", utts, ("a", "b"), 16000, {"p": leave_one_session_out}, "p")
    with pytest.raises(DataError, match=r"corpus 'gen': its generator produced unusable audio \(utterance u1a"):
        gen.load_audio(gen["u0a"])
    assert not list(tmp_path.rglob("*.npz"))  # nothing cached


@pytest.mark.slow
def test_a_run_on_non_finite_test_audio_fails_its_cells_naming_the_file(tmp_path):
    make_emodb(tmp_path / "emodb")
    bad = write_float_wav(tmp_path / "emodb" / "wav" / "03a01Wa.wav", np.nan)  # speaker 03: fold 0's test
    spec = parse_spec({
        "dataset": {"name": "emodb", "params": {"root": str(tmp_path / "emodb")}, "folds": [0]},
        "frontend": {"seconds": 0.1}, "training": {"iterations": 1, "eval_every": 1, "batch_size": 4},
        "models": ["cnn4.tiny"], "noises": [{"name": "white", "snr": [10]}],
    })
    assert spec.datasets[0].protocol == "leave-one-speaker-out"
    summary = LocalRunner(spec, Store(tmp_path / "results"), device="cpu").run()
    assert summary.computed == 0 and len(summary.failed) == 2  # clean and noise: neither is "ok"
    for _, reason in summary.failed:
        assert f"{bad.relative_to(tmp_path / 'emodb')}: audio has 1 NaN or Inf samples" in reason
