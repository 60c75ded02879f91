"""SER-C corruption families (room, channel, codec, level): each severity ladder is monotonic on a measured
quantity, a unit-impulse room is the identity, codecs at their top quality stay close to the input, the
same generators give the same audio, a batch gives what each utterance gives alone, and the documented
severity table is the one the code declares."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from scipy.signal import butter, sosfiltfilt, welch

import serbench
from serbench.corruptions import available_codecs, codec
from serbench.corruptions.base import speech_only
from serbench.corruptions.room import RecordedRIR, Reverb, convolve_aligned, estimate_rt60
from serbench.data.audio import resample
from serbench.data.synthetic import synthetic
from serbench.errors import DataError, SerbenchError

SR = 16000
FAMILIES = ["reverb", "telephone", "lowpass", "highpass", "mic-eq", "mp3", "opus", "vorbis", "packet-loss", "gain",
            "clipping", "soft-clipping", "speed", "tempo", "pitch-shift"]
DOC = Path(__file__).resolve().parents[1] / "docs" / "corruptions.md"
TABLE_START, TABLE_END = "<!-- severity-table:start -->", "<!-- severity-table:end -->"


@pytest.fixture(scope="module")
def utterances() -> list[np.ndarray]:
    """The embedded corpus's first session: 8 utterances of 1.1-2 s, four emotions, two speakers."""
    return list(synthetic(sessions=1, utterances_per_class=1).generate().values())


def rngs(count: int, seed: int = 0) -> list[np.random.Generator]:
    return [np.random.default_rng([seed, i]) for i in range(count)]


def padded(signals: list[np.ndarray], padding_noise: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """A (B, T) batch with each signal in its row's first samples; the padding is zeros, or noise when
    ``padding_noise`` (a corruption must not read it)."""
    lengths = torch.tensor([len(s) for s in signals])
    waves = torch.from_numpy(np.random.default_rng(9).normal(0, padding_noise, (len(signals), int(lengths.max()))
                                                             ).astype(np.float32))
    for i, s in enumerate(signals):
        waves[i, :len(s)] = torch.from_numpy(s)
    return waves, lengths


def corrupt_each(name: str, signals: list[np.ndarray], severity: int, seed: int = 0, **params) -> list[np.ndarray]:
    """Each signal corrupted alone (a batch of one)."""
    corruption = serbench.get("corruptions", name, **params)
    return [corruption.apply(torch.from_numpy(s)[None], SR, severity, [g])[0].numpy()
            for s, g in zip(signals, rngs(len(signals), seed))]


_HP20 = butter(4, 20, "highpass", fs=SR, output="sos")


def snr_db(reference: np.ndarray, output: np.ndarray, best_gain: bool = False) -> float:
    """SNR of ``output`` against ``reference`` above 20 Hz (the embedded corpus's pulse trains carry a DC
    drift that codecs drop and no listener hears)."""
    x, y = sosfiltfilt(_HP20, reference), sosfiltfilt(_HP20, output)
    if best_gain:
        y = y * (x @ y) / (y @ y)
    return float(10 * np.log10((x @ x) / ((y - x) @ (y - x))))


def harmonic_burst(f0: float = 200.0, on: tuple[float, float] = (0.2, 0.8), seconds: float = 1.6) -> np.ndarray:
    """A voiced vowel-like burst: 8 harmonics of ``f0`` (amplitude 1/k), on from ``on[0]`` to ``on[1]`` s."""
    t = np.arange(int(seconds * SR)) / SR
    tone = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 9))
    return (0.2 * tone * ((t >= on[0]) & (t < on[1]))).astype(np.float32)


def fundamental_hz(y: np.ndarray, start: float, stop: float) -> float:
    """The strongest spectral peak in 80-500 Hz of ``y[start:stop]`` (Hann window, 16x zero padding)."""
    seg = y[int(start * SR):int(stop * SR)] * np.hanning(int(stop * SR) - int(start * SR))
    spectrum = np.abs(np.fft.rfft(seg, 16 * len(seg)))
    freqs = np.fft.rfftfreq(16 * len(seg), 1 / SR)
    band = (freqs > 80) & (freqs < 500)
    return float(freqs[band][np.argmax(spectrum[band])])


