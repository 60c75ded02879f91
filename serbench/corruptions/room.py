"""Room corruptions: reverberation from simulated rooms (``reverb``) and from recorded impulse responses (``rir``).

Both convolve the speech with a room impulse response (RIR) and then undo what would misalign labels
or change the level: the output is shifted back by the RIR's direct-path delay (so the speech starts
where it started, and the output keeps the input's length; the tail past the end is cut) and rescaled
to the input's RMS over the speech (so reverberation does not also act as a gain change).

``reverb`` simulates a shoebox room by the image-source method (pyroomacoustics): the wall absorption
and reflection order for a target RT60 come from Sabine's formula (``pra.inverse_sabine``); room size,
source and microphone positions are drawn from the utterance's generator. ``rir`` reads recorded RIRs
from a local folder and sorts them into the five severities by their measured RT60. pyroomacoustics and scipy
are imported where they are called: registering the corruptions (``serbench list``) must not load them.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from serbench.corruptions.base import Corruption, match_rms, speech_only
from serbench.data.audio import resample
from serbench.data.local import is_sidecar, resolve_root
from serbench.errors import DataError, SerbenchError
from serbench.registry import register

# Source-microphone distance (m) and heights (m): a talker a few steps from a far-field microphone.
DISTANCE_M = (1.0, 4.0)
SOURCE_HEIGHT_M = (1.2, 1.8)
MIC_HEIGHT_M = (0.8, 1.5)
WALL_MARGIN_M = 0.5
MAX_PLACEMENT_DRAWS = 1000
# Image sources are simulated until the decay has fallen this far (Sabine's order covers 60 dB): the
# tail below -40 dB lies under the speech, and the cost grows with the cube of the order (1.2 s rooms
# take a third of the time). The T20 the ladder is measured on (-5 to -25 dB) is unchanged.
SIMULATED_DECAY_DB = 40.0


def convolve_aligned(waves: torch.Tensor, rirs: Sequence[np.ndarray], delays: Sequence[int],
                     lengths: torch.Tensor) -> torch.Tensor:
    """Each row's speech convolved with its own RIR (batched FFT convolution on the waves' device),
    advanced by the RIR's direct-path index ``delays[i]`` and cut to the input's length, then rescaled
    to the input's RMS over the speech. A unit impulse at any delay gives back the input."""
    batch, num_samples = waves.shape
    longest = max(len(r) for r in rirs)
    kernels = torch.zeros(batch, longest, dtype=waves.dtype, device=waves.device)
    for i, rir in enumerate(rirs):
        kernels[i, :len(rir)] = torch.as_tensor(np.asarray(rir), dtype=waves.dtype, device=waves.device)
    full = AF.fftconvolve(speech_only(waves, lengths), kernels)  # (B, T + L - 1)
    index = torch.arange(num_samples, device=waves.device) + torch.as_tensor(
        list(delays), dtype=torch.long, device=waves.device).unsqueeze(-1)
    return match_rms(full.gather(-1, index), waves, lengths)


def estimate_rt60(rir: np.ndarray, sample_rate: int) -> float:
    """RT60 (s) from Schroeder backward integration, fitted over 20 dB of decay after the first 5 dB
    (T20, extrapolated to 60 dB; pyroomacoustics' ``measure_rt60``). A unit impulse gives 0."""
    from pyroomacoustics.experimental import measure_rt60

    return float(measure_rt60(np.asarray(rir, dtype=np.float64), fs=sample_rate, decay_db=20))


def late_reverberation_db(clean: np.ndarray, reverberant: np.ndarray, sample_rate: int, early_s: float = 0.15,
                          lead_s: float = 0.004) -> float:
    """The share of ``reverberant``'s energy (dB) that no filter of ``clean`` spanning -``lead_s`` to
    ``early_s`` explains (least squares, solved on the Toeplitz normal equations): the late reverberation,
    which grows with RT60 even where bigger rooms keep the direct-to-reverberant ratio."""
    from scipy.linalg import solve_toeplitz
    from scipy.signal import correlate

    x, y = np.asarray(clean, dtype=np.float64), np.asarray(reverberant, dtype=np.float64)
    lead, taps = int(lead_s * sample_rate), int((early_s + lead_s) * sample_rate)
    advanced = np.concatenate([x[lead:], np.zeros(lead)])
    auto = correlate(advanced, advanced, mode="full", method="fft")[len(x) - 1:len(x) - 1 + taps].copy()
    cross = correlate(y, advanced, mode="full", method="fft")[len(x) - 1:len(x) - 1 + taps]
    energy = float(y @ y)
    if auto[0] <= 0 or energy <= 0:
        return 0.0
    auto[0] *= 1 + 1e-6  # diagonal loading: speech leaves some frequencies empty
    explained = float(solve_toeplitz(auto, cross) @ cross)
    return float(10 * np.log10(max(energy - explained, 1e-12 * energy) / energy))


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


