"""Perceptual measures of a changed waveform against its clean original: SNR, segmental SNR, PESQ and STOI.

A robust UAR says how often a model survives an attack or corruption; these say how audible the change was,
so a board can say "UAR under attack at PESQ above 4". SNR and segmental SNR are computed here (segmental SNR
as is standard: 30 ms frames, each frame's SNR clipped to [-10, 35] dB, then averaged, so silent frames do not
dominate); PESQ (ITU-T P.862, package ``pesq``: wideband at 16 kHz, narrowband at 8 kHz, other rates resampled
to the nearest of the two at or below them) and STOI (Taal et al. 2011, package ``pystoi``) come from their
maintained implementations. Every function takes the active samples only (the caller cuts padding off):
padding is silence in both signals and would flatter every measure.
"""

from __future__ import annotations

import math
import warnings
from math import gcd
from typing import Any, Sequence

import numpy as np

SEGMENT_S = 0.03  # segmental SNR frame length (non-overlapping, rectangular)
SEGSNR_RANGE = (-10.0, 35.0)  # the usual clipping of each frame's SNR (Quackenbush et al. 1988)
PESQ_MAX = {"wb": 4.644, "nb": 4.549}  # P.862.2 / P.862.1 mapped scores of identical signals
MEASURES = ("snr_db", "segsnr_db", "pesq", "stoi")


def _pair(clean: np.ndarray, changed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    clean = np.asarray(clean, dtype=np.float64).reshape(-1)
    changed = np.asarray(changed, dtype=np.float64).reshape(-1)
    if clean.shape != changed.shape:
        raise ValueError(f"perceptual measures need two signals of one length, got {clean.shape} and {changed.shape}")
    return clean, changed


def snr_db(clean: np.ndarray, changed: np.ndarray) -> float:
    """10 log10(sum clean^2 / sum (changed - clean)^2): inf when nothing changed, -inf for silent speech."""
    clean, changed = _pair(clean, changed)
    signal, noise = float(np.sum(clean**2)), float(np.sum((changed - clean) ** 2))
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def segmental_snr_db(clean: np.ndarray, changed: np.ndarray, sample_rate: int, frame_s: float = SEGMENT_S,
                     bounds: tuple[float, float] = SEGSNR_RANGE) -> float:
    """Mean over non-overlapping ``frame_s`` frames of each frame's SNR clipped to ``bounds``.

    A frame with no change counts as the upper bound, one of silent speech with a change as the lower; a
    last partial frame is dropped unless the signal is shorter than one frame (then it is one frame).
    """
    clean, changed = _pair(clean, changed)
    size = max(1, int(round(frame_s * sample_rate)))
    frames = max(1, len(clean) // size)
    usable = min(len(clean), frames * size)
    s = clean[:usable].reshape(frames, -1)
    e = (changed[:usable] - clean[:usable]).reshape(frames, -1)
    signal, noise = np.sum(s**2, axis=1), np.sum(e**2, axis=1)
    low, high = bounds
    with np.errstate(divide="ignore", invalid="ignore"):
        per_frame = 10.0 * np.log10(signal / noise)
    per_frame = np.where(noise == 0.0, high, np.where(signal == 0.0, low, per_frame))
    return float(np.mean(np.clip(per_frame, low, high)))


def _resample(x: np.ndarray, sample_rate: int, target: int) -> np.ndarray:
    if sample_rate == target:
        return x
    from scipy.signal import resample_poly

    g = gcd(int(sample_rate), int(target))
    return resample_poly(x, target // g, int(sample_rate) // g)


def pesq_mode(sample_rate: int) -> tuple[int, str]:
    """The rate PESQ runs at for audio at ``sample_rate`` and its mode: wideband from 16 kHz, else narrowband."""
    return (16000, "wb") if sample_rate >= 16000 else (8000, "nb")


def pesq_score(clean: np.ndarray, changed: np.ndarray, sample_rate: int) -> float | None:
    """PESQ MOS-LQO of ``changed`` against ``clean``; None where PESQ finds no utterance (silence, too short)."""
    from pesq import PesqError, pesq

    clean, changed = _pair(clean, changed)
    rate, mode = pesq_mode(sample_rate)
    ref, deg = _resample(clean, sample_rate, rate), _resample(changed, sample_rate, rate)
    score = pesq(rate, ref.astype(np.float32), deg.astype(np.float32), mode, on_error=PesqError.RETURN_VALUES)
    return None if score is None or score < -0.5 else float(score)  # errors come back as negative codes


def stoi_score(clean: np.ndarray, changed: np.ndarray, sample_rate: int) -> float | None:
    """STOI (0..1) of ``changed`` against ``clean``; None where the signal is too short for STOI's 30 frames."""
    from pystoi import stoi

    clean, changed = _pair(clean, changed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        score = float(stoi(clean, changed, int(sample_rate), extended=False))
    if any("Not enough STFT frames" in str(w.message) for w in caught):
        return None  # pystoi returns a placeholder 1e-5 here
    return score


def measure(clean: np.ndarray, changed: np.ndarray, sample_rate: int) -> dict[str, float | None]:
    """All four measures of one utterance (active samples only)."""
    return {"snr_db": snr_db(clean, changed), "segsnr_db": segmental_snr_db(clean, changed, sample_rate),
            "pesq": pesq_score(clean, changed, sample_rate), "stoi": stoi_score(clean, changed, sample_rate)}


def summarise(rows: Sequence[dict[str, float | None]], sample_rate: int) -> dict[str, Any]:
    """Median and mean of each measure over ``rows`` (one per utterance), with how many utterances had a value.

    SNR is infinite for an utterance left unchanged: such utterances are counted (``unchanged``) and left out of
    the SNR statistics, which would otherwise be infinite; PESQ and STOI leave out utterances they cannot score.
    """
    out: dict[str, Any] = {"utterances": len(rows), "pesq_mode": pesq_mode(sample_rate)[1]}
    for name in MEASURES:
        values = np.asarray([r[name] for r in rows if r[name] is not None and math.isfinite(r[name])], dtype=float)
        out[name] = {"median": float(np.median(values)) if len(values) else None,
                     "mean": float(np.mean(values)) if len(values) else None, "n": int(len(values))}
    out["unchanged"] = sum(1 for r in rows if r["snr_db"] == math.inf)
    return out
