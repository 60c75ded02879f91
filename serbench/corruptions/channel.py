"""Channel corruptions: telephone band, low-pass, high-pass, microphone-like colouration.

Low-pass, high-pass and the telephone band are linear-phase FIR filters (scipy's Kaiser-window design,
60 dB stop-band, a transition band 20 % of the cut-off wide and centred on it), applied by batched FFT
convolution on the waves' device (torchaudio) with their group delay removed, so the output lines up
with the input. A biquad (``torchaudio.functional.lowpass_biquad``) falls only 12 dB per octave: a
1 kHz "cut-off" would still pass 2 kHz at -12 dB, and the severities would blur into each other.
Filters remove energy and so lower the level; that is part of the corruption and is not undone.

``mic-eq`` colours the spectrum with shelving and peaking biquads (torchaudio) drawn from the generator,
keeping the level (the output has the input's RMS): level changes are the ``gain`` corruption's. scipy is
imported where it is called: registering the corruptions (``serbench list``) must not load it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import torch
import torchaudio
import torchaudio.functional as AF

from serbench.corruptions.base import Corruption, match_rms, speech_only
from serbench.errors import SerbenchError
from serbench.registry import register

STOPBAND_DB = 60.0
TRANSITION = 0.2  # transition band width, as a fraction of the (lowest) cut-off
PASSBAND_FLOOR_DB = -50.0
TELEPHONE_RATE = 8000
TELEPHONE_BAND_HZ = (300.0, 3400.0)
# torchaudio's default resampler (a 6-zero Hann sinc) leaves the 4-8 kHz images of narrowband audio at
# about -35 dB; librosa's "kaiser_best" settings put them below -60 dB, as a telephone channel would.
BEST_RESAMPLING = {"lowpass_filter_width": 64, "rolloff": 0.9475937167399596,
                   "resampling_method": "sinc_interp_kaiser", "beta": 14.769656459379492}


@lru_cache(maxsize=64)
def fir_taps(sample_rate: int, cutoff_hz: float | tuple[float, float], pass_zero: bool | str) -> np.ndarray:
    """Odd-length linear-phase FIR (Kaiser window): low-pass (``pass_zero=True``), high-pass (False) or
    band-pass (``"bandpass"`` with two cut-offs)."""
    from scipy.signal import firwin, kaiserord

    edges = cutoff_hz if isinstance(cutoff_hz, tuple) else (cutoff_hz,)
    nyquist = sample_rate / 2
    width = min(TRANSITION * min(edges), 2 * min(min(edges), nyquist - max(edges)) * 0.999)
    numtaps, beta = kaiserord(STOPBAND_DB, width / nyquist)
    numtaps |= 1  # odd: a whole-sample group delay, and a high-pass needs it
    return firwin(numtaps, list(edges) if len(edges) > 1 else edges[0], window=("kaiser", beta),
                  pass_zero=pass_zero, fs=sample_rate)


def fir_filter(waves: torch.Tensor, taps: np.ndarray) -> torch.Tensor:
    """``waves`` (B, T) through the linear-phase FIR ``taps``, delay compensated: same length, aligned."""
    kernel = torch.as_tensor(taps, dtype=waves.dtype, device=waves.device)
    delay = (len(taps) - 1) // 2
    return AF.fftconvolve(waves, kernel.expand(len(waves), -1))[:, delay:delay + waves.shape[-1]]


@lru_cache(maxsize=8)
def resampler(orig: int, new: int) -> torchaudio.transforms.Resample:
    """torchaudio's resampler with ``BEST_RESAMPLING``, its sinc kernel computed once (the functional form
    recomputes it on every call, which dominated the row-by-row telephone channel); same arithmetic."""
    return torchaudio.transforms.Resample(orig, new, **BEST_RESAMPLING)


def _fit(waves: torch.Tensor, num_samples: int) -> torch.Tensor:
    """Crop or zero-pad the last axis to ``num_samples``."""
    if waves.shape[-1] >= num_samples:
        return waves[..., :num_samples]
    return torch.nn.functional.pad(waves, (0, num_samples - waves.shape[-1]))


@register(
    "corruptions", "telephone", version="1.1",
    summary="Narrowband telephone channel: 8 kHz, 300-3400 Hz, mu-law with 8 down to 4 bits",
    paper="ITU-T G.711 (mu-law) and G.712 (300-3400 Hz channel)",
    tags=("channel", "telephone"),
)
class Telephone(Corruption):
    """Resampled to 8 kHz, band-passed to 300-3400 Hz (send side), mu-law companded and quantised to
    ``2 ** mu_law_bits`` levels (torchaudio's mu-law, mu = levels - 1; samples beyond full scale clip),
    band-passed again (receive side: it also removes the mid-rise quantiser's offset in silence) and
    resampled back to the corpus's rate. Severity 1 is G.711's 8 bits; each further severity drops a bit.
    """

    levels = ({"mu_law_bits": 8}, {"mu_law_bits": 7}, {"mu_law_bits": 6}, {"mu_law_bits": 5}, {"mu_law_bits": 4})
    measure = "SNR (dB) of the output against the input, falling"

    def corrupt(self, waves: torch.Tensor, sample_rate: int, params: Mapping[str, Any],
                rngs: Sequence[np.random.Generator], lengths: torch.Tensor) -> torch.Tensor:
        if sample_rate < TELEPHONE_RATE:
            raise SerbenchError(f"telephone: needs audio at {TELEPHONE_RATE} Hz or more, got {sample_rate} Hz")
        # Row by row, each at its own length: the quantiser turns the last-bit differences between a batched
        # and a lone FFT into whole steps, so only the same arithmetic gives the same audio.
        out = torch.zeros_like(waves)
        for i, n in enumerate(lengths.tolist()):
            out[i, :n] = self.channel(waves[i:i + 1, :n], sample_rate, int(params["mu_law_bits"]))[0]
        return out

    @staticmethod
    def channel(speech: torch.Tensor, sample_rate: int, bits: int) -> torch.Tensor:
        """(1, n) speech through the narrowband mu-law channel; (1, n) out."""
        narrow = resampler(sample_rate, TELEPHONE_RATE)(speech)
        band = fir_taps(TELEPHONE_RATE, TELEPHONE_BAND_HZ, "bandpass")
        sent = fir_filter(narrow, band).clamp(-1.0, 1.0)
        coded = AF.mu_law_decoding(AF.mu_law_encoding(sent, 2 ** bits), 2 ** bits).to(speech.dtype)
        received = fir_filter(coded, band)
        return _fit(resampler(TELEPHONE_RATE, sample_rate)(received), speech.shape[-1])


class _FIRCut(Corruption):
    """Shared by ``lowpass`` and ``highpass``: one linear-phase FIR at the severity's cut-off."""

    pass_zero: bool = True

    def corrupt(self, waves: torch.Tensor, sample_rate: int, params: Mapping[str, Any],
                rngs: Sequence[np.random.Generator], lengths: torch.Tensor) -> torch.Tensor:
        cutoff = float(params["cutoff_hz"])
        if cutoff * (1 + TRANSITION / 2) >= sample_rate / 2:
            if self.pass_zero:  # nothing of this corpus lies above the cut-off: the low-pass leaves it be
                return waves.clone()
            raise SerbenchError(f"{type(self).__name__}: cut-off {cutoff} Hz is at or above the Nyquist "
                                f"frequency of {sample_rate} Hz audio")
        return fir_filter(speech_only(waves, lengths), fir_taps(int(sample_rate), cutoff, self.pass_zero))

    def distortion(self, clean: np.ndarray, corrupted: np.ndarray, sample_rate: int) -> float:
        """The energy removed (dB, as minus the SDR: the filter is linear-phase and aligned), counted from
        -50 dB: below that the difference is the pass band's ripple, not the cut-off."""
        return max(super().distortion(clean, corrupted, sample_rate), PASSBAND_FLOOR_DB)


@register(
    "corruptions", "lowpass", version="1.0",
    summary="Low-pass FIR (linear phase, 60 dB stop-band) at 4000 down to 1000 Hz",
    tags=("channel", "filter"),
)
class LowPass(_FIRCut):
    """Band-limited channel: everything above the cut-off removed (a cut-off at or above the corpus's
    Nyquist frequency leaves the audio unchanged)."""

    levels = ({"cutoff_hz": 4000}, {"cutoff_hz": 3000}, {"cutoff_hz": 2000}, {"cutoff_hz": 1500},
              {"cutoff_hz": 1000})
    measure = "cut-off frequency (Hz), falling; energy above it removed"
    pass_zero = True


@register(
    "corruptions", "highpass", version="1.0",
    summary="High-pass FIR (linear phase, 60 dB stop-band) at 250 up to 1500 Hz",
    tags=("channel", "filter"),
)
class HighPass(_FIRCut):
    """Small-loudspeaker or thin-microphone channel: everything below the cut-off removed (F0 and the
    first formant go first)."""

    levels = ({"cutoff_hz": 250}, {"cutoff_hz": 500}, {"cutoff_hz": 750}, {"cutoff_hz": 1000},
              {"cutoff_hz": 1500})
    measure = "cut-off frequency (Hz), rising; energy below it removed"
    pass_zero = False


# A biquad's output is clamped to [-1, 1] by torchaudio's lfilter; the EQ runs on the speech scaled to
# this peak (the filters are linear, so scaling back afterwards is exact) and so never clips.
EQ_HEADROOM_PEAK = 1e-2
EQ_BAND_HZ = (100.0, 7000.0)  # where a response's deviation is measured (capped at 0.45 x the rate)
Band = tuple[str, float, float, float]


def equalize(x: torch.Tensor, sample_rate: int, bands: Sequence[Band]) -> torch.Tensor:
    """``x`` through the shelving and peaking biquads ``bands`` (torchaudio), in order."""
    for kind, freq, gain_db, q in bands:
        if kind == "low-shelf":
            x = AF.bass_biquad(x, sample_rate, gain_db, freq, q)
        elif kind == "high-shelf":
            x = AF.treble_biquad(x, sample_rate, gain_db, freq, q)
        else:
            x = AF.equalizer_biquad(x, sample_rate, freq, gain_db, q)
    return x


def _log_grid(sample_rate: int, points: int) -> np.ndarray:
    return np.geomspace(EQ_BAND_HZ[0], min(EQ_BAND_HZ[1], 0.45 * sample_rate), points)


def response_deviation_db(bands: Sequence[Band], sample_rate: int) -> float:
    """How far the EQ's magnitude response strays from flat: the standard deviation of its dB response on a
    log-frequency grid over ``EQ_BAND_HZ`` (its mean, a level, does not count)."""
    impulse = torch.zeros(1, 1 << 13)
    impulse[0, 0] = EQ_HEADROOM_PEAK
    response = np.abs(np.fft.rfft(equalize(impulse, sample_rate, bands)[0].numpy())) / EQ_HEADROOM_PEAK
    freqs = np.fft.rfftfreq(impulse.shape[-1], 1 / sample_rate)
    return float(np.std(np.interp(_log_grid(sample_rate, 200), freqs, 20 * np.log10(response + 1e-12))))


def log_spectral_distance_db(clean: np.ndarray, coloured: np.ndarray, sample_rate: int) -> float:
    """The standard deviation over third-octave bands (within ``EQ_BAND_HZ``, those holding speech energy)
    of the dB difference between the two long-term spectra: the colouration, without the level."""
    from scipy.signal import welch

    nperseg = min(1024, len(clean))
    freqs, p_clean = welch(clean, fs=sample_rate, nperseg=nperseg)
    _, p_coloured = welch(coloured, fs=sample_rate, nperseg=nperseg)
    edges = _log_grid(sample_rate, 2)
    edges = edges[0] * 2 ** (np.arange(0, 3 * np.log2(edges[1] / edges[0]) + 1) / 3)
    inside = [(freqs >= lo) & (freqs < hi) for lo, hi in zip(edges[:-1], edges[1:])]
    e_clean = np.array([p_clean[b].sum() for b in inside])
    e_coloured = np.array([p_coloured[b].sum() for b in inside])
    keep = (e_clean > 1e-4 * e_clean.max()) & (e_coloured > 0)
    return float(np.std(10 * np.log10(e_coloured[keep] / e_clean[keep]))) if keep.sum() > 1 else 0.0


@register(
    "corruptions", "mic-eq", version="1.1",
    summary="Microphone-like colouration: random shelving and peaking EQ deviating 2 to 10 dB from flat",
    tags=("channel", "microphone"),
)
class MicEQ(Corruption):
    """A microphone's frequency response, drawn per utterance: a low shelf (100-250 Hz), peaking filters
    at 300-700 Hz, 0.8-2 kHz and 2-5 kHz (Q 0.7-2) and a high shelf (4-7 kHz) (torchaudio biquads), each
    gain of random sign and random size, all gains then scaled together so that the response deviates
    from flat by the severity's ``response_deviation_db`` (standard deviation of the dB response over
    100 Hz-7 kHz on a log-frequency axis; within 4 %): the shape is random, its size is the severity. The output is
    rescaled to the input's RMS: the colouration, not the level, is the corruption.
    """

    levels = ({"response_deviation_db": 2}, {"response_deviation_db": 4}, {"response_deviation_db": 6},
              {"response_deviation_db": 8}, {"response_deviation_db": 10})
    measure = "spectral colouration (dB): deviation of the output's third-octave spectrum from the input's, rising"

    @staticmethod
    def draw_bands(sample_rate: int, deviation_db: float, rng: np.random.Generator) -> list[Band]:
        """(kind, frequency Hz, gain dB, Q) of each of the five filters, each in its own region of the
        spectrum (so every utterance's colouration touches the speech band alike), scaled to ``deviation_db``."""
        top = 0.45 * sample_rate

        def freq(lo: float, hi: float) -> float:
            hi = min(hi, top)
            lo = min(lo, hi / 1.5)
            return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))

        def gain() -> float:
            return float(rng.uniform(0.5, 1.0) * rng.choice([-1.0, 1.0]))

        bands = [("low-shelf", freq(100.0, 250.0), gain(), 0.707),
                 ("peak", freq(300.0, 700.0), gain(), float(rng.uniform(0.7, 2.0))),
                 ("peak", freq(800.0, 2000.0), gain(), float(rng.uniform(0.7, 2.0))),
                 ("peak", freq(2000.0, 5000.0), gain(), float(rng.uniform(0.7, 2.0))),
                 ("high-shelf", freq(4000.0, 7000.0), gain(), 0.707)]
        scale = float(deviation_db)
        for _ in range(2):  # a biquad's dB response is nearly proportional to its gain: within 4 % after two
            scaled = [(kind, f, g * scale, q) for kind, f, g, q in bands]
            scale *= float(deviation_db) / max(response_deviation_db(scaled, sample_rate), 1e-6)
        return [(kind, f, g * scale, q) for kind, f, g, q in bands]

    def corrupt(self, waves: torch.Tensor, sample_rate: int, params: Mapping[str, Any],
                rngs: Sequence[np.random.Generator], lengths: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(waves)
        for i, (n, rng) in enumerate(zip(lengths.tolist(), rngs)):
            speech = waves[i, :n]
            peak = float(speech.abs().max())
            bands = self.draw_bands(sample_rate, float(params["response_deviation_db"]), rng)
            if peak > 0:
                scaled = speech * (EQ_HEADROOM_PEAK / peak)
                out[i, :n] = equalize(scaled, sample_rate, bands) * (peak / EQ_HEADROOM_PEAK)
        return match_rms(out, waves, lengths)

    def distortion(self, clean: np.ndarray, corrupted: np.ndarray, sample_rate: int) -> float:
        return log_spectral_distance_db(clean, corrupted, sample_rate)
