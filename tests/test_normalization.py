"""Feature normalisations: peers (sklearn, the old min-max scaler), padding kept out, eps units, checkpoints."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from sklearn.preprocessing import MinMaxScaler as SkMinMax
from sklearn.preprocessing import StandardScaler

from serbench.engine.lengths import PadOrCrop, frame_mask, group_waves
from serbench.errors import SerbenchError
from serbench.features import LogSpectrogram
from serbench.normalization import (
    DB_PER_NEPER_POWER,
    NORMALIZATIONS,
    floor_db,
    floor_fraction,
    from_state,
    normalization,
    valid_values,
)

HOP = 256
FLOOR = floor_db()
NEW = ["minmax-active", "standardize", "natural-log"]


def utterances(n: int = 5, seed: int = 0) -> list[np.ndarray]:
    """Voiced-ish test signals of different lengths (0.4-1.1 s), one with a stretch of digital silence."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        length = int(rng.integers(6400, 17600))
        t = np.arange(length) / 16000
        w = 0.2 * (1 + i) / n * np.sin(2 * np.pi * (120 + 40 * i) * t) + 0.02 * rng.standard_normal(length)
        out.append(w.astype(np.float32))
    out[1][2000:4000] = 0.0  # silence inside an utterance: at the floor, but an active frame
    return out


