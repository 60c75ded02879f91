"""The front end agrees with librosa, is differentiable, and scales to [0, 1] from training data only."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from serbench.features import FeaturePipeline, FrontendConfig, LogSpectrogram, frontend_config
from serbench.normalization import normalization
from serbench.errors import SerbenchError


def test_ren_preset_parameters():
    c = frontend_config("ren2020")
    assert (c.sample_rate, c.n_fft, c.win_length, c.hop_length, c.n_mels) == (16000, 512, 512, 256, 64)
    with pytest.raises(SerbenchError, match="unknown front-end preset"):
        frontend_config("nope")


@pytest.mark.parametrize("top_db", [None, 80.0])
def test_log_mel_matches_librosa(top_db):
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    wave = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(16000)).astype(np.float32)
    ours = LogSpectrogram(FrontendConfig(top_db=top_db))(torch.from_numpy(wave)[None])[0, 0].double().numpy()
    mel = librosa.feature.melspectrogram(y=wave.astype(np.float64), sr=16000, n_fft=512, hop_length=256,
                                         win_length=512, n_mels=64, power=2.0, center=True, pad_mode="reflect")
    ref = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=top_db)
    assert ours.shape == ref.shape == (64, 16000 // 256 + 1)
    assert np.abs(ours - ref).max() < 0.05  # dB; float32 STFT vs float64


def test_shapes_range_and_gradient():
    waves = torch.randn(3, 32000) * 0.1
    fe = LogSpectrogram()
    feats = fe(waves)
    assert feats.shape == (3, 1, 64, 126)
    scaler = normalization("minmax").fit(feats[:2])
    scaled = scaler(fe(waves))
    assert scaled.min() >= 0.0 and scaled.max() <= 1.0
    assert float(scaler(feats[:2]).min()) == 0.0 and float(scaler(feats[:2]).max()) == 1.0
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64 * 126, 4))
    pipe = FeaturePipeline(fe, scaler, model)
    w = waves.clone().requires_grad_(True)
    pipe(w).sum().backward()
    assert w.grad is not None and w.grad.abs().sum() > 0


def test_scaler_refuses_constant_training_features():
    with pytest.raises(SerbenchError, match="constant"):
        normalization("minmax").fit(torch.zeros(2, 1, 64, 10))