def burst_bounds(y: np.ndarray) -> tuple[float, float]:
    """Onset and offset (s) of where ``y`` exceeds a tenth of its peak."""
    loud = np.flatnonzero(np.abs(y) > 0.1 * np.abs(y).max())
    return loud[0] / SR, loud[-1] / SR


def energy_centre_s(y: np.ndarray) -> float:
    """The energy's centre of gravity in time (s): a stretch moves it, its smeared edges do not."""
    power = y.astype(np.float64) ** 2
    return float((np.arange(len(y)) * power).sum() / power.sum() / SR)


# --- every family: the contract ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", FAMILIES)
def test_contract_deterministic_batched_padding_silent(name, utterances):
    corruption = serbench.get("corruptions", name)
    assert len(corruption.levels) == 5 and corruption.measure
    signals = [utterances[0][:int(0.9 * SR)], utterances[3][:int(0.6 * SR)], utterances[5][:int(0.75 * SR)]]
    waves, lengths = padded(signals, padding_noise=0.1)
    out = corruption.apply(waves, SR, 3, rngs(3), lengths)
    assert out.shape == waves.shape and out.dtype == torch.float32 and bool(torch.isfinite(out).all())
    for i, n in enumerate(lengths.tolist()):
        assert not out[i, n:].any(), "padding must stay silent"
    assert torch.equal(out, corruption.apply(waves, SR, 3, rngs(3), lengths)), "same generators, same audio"
    alone = corrupt_each(name, signals, 3)
    for i, s in enumerate(alone):
        np.testing.assert_allclose(out[i, :len(s)].numpy(), s, atol=1e-5 * max(1.0, np.abs(s).max()), rtol=0,
                                   err_msg=f"{name}: row {i} of the batch differs from the utterance alone")
    assert not torch.allclose(out, speech_only(waves, lengths), atol=1e-4), "the corruption changed nothing"
    other = corruption.apply(waves, SR, 3, rngs(3, seed=1), lengths)
    if name in {"reverb", "mic-eq", "packet-loss"}:  # drawn per utterance beyond a sign
        assert not torch.equal(out, other)


# --- room ------------------------------------------------------------------------------------------------------

def test_convolution_with_a_unit_impulse_is_the_identity(utterances):
    waves, lengths = padded([utterances[0], utterances[1][:20000]])
    for delay in (0, 37):
        impulse = np.zeros(delay + 400)
        impulse[delay] = 1.0
        out = convolve_aligned(waves, [impulse, impulse[:delay + 1]], [delay, delay], lengths)
        torch.testing.assert_close(out, waves, atol=1e-6, rtol=0)


def write_rir(path: Path, rir: np.ndarray, rate: int = SR) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), rir, rate, subtype="FLOAT")


def decaying_rir(rt60: float, rate: int = SR, delay: int = 60, seed: int = 0) -> np.ndarray:
    """A direct impulse then exponentially decaying noise falling 60 dB in ``rt60`` s."""
    t = np.arange(int(1.5 * rt60 * rate)) / rate
    tail = np.random.default_rng(seed).normal(0, 0.1, len(t)) * 10 ** (-3 * t / rt60)
    rir = np.concatenate([np.zeros(delay), [1.0], tail])
    return rir


def test_rir_folder_with_a_unit_impulse_is_the_identity(tmp_path, utterances):
    impulse = np.zeros(800)
    impulse[120] = 1.0  # a pre-delay: removed with the direct path
    write_rir(tmp_path / "lab" / "impulse.wav", impulse)
    waves, lengths = padded(utterances[:3])
    out = RecordedRIR(root=str(tmp_path)).apply(waves, SR, 1, rngs(3), lengths)
    torch.testing.assert_close(out, waves, atol=1e-6, rtol=0)


