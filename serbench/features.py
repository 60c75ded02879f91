"""Front end: waveform -> log-Mel (or log linear-STFT) features in dB, differentiable end to end.

Runs with torchaudio on the model's device so waveform-domain attacks get
gradients through it. The features are then scaled by a normalisation fitted on
the training partition's active frames (:mod:`serbench.normalization`), which
decides what a feature-domain eps means in dB; :class:`FeaturePipeline` chains both.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torchaudio
from torch import nn

from serbench.errors import SerbenchError
from serbench.inputs import WAVEFORM

@dataclass(frozen=True)
class FrontendConfig:
    """Front-end parameters. ``kind`` is ``log-mel`` (Mel scale and norm as librosa's defaults, slaney)
    or ``stft`` (log power linear spectrogram keeping the lowest ``n_bins`` frequency bins)."""

    kind: str = "log-mel"
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
    window_fn: str = "hann"
    n_bins: int | None = None  # stft only: the spectrogram's height (None: every bin up to Nyquist)

    def __post_init__(self) -> None:
        _check_numbers(self)
        if self.kind == WAVEFORM_KIND:
            return  # a waveform model's own input (waveform_frontend): nothing here applies to it
        if self.kind not in FRONTEND_KINDS:
            raise SerbenchError(f"front end: unknown kind {self.kind!r}; use {' or '.join(FRONTEND_KINDS)}")
        if self.window_fn not in WINDOWS:
            raise SerbenchError(f"front end: unknown window_fn {self.window_fn!r}; use {' or '.join(WINDOWS)}")
        if self.n_bins is not None and not 0 < self.n_bins <= self.n_fft // 2 + 1:
            raise SerbenchError(f"front end: n_bins {self.n_bins} must be in 1..n_fft/2+1 = {self.n_fft // 2 + 1}")

    @property
    def height(self) -> int:
        """Number of feature rows the front end produces."""
        if self.kind == "log-mel":
            return self.n_mels
        return self.n_bins or self.n_fft // 2 + 1

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


FRONTEND_KINDS = ("log-mel", "stft")
# Not a spec choice: what a waveform model's cells name as their front end (the samples themselves).
WAVEFORM_KIND = WAVEFORM
_SIZES = ("sample_rate", "n_fft", "win_length", "hop_length", "n_mels")


def _check_numbers(c: FrontendConfig) -> None:
    """Sizes and frequencies a user can get wrong in a spec, refused before torchaudio sees them."""
    for name in _SIZES + (("n_bins",) if c.n_bins is not None else ()):
        value = getattr(c, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SerbenchError(f"front end: {name} must be a positive integer, got {value!r}")
    if c.win_length > c.n_fft:
        raise SerbenchError(f"front end: win_length {c.win_length} must be <= n_fft {c.n_fft}")
    for name in ("f_min", "log_floor") + tuple(n for n in ("f_max", "top_db") if getattr(c, n) is not None):
        value = getattr(c, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise SerbenchError(f"front end: {name} must be a finite number, got {value!r}")
    if c.f_min < 0:
        raise SerbenchError(f"front end: f_min must be >= 0, got {c.f_min}")
    if c.f_max is not None and not c.f_min < c.f_max <= c.sample_rate / 2:
        raise SerbenchError(f"front end: f_max must be in (f_min, sample_rate / 2] = ({c.f_min}, "
                            f"{c.sample_rate / 2}], got {c.f_max}")
    if not c.log_floor > 0:
        raise SerbenchError(f"front end: log_floor must be > 0, got {c.log_floor}")
    if c.top_db is not None and not c.top_db > 0:
        raise SerbenchError(f"front end: top_db must be > 0, got {c.top_db}")
WINDOWS = {"hann": torch.hann_window, "hamming": torch.hamming_window}

PRESETS: dict[str, FrontendConfig] = {
    # Ren et al. 2020: 16 kHz, window 512, hop 256, 64 Mel bins.
    "ren2020": FrontendConfig(),
    # Latif et al. 2020: STFT spectrogram, Hamming window 25 ms, shift 10 ms, height 128. The paper does not
    # say how the height is reached; serbench keeps the lowest 128 bins of a 400-point STFT (0-5.1 kHz).
    "latif2020": FrontendConfig(kind="stft", n_fft=400, win_length=400, hop_length=160, window_fn="hamming",
                                n_bins=128),
}


def frontend_config(preset: str = "ren2020", **overrides: Any) -> FrontendConfig:
    if not isinstance(preset, str) or preset not in PRESETS:
        raise SerbenchError(f"unknown front-end preset {preset!r}; presets: {', '.join(sorted(PRESETS))}")
    try:
        return FrontendConfig(**{**PRESETS[preset].as_dict(), **overrides})
    except TypeError as exc:
        raise SerbenchError(f"front end: {exc}") from None


class LogSpectrogram(nn.Module):
    """(B, samples) waveform -> (B, 1, height, frames) log power spectrogram (dB), Mel or linear.

    ``kind="log-mel"`` applies the Mel filterbank (Ren et al.); with ``kind="stft"`` it is skipped and
    the lowest ``n_bins`` linear-frequency bins are kept (Latif et al.'s spectrogram).
    """

    def __init__(self, config: FrontendConfig | None = None) -> None:
        super().__init__()
        self.config = config or FrontendConfig()
        c = self.config
        stft = dict(n_fft=c.n_fft, win_length=c.win_length, hop_length=c.hop_length, window_fn=WINDOWS[c.window_fn],
                    power=2.0, center=True, pad_mode="reflect")
        if c.kind == "log-mel":
            self.spectrogram = torchaudio.transforms.MelSpectrogram(
                sample_rate=c.sample_rate, f_min=c.f_min, f_max=c.f_max, n_mels=c.n_mels, norm="slaney",
                mel_scale="slaney", **stft)
        else:
            self.spectrogram = torchaudio.transforms.Spectrogram(**stft)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        spec = self.spectrogram(wave.float())
        if self.config.kind == "stft" and self.config.n_bins is not None:
            spec = spec[..., : self.config.n_bins, :]
        db = 10.0 * torch.log10(spec.clamp_min(self.config.log_floor))
        if self.config.top_db is not None:
            floor = db.amax(dim=(-2, -1), keepdim=True) - self.config.top_db
            db = torch.maximum(db, floor)
        return db.unsqueeze(1)

    def num_frames(self, num_samples: int) -> int:
        """Frames for a waveform of ``num_samples`` (centred STFT)."""
        return 1 + num_samples // self.config.hop_length


class RawWaveform(nn.Module):
    """The front end of a waveform model: (B, samples) -> the same samples as float32, one "frame" per sample.

    A waveform model owns its front end (serbench.models.waveform), so the harness hands it the audio itself;
    ``hop_length`` 1 makes every frame mask a sample mask and every feature-cache shape a waveform's.
    """

    def __init__(self, config: FrontendConfig) -> None:
        super().__init__()
        if config.kind != WAVEFORM_KIND:
            raise SerbenchError(f"RawWaveform needs a {WAVEFORM_KIND!r} front end, got {config.kind!r}")
        self.config = config

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return wave.float()

    def num_frames(self, num_samples: int) -> int:
        return num_samples


def waveform_frontend(sample_rate: int) -> FrontendConfig:
    """The front-end config of a waveform model's cells: its sample rate, one frame per sample."""
    return FrontendConfig(kind=WAVEFORM_KIND, sample_rate=int(sample_rate), n_fft=1, win_length=1, hop_length=1,
                          n_mels=1)


# The old name, from when only log-Mel features existed: plugins may import it.
LogMel = LogSpectrogram


class FeaturePipeline(nn.Module):
    """Waveform -> scaled features -> logits: the model a waveform-domain attack sees.

    ``norm`` is any fitted module mapping dB features to the model's input
    (:class:`serbench.normalization.Normalization`); it is applied without a frame mask, so
    the pipeline is a function of the waveform alone (zero padding reaches the log floor,
    which every normalisation maps onto its lower bound).
    """

    def __init__(self, frontend: LogSpectrogram, norm: nn.Module, model: nn.Module) -> None:
        super().__init__()
        self.frontend, self.norm, self.model = frontend, norm, model

    def features(self, wave: torch.Tensor) -> torch.Tensor:
        return self.norm(self.frontend(wave))

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.model(self.features(wave))
