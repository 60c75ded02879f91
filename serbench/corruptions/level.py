"""Level and time corruptions: gain, hard and soft clipping, speed, tempo and pitch shift.

Gain and speed/tempo/pitch change in a direction drawn from the utterance's generator (louder or
quieter, faster or slower, up or down): a severity is the size of the change, since a model can fail
either way. Speed changes the length; speed and tempo outputs are the first T samples of the changed
speech (T its original length), zero-padded when the change made it shorter, so a slowed utterance
loses its end and a sped-up one ends early. Speed is resampling (torchaudio, batched on the device: pitch
moves with it, as in Kaldi's speed perturbation, here a test condition); tempo and pitch shift are
Signalsmith Stretch through audiomentations (CPU, per utterance). audiomentations and scipy are imported
where they are called: registering the corruptions (``serbench list``) must not load them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import torch
import torchaudio.functional as AF

from serbench.corruptions.base import Corruption, first_samples, match_rms, speech_mask, speech_only
from serbench.registry import register

FACTORS = (1.05, 1.1, 1.15, 1.2, 1.3)
MAX_DENOMINATOR = 100  # speed factors as small fractions keep torchaudio's resampling kernel small


def level_change_db(clean: np.ndarray, changed: np.ndarray) -> float:
    """|10 log10 of the energy ratio|: the size of a level change, either way."""
    before, after = float(np.sum(np.square(clean, dtype=np.float64))), float(np.sum(np.square(changed,
                                                                                            dtype=np.float64)))
    return abs(10 * np.log10(max(after, 1e-20) / max(before, 1e-20)))


def _envelope_db(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """Log energy in 20 ms frames every 5 ms."""
    hop = max(1, sample_rate // 200)
    frames = np.lib.stride_tricks.sliding_window_view(np.asarray(x, dtype=np.float64), 4 * hop)[::hop]
    return 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-10)


def time_scale(clean: np.ndarray, changed: np.ndarray, sample_rate: int, widest: float = 1.6) -> float:
    """How much faster ``changed`` runs than ``clean`` (> 1: faster): the factor a in [1/widest, widest]
    whose time-scaled clean energy envelope e(a t) best correlates with ``changed``'s over the span both
    cover (each is cut to the utterance's length)."""
    if len(clean) < 8 * max(1, sample_rate // 200):
        return 1.0
    env_clean, env_changed = _envelope_db(clean, sample_rate), _envelope_db(changed, sample_rate)
    steps = np.arange(len(env_changed), dtype=np.float64)
    best, best_r = 1.0, -np.inf
    for factor in np.exp(np.linspace(-np.log(widest), np.log(widest), 401)):
        span = steps[steps * factor <= len(env_clean) - 1]
        if len(span) < 8:
            continue
        predicted = np.interp(span * factor, np.arange(len(env_clean)), env_clean)
        r = np.corrcoef(predicted, env_changed[:len(span)])[0, 1]
        if np.isfinite(r) and r > best_r:
            best, best_r = float(factor), r
    return best


def pitch_scale_semitones(clean: np.ndarray, changed: np.ndarray, sample_rate: int, widest: float = 8.0) -> float:
    """The shift (semitones) of ``changed``'s long-term spectrum against ``clean``'s: the lag of the peak
    cross-correlation of the two log spectra on a log-frequency axis (60 Hz to 4 kHz, 1/20 semitone)."""
    from scipy.signal import welch

    nperseg = min(4096, len(clean))
    freqs, p_clean = welch(clean, fs=sample_rate, nperseg=nperseg)
    _, p_changed = welch(changed, fs=sample_rate, nperseg=nperseg)
    grid = 60.0 * 2 ** (np.arange(0, 12 * np.log2(min(4000.0, 0.45 * sample_rate) / 60.0), 0.05) / 12)

    def log_spectrum(power: np.ndarray) -> np.ndarray:
        s = np.interp(grid, freqs, 10 * np.log10(power + 1e-12))
        return s - s.mean()

    a, b = log_spectrum(p_clean), log_spectrum(p_changed)
    shifts = np.arange(-int(widest / 0.05), int(widest / 0.05) + 1)
    score = [np.dot(a[max(0, -k):len(a) - max(0, k)], b[max(0, k):len(b) - max(0, -k)]) / (len(a) - abs(k))
             for k in shifts]
    return float(shifts[int(np.argmax(score))] * 0.05)


def _sign(rng: np.random.Generator) -> float:
    """+1 or -1 with equal odds: the direction of a signed corruption."""
    return 1.0 if rng.random() < 0.5 else -1.0


@register(
    "corruptions", "gain", version="1.0",
    summary="Level change of 3 to 20 dB, louder or quieter (drawn), without clipping",
    tags=("level",),
)
class Gain(Corruption):
    """The utterance louder or quieter by the severity's dB (direction drawn from the generator).

    A level change is a constant offset of log-Mel features, the same size in either direction, so
    the ladder is the size and the sign is drawn. +-20 dB spans the levels of close-talk and distant
    microphones and of quiet and loud recording set-ups. Float audio has no full scale here: a louder
    utterance is not clipped (clipping is its own corruption).
    """

    levels = ({"gain_db": 3}, {"gain_db": 6}, {"gain_db": 10}, {"gain_db": 15}, {"gain_db": 20})
    measure = "|level change| (dB), rising"

    def corrupt(self, waves: torch.Tensor, sample_rate: int, params: Mapping[str, Any],
                rngs: Sequence[np.random.Generator], lengths: torch.Tensor) -> torch.Tensor:
        db = torch.tensor([_sign(rng) * float(params["gain_db"]) for rng in rngs], dtype=waves.dtype,
                          device=waves.device)
        return waves * (10.0 ** (db / 20.0)).unsqueeze(-1)

    def distortion(self, clean: np.ndarray, corrupted: np.ndarray, sample_rate: int) -> float:
        return level_change_db(clean, corrupted)


@register(
    "corruptions", "clipping", version="1.0",
    summary="Hard clipping so that 1 to 20 % of the samples clip",
    tags=("level", "distortion"),
)
class Clipping(Corruption):
    """Hard clipping at the utterance's own threshold: the (1 - p) quantile of its non-zero samples'
    magnitudes, so that a fraction p of them clip whatever the level (an overdriven input stage)."""

    levels = ({"clipped_percent": 1}, {"clipped_percent": 2}, {"clipped_percent": 5}, {"clipped_percent": 10},
              {"clipped_percent": 20})
    measure = "fraction of samples clipped (%), rising"

    def corrupt(self, waves: torch.Tensor, sample_rate: int, params: Mapping[str, Any],
                rngs: Sequence[np.random.Generator], lengths: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(waves)
        for i, n in enumerate(lengths.tolist()):
            speech = waves[i, :n]
            magnitude = speech.abs()
            voiced = magnitude[magnitude > 0]
            if len(voiced) == 0:
                continue
            threshold = torch.quantile(voiced.double(), 1.0 - float(params["clipped_percent"]) / 100.0)
            out[i, :n] = speech.clamp(-float(threshold), float(threshold))
        return out


@register(
    "corruptions", "soft-clipping", version="1.0",
    summary="Soft clipping: tanh saturation driven 0 to 24 dB above the utterance's peak, level kept",
    tags=("level", "distortion"),
)
class SoftClipping(Corruption):
    """tanh saturation: ``tanh(g * x / peak)`` with the drive g = 10 ** (drive_db / 20) relative to the
    utterance's peak (so the same severity distorts every level alike), rescaled to the input's RMS
    (a saturating stage followed by make-up gain): distortion without a level change."""

    levels = ({"drive_db": 0}, {"drive_db": 6}, {"drive_db": 12}, {"drive_db": 18}, {"drive_db": 24})
    measure = "SNR (dB) of the output against the input after the best gain, falling"

    def corrupt(self, waves: torch.Tensor, sample_rate: int, params: Mapping[str, Any],
                rngs: Sequence[np.random.Generator], lengths: torch.Tensor) -> torch.Tensor:
        speech = speech_only(waves, lengths)
        peak = speech.abs().amax(dim=-1, keepdim=True).clamp_min(1e-12)
        drive = 10.0 ** (float(params["drive_db"]) / 20.0)
        return match_rms(torch.tanh(drive * speech / peak), waves, lengths)


@register(
    "corruptions", "speed", version="1.0",
    summary="Speed change by resampling (tempo and pitch together): x or / 1.05 to 1.3",
    tags=("time", "pitch"),
)
class Speed(Corruption):
    """Played faster or slower (direction drawn) by the severity's factor: resampled by that ratio
    (torchaudio, batched) and read at the original rate, so duration and pitch both change. The
    output is the first T samples of the changed speech, zero-padded when it became shorter."""

    levels = tuple({"factor": f} for f in FACTORS)
    measure = "|log speed ratio|, measured on duration or F0, rising"

    def corrupt(self, waves: torch.Tensor, sample_rate: int, params: Mapping[str, Any],
                rngs: Sequence[np.random.Generator], lengths: torch.Tensor) -> torch.Tensor:
        ratio = Fraction(float(params["factor"])).limit_denominator(MAX_DENOMINATOR)
        faster = torch.tensor([_sign(rng) > 0 for rng in rngs], device=waves.device)
        speech = speech_only(waves, lengths)
        out = torch.zeros_like(waves)
        for rows, (orig, new) in ((faster, (ratio.numerator, ratio.denominator)),
                                  (~faster, (ratio.denominator, ratio.numerator))):
            if not bool(rows.any()):
                continue
            changed = AF.resample(speech[rows], orig, new)
            new_lengths = torch.tensor([math.ceil(n * new / orig) for n in lengths[rows.cpu()].tolist()])
            changed = changed * speech_mask(new_lengths, changed.shape[-1], changed.device)
            keep = min(changed.shape[-1], waves.shape[-1])
            out[rows, :keep] = changed[:, :keep]
        return out

    def distortion(self, clean: np.ndarray, corrupted: np.ndarray, sample_rate: int) -> float:
        return abs(float(np.log(time_scale(clean, corrupted, sample_rate))))


def _stretched(transform: Any, speech: np.ndarray, sample_rate: int, parameters: dict[str, Any]) -> np.ndarray:
    """An audiomentations transform applied with fixed ``parameters`` (never its own random draws),
    cropped or zero-padded to the input's length."""
    transform.parameters = {"should_apply": True, **parameters}
    transform.freeze_parameters()
    return first_samples(np.asarray(transform(samples=speech, sample_rate=sample_rate)), len(speech))


@register(
    "corruptions", "tempo", version="1.0",
    summary="Tempo change without pitch change (Signalsmith Stretch): x or / 1.05 to 1.3",
    tags=("time",),
)
class Tempo(Corruption):
    """Spoken faster or slower (direction drawn) by the severity's factor with the pitch kept (time
    stretch by Signalsmith Stretch, through audiomentations' ``TimeStretch``). The output is the first
    T samples of the stretched speech, zero-padded when it became shorter."""

    levels = tuple({"factor": f} for f in FACTORS)
    measure = "|log duration ratio|, rising"

    def corrupt_one(self, speech: np.ndarray, sample_rate: int, params: Mapping[str, Any],
                    rng: np.random.Generator) -> np.ndarray:
        from audiomentations import TimeStretch

        rate = float(params["factor"]) ** _sign(rng)  # > 1: faster, shorter
        transform = TimeStretch(min_rate=rate, max_rate=rate, leave_length_unchanged=False,
                                method="signalsmith_stretch", p=1.0)
        return _stretched(transform, speech, sample_rate, {"rate": rate})

    def distortion(self, clean: np.ndarray, corrupted: np.ndarray, sample_rate: int) -> float:
        return abs(float(np.log(time_scale(clean, corrupted, sample_rate))))


@register(
    "corruptions", "pitch-shift", version="1.0",
    summary="Pitch shift without tempo change (Signalsmith Stretch): 1 to 6 semitones up or down",
    tags=("pitch",),
)
class PitchShift(Corruption):
    """The voice moved up or down (direction drawn) by the severity's semitones with the timing kept
    (Signalsmith Stretch, through audiomentations' ``PitchShift``); the length does not change."""

    levels = ({"semitones": 1}, {"semitones": 2}, {"semitones": 3}, {"semitones": 4}, {"semitones": 6})
    measure = "|F0 shift| (semitones), rising"

    def corrupt_one(self, speech: np.ndarray, sample_rate: int, params: Mapping[str, Any],
                    rng: np.random.Generator) -> np.ndarray:
        from audiomentations import PitchShift as AudiomentationsPitchShift

        semitones = _sign(rng) * float(params["semitones"])
        transform = AudiomentationsPitchShift(min_semitones=semitones, max_semitones=semitones,
                                              method="signalsmith_stretch", p=1.0)
        return _stretched(transform, speech, sample_rate, {"num_semitones": semitones})

    def distortion(self, clean: np.ndarray, corrupted: np.ndarray, sample_rate: int) -> float:
        return abs(pitch_scale_semitones(clean, corrupted, sample_rate))
