"""Noise sources: spectral slopes, SNR exactness, DEMAND/MUSAN on fake trees, deterministic babble."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from audiomentations.augmentations.add_color_noise import generate_decaying_white_noise
from scipy.signal import welch
from test_corpus_fakes import write_wav

import serbench
from serbench.errors import DataError, SerbenchError
from serbench.noises import BrownNoise, DemandNoise, MusanNoise, PinkNoise, WhiteNoise, mix_at_snr

SR = 16000


def psd_slope(x: np.ndarray, lo: float = 100.0, hi: float = 4000.0) -> float:
    """Slope of log10 power vs log10 frequency between ``lo`` and ``hi`` (Welch PSD)."""
    f, p = welch(x, fs=SR, nperseg=4096)
    band = (f >= lo) & (f <= hi)
    return float(np.polyfit(np.log10(f[band]), np.log10(p[band]), 1)[0])


@pytest.mark.parametrize("noise,slope", [(WhiteNoise(), 0.0), (PinkNoise(), -1.0), (BrownNoise(), -2.0)])
def test_colour_slopes(noise, slope):
    x = noise.sample(SR * 8, SR, np.random.default_rng(0))
    assert x.dtype == np.float32 and x.shape == (SR * 8,)
    assert psd_slope(x) == pytest.approx(slope, abs=0.08)
    assert x.std() == pytest.approx(1.0, rel=0.02)


@pytest.mark.parametrize("db_per_octave,noise", [(-3.01, PinkNoise()), (-6.02, BrownNoise())])
def test_colour_slopes_agree_with_audiomentations(db_per_octave, noise):
    np.random.seed(0)  # audiomentations draws from numpy's global generator
    theirs = generate_decaying_white_noise(SR * 8, db_per_octave, SR, n_fft=4096)
    ours = noise.sample(SR * 8, SR, np.random.default_rng(0))
    assert psd_slope(ours) == pytest.approx(psd_slope(theirs), abs=0.1)


def test_colour_below_f_min_is_empty():
    x = BrownNoise(f_min=200.0).sample(SR * 4, SR, np.random.default_rng(1))
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / SR)
    assert spectrum[freqs < 199].sum() < 1e-9 * spectrum.sum()


@pytest.mark.parametrize("snr", [-5.0, 0.0, 10.0, 20.0])
def test_mix_at_snr_is_exact(snr):
    gen = torch.Generator().manual_seed(0)
    clean = torch.randn(3, 8000, generator=gen, dtype=torch.float64) * torch.tensor([[0.1], [1.0], [3.0]],
                                                                                   dtype=torch.float64)
    rows = [PinkNoise().sample(8000, SR, np.random.default_rng(i)) for i in range(3)]
    noise = torch.from_numpy(np.stack(rows))
    mixed = mix_at_snr(clean, noise.double(), snr)
    added = mixed - clean
    measured = 10 * torch.log10(clean.pow(2).sum(-1) / added.pow(2).sum(-1))
    torch.testing.assert_close(measured, torch.full((3,), snr, dtype=torch.float64), atol=1e-6, rtol=0)
    with pytest.raises(SerbenchError, match="differ"):
        mix_at_snr(clean, noise[:, :100].double(), snr)


def test_registered_noises():
    names = serbench.list_components("noises", variants=True)
    for name in ("white", "pink", "brown", "babble", "demand", "musan", "demand.kitchen", "demand.tmetro",
                 "musan.music"):
        assert name in names


# -- DEMAND -----------------------------------------------------------------------------------------------

LATIF_FREQ = {"DKITCHEN": 300.0, "NPARK": 500.0, "PSTATION": 700.0, "STRAFFIC": 900.0, "PCAFETER": 1100.0}


def make_demand(root):
    """Each environment a distinct tone (channel k adds k*20 Hz), in each folder variant."""
    layout = {"DKITCHEN": ("DKITCHEN_16k/DKITCHEN", 16000), "NPARK": ("NPARK_48k", 48000),
              "PSTATION": ("PSTATION", 16000), "STRAFFIC": ("STRAFFIC_16k", 16000),
              "PCAFETER": ("PCAFETER_48k/PCAFETER", 48000)}
    for env, (folder, rate) in layout.items():
        for ch in (1, 2, 3):
            freq = LATIF_FREQ[env] + 20 * ch
            write_wav(root / folder / f"ch{ch:02d}.wav", rate=rate, seconds=1.0, freq=freq)
    (root / "DKITCHEN_16k" / "DKITCHEN" / "._ch01.wav").write_bytes(b"sidecar")


def dominant(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / SR)[np.argmax(spectrum)])


def test_demand_draws_from_latif_five(tmp_path):
    make_demand(tmp_path)
    noise = DemandNoise(root=str(tmp_path))
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(40):
        x = noise.sample(4000, SR, rng)
        assert x.shape == (4000,) and x.dtype == np.float32
        f = dominant(x)
        env = min(LATIF_FREQ, key=lambda e: abs(LATIF_FREQ[e] - (f - 40)))
        assert abs(f - LATIF_FREQ[env]) <= 64  # one of its three channels (+20..60 Hz), within a bin
        seen.add(env)
    assert seen == set(LATIF_FREQ)
    a = noise.sample(4000, SR, np.random.default_rng(5))
    np.testing.assert_array_equal(a, noise.sample(4000, SR, np.random.default_rng(5)))


def test_demand_variants_and_resampling(tmp_path, monkeypatch):
    make_demand(tmp_path)
    monkeypatch.setenv("SERBENCH_DATA_DEMAND", str(tmp_path))
    park = serbench.get("noises", "demand.park")  # NPARK_48k only: resampled to 16 kHz
    x = park.sample(8000, SR, np.random.default_rng(1))
    assert 500 <= dominant(x) <= 560
    longer = park.sample(SR * 3, SR, np.random.default_rng(1))  # longer than the 1 s file: looped
    assert longer.shape == (SR * 3,) and np.all(np.abs(longer[-SR:]) <= 1)
    assert DemandNoise(["kitchen", "pstation"], root=str(tmp_path)).environments == ["DKITCHEN", "PSTATION"]


def test_demand_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("SERBENCH_DATA_DEMAND", raising=False)
    with pytest.raises(DataError, match="SERBENCH_DATA_DEMAND"):
        DemandNoise()
    make_demand(tmp_path)
    with pytest.raises(DataError, match="TMETRO") as err:
        DemandNoise(["tmetro"], root=str(tmp_path))
    assert str(tmp_path) in str(err.value)
    with pytest.raises(SerbenchError, match="unknown environment 'beach'"):
        DemandNoise(["beach"], root=str(tmp_path))


# -- MUSAN ------------------------------------------------------------------------------------------------


def make_musan(root):
    write_wav(root / "musan" / "noise" / "free-sound" / "noise-free-sound-0000.wav", seconds=0.1, freq=250)
    write_wav(root / "musan" / "noise" / "sound-bible" / "noise-sound-bible-0000.wav", seconds=0.1, freq=250)
    music = root / "musan" / "music" / "jamendo" / "music-jamendo-0000.wav"
    write_wav(music, rate=44100, seconds=0.5, freq=880)
    write_wav(root / "musan" / "speech" / "librivox" / "speech-librivox-0000.wav", seconds=0.5, freq=150)
    (root / "musan" / "noise" / "free-sound" / "._noise-free-sound-0000.wav").write_bytes(b"sidecar")


@pytest.mark.parametrize("subset,freq", [("noise", 250), ("music", 880), ("speech", 150)])
def test_musan_subsets(tmp_path, subset, freq):
    make_musan(tmp_path)
    for root in (tmp_path, tmp_path / "musan"):  # the musan folder or its parent
        noise = serbench.get("noises", f"musan.{subset}", root=str(root))
        assert len(noise.paths) == (2 if subset == "noise" else 1)
        x = noise.sample(SR, SR, np.random.default_rng(0))  # longer than the 0.1 s noise files: looped
        assert x.shape == (SR,) and abs(dominant(x) - freq) <= 16


def test_musan_errors(tmp_path):
    make_musan(tmp_path)
    with pytest.raises(SerbenchError, match="unknown subset"):
        MusanNoise("babble", root=str(tmp_path))
    (tmp_path / "empty" / "noise").mkdir(parents=True)
    with pytest.raises(DataError, match="no MUSAN noise wavs") as err:
        MusanNoise(root=str(tmp_path / "empty"))
    assert str(tmp_path / "empty" / "noise") in str(err.value)
    silent = tmp_path / "silent"
    write_wav(silent / "noise" / "x" / "a.wav", silent=True)
    with pytest.raises(DataError, match="silent") as err:
        MusanNoise(root=str(silent)).sample(100, SR, np.random.default_rng(0))
    assert str(silent / "noise" / "x" / "a.wav") in str(err.value)


# -- babble -----------------------------------------------------------------------------------------------


def test_babble_is_deterministic(tmp_path, monkeypatch):
    monkeypatch.setenv("SERBENCH_CACHE", str(tmp_path))
    params = {"corpus_params": {"sessions": 3, "utterances_per_class": 2}, "talkers": 4}
    babble = serbench.get("noises", "babble", **params)
    a = babble.sample(SR, SR, np.random.default_rng(7))
    b = serbench.get("noises", "babble", **params).sample(SR, SR, np.random.default_rng(7))
    c = babble.sample(SR, SR, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert a.shape == (SR,) and a.std() == pytest.approx(1.0, rel=1e-3)
    # babble is speech: its energy comes and goes, unlike stationary white noise
    frames = a[: SR // 400 * 400].reshape(-1, 400)
    assert np.std(np.log(frames.std(axis=1) + 1e-6)) > 0.1
    with pytest.raises(SerbenchError, match="fewer than talkers"):
        serbench.get("noises", "babble", corpus_params={"sessions": 3, "utterances_per_class": 1},
                     talkers=30).sample(100, SR, np.random.default_rng(0))
