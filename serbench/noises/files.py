"""Excerpts of noise recordings (DEMAND, MUSAN): a random stretch of a file, resampled.

Only the frames needed are read (DEMAND channels are five minutes long).
Files shorter than the request are looped from a random point.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import soundfile as sf

from serbench.data.audio import resample
from serbench.errors import DataError

MAX_TRIES = 8


def _unreadable(path: Path, exc: Exception) -> DataError:
    return DataError(f"{path}: cannot read noise audio ({type(exc).__name__}: {exc})".splitlines()[0])


def _read(path: Path, start: int, frames: int) -> np.ndarray:
    try:
        data, _ = sf.read(str(path), start=start, frames=frames, dtype="float32", always_2d=True)
    except Exception as exc:  # libsndfile reports bad files through several exception types
        raise _unreadable(path, exc) from exc
    return data.mean(axis=1)


def read_excerpt(path: Path, num_samples: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """``num_samples`` of ``path`` at ``sample_rate`` from a random offset; a silent stretch is redrawn."""
    try:
        info = sf.info(str(path))
    except Exception as exc:  # libsndfile reports bad files through several exception types
        raise _unreadable(path, exc) from exc
    total, native = int(info.frames), int(info.samplerate)
    if total == 0:
        raise DataError(f"{path}: noise file has no samples")
    need = math.ceil(num_samples * native / sample_rate) + 1
    for _ in range(MAX_TRIES):
        if total >= need:
            start = int(rng.integers(0, total - need + 1))
            chunk = _read(path, start, need)
        else:
            whole = _read(path, 0, total)
            chunk = np.resize(np.roll(whole, -int(rng.integers(0, total))), need)
        out = resample(chunk, native, sample_rate)[:num_samples]
        if out.shape[0] < num_samples:
            out = np.resize(out, num_samples)
        if np.any(out):
            return out.astype(np.float32, copy=False)
    raise DataError(f"{path}: every excerpt drawn was silent; remove or replace the file")
