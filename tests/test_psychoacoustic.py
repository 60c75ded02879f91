"""The psychoacoustic masking threshold against a direct numpy reimplementation, and the imperceptible attack:
inside the cell's budget under the harness's check, lower excess over the threshold than PGD at the same budget,
still fooling a trained waveform model; feature domain refused."""

from __future__ import annotations

import functools
import math

import librosa
import numpy as np
import pytest
import scipy.signal
import torch

import serbench
from serbench.attacks import masking_threshold as mt
from serbench.attacks.base import ThreatModel
from serbench.attacks.budget import check_budget
from serbench.engine.evaluate import evaluate_attack
from serbench.features import FeaturePipeline, LogSpectrogram, frontend_config
from serbench.models.cnn4 import CNN4
from serbench.normalization import normalization

SR, N_FFT, HOP = 16000, 2048, 512
SAMPLES = 8192  # 0.512 s: 13 masking frames
CLASSES = 4


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small tensors, many steps: one thread is several times faster than contending for shared cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --- a direct numpy reimplementation of the formulas, one frame and one masker at a time -------------------------

def _ref_bark(f: np.ndarray) -> np.ndarray:
    return 13 * np.arctan(0.00076 * f) + 3.5 * np.arctan((f / 7500.0) ** 2)


def _ref_ath(f: np.ndarray) -> np.ndarray:
    k = np.maximum(f, 20.0) / 1000.0
    return 3.64 * k ** -0.8 - 6.5 * np.exp(-0.6 * (k - 3.3) ** 2) + 0.001 * k ** 4 - 12


def _ref_psd(x: np.ndarray) -> tuple[np.ndarray, float]:
    """librosa's STFT (periodic Hann, no centring) of the tail-padded signal, in dB, peak at 96."""
    length = N_FFT if len(x) <= N_FFT else N_FFT + math.ceil((len(x) - N_FFT) / HOP) * HOP
    x = np.pad(x.astype(np.float64), (0, length - len(x)))
    stft = librosa.stft(x, n_fft=N_FFT, hop_length=HOP, win_length=N_FFT, window="hann", center=False)
    with np.errstate(divide="ignore"):
        psd = np.maximum(20 * np.log10(np.abs(np.sqrt(8 / 3) * stft / N_FFT)), -200.0)
    return 96 - psd.max() + psd, float(psd.max())


def _ref_frame(psd: np.ndarray, barks: np.ndarray, ath: np.ndarray) -> tuple[np.ndarray, list[int]]:
    idx = scipy.signal.argrelmax(psd)[0]
    level = 10 * np.log10(sum(10 ** (psd[idx + i] / 10) for i in (-1, 0, 1)))
    maskers = [(int(k), float(p)) for k, p in zip(idx, level) if p > ath[k]]
    kept: list[tuple[int, float]] = []
    for k, p in maskers:  # keep the larger of two survivors closer than 0.5 Bark
        if kept and barks[k] - barks[kept[-1][0]] < 0.5:
            if p > kept[-1][1]:
                kept[-1] = (k, p)
            continue
        kept.append((k, p))
    total = 10 ** (ath / 10)
    for k, p in kept:
        dz = barks - barks[k]
        spread = np.where(dz <= 0, 27 * dz, (-27 + 0.37 * max(p - 40, 0)) * dz)
        total = total + 10 ** ((p - 6.025 - 0.275 * barks[k] + spread) / 10)
    return 10 * np.log10(total), [k for k, _ in kept]


