"""Psychoacoustic frequency-masking threshold of an utterance, after Qin et al. (ICML 2019).

Qin et al. ("Imperceptible, robust, and targeted adversarial examples for automatic speech
recognition") keep a perturbation inaudible by holding its power spectral density (PSD) under the
global masking threshold of the clean utterance, computed frame by frame from the psychoacoustic
model 1 of MPEG-1 as simplified by Lin and Abdulla (2015):

1. STFT with a periodic Hann window of ``n_fft`` 2048, hop 512, no centring (16 kHz); the PSD
   ``20 log10(|sqrt(8/3) S| / n_fft)`` (floored at -200 dB) is shifted so the utterance's maximum is
   96 dB SPL. The tail is zero-padded so that every sample lies in some frame.
2. Tonal maskers: strict local maxima along frequency, each smoothed with its two neighbours,
   ``P_TM = 10 log10(10^(P[k-1]/10) + 10^(P[k]/10) + 10^(P[k+1]/10))`` (all maskers treated as tonal).
3. Decimation: maskers not above the absolute threshold of hearing (ATH) go first; then a left-to-right
   scan keeps the larger of any two survivors closer than 0.5 Bark (the earlier one on a tie). This is
   MPEG-1's order (ATH first), which ART's reimplementation also uses.
4. Each masker ``j`` at Bark ``z_j`` spreads ``T_j(z) = P_TM_j - 6.025 - 0.275 z_j + SF(z - z_j)`` with the
   two-slope spreading function ``SF(dz) = 27 dz`` for ``dz <= 0`` and
   ``(-27 + 0.37 max(P_TM_j - 40, 0)) dz`` above.
5. Global threshold ``theta = 10 log10(sum_j 10^(T_j/10) + 10^(ATH/10))``.

Bark: Zwicker and Terhardt, ``13 atan(0.00076 f) + 3.5 atan((f / 7500)^2)``. ATH (dB SPL):
``3.64 (f/kHz)^-0.8 - 6.5 exp(-0.6 (f/kHz - 3.3)^2) + 1e-3 (f/kHz)^4 - 12``, Qin's code's offset of -12 dB
included. Qin's code sets the ATH to -inf below 1 Bark (about 100 Hz) and ART below 20 Hz, which
leaves a silent frame no threshold at all there (-inf dB, so any perturbation counts as infinitely
audible and the excess of a zero one is undefined); here the ATH is held at its 20 Hz value (about
71 dB SPL) below 20 Hz instead, so every threshold is finite. A sub-20 Hz tone at that level is still
inaudible, so this is no looser than hearing is.

The threshold is computed without gradients (it depends only on the clean utterance); the PSD of a
perturbation, :func:`perturbation_psd_db`, is differentiable, in the same normalisation as the clean
utterance's (its 96 dB shift), so the two compare directly.
"""

from __future__ import annotations

import math

import torch

SAMPLE_RATE = 16000
N_FFT = 2048
HOP = 512
PSD_FLOOR_DB = -200.0  # before the 96 dB shift: |S| of a digital zero
SPL_MAX = 96.0
GAIN = math.sqrt(8.0 / 3.0)  # the Hann window's power gain, as Qin et al. and ART
BARK_DISTANCE = 0.5
ATH_LOW_HZ = 20.0
# Frames evaluated at once when spreading maskers: bounds the (frames, maskers, bins) tensor (~8e6 floats).
_SPREAD_ELEMENTS = 8_000_000


def bark(f: torch.Tensor) -> torch.Tensor:
    """Critical-band rate (Bark) of frequencies ``f`` in Hz (Zwicker and Terhardt 1980)."""
    return 13.0 * torch.atan(0.00076 * f) + 3.5 * torch.atan((f / 7500.0) ** 2)


def absolute_threshold_db(f: torch.Tensor) -> torch.Tensor:
    """Absolute threshold of hearing in dB SPL (Terhardt, Qin's -12 dB offset), held at its 20 Hz value below."""
    k = f.clamp_min(ATH_LOW_HZ) / 1000.0
    return 3.64 * k.pow(-0.8) - 6.5 * torch.exp(-0.6 * (k - 3.3) ** 2) + 1e-3 * k.pow(4) - 12.0


