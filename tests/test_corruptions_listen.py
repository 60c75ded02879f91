"""``serbench listen``: the corrupted audio a person hears is the audio the models were scored on."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import soundfile as sf
import torch
import yaml

import serbench
from serbench.corruptions import utterance_rngs

SPEC = {
    "name": "listen",
    "dataset": {"name": "synthetic", "params": {"utterances_per_class": 2}, "folds": [0]},
    "frontend": {"seconds": 1.0},
    "training": {"iterations": 2},
    "models": ["cnn4.tiny"],
    "corruptions": [{"name": "additive", "severity": [1, 5]}, {"name": "additive", "params": {"noise": "pink"},
                                                               "severity": [2]}],
}


def _listen(tmp_path, out):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    return subprocess.run([sys.executable, "-m", "serbench", "listen", str(spec), "--out", str(out),
                           "--seconds", "1"], capture_output=True, text=True)


def test_the_page_plays_every_severity_and_its_audio_is_the_evaluated_audio(tmp_path):
    done = _listen(tmp_path, tmp_path / "a")
    assert done.returncode == 0, done.stderr
    again = _listen(tmp_path, tmp_path / "b")
    assert again.returncode == 0
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in names:  # deterministic, byte for byte
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    page = (tmp_path / "a" / "index.html").read_text()
    audio = [n for n in names if n.endswith(".flac")]
    assert len(audio) == 2 * (1 + 3) and all(f'src="{n}"' in page for n in audio)
    corpus = serbench.get("datasets", "synthetic", utterances_per_class=2)
    clean = sorted(n for n in audio if n.startswith("clean-"))
    heard, rate = sf.read(tmp_path / "a" / "additive-noise-white-s5-" f"{clean[0][len('clean-'):]}", dtype="float32")
    uid = next(u.id for u in corpus.utterances if f"clean-{u.id.lower()}.flac".replace("_", "-") == clean[0])
    speech = torch.from_numpy(corpus.load_audio(corpus[uid])[:rate].astype(np.float32))[None]
    made = serbench.get("corruptions", "additive").apply(speech, rate, 5, utterance_rngs(0, "additive", 5, [uid]))
    assert np.abs(heard - made[0].numpy().clip(-1, 1)).max() <= 1 / 32768 + 1e-7


def test_a_spec_without_corruptions_is_refused(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({k: v for k, v in SPEC.items() if k != "corruptions"}))
    done = subprocess.run([sys.executable, "-m", "serbench", "listen", str(spec), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "no corruptions section" in done.stderr
