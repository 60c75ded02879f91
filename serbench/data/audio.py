"""Audio I/O: soundfile to read, mono mix-down, torchaudio to resample.

torchaudio >= 2.9 decodes through torchcodec, so serbench never calls
``torchaudio.load``. torch, torchaudio and scipy are imported where they resample: registering the corpora
(``serbench list``) imports this module and must not load them.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import soundfile as sf

from serbench.data.problems import UNREADABLE_HINT, require_finite
from serbench.errors import DataError


def unreadable_reason(path: str | Path) -> str | None:
    """Why ``path`` cannot be opened for reading (missing, a folder, a dangling link, permissions), or None.

    libsndfile says only "System error." for all of these; the OS says which.
    """
    try:
        with open(path, "rb"):
            return None
    except OSError as exc:
        return f"cannot open file ({exc.strerror or type(exc).__name__}); {UNREADABLE_HINT}"


def read_audio(path: str | Path, target_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read ``path`` as mono float32, resampled to ``target_rate`` when given.

    Unreadable, corrupt, empty, all-zero and NaN/Inf files raise :class:`DataError` naming the path.
    """
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types for unreadable files
        reason = unreadable_reason(path)
        if reason:
            raise DataError(f"{path}: {reason}") from exc
        raise DataError(f"{path}: cannot read audio ({type(exc).__name__}: {exc})".splitlines()[0]) from exc
    if data.size == 0:
        raise DataError(f"{path}: audio file is empty")
    require_finite(data, str(path))
    mono = data.mean(axis=1)
    if not np.any(mono):
        raise DataError(f"{path}: audio file is silent (all samples are zero)")
    if target_rate is not None and target_rate != rate:
        mono = resample(mono, rate, target_rate)
        rate = target_rate
    return mono.astype(np.float32, copy=False), int(rate)


# torchaudio builds a kernel of (new/g) x (orig/g) taps for g = gcd(orig, new): fine for 44.1 or 48 kHz,
# but TESS's 24414 Hz -> 16 kHz (g = 2) takes seconds per file. Such ratios go through scipy's polyphase
# filter instead.
MAX_REDUCED_RATE = 1000


def resample(wave: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """Band-limited resampling along the last axis (torchaudio; scipy polyphase for awkward ratios)."""
    if orig_rate == new_rate:
        return wave
    g = math.gcd(int(orig_rate), int(new_rate))
    if max(orig_rate, new_rate) // g > MAX_REDUCED_RATE:
        from scipy.signal import resample_poly

        out = resample_poly(np.asarray(wave, dtype=np.float64), new_rate // g, orig_rate // g, axis=-1)
        return out.astype(np.float32)
    import torch
    import torchaudio.functional as AF

    out = AF.resample(torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32)), orig_rate, new_rate)
    return out.numpy()


def pad_or_crop(wave: np.ndarray, length: int) -> np.ndarray:
    """Ren et al.'s fixed-size input: zero-pad at the end or crop the centre."""
    n = wave.shape[-1]
    if n == length:
        return wave
    if n > length:
        start = (n - length) // 2
        return wave[..., start : start + length]
    pad = [(0, 0)] * (wave.ndim - 1) + [(0, length - n)]
    return np.pad(wave, pad)
