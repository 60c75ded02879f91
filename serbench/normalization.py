"""Feature normalisations: unscaled log power (dB) -> the scaled features a model and a feature attack see.

An attack's eps is a distance in the scaled domain, so the normalisation decides
what eps means in decibels. Every option here is fitted on the training
partition's *active* frames (a boolean frame mask, :func:`serbench.engine.lengths.frame_mask`)
and, except the legacy ``minmax``, ignores values at the front end's log floor
(``10 log10(log_floor)``, -100 dB by default: what zero padding and digital
silence produce). Each option states its scaled domain (:attr:`Normalization.bounds`,
finite, the range attacks clip to) and what one scaled unit is in dB per
frequency bin (:meth:`Normalization.db_per_unit`), so a record can say what
its eps means on the papers' scale.

Options (``NORMALIZATIONS``):

- ``minmax``: today's :class:`serbench.features.MinMaxScaler`, bit for bit:
  the global [min, max] of every training value, padding and floor included,
  onto [0, 1]. Kept only to reproduce old numbers; one unit is the whole
  training range (121 dB on the quickstart), so eps 0.1 is 12 dB per bin.
- ``minmax-active``: global [min, max] over active, above-floor values onto
  [0, 1]; ``percentiles=(p_lo, p_hi)`` uses those percentiles instead (robust
  to outliers). Values outside clip to the bounds (the floor lands on 0).
- ``standardize``: per-bin mean and standard deviation over active,
  above-floor values (a z-score per Mel/frequency bin), clipped to
  ``[-clip, clip]`` (default 5 standard deviations); one unit is that bin's
  standard deviation in dB.
- ``natural-log``: the natural log of the power, ``ln P = dB * ln(10) / 10``,
  centred on the training mean; one unit is 10 / ln(10) = 4.343 dB in every
  bin (what eps means on an un-normalised ``log(mel)`` input). Bounds: the
  log floor and the training maximum, both in these units.

After scaling, frames outside the mask (padding) are set to ``bounds[0]``:
where the log floor lands, and exactly what zero padding gave before, only
now by construction and never a statistic.

Checkpoints store :meth:`Normalization.state` (plain floats and lists, so they
load with ``torch.load(..., weights_only=True)``); :func:`from_state` rebuilds
the fitted object, and reads a pre-normalisation checkpoint's ``{"low", "high"}``
as ``minmax``.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from serbench.errors import SerbenchError
from serbench.inputs import WAVEFORM_NORMALIZATION
from serbench.suggest import did_you_mean

# Values within this distance of the log floor count as "at the floor" (padding, digital silence).
FLOOR_TOLERANCE_DB = 1e-3
DB_PER_NEPER_POWER = 10.0 / math.log(10.0)  # dB per unit of ln(power): 4.3429

FeatureInput = torch.Tensor | list[torch.Tensor]
MaskInput = torch.Tensor | list[torch.Tensor | None] | None


def floor_db(log_floor: float = 1e-10) -> float:
    """The dB value the front end clamps silence to (``FrontendConfig.log_floor``)."""
    return 10.0 * math.log10(log_floor)


def frame_view(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A (B, T) frame mask shaped to broadcast over features (B, ..., T)."""
    if mask.dim() != 2 or mask.shape[0] != like.shape[0] or mask.shape[1] != like.shape[-1]:
        raise ValueError(f"frame mask {tuple(mask.shape)} does not fit features {tuple(like.shape)}: "
                         "expected (batch, frames)")
    return mask.to(device=like.device, dtype=torch.bool).view(mask.shape[0], *([1] * (like.dim() - 2)),
                                                                mask.shape[1])


def _pairs(features: FeatureInput, mask: MaskInput) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """One tensor or one per length group, each with its mask (or None: every frame active)."""
    feats = [features] if isinstance(features, torch.Tensor) else list(features)
    if mask is None or isinstance(mask, torch.Tensor):
        masks: list[torch.Tensor | None] = [mask] if len(feats) == 1 else [None] * len(feats)
        if mask is not None and len(feats) != 1:
            raise ValueError("one mask for several feature groups: pass one mask per group")
    else:
        masks = list(mask)
    if len(masks) != len(feats):
        raise ValueError(f"{len(feats)} feature groups but {len(masks)} masks")
    if not feats:
        raise SerbenchError("feature normalisation: no training features to fit on")
    return list(zip(feats, masks))


