"""Padding: active lengths and frame masks, noise mixed over speech only, perturbations kept out of padding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchaudio.functional as AF
from torch import nn

from serbench.attacks.budget import check_budget
from serbench.attacks.fgsm import FGSM
from serbench.attacks.padding import (
    active_snr_db,
    masked_generate,
    padding_energy_fraction,
    restrict,
    sample_mask,
)
from serbench.attacks.pgd import PGD
from serbench.engine.lengths import LengthGroup, PadOrCrop, Segments, frame_mask, group_waves
from serbench.features import LogSpectrogram
from serbench.noises import WhiteNoise, mix_at_snr

SR = 16000


def waves_of(lengths: list[int], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(0.05 * rng.standard_normal(n) * (1 + i)).clip(-1, 1).astype(np.float32) for i, n in enumerate(lengths)]


def test_group_waves_records_active_lengths_and_old_callers_get_full_width():
    waves = waves_of([5000, 16000, 40000])
    (g,) = group_waves(PadOrCrop(32000), waves)
    assert g.lengths.tolist() == [5000, 16000, 32000]  # the long one is cropped: all of it is active
    seg = group_waves(Segments(window=8, hop=4, max_samples=32000, hop_length=256), waves)
    for group in seg:
        assert group.lengths.tolist() == [min(len(waves[i]), group.waves.shape[1]) for i in group.index.tolist()]
    plain = LengthGroup(torch.arange(2), torch.zeros(2, 100))
    assert plain.lengths.tolist() == [100, 100]
    with pytest.raises(ValueError, match="lengths"):
        LengthGroup(torch.arange(2), torch.zeros(2, 100), torch.tensor([50, 101]))


@pytest.mark.parametrize("hop", [256, 160])
def test_frame_mask_matches_the_centred_stft(hop):
    frontend = LogSpectrogram()
    lengths = torch.tensor([1, 255, 256, 257, 5000, 32000])
    n_frames = 1 + 32000 // hop
    mask = frame_mask(lengths, hop, n_frames)
    assert mask.shape == (6, n_frames)
    for row, n in zip(mask, lengths.tolist()):
        expected = 1 + n // hop  # the frames an unpadded row of n samples gets
        assert int(row.sum()) == expected and bool(row[:expected].all())
    if hop == 256:
        for n in (257, 5000):
            assert frontend(torch.randn(1, n)).shape[-1] == frontend.num_frames(n) == 1 + n // hop
    assert int(frame_mask(torch.tensor([10**6]), hop, 7).sum()) == 7  # capped at the feature width


@pytest.mark.parametrize("snr", [0.0, 10.0, 20.0])
def test_mix_at_snr_measures_over_the_utterance_and_keeps_padding_silent(snr):
    lengths = [6000, 16000, 24000]
    (g,) = group_waves(PadOrCrop(32000), waves_of(lengths))
    clean = g.waves.double()
    noise = torch.from_numpy(np.stack([WhiteNoise().sample(32000, SR, np.random.default_rng(i))
                                       for i in range(3)])).double()
    mixed = mix_at_snr(clean, noise, snr, lengths=g.lengths)
    added = mixed - clean
    for i, n in enumerate(lengths):
        measured = 10 * torch.log10(clean[i, :n].pow(2).sum() / added[i, :n].pow(2).sum())
        assert abs(float(measured) - snr) < 1e-4
        assert torch.all(mixed[i, n:] == 0)  # padding stays silent
        # peer: torchaudio on the unpadded row
        peer = AF.add_noise(clean[i : i + 1, :n], noise[i : i + 1, :n], torch.tensor([snr], dtype=torch.float64))
        torch.testing.assert_close(mixed[i, :n], peer[0])
    # over the padded window (lengths not given) the speech sees less noise than nominal
    window = mix_at_snr(clean, noise, snr) - clean
    over_speech = 10 * torch.log10(clean[0, :6000].pow(2).sum() / window[0, :6000].pow(2).sum())
    assert float(over_speech) > snr + 3


class Tiny(nn.Module):
    """A fixed random model of waveforms or features, depending on every position (so padding gets gradient)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.lin = nn.Linear(width, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(torch.tanh(30 * x.flatten(1)))


def test_restrict_keeps_every_budget_and_touches_only_active_positions():
    x = torch.rand(3, 1, 4, 10)
    x_adv = (x + 0.05 * torch.randn_like(x)).clamp(0, 1)
    mask = frame_mask(torch.tensor([256 * 3, 256 * 9, 256 * 20]), 256, 10)
    out = restrict(x, x_adv, mask)
    m = mask[:, None, None, :].expand_as(x)
    assert torch.equal(out[m], x_adv[m]) and torch.equal(out[~m], x[~m])
    assert (out - x).abs().amax() <= (x_adv - x).abs().amax()


def test_masked_attacks_leave_padding_alone_and_spend_the_snr_budget_on_speech():
    lengths = torch.tensor([3000, 6000, 8000])
    (g,) = group_waves(PadOrCrop(8000), waves_of(lengths.tolist()))
    x, y = g.waves, torch.tensor([0, 1, 2])
    model = Tiny(8000).eval()
    mask = sample_mask(g.lengths, 8000)
    pgd = PGD(eps=20.0, norm="snr", domain="waveform", steps=5)
    plain = pgd.generate(model, x, y)
    assert float(padding_energy_fraction(x, plain, g.lengths)[:2].min()) > 0.2  # the old behaviour
    pgd = PGD(eps=20.0, norm="snr", domain="waveform", steps=5)
    kept = masked_generate(pgd, model, x, y, mask)
    check_budget("pgd", pgd.threat, x, kept)
    assert torch.all(kept[~mask] == x[~mask])
    assert float(padding_energy_fraction(x, kept, g.lengths).max()) == 0.0
    snr = active_snr_db(x, kept, g.lengths)
    assert float(snr.min()) >= 20.0 - 1e-6 and float(snr.max()) < 20.5  # the budget is spent on speech
    # features: FGSM and a random-start Linf PGD never write into padded frames
    feats = torch.rand(3, 1, 4, 10)
    fmask = frame_mask(torch.tensor([256 * 3, 256 * 6, 256 * 20]), 256, 10)
    fmodel = Tiny(40).eval()
    for attack in (FGSM(eps=0.1), PGD(eps=0.1, steps=3)):
        adv = masked_generate(attack, fmodel, feats, y, fmask)
        check_budget(attack.name, attack.threat, feats, adv)
        pad = ~fmask[:, None, None, :].expand_as(feats)
        assert torch.equal(adv[pad], feats[pad]) and bool((adv != feats)[~pad].any())
    assert torch.isinf(active_snr_db(x, x, g.lengths)).all()
