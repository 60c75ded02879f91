"""Perceptual measures (serbench.engine.perceptual): exact SNRs of known mixtures, a hand-computed segmental SNR,
PESQ and STOI at their maxima for identical signals and falling with noise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from serbench.engine import perceptual as p

SR = 16000


def voiced(seconds: float = 3.0, sr: int = SR) -> np.ndarray:
    """A speech-like signal: a gliding, amplitude-modulated harmonic tone with pauses (PESQ's VAD finds it)."""
    t = np.arange(int(seconds * sr)) / sr
    f0 = 150 + 50 * np.sin(2 * np.pi * 0.5 * t)
    return (0.3 * np.sin(2 * np.pi * f0 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
            + 0.1 * np.sin(2 * np.pi * 400 * t) * (np.sin(2 * np.pi * 2 * t) > 0))


def test_snr_of_known_mixtures_is_exact() -> None:
    rng = np.random.default_rng(0)
    clean = rng.standard_normal(8000)
    noise = rng.standard_normal(8000)
    for target in (-5.0, 0.0, 12.5, 40.0):
        scaled = noise * math.sqrt(np.sum(clean**2) / np.sum(noise**2) / 10 ** (target / 10))
        assert p.snr_db(clean, clean + scaled) == pytest.approx(target, abs=1e-9)
    assert p.snr_db(clean, clean) == math.inf
    assert p.snr_db(np.zeros(10), np.ones(10)) == -math.inf


def test_segmental_snr_against_a_hand_computed_case() -> None:
    # 3 frames of 30 ms at 1 kHz (30 samples each) plus 10 samples of a partial frame, which is dropped.
    sr, n = 1000, 30
    clean = np.concatenate([np.ones(n), np.ones(n), np.zeros(n), np.ones(10)])
    change = np.concatenate([np.full(n, 0.1), np.zeros(n), np.full(n, 0.5), np.full(10, 100.0)])
    # frame 1: 10 log10(30 / 0.3) = 20 dB; frame 2: unchanged -> 35 (ceiling); frame 3: silent speech -> -10 (floor)
    assert p.segmental_snr_db(clean, clean + change, sr) == pytest.approx((20 + 35 - 10) / 3, abs=1e-9)
    # clipping: a frame at 60 dB counts 35, one at -30 dB counts -10
    clean2 = np.ones(2 * n)
    change2 = np.concatenate([np.full(n, 1e-3), np.full(n, 10 ** 1.5)])
    assert p.segmental_snr_db(clean2, clean2 + change2, sr) == pytest.approx((35 - 10) / 2, abs=1e-9)


def test_segmental_snr_equals_snr_for_a_stationary_change() -> None:
    """With the same SNR in every frame (inside the clipping range) the two measures agree."""
    sr, frame = SR, int(0.03 * SR)
    rng = np.random.default_rng(1)
    clean = np.tile(rng.standard_normal(frame), 20)
    change = 0.1 * clean  # 20 dB in every frame
    assert p.segmental_snr_db(clean, clean + change, sr) == pytest.approx(20.0, abs=1e-9)
    assert p.snr_db(clean, clean + change) == pytest.approx(20.0, abs=1e-9)


@pytest.mark.parametrize("sr,mode", [(16000, "wb"), (8000, "nb")])
def test_pesq_is_maximal_for_identical_and_drops_with_noise(sr: int, mode: str) -> None:
    clean = voiced(sr=sr)
    noise = np.random.default_rng(2).standard_normal(len(clean))
    same = p.pesq_score(clean, clean, sr)
    assert same == pytest.approx(p.PESQ_MAX[mode], abs=0.01)
    light = p.pesq_score(clean, clean + 0.001 * noise, sr)
    heavy = p.pesq_score(clean, clean + 0.05 * noise, sr)
    assert same > light > heavy


def test_stoi_is_one_for_identical_and_drops_with_noise() -> None:
    clean = voiced()
    noise = np.random.default_rng(3).standard_normal(len(clean))
    assert p.stoi_score(clean, clean, SR) == pytest.approx(1.0, abs=1e-6)
    assert 1.0 > p.stoi_score(clean, clean + 0.01 * noise, SR) > p.stoi_score(clean, clean + 0.3 * noise, SR)


def test_too_short_for_pesq_and_stoi_is_none_and_summary_skips_it() -> None:
    clean = voiced(0.05)
    rows = [p.measure(clean, clean + 0.01, SR), p.measure(voiced(), voiced(), SR)]
    assert rows[0]["pesq"] is None and rows[0]["stoi"] is None
    summary = p.summarise(rows, SR)
    assert summary["utterances"] == 2 and summary["unchanged"] == 1 and summary["pesq_mode"] == "wb"
    assert summary["snr_db"]["n"] == 1 and summary["pesq"]["n"] == 1
    assert summary["pesq"]["median"] == pytest.approx(p.PESQ_MAX["wb"], abs=0.01)
    assert summary["segsnr_db"]["n"] == 2


def test_signals_of_two_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="one length"):
        p.snr_db(np.zeros(3), np.zeros(4))