def f32_inside(low: float, high: float) -> tuple[float, float]:
    """(low, high) moved inward to float32-representable values, so float32 features clamped to them
    never read as outside the float64 bounds."""
    lo, hi = np.float32(low), np.float32(high)
    if float(lo) < low:
        lo = np.nextafter(lo, np.float32(np.inf))
    if float(hi) > high:
        hi = np.nextafter(hi, np.float32(-np.inf))
    return float(lo), float(hi)


def valid_values(x: torch.Tensor, mask: torch.Tensor | None, floor: float | None) -> torch.Tensor:
    """Boolean (x's shape): the frame is active and, when ``floor`` is given, the value sits above the floor."""
    keep = torch.ones_like(x, dtype=torch.bool) if mask is None else frame_view(mask, x).expand_as(x)
    if floor is not None:
        keep = keep & (x > floor + FLOOR_TOLERANCE_DB)
    return keep


def floor_fraction(features: torch.Tensor, mask: torch.Tensor | None = None,
                   floor: float = floor_db()) -> dict[str, float]:
    """Fractions of feature values in padded frames, and at the log floor (anywhere), for reports."""
    n = features.numel()
    padded = 0.0 if mask is None else 1.0 - float(valid_values(features, mask, None).sum()) / n
    at_floor = float((features <= floor + FLOOR_TOLERANCE_DB).sum()) / n
    return {"padding": padded, "floor": at_floor}


