"""Shared, deterministic set-up for the attack tests: tiny eval-mode models and fixed batches.

Batches have 8 examples: a power of two, so a mean-reduced loss (torchattacks)
and a summed one (serbench, ART here) give gradients that differ by an exact
power-of-two factor, hence bit-identical signs and unit directions.
"""

from __future__ import annotations

import functools
import math

import torch

from serbench.features import FeaturePipeline, LogSpectrogram, frontend_config
from serbench.normalization import normalization
from serbench.models.cnn4 import CNN4

N_CLASSES = 4
BATCH = 8
SAMPLES = 4096  # 0.256 s at 16 kHz: 17 frames of hop 256


def feature_model(seed: int = 0) -> CNN4:
    torch.manual_seed(seed)
    return CNN4(num_classes=N_CLASSES, width=0.125).eval()


def feature_batch(seed: int = 1, interior: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(8, 1, 32, 24) features in [0, 1] (``interior``: in [0.25, 0.75], so no box constraint binds)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(BATCH, 1, 32, 24, generator=g)
    if interior:
        x = 0.25 + 0.5 * x
    else:  # some coordinates exactly on the bounds, as clipped scaled features are
        x[:, :, :2] = 0.0
        x[:, :, -1:] = 1.0
    y = torch.randint(0, N_CLASSES, (BATCH,), generator=g)
    return x, y


def synthetic_task(n: int = 64, seed: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 1, 32, 24) features in [0, 1]: noise plus a brighter band of 8 bins whose position is the class."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % N_CLASSES
    x = 0.3 * torch.rand(n, 1, 32, 24, generator=g)
    for k in range(N_CLASSES):
        x[y == k, :, 8 * k : 8 * k + 8] += 0.4
    return x.clamp(0, 1), y


@functools.cache
def _trained_state() -> dict[str, torch.Tensor]:
    model = feature_model(seed=11).train()
    x, y = synthetic_task()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(60):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return {k: v.clone() for k, v in model.state_dict().items()}


def trained_feature_model() -> CNN4:
    """Tiny CNN-4 trained on :func:`synthetic_task` (a healthy, non-constant model), eval mode."""
    model = feature_model(seed=11)
    model.load_state_dict(_trained_state())
    return model.eval()


def waveform_batch(seed: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """(8, 4096) waveforms in [-1, 1]: tones plus noise at different levels."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(SAMPLES) / 16000.0
    f0 = 200 + 600 * torch.rand(BATCH, 1, generator=g)
    level = 0.05 + 0.5 * torch.rand(BATCH, 1, generator=g)
    x = level * torch.sin(2 * math.pi * f0 * t) + 0.02 * torch.randn(BATCH, SAMPLES, generator=g)
    y = torch.randint(0, N_CLASSES, (BATCH,), generator=g)
    return x.clamp(-1, 1), y


def waveform_model(seed: int = 0) -> FeaturePipeline:
    """Front end (ren2020 log-Mel, 32 bins) + scaler fitted on the batch + tiny CNN-4, eval mode."""
    frontend = LogSpectrogram(frontend_config(n_mels=32))
    x, _ = waveform_batch()
    with torch.no_grad():
        scaler = normalization("minmax").fit(frontend(x))  # the [0, 1] domain the peers' defaults assume
    return FeaturePipeline(frontend, scaler, feature_model(seed)).eval()


def test_setup_is_deterministic() -> None:
    a, b = feature_model(), feature_model()
    x, _ = feature_batch()
    assert torch.equal(a(x), b(x)) and torch.equal(feature_batch()[0], x)
    w, _ = waveform_batch()
    assert float(w.abs().max()) <= 1.0 and torch.equal(waveform_model()(w), waveform_model()(w))