def test_rir_files_are_binned_by_measured_rt60_and_resampled(tmp_path, utterances):
    truth = {"s1.wav": 0.2, "s2.wav": 0.4, "room3/s3.wav": 0.6, "s4.wav": 0.9, "s5.wav": 1.5}
    for name, rt60 in truth.items():
        rate = 32000 if name == "room3/s3.wav" else SR  # one recorded at another rate
        write_rir(tmp_path / name, decaying_rir(rt60, rate), rate)
    write_rir(tmp_path / "ambient_noise.wav", np.random.default_rng(1).normal(0, 0.1, SR))  # skipped
    corruption = RecordedRIR(root=str(tmp_path))
    measured = {p.relative_to(tmp_path).as_posix(): v for p, v in corruption.rt60s().items()}
    assert set(measured) == set(truth)
    for name, rt60 in truth.items():
        assert measured[name] == pytest.approx(rt60, rel=0.1), name
    waves, lengths = padded(utterances[:2])
    for severity, name in enumerate(truth, 1):
        rir, rate = sf.read(str(tmp_path / name))
        rir = resample(rir.astype(np.float32), rate, SR)
        expected = speech_only(convolve_aligned(waves, [rir, rir], [int(np.argmax(np.abs(rir)))] * 2, lengths), lengths)
        out = corruption.apply(waves, SR, severity, rngs(2), lengths)
        torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


def test_rir_errors_name_the_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("SERBENCH_DATA_RIR", raising=False)
    with pytest.raises(SerbenchError, match="SERBENCH_DATA_RIR"):
        RecordedRIR()
    with pytest.raises(SerbenchError, match=re.escape(str(tmp_path / "absent")) + ".*does not exist"):
        RecordedRIR(root=str(tmp_path / "absent"))
    with pytest.raises(DataError, match="no impulse responses .* under " + re.escape(str(tmp_path))):
        RecordedRIR(root=str(tmp_path))
    write_rir(tmp_path / "short.wav", decaying_rir(0.2))
    monkeypatch.setenv("SERBENCH_DATA_RIR", str(tmp_path))
    with pytest.raises(DataError, match=r"RT60 in \[1.05, 10.0\) s"):
        RecordedRIR().apply(torch.ones(1, 800), SR, 5, rngs(1))


def test_reverb_rt60_ladder_rises_and_tracks_the_design_value():
    reverb = Reverb()
    measured = []
    for severity, params in enumerate(reverb.levels, 1):
        rt60s = [estimate_rt60(reverb.simulate(SR, params, g)[0], SR) for g in rngs(2, seed=severity)]
        measured.append(float(np.mean(rt60s)))
        assert measured[-1] == pytest.approx(params["rt60_s"], rel=0.3), (severity, rt60s)
    assert measured == sorted(measured) and len(set(measured)) == 5, measured


def test_reverb_keeps_alignment_and_level(utterances):
    click = np.zeros(SR, dtype=np.float32)
    click[4000] = 1.0
    for y in corrupt_each("reverb", [click] * 4, 2):  # the direct sound stays where the click was
        power = y.astype(np.float64) ** 2
        assert 3950 + np.argmax(np.abs(y[3950:4050])) == 4000
        assert power[:3955].sum() < 0.01 * power.sum()  # only the RIR's zero-phase high-pass rings before it
    signals = utterances[:4]
    for x, y in zip(signals, corrupt_each("reverb", signals, 2)):
        assert np.sqrt(np.mean(y ** 2)) == pytest.approx(np.sqrt(np.mean(x ** 2)), rel=1e-4)


# --- channel ---------------------------------------------------------------------------------------------------