class Normalization(nn.Module):
    """Base class: ``fit(features, mask)`` on training dB features, then ``forward(features, mask)``.

    ``features`` are (B, C, F, T) (or any (B, ..., F, T)) in dB; ``mask`` is a (B, T) boolean of
    active frames (None: all active). Subclasses implement :meth:`_fit`, :meth:`scale`,
    :attr:`bounds`, :meth:`db_per_unit` and the state round trip.
    """

    name: ClassVar[str] = ""
    masks_padding: ClassVar[bool] = True  # False only for the legacy ``minmax``

    def __init__(self, floor_db: float = floor_db()) -> None:
        super().__init__()
        self.floor_db = float(floor_db)
        self.fitted = False

    # -- fitting -----------------------------------------------------------------
    def fit(self, features: FeatureInput, mask: MaskInput = None) -> "Normalization":
        """Fit on training features (one tensor or one per length group); returns ``self``."""
        with torch.no_grad():
            self._fit(_pairs(features, mask))
        self.fitted = True
        return self

    def _fit(self, pairs: list[tuple[torch.Tensor, torch.Tensor | None]]) -> None:
        raise NotImplementedError

    def _active_values(self, pairs: list[tuple[torch.Tensor, torch.Tensor | None]]) -> torch.Tensor:
        """Every active, above-floor training value, flattened (float64, CPU)."""
        values = torch.cat([x[valid_values(x, m, self.floor_db)].double().cpu() for x, m in pairs])
        if values.numel() == 0:
            raise SerbenchError(f"feature normalisation {self.name!r}: every active training value sits at the "
                                f"log floor ({self.floor_db:g} dB); is the training audio silent?")
        return values

    # -- applying ----------------------------------------------------------------
    def scale(self, features: torch.Tensor) -> torch.Tensor:
        """The affine map, before clipping to :attr:`bounds` and before padding is set."""
        raise NotImplementedError

    def forward(self, features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if not self.fitted:
            raise SerbenchError(f"feature normalisation {self.name!r} is not fitted; call fit() on the training "
                                "features or load it with from_state()")
        low, high = self.bounds
        out = self.scale(features).clamp(low, high)
        if mask is not None and self.masks_padding:
            out = torch.where(frame_view(mask, out), out, torch.full_like(out, low))
        return out

    @property
    def bounds(self) -> tuple[float, float]:
        """(low, high): the scaled domain; every output lies inside, attacks clip to it."""
        raise NotImplementedError

    @property
    def pad_value(self) -> float:
        """The constant padded frames carry after scaling (``bounds[0]``)."""
        return self.bounds[0]

    def db_per_unit(self) -> float | torch.Tensor:
        """dB per scaled unit: a float (same in every bin) or a (F,) tensor (one per bin)."""
        raise NotImplementedError

    def eps_units(self, eps: float) -> dict[str, Any]:
        """What a feature-domain ``eps`` (scaled units) is in dB per bin: mean, min and max over bins."""
        per = torch.as_tensor(self.db_per_unit(), dtype=torch.float64).flatten()
        db = per * float(eps)
        return {"normalization": self.name, "eps_scaled": float(eps), "db_per_bin_mean": float(db.mean()),
                "db_per_bin_min": float(db.min()), "db_per_bin_max": float(db.max())}

    # -- checkpoints -------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Plain floats and lists (loads with ``weights_only=True``); includes ``name``."""
        return {"name": self.name, "floor_db": self.floor_db, **self._state()}

    def _state(self) -> dict[str, Any]:
        raise NotImplementedError

    def _load(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "Normalization":
        """Rebuild a fitted normalisation from :meth:`state` (``name`` picks the class)."""
        return from_state(state)

    def describe(self) -> dict[str, Any]:
        """For records: the option, its bounds and its dB per unit (mean over bins)."""
        low, high = self.bounds
        per = torch.as_tensor(self.db_per_unit(), dtype=torch.float64)
        return {"name": self.name, "bounds": [low, high], "db_per_unit_mean": float(per.mean()),
                "db_per_unit_min": float(per.min()), "db_per_unit_max": float(per.max())}

    def extra_repr(self) -> str:
        return f"fitted={self.fitted}" + (f", bounds={self.bounds}" if self.fitted else "")


class MinMax(Normalization):
    """Legacy: global training [min, max] (padding and floor included) onto [0, 1]; ignores masks."""

    name = "minmax"
    masks_padding = False

    def __init__(self, floor_db: float = floor_db()) -> None:
        super().__init__(floor_db)
        self.register_buffer("low", torch.tensor(0.0))
        self.register_buffer("high", torch.tensor(1.0))

    def _fit(self, pairs: list[tuple[torch.Tensor, torch.Tensor | None]]) -> None:
        low = min(float(x.min()) for x, _ in pairs)
        high = max(float(x.max()) for x, _ in pairs)
        self._set(low, high)

    def _set(self, low: float, high: float) -> None:
        if not high > low:
            raise SerbenchError("feature scaler: training features are constant; is the training audio silent?")
        self.low.fill_(low)
        self.high.fill_(high)

    def scale(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.low) / (self.high - self.low)

    @property
    def bounds(self) -> tuple[float, float]:
        return (0.0, 1.0)

    def db_per_unit(self) -> float:
        return float(self.high - self.low)

    def _state(self) -> dict[str, Any]:
        return {"low": float(self.low), "high": float(self.high)}

    def _load(self, state: dict[str, Any]) -> None:
        self._set(float(state["low"]), float(state["high"]))


class MinMaxActive(MinMax):
    """Global [min, max] (or percentiles) of active, above-floor training values onto [0, 1]."""

    name = "minmax-active"
    masks_padding = True

    def __init__(self, percentiles: tuple[float, float] | list[float] | None = None,
                 floor_db: float = floor_db()) -> None:
        super().__init__(floor_db)
        if percentiles is not None:
            lo, hi = (float(p) for p in percentiles)
            if not 0.0 <= lo < hi <= 100.0:
                raise SerbenchError(f"normalization minmax-active: percentiles must satisfy 0 <= low < high <= 100, "
                                    f"got {list(percentiles)}")
            percentiles = (lo, hi)
        self.percentiles = percentiles

    def _fit(self, pairs: list[tuple[torch.Tensor, torch.Tensor | None]]) -> None:
        values = self._active_values(pairs)
        if self.percentiles is None:
            self._set(float(values.min()), float(values.max()))
        else:
            lo, hi = np.percentile(values.numpy(), self.percentiles)
            self._set(float(lo), float(hi))

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "percentiles": None if self.percentiles is None else list(self.percentiles)}


class Standardize(Normalization):
    """Per-bin z-score over active, above-floor training values, clipped to [-clip, clip]."""

    name = "standardize"

    def __init__(self, clip: float = 5.0, floor_db: float = floor_db()) -> None:
        super().__init__(floor_db)
        if not (math.isfinite(clip) and clip > 0):
            raise SerbenchError(f"normalization standardize: clip must be a finite number > 0, got {clip!r}")
        self.clip = float(clip)
        self.register_buffer("mean", torch.zeros(1))
        self.register_buffer("std", torch.ones(1))

    def _fit(self, pairs: list[tuple[torch.Tensor, torch.Tensor | None]]) -> None:
        bins = {x.shape[-2] for x, _ in pairs}
        if len(bins) != 1:
            raise SerbenchError(f"normalization standardize: feature groups differ in height {sorted(bins)}")
        count = sum_ = None
        # Two passes in float64 (mean, then squared deviations): exact enough for any corpus size.
        for x, m in pairs:
            keep = valid_values(x, m, self.floor_db)
            xd = torch.where(keep, x, torch.zeros_like(x)).double()
            dims = [d for d in range(x.dim()) if d != x.dim() - 2]
            c, s = keep.sum(dim=dims).double().cpu(), xd.sum(dim=dims).cpu()
            count, sum_ = (c, s) if count is None else (count + c, sum_ + s)
        if float(count.sum()) == 0:
            raise SerbenchError(f"feature normalisation {self.name!r}: every active training value sits at the "
                                f"log floor ({self.floor_db:g} dB); is the training audio silent?")
        mean = torch.where(count > 0, sum_ / count.clamp_min(1), torch.full_like(sum_, self.floor_db))
        sq = torch.zeros_like(mean)
        for x, m in pairs:
            keep = valid_values(x, m, self.floor_db)
            shape = [1] * x.dim()
            shape[-2] = -1
            dev = (x.double() - mean.to(x.device).view(shape)) ** 2
            dims = [d for d in range(x.dim()) if d != x.dim() - 2]
            sq = sq + torch.where(keep, dev, torch.zeros_like(dev)).sum(dim=dims).cpu()
        std = (sq / count.clamp_min(1)).sqrt()
        # A bin with (almost) no spread (empty filter, constant channel) borrows the pooled spread:
        # a tiny std would blow a 0.01 eps up to many dB there.
        pooled = float((sq.sum() / count.sum()).sqrt())
        std = torch.where(std > 1e-3 * max(pooled, 1e-12), std, torch.full_like(std, pooled))
        if not pooled > 0:
            raise SerbenchError("feature scaler: training features are constant; is the training audio silent?")
        self.mean, self.std = mean.float(), std.float()

    def scale(self, features: torch.Tensor) -> torch.Tensor:
        shape = [1] * features.dim()
        shape[-2] = -1
        mean, std = self.mean.to(features.device), self.std.to(features.device)
        return (features - mean.view(shape)) / std.view(shape)

    @property
    def bounds(self) -> tuple[float, float]:
        return f32_inside(-self.clip, self.clip)

    def db_per_unit(self) -> torch.Tensor:
        return self.std.detach().double().cpu()

    def _state(self) -> dict[str, Any]:
        return {"clip": self.clip, "mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std]}

    def _load(self, state: dict[str, Any]) -> None:
        self.mean = torch.tensor(state["mean"], dtype=torch.float32)
        self.std = torch.tensor(state["std"], dtype=torch.float32)


class NaturalLog(Normalization):
    """ln(power) centred on the training mean: one unit = 10 / ln(10) dB in every bin."""

    name = "natural-log"

    def __init__(self, floor_db: float = floor_db()) -> None:
        super().__init__(floor_db)
        self.center_db, self.high_db = 0.0, 0.0  # python floats: bounds are read on every forward
        self._bounds = (0.0, 0.0)

    def _fit(self, pairs: list[tuple[torch.Tensor, torch.Tensor | None]]) -> None:
        values = self._active_values(pairs)
        self._set(float(values.mean()), float(values.max()))

    def _set(self, center_db: float, high_db: float) -> None:
        self.center_db, self.high_db = center_db, high_db
        self._bounds = f32_inside((self.floor_db - center_db) / DB_PER_NEPER_POWER,
                                  (high_db - center_db) / DB_PER_NEPER_POWER)

    def scale(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.center_db) / DB_PER_NEPER_POWER

    @property
    def bounds(self) -> tuple[float, float]:
        return self._bounds

    def db_per_unit(self) -> float:
        return DB_PER_NEPER_POWER

    def _state(self) -> dict[str, Any]:
        return {"center_db": self.center_db, "high_db": self.high_db}

    def _load(self, state: dict[str, Any]) -> None:
        self._set(float(state["center_db"]), float(state["high_db"]))


class Passthrough(Normalization):
    """A waveform model's "normalisation": none. Samples reach the model as they are, in [-1, 1]; padding stays
    zero (a waveform model finds its lengths there, serbench.models.waveform). Not a spec choice: the cells of
    waveform models name it, those of spectrogram models never do."""

    name = WAVEFORM_NORMALIZATION
    masks_padding = False

    def _fit(self, pairs: list[tuple[torch.Tensor, torch.Tensor | None]]) -> None:
        pass

    def scale(self, features: torch.Tensor) -> torch.Tensor:
        return features

    def forward(self, features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        out = features.clamp(-1.0, 1.0)
        return out if mask is None else torch.where(frame_view(mask, out), out, torch.zeros_like(out))

    @property
    def bounds(self) -> tuple[float, float]:
        return (-1.0, 1.0)

    @property
    def pad_value(self) -> float:
        return 0.0

    def db_per_unit(self) -> float:
        raise SerbenchError("a waveform model's input has no dB per unit: its attacks are in the waveform domain")

    def _state(self) -> dict[str, Any]:
        return {}

    def _load(self, state: dict[str, Any]) -> None:
        pass

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "bounds": list(self.bounds)}


# What a spec gets without ``frontend.normalization``: eps in a physical unit (4.343 dB per bin) on every
# corpus and front end (docs/methodology.md, "Normalisation, eps units and padding", gives the evidence).
DEFAULT_NORMALIZATION = "natural-log"

NORMALIZATIONS: dict[str, type[Normalization]] = {
    cls.name: cls for cls in (MinMax, MinMaxActive, Standardize, NaturalLog)
}
_CONSTRUCTOR_KEYS = {"minmax": (), "minmax-active": ("percentiles",), "standardize": ("clip",), "natural-log": ()}


def _unknown(name: Any) -> SerbenchError:
    hint = did_you_mean(str(name), NORMALIZATIONS, n=2, cutoff=0.5)
    return SerbenchError(f"normalization: unknown option {name!r}{hint} (options: {', '.join(NORMALIZATIONS)})")


def normalization(name: str, **params: Any) -> Normalization:
    """An unfitted normalisation by name (``params``: ``percentiles``, ``clip``, ``floor_db``)."""
    if name == WAVEFORM_NORMALIZATION:  # a waveform model's cells (Passthrough): fitted as it is
        passthrough = Passthrough(**params)
        passthrough.fitted = True
        return passthrough
    if name not in NORMALIZATIONS:
        raise _unknown(name)
    allowed = set(_CONSTRUCTOR_KEYS[name]) | {"floor_db"}
    bad = sorted(set(params) - allowed)
    if bad:
        raise SerbenchError(f"normalization {name}: unknown parameter {bad[0]!r}; parameters: "
                            f"{', '.join(sorted(allowed))}")
    return NORMALIZATIONS[name](**params)


def from_state(state: dict[str, Any]) -> Normalization:
    """A fitted normalisation from :meth:`Normalization.state`; ``{"low", "high"}`` alone is legacy ``minmax``."""
    name = state.get("name", "minmax")
    if name == WAVEFORM_NORMALIZATION:
        return normalization(name)
    if name not in NORMALIZATIONS:
        raise _unknown(name)
    params = {k: state[k] for k in _CONSTRUCTOR_KEYS[name] if k in state}
    if "floor_db" in state:
        params["floor_db"] = float(state["floor_db"])
    norm = NORMALIZATIONS[name](**params)
    norm._load(state)
    norm.fitted = True
    return norm