def frequencies(n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE, device=None) -> torch.Tensor:
    """Centre frequencies (Hz, float64) of the ``n_fft // 2 + 1`` STFT bins."""
    return torch.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1, dtype=torch.float64, device=device)


def padded_length(length: int, n_fft: int = N_FFT, hop: int = HOP) -> int:
    """Length after zero-padding the tail so that frames of ``n_fft`` every ``hop`` cover every sample."""
    if length <= n_fft:
        return n_fft
    return n_fft + math.ceil((length - n_fft) / hop) * hop


def _stft_power(x: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """(B, F, T) ``|sqrt(8/3) S / n_fft|^2`` of (B, L) signals, tail zero-padded to cover every sample."""
    x = x.float()
    x = torch.nn.functional.pad(x, (0, padded_length(x.shape[-1], n_fft, hop) - x.shape[-1]))
    window = torch.hann_window(n_fft, periodic=True, dtype=x.dtype, device=x.device)
    spec = torch.stft(x, n_fft, hop_length=hop, win_length=n_fft, window=window, center=False, return_complex=True)
    return (torch.view_as_real(spec) * (GAIN / n_fft)).pow(2).sum(-1)


def utterance_psd_db(x: torch.Tensor, n_fft: int = N_FFT, hop: int = HOP) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, F, T) PSD in dB SPL (each utterance's maximum at 96 dB) and (B,) the maximum before the shift."""
    with torch.no_grad():
        raw = (10.0 * torch.log10(_stft_power(x.detach(), n_fft, hop))).clamp_min(PSD_FLOOR_DB)
        peak = raw.flatten(1).amax(dim=1)
        return SPL_MAX - peak[:, None, None] + raw, peak


def perturbation_psd_db(delta: torch.Tensor, peak: torch.Tensor, n_fft: int = N_FFT, hop: int = HOP) -> torch.Tensor:
    """(B, F, T) PSD of perturbations ``delta`` (B, L) in the clean utterances' normalisation; differentiable.

    ``peak`` is :func:`utterance_psd_db`'s second value for the clean utterances: the perturbation is shifted
    by the same amount, so it compares with the clean masking threshold in one unit (dB SPL).
    """
    power = _stft_power(delta, n_fft, hop)
    raw = 10.0 * torch.log10(power.clamp_min(10.0 ** (PSD_FLOOR_DB / 10.0)))
    return SPL_MAX - peak.to(raw.dtype)[:, None, None] + raw


def _maskers(psd: torch.Tensor, ath: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per frame (rows of ``psd``, (N, F) dB): the smoothed masker levels (N, F) and which bins keep one (N, F)."""
    n, f = psd.shape
    level = torch.full_like(psd, -math.inf)
    is_max = torch.zeros_like(psd, dtype=torch.bool)
    is_max[:, 1:-1] = (psd[:, 1:-1] > psd[:, :-2]) & (psd[:, 1:-1] > psd[:, 2:])
    power = torch.pow(10.0, psd / 10.0)
    level[:, 1:-1] = 10.0 * torch.log10(power[:, :-2] + power[:, 1:-1] + power[:, 2:])
    keep = is_max & (level > ath[None, :])
    # The 0.5 Bark scan, all frames at once: ``cur`` is each frame's current survivor (-1: none yet).
    rows = torch.arange(n, device=psd.device)
    cur = torch.full((n,), -1, dtype=torch.long, device=psd.device)
    cur_level = torch.full((n,), -math.inf, dtype=psd.dtype, device=psd.device)
    cur_z = torch.full((n,), -math.inf, dtype=z.dtype, device=psd.device)
    candidates = keep.clone()
    for k in range(1, f - 1):
        c = candidates[:, k]
        near = c & (cur >= 0) & ((z[k] - cur_z) < BARK_DISTANCE)
        new_wins = near & (level[:, k] > cur_level)
        keep[rows, cur.clamp_min(0)] &= ~new_wins  # the current survivor loses to the larger newcomer
        keep[:, k] &= ~(near & ~new_wins)  # the newcomer is not larger: it goes
        take = c & ~(near & ~new_wins)
        cur = torch.where(take, k, cur)
        cur_level = torch.where(take, level[:, k], cur_level)
        cur_z = torch.where(take, z[k], cur_z)
    return level, keep


def _global_threshold(level: torch.Tensor, keep: torch.Tensor, ath: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """(N, F) global threshold in dB from the kept maskers of each frame (rows)."""
    n, f = level.shape
    count = int(keep.sum(dim=1).max()) if n else 0
    ath_power = torch.pow(10.0, ath / 10.0)
    if count == 0:
        return (10.0 * torch.log10(ath_power)).expand(n, f).clone()
    order = torch.argsort(keep.to(torch.int8), dim=1, descending=True, stable=True)[:, :count]  # kept bins first
    valid = keep.gather(1, order)
    p = level.gather(1, order).masked_fill(~valid, 0.0)  # (N, K)
    zj = z[order]  # (N, K)
    out = torch.empty_like(level)
    chunk = max(1, _SPREAD_ELEMENTS // max(1, count * f))
    for s in range(0, n, chunk):
        pj, zz, ok = p[s : s + chunk, :, None], zj[s : s + chunk, :, None], valid[s : s + chunk, :, None]
        dz = z[None, None, :] - zz  # (n, K, F)
        upper = -27.0 + 0.37 * (pj - 40.0).clamp_min(0.0)
        spread = torch.where(dz > 0, upper * dz, 27.0 * dz)
        t = pj - 6.025 - 0.275 * zz + spread
        total = torch.where(ok, torch.pow(10.0, t / 10.0), torch.zeros_like(t)).sum(dim=1)
        out[s : s + chunk] = 10.0 * torch.log10(total + ath_power[None, :])
    return out


def masking_threshold(x: torch.Tensor, sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT,
                      hop: int = HOP) -> tuple[torch.Tensor, torch.Tensor]:
    """Global masking threshold (B, F, T) in dB SPL of utterances ``x`` (B, L), and their PSD peak (B,).

    The peak is what :func:`perturbation_psd_db` needs to put a perturbation in the same normalisation.
    No gradient flows: the threshold depends on the clean utterance only. Float32 on ``x``'s device.
    """
    psd, peak = utterance_psd_db(x, n_fft, hop)
    b, f, t = psd.shape
    with torch.no_grad():
        freqs = frequencies(n_fft, sample_rate, x.device)
        z = bark(freqs).to(psd.dtype)
        ath = absolute_threshold_db(freqs).to(psd.dtype)
        frames = psd.permute(0, 2, 1).reshape(b * t, f)
        level, keep = _maskers(frames, ath, z)
        theta = _global_threshold(level, keep, ath, z)
    return theta.view(b, t, f).permute(0, 2, 1).contiguous(), peak


def excess_db(x: torch.Tensor, x_adv: torch.Tensor, sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT,
              hop: int = HOP) -> torch.Tensor:
    """(B, F, T) how far (dB) the perturbation ``x_adv - x`` lies above ``x``'s masking threshold (<= 0: masked)."""
    theta, peak = masking_threshold(x, sample_rate, n_fft, hop)
    with torch.no_grad():
        return perturbation_psd_db((x_adv - x).detach(), peak, n_fft, hop) - theta


def masking_summary(excess: torch.Tensor, tolerance_db: float = 0.0) -> dict[str, torch.Tensor]:
    """Per utterance (B,): largest excess (dB), mean positive excess over every bin and frame (dB), and
    whether the perturbation is masked everywhere (largest excess at most ``tolerance_db``)."""
    flat = excess.flatten(1)
    worst = flat.amax(dim=1)
    return {"max_db": worst, "mean_db": flat.clamp_min(0.0).mean(dim=1), "masked": worst <= tolerance_db}