def padded_features(waves: list[np.ndarray], samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    (g,) = group_waves(PadOrCrop(samples), waves)
    feats = LogSpectrogram()(g.waves)
    return feats, g.frame_mask(HOP, feats.shape[-1])


class OldMinMaxScaler:
    """serbench's scaler before normalisations (features.MinMaxScaler), as it was: every value's
    [min, max], padding included, onto [0, 1] with float32 buffers."""

    def __init__(self, features: list[torch.Tensor]) -> None:
        self.low = torch.tensor(min(float(f.min()) for f in features))
        self.high = torch.tensor(max(float(f.max()) for f in features))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return ((x - self.low) / (self.high - self.low)).clamp(0.0, 1.0)


def test_minmax_reproduces_the_old_scaler_exactly():
    feats, mask = padded_features(utterances(), 24000)
    old = OldMinMaxScaler([feats])
    new = normalization("minmax").fit(feats, mask)  # the legacy option ignores the mask, as the old code did
    assert new.state()["low"] == float(old.low) == pytest.approx(FLOOR)
    assert new.state()["high"] == float(old.high)
    x = feats * 1.1 + 3  # values outside the training range clip the same way
    assert torch.equal(new(x, mask), old(x))
    # several length groups: the min and max over all of them
    other, _ = padded_features(utterances(3, seed=1), 20000)
    grouped = normalization("minmax").fit([feats, other])
    both = OldMinMaxScaler([feats, other])
    assert (grouped.state()["low"], grouped.state()["high"]) == (float(both.low), float(both.high))
    assert new.db_per_unit() == pytest.approx(float(old.high - old.low))
    assert new.bounds == (0.0, 1.0)


def active_matrix(feats: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    """(active frames, bins) with floor values as NaN: what sklearn's scalers fit on (they ignore NaN)."""
    keep = valid_values(feats, mask, FLOOR)[:, 0].permute(0, 2, 1)  # (B, T, F)
    values = feats[:, 0].permute(0, 2, 1).double()
    rows = mask.bool()
    return torch.where(keep, values, torch.full_like(values, float("nan")))[rows].numpy()


def test_standardize_matches_sklearn_on_active_frames():
    feats, mask = padded_features(utterances(), 24000)
    ours = normalization("standardize", clip=50.0).fit(feats, mask)
    ref = StandardScaler().fit(active_matrix(feats, mask))
    np.testing.assert_allclose(np.array(ours.state()["mean"]), ref.mean_, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(np.array(ours.state()["std"]), ref.scale_, rtol=1e-5)
    scaled = ours(feats, mask)
    mat = active_matrix(feats, mask)
    expected = ref.transform(np.nan_to_num(mat, nan=FLOOR)).clip(-50, 50)
    got = scaled[:, 0].permute(0, 2, 1)[mask].double().numpy()
    np.testing.assert_allclose(got, expected, atol=2e-4)
    torch.testing.assert_close(ours.db_per_unit(), torch.tensor(ref.scale_), rtol=1e-5, atol=0)


def test_minmax_active_matches_sklearn_and_numpy_percentiles():
    feats, mask = padded_features(utterances(), 24000)
    values = active_matrix(feats, mask).reshape(-1, 1)
    values = values[~np.isnan(values)].reshape(-1, 1)
    ref = SkMinMax().fit(values)
    ours = normalization("minmax-active").fit(feats, mask)
    assert ours.state()["low"] == pytest.approx(float(ref.data_min_[0]), abs=1e-4)
    assert ours.state()["high"] == pytest.approx(float(ref.data_max_[0]), abs=1e-4)
    assert ours.state()["low"] > FLOOR + 1  # the floor is not the minimum any more
    active = feats[valid_values(feats, mask, FLOOR)]
    torch.testing.assert_close(ours(feats, mask)[valid_values(feats, mask, FLOOR)].double(),
                               torch.from_numpy(ref.transform(active.double().numpy()[:, None])[:, 0]),
                               atol=1e-5, rtol=0)
    robust = normalization("minmax-active", percentiles=[1, 99]).fit(feats, mask)
    lo, hi = np.percentile(values[:, 0], [1, 99])
    assert robust.state()["low"] == pytest.approx(lo, abs=1e-4)
    assert robust.state()["high"] == pytest.approx(hi, abs=1e-4)


LEGACY = pytest.param("minmax", marks=pytest.mark.xfail(strict=True, reason="legacy: the padding sets its minimum"))


@pytest.mark.parametrize("name", NEW + [LEGACY])
def test_padding_does_not_enter_statistics(name):
    """The same utterances padded to 1.5 s or to 3 s: identical statistics, identical active features.

    With the old min-max scaler (and the legacy ``minmax`` that reproduces it) the statistics move with
    the padding: its minimum is the log floor that the padding reaches.
    """
    waves = utterances()
    short, short_mask = padded_features(waves, 24000)
    long, long_mask = padded_features(waves, 48000)
    a = normalization(name).fit(short, short_mask)
    b = normalization(name).fit(long, long_mask)
    for key, value in a.state().items():
        if isinstance(value, float):
            assert b.state()[key] == pytest.approx(value, rel=1e-6, abs=1e-5), key
        elif isinstance(value, list):
            np.testing.assert_allclose(b.state()[key], value, rtol=1e-5, atol=1e-4)
    sa, sb = a(short, short_mask), b(long, long_mask)
    t = short.shape[-1]
    torch.testing.assert_close(sa[..., short_mask.any(0)], sb[..., :t][..., short_mask.any(0)], atol=1e-4, rtol=0)
    # padded frames carry bounds[0], exactly, and everything lies inside the bounds
    low, high = b.bounds
    assert math.isfinite(low) and math.isfinite(high)
    assert torch.all(sb[~long_mask[:, None, None, :].expand_as(sb)] == low)
    assert float(sb.min()) >= low and float(sb.max()) <= high


def test_padding_would_have_moved_the_old_statistics():
    """What the new options avoid: padding changes the old scaler's range and the share of floor values."""
    waves = [w for w in utterances() if not np.any(w == 0.0)]
    short, short_mask = padded_features(waves, 17600)  # no row is padded by more than a few frames
    long, long_mask = padded_features(waves, 48000)
    unpadded = torch.cat([LogSpectrogram()(torch.from_numpy(w)[None]) for w in waves], dim=-1)
    assert float(unpadded.min()) > FLOOR + 1  # none of this audio is at the floor by itself
    assert float(OldMinMaxScaler([long]).low) == pytest.approx(FLOOR)
    assert floor_fraction(long, long_mask)["padding"] > 0.5
    assert floor_fraction(long)["floor"] > 0.5
    new = normalization("minmax-active").fit(long, long_mask)
    assert new.state()["low"] == pytest.approx(float(unpadded.min()), abs=0.05)


def test_state_round_trip_loads_with_weights_only():
    feats, mask = padded_features(utterances(), 24000)
    for name in NORMALIZATIONS:
        params = {"percentiles": (0.5, 99.5)} if name == "minmax-active" else {}
        fitted = normalization(name, **params).fit(feats, mask)
        buf = io.BytesIO()
        torch.save({"normalization": fitted.state()}, buf)
        buf.seek(0)
        state = torch.load(buf, weights_only=True)["normalization"]
        back = from_state(state)
        assert type(back) is type(fitted) and back.state() == fitted.state() and back.bounds == fitted.bounds
        assert torch.equal(back(feats, mask), fitted(feats, mask))
    legacy = from_state({"low": -100.0, "high": 21.0})  # a checkpoint written before normalisations had names
    assert legacy.name == "minmax" and legacy.db_per_unit() == pytest.approx(121.0)


def test_eps_in_db_per_bin():
    feats, mask = padded_features(utterances(), 24000)
    nl = normalization("natural-log").fit(feats, mask)
    assert nl.eps_units(0.1)["db_per_bin_mean"] == pytest.approx(10 / math.log(10) * 0.1)
    assert DB_PER_NEPER_POWER == pytest.approx(4.3429448)
    # one natural-log unit is one neper of power: ln(P) - ln(P') for P = 10^(dB/10)
    scaled = nl.scale(torch.tensor([-30.0, -20.0]))
    assert float(scaled[1] - scaled[0]) == pytest.approx(math.log(10.0))
    st = normalization("standardize").fit(feats, mask)
    units = st.eps_units(0.02)
    std = st.db_per_unit()
    assert units["db_per_bin_min"] == pytest.approx(0.02 * float(std.min()))
    assert units["db_per_bin_max"] == pytest.approx(0.02 * float(std.max()))
    mm = normalization("minmax-active").fit(feats, mask)
    assert mm.eps_units(0.1)["db_per_bin_mean"] == pytest.approx(0.1 * (mm.state()["high"] - mm.state()["low"]))
    assert mm.describe()["bounds"] == [0.0, 1.0]


def test_errors_name_the_option():
    with pytest.raises(SerbenchError, match="did you mean 'standardize'"):
        normalization("standardise")
    with pytest.raises(SerbenchError, match="unknown parameter 'clip'"):
        normalization("minmax-active", clip=3)
    with pytest.raises(SerbenchError, match="not fitted"):
        normalization("standardize")(torch.zeros(1, 1, 4, 3))
    with pytest.raises(SerbenchError, match="percentiles"):
        normalization("minmax-active", percentiles=(90, 10))
    silent = LogSpectrogram()(torch.zeros(2, 8000))
    with pytest.raises(SerbenchError, match="log floor"):
        normalization("standardize").fit(silent, frame_mask(torch.tensor([8000, 8000]), HOP, silent.shape[-1]))