@register(
    "corruptions", "reverb", version="1.0",
    summary="Reverberation of a simulated shoebox room (image-source method), RT60 0.2-1.2 s",
    paper="Allen & Berkley 1979, Image method for efficiently simulating small-room acoustics",
    tags=("room", "simulated"),
)
class Reverb(Corruption):
    """A shoebox room per utterance: size, source and microphone drawn from the generator within the
    severity's ranges, walls absorbing so that Sabine's RT60 is the severity's; the RIR is computed at
    the corpus's sample rate by pyroomacoustics' image-source model to the order Sabine's decay needs.
    Larger RT60s come with larger rooms (a booth to a hall), as they do in buildings; the rooms are not
    flat (height at least half the width), since flat shoeboxes decay slower than Sabine predicts.
    """

    levels = (
        {"rt60_s": 0.2, "room_min_m": (3.0, 3.0, 2.5), "room_max_m": (5.0, 4.0, 3.0)},
        {"rt60_s": 0.4, "room_min_m": (4.0, 3.0, 2.5), "room_max_m": (7.0, 5.0, 3.2)},
        {"rt60_s": 0.6, "room_min_m": (5.0, 4.0, 2.7), "room_max_m": (8.0, 6.0, 3.5)},
        {"rt60_s": 0.9, "room_min_m": (6.0, 5.0, 3.5), "room_max_m": (9.0, 7.0, 5.0)},
        {"rt60_s": 1.2, "room_min_m": (7.0, 6.0, 4.0), "room_max_m": (10.0, 8.0, 6.0)},
    )
    measure = ("RT60 (s) of the simulated room impulse response (T20, Schroeder integration); validated on the "
               "late-reverberation share of the output")

    def simulate(self, sample_rate: int, params: Mapping[str, Any], rng: np.random.Generator
                 ) -> tuple[np.ndarray, int]:
        """One room's RIR at ``sample_rate`` and its direct-path index (samples)."""
        import pyroomacoustics as pra

        dims = np.array([rng.uniform(lo, hi) for lo, hi in zip(params["room_min_m"], params["room_max_m"])])
        source, mic = self._placement(dims, rng)
        try:
            absorption, max_order = pra.inverse_sabine(float(params["rt60_s"]), dims)
        except ValueError as exc:  # the room is too large for the RT60: walls would absorb more than all
            raise SerbenchError(f"reverb: a {dims.round(2).tolist()} m room cannot have RT60 {params['rt60_s']} s "
                                f"({exc})") from exc
        max_order = math.ceil(max_order * SIMULATED_DECAY_DB / 60.0)
        room = pra.ShoeBox(dims, fs=int(sample_rate), materials=pra.Material(absorption), max_order=max_order)
        room.add_source(source)
        room.add_microphone(mic)
        room.compute_rir()
        rir = np.asarray(room.rir[0][0], dtype=np.float64)
        # pyroomacoustics centres each image's fractional-delay filter: the direct sound arrives at
        # distance / c seconds plus half the filter length.
        direct = int(round(np.linalg.norm(source - mic) / room.c * sample_rate)) \
            + pra.constants.get("frac_delay_length") // 2
        return rir, direct

    @staticmethod
    def _placement(dims: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Source and microphone inside the room, off the walls, ``DISTANCE_M`` apart (the last draw if
        the room is too small to satisfy it)."""
        for _ in range(MAX_PLACEMENT_DRAWS):
            points = []
            for heights in (SOURCE_HEIGHT_M, MIC_HEIGHT_M):
                top = min(heights[1], dims[2] - WALL_MARGIN_M)
                points.append(np.array([_uniform(rng, (WALL_MARGIN_M, dims[0] - WALL_MARGIN_M)),
                                        _uniform(rng, (WALL_MARGIN_M, dims[1] - WALL_MARGIN_M)),
                                        _uniform(rng, (min(heights[0], top), top))]))
            if DISTANCE_M[0] <= np.linalg.norm(points[0] - points[1]) <= DISTANCE_M[1]:
                break
        return points[0], points[1]

    def corrupt(self, waves: torch.Tensor, sample_rate: int, params: Mapping[str, Any],
                rngs: Sequence[np.random.Generator], lengths: torch.Tensor) -> torch.Tensor:
        rirs, delays = zip(*(self.simulate(sample_rate, params, rng) for rng in rngs))
        return convolve_aligned(waves, rirs, delays, lengths)

    def distortion(self, clean: np.ndarray, corrupted: np.ndarray, sample_rate: int) -> float:
        return late_reverberation_db(clean, corrupted, sample_rate)


@register(
    "corruptions", "rir", version="1.0",
    summary="Reverberation by recorded room impulse responses from a local folder, binned by measured RT60",
    tags=("room", "recorded", "local"),
)
class RecordedRIR(Corruption):
    """Recorded RIRs (wav files under ``root`` or ``$SERBENCH_DATA_RIR`` matching ``pattern``, recursively;
    names matching ``exclude`` skipped, e.g. the noise recordings beside the RIRs in OpenSLR 28). Each file's
    first channel is one RIR; its RT60 (T20) puts it in one severity's range; an utterance's generator picks
    one RIR of the severity's range. RIRs recorded at another rate are resampled to the corpus's. The
    direct path is taken to be the RIR's peak. RT60s are measured on first use (a pass over every file).
    """

    levels = (
        {"rt60_min_s": 0.0, "rt60_max_s": 0.3},
        {"rt60_min_s": 0.3, "rt60_max_s": 0.5},
        {"rt60_min_s": 0.5, "rt60_max_s": 0.75},
        {"rt60_min_s": 0.75, "rt60_max_s": 1.05},
        {"rt60_min_s": 1.05, "rt60_max_s": 10.0},
    )
    measure = ("RT60 (s) of the recorded impulse response (T20, Schroeder integration), binned; validated on the "
               "late-reverberation share of the output")

    def __init__(self, root: str | None = None, pattern: str = "**/*.wav", exclude: str = "*noise*") -> None:
        self.root = resolve_root("rir", root)
        self.pattern, self.exclude = pattern, exclude
        self.files = sorted(p for p in self.root.glob(pattern) if p.is_file() and not is_sidecar(p.name)
                            and not fnmatch.fnmatch(p.name.lower(), exclude.lower()))
        if not self.files:
            raise DataError(f"rir: no impulse responses matching {pattern!r} (excluding {exclude!r}) under "
                            f"{self.root}; point root or SERBENCH_DATA_RIR at a folder of RIR wav files")
        self._rt60: dict[Path, float] | None = None
        self._resampled: dict[tuple[Path, int], np.ndarray] = {}

    @staticmethod
    def _read(path: Path) -> tuple[np.ndarray, int]:
        try:
            data, rate = sf.read(str(path), dtype="float64", always_2d=True)
        except Exception as exc:  # libsndfile reports bad files through several exception types
            raise DataError(f"{path}: cannot read impulse response ({type(exc).__name__}: {exc})"
                            .splitlines()[0]) from exc
        rir = data[:, 0]
        if rir.size == 0 or not np.any(rir) or not np.all(np.isfinite(rir)):
            raise DataError(f"{path}: impulse response is empty, silent or not finite")
        return rir, int(rate)

    def rt60s(self) -> dict[Path, float]:
        """Every file's measured RT60 (s), measured once."""
        if self._rt60 is None:
            self._rt60 = {p: estimate_rt60(*self._read(p)) for p in self.files}
        return self._rt60

    def _rir(self, path: Path, sample_rate: int) -> np.ndarray:
        key = (path, int(sample_rate))
        if key not in self._resampled:
            rir, rate = self._read(path)
            self._resampled[key] = resample(rir.astype(np.float32), rate, int(sample_rate))
        return self._resampled[key]

    def corrupt(self, waves: torch.Tensor, sample_rate: int, params: Mapping[str, Any],
                rngs: Sequence[np.random.Generator], lengths: torch.Tensor) -> torch.Tensor:
        lo, hi = params["rt60_min_s"], params["rt60_max_s"]
        rt60 = self.rt60s()
        candidates = [p for p in self.files if lo <= rt60[p] < hi]
        if not candidates:
            found = sorted(rt60.values())
            raise DataError(f"rir: none of the {len(found)} impulse responses under {self.root} has an RT60 in "
                            f"[{lo}, {hi}) s (theirs span {found[0]:.2f}-{found[-1]:.2f} s); add RIRs of that "
                            f"range or leave this severity out")
        rirs = [self._rir(candidates[int(rng.integers(len(candidates)))], sample_rate) for rng in rngs]
        return convolve_aligned(waves, rirs, [int(np.argmax(np.abs(r))) for r in rirs], lengths)

    def distortion(self, clean: np.ndarray, corrupted: np.ndarray, sample_rate: int) -> float:
        return late_reverberation_db(clean, corrupted, sample_rate)