def _ref_threshold(x: np.ndarray) -> tuple[np.ndarray, float, list[list[int]]]:
    freqs = np.linspace(0, SR / 2, N_FFT // 2 + 1)
    barks, ath = _ref_bark(freqs), _ref_ath(freqs)
    psd, peak = _ref_psd(x)
    frames = [_ref_frame(psd[:, t], barks, ath) for t in range(psd.shape[1])]
    return np.stack([f[0] for f in frames], axis=1), peak, [f[1] for f in frames]


def _tone_plus_noise(freq: float = 1000.0, amplitude: float = 0.5, noise: float = 0.01, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(SR) / SR
    return (amplitude * np.sin(2 * np.pi * freq * t) + noise * rng.standard_normal(SR)).astype(np.float32)


# --- the threshold ---------------------------------------------------------------------------------------------

def test_threshold_matches_the_numpy_reference() -> None:
    second = _tone_plus_noise(440.0, 0.2, 0.05, seed=1)
    second[-1000:] = 0.0  # a silent tail, as padding leaves
    x = np.stack([_tone_plus_noise(), second])
    theta, peak = mt.masking_threshold(torch.from_numpy(x.astype(np.float32)))
    assert theta.shape == (2, N_FFT // 2 + 1, 29)
    for b in range(2):
        ref, ref_peak, _ = _ref_threshold(x[b])
        assert abs(float(peak[b]) - ref_peak) < 1e-3
        np.testing.assert_allclose(theta[b].double().numpy(), ref, atol=0.02)


def test_tone_is_the_masker_and_the_threshold_sits_the_expected_offset_below_it() -> None:
    x = _tone_plus_noise(1000.0, 0.5, 0.01)
    theta, _ = mt.masking_threshold(torch.from_numpy(x)[None])
    psd, _ = _ref_psd(x)
    _, _, kept = _ref_threshold(x)
    k = round(1000.0 * N_FFT / SR)  # bin 128 holds the tone
    z = _ref_bark(np.array([1000.0]))[0]
    for t in range(theta.shape[-1]):
        assert k in kept[t]  # the tone is a masker in every frame
        if t < theta.shape[-1] - 1:  # (the last frame is partly tail padding)
            assert psd[k, t] == pytest.approx(96.0, abs=0.5)  # the utterance's loudest bin
        smoothed = 10 * np.log10(np.sum(10 ** (psd[k - 1 : k + 2, t] / 10)))
        # At the masker's own bin the threshold is its smoothed level less 6.025 + 0.275 z (8.37 dB at 1 kHz);
        # the noise's maskers and the ATH add far less than 0.05 dB there.
        assert float(theta[0, k, t]) == pytest.approx(smoothed - 6.025 - 0.275 * z, abs=0.05)
        assert 6.0 < psd[k, t] - float(theta[0, k, t]) < 7.0  # 8.37 dB less the Hann smoothing gain (~1.8 dB)


def test_bark_scale_against_zwickers_critical_band_edges() -> None:
    """Zwicker (1961): critical band z ends at these frequencies; the formula is within ~0.2 Bark of them."""
    edges = [100, 200, 300, 400, 510, 630, 770, 920, 1080, 1270, 1480, 1720, 2000, 2320, 2700, 3150, 3700, 4400,
             5300, 6400, 7700]
    z = mt.bark(torch.tensor(edges, dtype=torch.float64))
    np.testing.assert_allclose(z.numpy(), np.arange(1, len(edges) + 1), atol=0.3)
    f = mt.frequencies()
    ath = mt.absolute_threshold_db(f)
    assert 3000 < float(f[int(ath.argmin())]) < 3700  # the ear is most sensitive near 3.3 kHz
    assert torch.all(torch.isfinite(ath)) and float(ath[0]) == pytest.approx(float(mt.absolute_threshold_db(
        torch.tensor([20.0], dtype=torch.float64))[0]))


def test_perturbation_psd_is_the_utterance_psd_in_its_normalisation_and_differentiable() -> None:
    x = torch.from_numpy(_tone_plus_noise())[None]
    psd, peak = mt.utterance_psd_db(x)
    torch.testing.assert_close(mt.perturbation_psd_db(x, peak), psd, atol=1e-3, rtol=0)
    delta = (0.001 * torch.randn(1, SR, generator=torch.Generator().manual_seed(0))).requires_grad_(True)
    (grad,) = torch.autograd.grad(mt.perturbation_psd_db(delta, peak).sum(), delta)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    # Half the amplitude is 6.02 dB less power in every bin.
    torch.testing.assert_close(mt.perturbation_psd_db(x / 2, peak), psd - 20 * math.log10(2), atol=1e-3, rtol=0)


def test_zero_perturbation_is_masked_and_a_loud_one_is_not() -> None:
    x = torch.from_numpy(_tone_plus_noise())[None]
    quiet = mt.masking_summary(mt.excess_db(x, x.clone()))
    assert bool(quiet["masked"][0]) and float(quiet["mean_db"][0]) == 0.0
    loud = mt.masking_summary(mt.excess_db(x, x + 0.05 * torch.randn_like(x)))
    assert not bool(loud["masked"][0]) and float(loud["max_db"][0]) > 20


# --- the attack ------------------------------------------------------------------------------------------------

def _task(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Tones whose frequency band (300, 800, 1300, 1800 Hz + up to 100) is the class, plus a little noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % CLASSES
    t = torch.arange(SAMPLES) / SR
    f0 = 300 + 500 * y[:, None] + 100 * torch.rand(n, 1, generator=g)
    level = 0.2 + 0.3 * torch.rand(n, 1, generator=g)
    x = level * torch.sin(2 * math.pi * f0 * t) + 0.01 * torch.randn(n, SAMPLES, generator=g)
    return x.clamp(-1, 1), y


@functools.cache
def _trained() -> FeaturePipeline:
    torch.manual_seed(11)
    x, y = _task(64, 0)
    frontend = LogSpectrogram(frontend_config(n_mels=32))
    with torch.no_grad():
        scaler = normalization("minmax").fit(frontend(x))
    net = CNN4(num_classes=CLASSES, width=0.125)
    model = FeaturePipeline(frontend, scaler, net)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(60):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model.eval()


def _accuracy(model, x, y) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).double().mean())


def test_masking_lower_than_pgd_at_the_same_budget_and_still_fools() -> None:
    model = _trained()
    x, y = _task(8, 5)
    assert _accuracy(model, x, y) == 1.0
    threat = ThreatModel(domain="waveform", norm="linf", eps=0.05)
    pgd = serbench.get("attacks", "pgd", eps=0.05, norm="linf", domain="waveform").generate(model, x, y)
    attack = serbench.get("attacks", "psychoacoustic", eps=0.05, norm="linf", domain="waveform")
    x_adv = attack.generate(model, x, y)
    check_budget("psychoacoustic", threat, x, x_adv)  # the harness's own check
    before = mt.masking_summary(mt.excess_db(x, pgd))
    after = mt.masking_summary(mt.excess_db(x, x_adv))
    assert torch.all(after["mean_db"] < before["mean_db"])  # every utterance: less excess than stage 1
    assert float(after["mean_db"].mean()) < 0.1 * float(before["mean_db"].mean())
    assert float(after["max_db"].mean()) < float(before["max_db"].mean()) - 10
    assert _accuracy(model, x_adv, y) <= _accuracy(model, pgd, y) < 1.0  # stage-1 successes are never lost
    report = attack.last_report
    assert report["totals"]["utterances"] == 8
    assert report["totals"]["fooled"] == round(8 * (1 - _accuracy(model, x_adv, y)))
    np.testing.assert_allclose(report["per_utterance"]["masking_excess_max_db"], after["max_db"].numpy(), atol=1e-3)
    assert report["totals"]["masked"] == int(after["masked"].sum())


def test_without_stage_two_it_is_pgd() -> None:
    model = _trained()
    x, y = _task(4, 6)
    pgd = serbench.get("attacks", "pgd", eps=0.02, domain="waveform", steps=5, seed=3).generate(model, x, y)
    psy = serbench.get("attacks", "psychoacoustic", eps=0.02, domain="waveform", steps=5, seed=3,
                       stage2_steps=0).generate(model, x, y)
    assert torch.equal(pgd, psy)


@pytest.mark.parametrize("norm, eps", [("linf", 0.02), ("snr", 20.0), ("l2", 0.5)])
def test_inside_the_cell_budget_under_the_harness_with_padding(norm: str, eps: float) -> None:
    model = _trained()
    x, y = _task(4, 7)
    lengths = torch.tensor([SAMPLES, SAMPLES - 3000, SAMPLES, SAMPLES - 500])
    mask = torch.arange(SAMPLES)[None, :] < lengths[:, None]
    x = x * mask
    attack = serbench.get("attacks", "psychoacoustic", eps=eps, norm=norm, domain="waveform", stage2_steps=10)
    with torch.no_grad():
        clean = model(x)
    metrics, _ = evaluate_attack("psychoacoustic", attack, model, [(torch.arange(4), x, mask)], y, clean,
                                 ("a", "b", "c", "d"), batch_size=2, threat={"domain": "waveform", "norm": norm,
                                                                             "eps": eps})
    report = metrics["attack_report"]
    assert report["totals"]["utterances"] == 4 and len(report["per_utterance"]["masked"]) == 4
    assert report["info"]["masking_tolerance_db"] == 0.0


def test_feature_domain_and_bad_parameters_are_refused_in_one_line() -> None:
    with pytest.raises(serbench.SerbenchError, match="needs the waveform domain") as err:
        serbench.get("attacks", "psychoacoustic", eps=0.1, domain="feature")
    assert "\n" not in str(err.value)
    with pytest.raises(serbench.SerbenchError, match="stage2_steps must be an integer >= 0"):
        serbench.get("attacks", "psychoacoustic", eps=0.1, domain="waveform", stage2_steps=-1)
    x = torch.zeros(2, 1, 8, 8)
    with pytest.raises(serbench.SerbenchError, match="expects waveforms"):
        serbench.get("attacks", "psychoacoustic", eps=0.1, domain="waveform").generate(_trained(), x,
                                                                                         torch.zeros(2).long())


def test_zero_budget_returns_the_input() -> None:
    x, y = _task(2, 8)
    attack = serbench.get("attacks", "psychoacoustic", eps=0.0, domain="waveform")
    assert torch.equal(attack.generate(_trained(), x, y), x)
    assert attack.last_report["totals"]["masked"] == 2


def test_the_harness_gives_a_hearing_model_the_corpus_sample_rate():
    """The threshold's Bark scale depends on the audio's rate: the evaluator passes the corpus's rate to a
    waveform attack that takes one, and refuses a spec that names another."""
    from serbench.bench.evaluators import _with_sample_rate

    assert _with_sample_rate("psychoacoustic", {}, "waveform", 8000) == {"sample_rate": 8000}
    assert _with_sample_rate("psychoacoustic", {"sample_rate": 8000}, "waveform", 8000) == {"sample_rate": 8000}
    assert _with_sample_rate("pgd", {"steps": 3}, "waveform", 8000) == {"steps": 3}  # takes no rate
    with pytest.raises(serbench.SerbenchError, match="sample_rate 16000 but the corpus is 8000 Hz"):
        _with_sample_rate("psychoacoustic", {"sample_rate": 16000}, "waveform", 8000)