def band_energy_db(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    """Energy of ``y`` in [lo, hi) Hz relative to ``x``'s there (dB), from Hann-windowed spectra (the
    signals' abrupt ends would otherwise spread energy over every frequency)."""
    window = np.hanning(len(x))
    freqs = np.fft.rfftfreq(len(x), 1 / SR)
    band = (freqs >= lo) & (freqs < hi)

    def energy(s: np.ndarray) -> float:
        return float((np.abs(np.fft.rfft(s * window))[band] ** 2).sum())

    return float(10 * np.log10(energy(y) / energy(x)))


def test_lowpass_and_highpass_remove_their_stop_band_and_move_monotonically():
    noise = np.random.default_rng(3).normal(0, 0.1, 2 * SR).astype(np.float32)  # every frequency present
    for name, stop, centroid_sign in (("lowpass", lambda c: (1.15 * c, SR / 2), -1),
                                      ("highpass", lambda c: (20.0, 0.85 * c), 1)):
        corruption = serbench.get("corruptions", name)
        centroids = []
        for severity, params in enumerate(corruption.levels, 1):
            y = corrupt_each(name, [noise], severity)[0]
            assert band_energy_db(noise, y, *stop(params["cutoff_hz"])) < -45, (name, severity)
            power = np.abs(np.fft.rfft(y)) ** 2
            centroids.append(float((np.fft.rfftfreq(len(y), 1 / SR) * power).sum() / power.sum()))
        assert np.all(np.sign(np.diff(centroids)) == centroid_sign), (name, centroids)


def test_telephone_band_and_quantisation_ladder(utterances):
    band = butter(8, [300, 3400], "bandpass", fs=SR, output="sos")
    in_band_snr = []
    for severity in range(1, 6):
        outs = corrupt_each("telephone", utterances, severity)
        if severity == 1:
            assert max(band_energy_db(x, y, 3800, 8000) for x, y in zip(utterances, outs)) < -40
        in_band_snr.append(np.mean([snr_db(sosfiltfilt(band, x), sosfiltfilt(band, y))
                                    for x, y in zip(utterances, outs)]))
    assert in_band_snr[0] > 20 and np.all(np.diff(in_band_snr) < 0), in_band_snr


def colouration_db(x: np.ndarray, y: np.ndarray) -> float:
    """Standard deviation over the third-octave bands of 100 Hz-7 kHz of the dB difference of the two
    long-term (Welch) spectra: how unevenly ``y`` is coloured against ``x``, whatever its level."""
    f, px = welch(x, fs=SR, nperseg=1024)
    _, py = welch(y, fs=SR, nperseg=1024)
    edges = 100 * 2 ** (np.arange(0, 3 * np.log2(7000 / 100) + 1) / 3)
    bands = [(f >= lo) & (f < hi) for lo, hi in zip(edges[:-1], edges[1:])]
    return float(np.std([10 * np.log10(py[b].sum() / px[b].sum()) for b in bands]))


def test_mic_eq_colours_by_the_declared_deviation_and_keeps_the_level(utterances):
    signals = utterances[:4]
    colouration = []
    for severity, params in enumerate(serbench.get("corruptions", "mic-eq").levels, 1):
        outs = corrupt_each("mic-eq", signals, severity)
        colouration.append(np.mean([colouration_db(x, y) for x, y in zip(signals, outs)]))
        assert colouration[-1] == pytest.approx(params["response_deviation_db"], rel=0.15)
        for x, y in zip(signals, outs):
            assert np.sqrt(np.mean(y ** 2)) == pytest.approx(np.sqrt(np.mean(x ** 2)), rel=1e-4)
    assert np.all(np.diff(colouration) > 0), colouration


# --- codec -----------------------------------------------------------------------------------------------------

def test_this_environment_has_all_three_codecs():
    assert available_codecs() == ["mp3", "opus", "vorbis"]


def test_a_missing_codec_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(codec.CODECS, "mp3", ("WAV", "NO_SUCH_SUBTYPE"))
    codec._round_trips.cache_clear()
    try:
        with pytest.raises(SerbenchError, match=rf"mp3: libsndfile {sf.__libsndfile_version__} here cannot encode"):
            serbench.get("corruptions", "mp3")
    finally:
        codec._round_trips.cache_clear()


# Measured on the 8 utterances (mean SNR in dB above 20 Hz, severity 1..5):
# mp3 24.0 21.1 18.5 16.8 14.2; opus 21.5 15.0 12.3 10.6 7.0; vorbis 26.0 22.8 21.2 19.5 17.2.
@pytest.mark.parametrize("name", ["mp3", "opus", "vorbis"])
def test_codec_top_quality_is_close_and_quality_falls_with_severity(name, utterances):
    mean_snr = []
    for severity in range(1, 6):
        snrs = [snr_db(x, y) for x, y in zip(utterances, corrupt_each(name, utterances, severity))]
        if severity == 1:
            assert min(snrs) > 15, (name, snrs)  # aligned: a codec delay left in would give about 0 dB
        mean_snr.append(float(np.mean(snrs)))
    assert np.all(np.diff(mean_snr) < -0.5), (name, mean_snr)


def test_packet_loss_conceals_by_fading_repetition_and_hurts_more_with_severity(utterances):
    size = int(0.02 * SR)
    snr, lost_fraction = [], []
    for severity, params in enumerate(serbench.get("corruptions", "packet-loss").levels, 1):
        outs = corrupt_each("packet-loss", utterances, severity)
        lost = total = 0
        for x, y in zip(utterances, outs):
            for k in range(math.ceil(len(x) / size)):
                here = slice(k * size, (k + 1) * size)
                if np.array_equal(x[here], y[here]):
                    continue
                lost += 1
                if k and np.array_equal(x[here.start - size:here.start], y[here.start - size:here.start]):
                    n = len(y[here])  # a first lost packet: the previous one again, fading from 1 to 0.5
                    fade = 0.5 ** (np.arange(size) / size)
                    np.testing.assert_allclose(y[here], (x[here.start - size:here.start] * fade)[:n], atol=1e-6)
            total += math.ceil(len(x) / size)
        p = params["loss_percent"] / 100
        lost_fraction.append(lost / total)
        assert lost / total == pytest.approx(p, abs=3 * math.sqrt(p * (1 - p) / total)), (severity, lost, total)
        snr.append(snr_db(np.concatenate(utterances), np.concatenate(outs)))
    assert np.all(np.diff(lost_fraction) > 0) and np.all(np.diff(snr) < 0), (lost_fraction, snr)


# --- level and time --------------------------------------------------------------------------------------------

def test_gain_changes_the_level_by_the_ladder_both_ways(utterances):
    x = utterances[0]
    changes = []
    for severity, params in enumerate(serbench.get("corruptions", "gain").levels, 1):
        outs = corrupt_each("gain", [x] * 8, severity)
        db = [10 * np.log10(np.mean(y ** 2) / np.mean(x ** 2)) for y in outs]
        assert {np.sign(d) for d in db} == {-1.0, 1.0}
        np.testing.assert_allclose(np.abs(db), params["gain_db"], atol=1e-3)
        changes.append(np.mean(np.abs(db)))
    assert np.all(np.diff(changes) > 0)


def test_clipping_clips_the_declared_fraction(utterances):
    fractions = []
    for severity, params in enumerate(serbench.get("corruptions", "clipping").levels, 1):
        measured = []
        for x, y in zip(utterances, corrupt_each("clipping", utterances, severity)):
            measured.append(np.mean(np.abs(y) >= np.abs(y).max() * (1 - 1e-6)))
            assert np.abs(y).max() < np.abs(x).max()
        fractions.append(float(np.mean(measured)))
        assert fractions[-1] == pytest.approx(params["clipped_percent"] / 100, rel=0.05)
    assert np.all(np.diff(fractions) > 0)


def test_soft_clipping_distorts_more_with_severity_at_the_same_level(utterances):
    distortion_snr = []
    for severity in range(1, 6):
        outs = corrupt_each("soft-clipping", utterances, severity)
        distortion_snr.append(np.mean([snr_db(x, y, best_gain=True) for x, y in zip(utterances, outs)]))
        for x, y in zip(utterances, outs):
            assert np.sqrt(np.mean(y ** 2)) == pytest.approx(np.sqrt(np.mean(x ** 2)), rel=1e-4)
    assert np.all(np.diff(distortion_snr) < 0), distortion_snr


def measured_changes(name: str, severity: int) -> list[tuple[float, float]]:
    """(F0 ratio, time-scale ratio) of the harmonic burst after ``name`` at ``severity``, for 6 generators."""
    x = harmonic_burst()
    on, off = burst_bounds(x)
    out = []
    for y in corrupt_each(name, [x] * 6, severity):
        y_on, y_off = burst_bounds(y)
        f0 = fundamental_hz(y, y_on + 0.05, y_off - 0.05) / fundamental_hz(x, on + 0.05, off - 0.05)
        out.append((f0, energy_centre_s(y) / energy_centre_s(x)))
    return out


@pytest.mark.parametrize("name,moves_pitch,moves_time", [("speed", True, True), ("tempo", False, True),
                                                         ("pitch-shift", True, False)])
def test_time_and_pitch_ladders(name, moves_pitch, moves_time):
    corruption = serbench.get("corruptions", name)
    sizes = []
    for severity, params in enumerate(corruption.levels, 1):
        expected = params["factor"] if "factor" in params else 2 ** (params["semitones"] / 12)
        changes = measured_changes(name, severity)
        for f0_ratio, duration_ratio in changes:
            if moves_pitch:
                assert max(f0_ratio, 1 / f0_ratio) == pytest.approx(expected, rel=0.01)
            else:
                assert f0_ratio == pytest.approx(1.0, rel=0.01)
            if moves_time:  # faster: shorter; the pitch (when it moves) moves the other way
                assert max(duration_ratio, 1 / duration_ratio) == pytest.approx(expected, rel=0.01)
                if moves_pitch:
                    assert (f0_ratio > 1) == (duration_ratio < 1)
            else:
                assert duration_ratio == pytest.approx(1.0, abs=0.01)
        assert {f0 > 1 for f0, _ in changes} == {True, False} or not moves_pitch  # both directions drawn
        sizes.append(np.mean([abs(np.log(f0 if moves_pitch else d)) for f0, d in changes]))
    assert np.all(np.diff(sizes) > 0), sizes


# --- the distortion measures serbench validate checks ----------------------------------------------------------

def test_distortion_measures_read_each_family_s_quantity(utterances):
    """Each family's ``distortion`` (what ``serbench validate`` requires not to fall with severity) reads the
    quantity its ladder sets."""
    x = utterances[1]
    speech = harmonic_burst(on=(0.1, 1.4))
    by_name = {n: serbench.get("corruptions", n) for n in ("gain", "tempo", "speed", "pitch-shift", "reverb", "mic-eq")}
    y = corrupt_each("gain", [x], 4)[0]
    assert by_name["gain"].distortion(x, y, SR) == pytest.approx(15.0, abs=1e-3)
    for name, severity in (("tempo", 4), ("speed", 5)):
        factor = by_name[name].levels[severity - 1]["factor"]
        y = corrupt_each(name, [x], severity)[0]
        assert by_name[name].distortion(x, y, SR) == pytest.approx(np.log(factor), abs=0.01), name
    y = corrupt_each("pitch-shift", [speech], 3)[0]
    assert by_name["pitch-shift"].distortion(speech, y, SR) == pytest.approx(3.0, abs=0.1)
    assert by_name["reverb"].distortion(x, x, SR) < -40  # nothing late in the dry speech itself
    late = [by_name["reverb"].distortion(x, corrupt_each("reverb", [x], s)[0], SR) for s in (1, 3, 5)]
    assert np.all(np.diff(late) > 1), late
    assert by_name["mic-eq"].distortion(x, x, SR) == pytest.approx(0.0, abs=1e-6)
    y = corrupt_each("mic-eq", [x], 3)[0]
    assert by_name["mic-eq"].distortion(x, y, SR) == pytest.approx(6.0, rel=0.2)


# --- the documented table --------------------------------------------------------------------------------------

def format_value(value) -> str:
    if isinstance(value, (tuple, list)):
        return " × ".join(format_value(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def severity_table() -> str:
    """The markdown table of every built-in corruption's five severities, from each class's ``ladder()``."""
    lines = ["| corruption | parameter | 1 | 2 | 3 | 4 | 5 |", "|---|---|---|---|---|---|---|"]
    for name in serbench.list_components("corruptions"):
        factory = serbench.info("corruptions", name).factory
        if not factory.__module__.startswith("serbench.corruptions."):
            continue
        ladder = factory.ladder()
        for key in ladder[0]:
            if key != "severity":
                lines.append(f"| {name} | {key} | " + " | ".join(format_value(s[key]) for s in ladder) + " |")
    return "\n".join(lines)


def test_documented_severity_table_is_the_declared_one():
    text = DOC.read_text(encoding="utf-8")
    documented = text.split(TABLE_START)[1].split(TABLE_END)[0].strip()
    expected = severity_table()
    assert documented == expected, f"docs/corruptions.md is out of date; its table should read:\n{expected}"
