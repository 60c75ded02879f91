"""Front end: waveform -> log-Mel features -> [0, 1], differentiable end to end.

Runs with torchaudio on the model's device so waveform-domain attacks get
gradients through it. The scaler's statistics are fitted on the training
partition only; scaling maps the training range onto [0, 1] so an attack's eps
means "a fraction of the feature range" for every corpus and every library.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torchaudio
from torch import nn

from serbench.errors import SerbenchError

FEATURE_RANGE = (0.0, 1.0)


@dataclass(frozen=True)
class FrontendConfig:
    """Log-Mel parameters. Mel scale and norm follow librosa's defaults (slaney)."""

    sample_rate: int = 16000
    n_fft: int = 512
    win_length: int = 512
    hop_length: int = 256
    n_mels: int = 64
    f_min: float = 0.0
    f_max: float | None = None
    log_floor: float = 1e-10
    # As librosa.power_to_db(top_db=...): clamp each utterance at (its max - top_db) dB. Off by default
    # (Ren et al. use the plain log-Mel); with it, white noise at 20 dB SNR already sits above the floor
    # of every training utterance and clean-trained models collapse, which hides the SNR trend.
    top_db: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


PRESETS: dict[str, FrontendConfig] = {
    # Ren et al. 2020: 16 kHz, window 512, hop 256, 64 Mel bins.
    "ren2020": FrontendConfig(),
}


def frontend_config(preset: str = "ren2020", **overrides: Any) -> FrontendConfig:
    if preset not in PRESETS:
        raise SerbenchError(f"unknown front-end preset {preset!r}; presets: {', '.join(sorted(PRESETS))}")
    try:
        return FrontendConfig(**{**PRESETS[preset].as_dict(), **overrides})
    except TypeError as exc:
        raise SerbenchError(f"front end: {exc}") from None


class LogMel(nn.Module):
    """(B, samples) waveform -> (B, 1, n_mels, frames) log power Mel spectrogram (dB)."""

    def __init__(self, config: FrontendConfig | None = None) -> None:
        super().__init__()
        self.config = config or FrontendConfig()
        c = self.config
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=c.sample_rate, n_fft=c.n_fft, win_length=c.win_length, hop_length=c.hop_length,
            f_min=c.f_min, f_max=c.f_max, n_mels=c.n_mels, power=2.0, norm="slaney", mel_scale="slaney",
            center=True, pad_mode="reflect",
        )

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        spec = self.mel(wave.float())
        db = 10.0 * torch.log10(spec.clamp_min(self.config.log_floor))
        if self.config.top_db is not None:
            floor = db.amax(dim=(-2, -1), keepdim=True) - self.config.top_db
            db = torch.maximum(db, floor)
        return db.unsqueeze(1)


class MinMaxScaler(nn.Module):
    """Maps the training features' [min, max] onto [0, 1]; values outside are clipped."""

    def __init__(self, low: float = 0.0, high: float = 1.0) -> None:
        super().__init__()
        self.register_buffer("low", torch.tensor(float(low)))
        self.register_buffer("high", torch.tensor(float(high)))

    @classmethod
    def fit(cls, features: torch.Tensor) -> "MinMaxScaler":
        low, high = float(features.min()), float(features.max())
        if not high > low:
            raise SerbenchError("feature scaler: training features are constant; is the training audio silent?")
        return cls(low, high)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return ((features - self.low) / (self.high - self.low)).clamp(*FEATURE_RANGE)

    def state(self) -> dict[str, float]:
        return {"low": float(self.low), "high": float(self.high)}


class FeaturePipeline(nn.Module):
    """Waveform -> scaled features -> logits: the model a waveform-domain attack sees."""

    def __init__(self, frontend: LogMel, scaler: MinMaxScaler, model: nn.Module) -> None:
        super().__init__()
        self.frontend, self.scaler, self.model = frontend, scaler, model

    def features(self, wave: torch.Tensor) -> torch.Tensor:
        return self.scaler(self.frontend(wave))

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.model(self.features(wave))
