"""The attack contract: ``generate(model, x, y) -> x_adv`` inside a threat model.

A threat model is a domain (``feature``: the scaled log-Mel, inside the bounds of
the model's fitted normalisation, which the harness sets on every attack's threat
model, e.g. the log floor to the training maximum under ``natural-log``; [0, 1] is
only the default of a threat model built without them; ``waveform``: samples in
[-1, 1], gradients through the front end), a norm
(``linf``, ``l2``, or ``snr`` in dB of the perturbation against the clean
signal, waveforms only) and a budget ``eps``. Every attack receives them at
construction; the harness measures every batch an attack returns and fails the
cell when any example leaves the budget (:mod:`serbench.attacks.budget`).
"""

from __future__ import annotations

import abc
import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
from torch import nn

from serbench.attacks import projection
from serbench.attacks.gradients import input_gradient  # noqa: F401 - attacks import it from here
from serbench.errors import SerbenchError

DOMAINS = ("feature", "waveform")
NORMS = ("linf", "l2", "snr")
DOMAIN_BOUNDS = {"feature": (0.0, 1.0), "waveform": (-1.0, 1.0)}
# How far past its budget (absolute: eps units for Linf/L2, dB for SNR) an example may land before the
# harness fails the cell (:func:`serbench.attacks.budget.check_budget`). ``Attack.snap`` never fixes more.
TOLERANCE = 1e-6


@dataclass(frozen=True)
class ThreatModel:
    """Domain, norm and budget; ``box`` overrides the domain's default bounds.

    The harness sets ``box`` for the feature domain to the bounds of the model's fitted
    normalisation (:attr:`serbench.normalization.Normalization.bounds`), which only it knows;
    a spec names domain, norm and eps only, so ``box`` is left out of :meth:`as_dict` when unset.
    """

    domain: str = "feature"
    norm: str = "linf"
    eps: float = 0.0
    box: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise SerbenchError(f"threat model: unknown domain {self.domain!r}; use {' or '.join(DOMAINS)}")
        if self.norm not in NORMS:
            raise SerbenchError(f"threat model: unknown norm {self.norm!r}; use one of {', '.join(NORMS)}")
        if self.norm == "snr" and self.domain != "waveform":
            raise SerbenchError("threat model: an SNR budget applies to the waveform domain only")
        if self.norm != "snr" and not (self.eps >= 0):
            raise SerbenchError(f"threat model: eps must be >= 0, got {self.eps}")
        if self.box is not None:
            low, high = (float(v) for v in self.box)
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise SerbenchError(f"threat model: bounds must be finite with low < high, got {list(self.box)}")
            object.__setattr__(self, "box", (low, high))

    @property
    def bounds(self) -> tuple[float, float]:
        """(low, high) every input and output of an attack lies in."""
        return self.box if self.box is not None else DOMAIN_BOUNDS[self.domain]

    def with_bounds(self, bounds: tuple[float, float] | None) -> "ThreatModel":
        """The same threat model inside ``bounds`` (None: the domain's default)."""
        return replace(self, box=None if bounds is None else tuple(bounds))

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.box is None:
            del data["box"]
        else:
            data["box"] = list(self.box)
        return data


class Attack(abc.ABC):
    """Base class: stores the threat model; subclasses must implement :meth:`generate`.

    ``generate`` receives a model mapping the attacked domain to logits (for
    the waveform domain, the whole front end + model pipeline), in eval mode,
    and must return a tensor of ``x``'s shape and dtype, detached.

    The contract the harness relies on (``serbench validate attacks NAME`` checks it):

    - Construction: ``eps``, ``norm`` and ``domain`` of the cell plus the spec's ``params`` over the
      defaults. The spec reader builds the attack once per eps (so a bad parameter fails before any
      compute); the runner builds a fresh one per eval cell and then assigns :attr:`threat`, the cell's
      threat model with the bounds of the model's fitted normalisation (feature domain). Read
      ``self.threat`` (bounds included) inside :meth:`generate`, never a copy taken in ``__init__``.
      Declare the supported ``norms`` and ``domains`` as class attributes; refuse a parameter that does not
      fit the budget with a :class:`~serbench.errors.SerbenchError`.
    - Calls: :meth:`generate` once per batch of ``evaluation.attack_batch_size`` rows, on the model's device,
      possibly under fp16/bf16 autocast. ``model`` is in eval mode and may be a wrapper (the padding gate,
      or for waveforms the front end + normalisation + model), so use only its forward. ``x`` lies inside
      ``self.threat.bounds``; ``y`` holds class indices. Leave the model's mode and weights alone.
    - Output: every example inside the budget and the bounds. The harness measures each batch against its
      own copy of the threat model and fails the cell beyond :data:`TOLERANCE`; it never clips for you
      (:meth:`project` and :meth:`snap` do, when asked). Padded positions are restored by the harness.
    - Randomness: draw from a ``torch.Generator`` of your own, on ``x``'s device, seeded by a ``seed``
      parameter (as ``pgd``), so the seed enters the key and a rerun is identical.
    - Gradients: :func:`input_gradient` lets attacks of one model share gradients (FGSM at several eps).
    - Keys: an attack cell's key holds the name, ``version``, distribution and its version, every resolved
      parameter and the threat model; bump ``version`` when the same parameters give other examples.
    - Training data (optional): an attack that learns from data before it sees an evaluated utterance (a
      universal perturbation) sets :attr:`needs_training_data` and implements :meth:`fit`. The harness then
      calls ``fit`` once per model, threat model and parameters, with the fold's ``train`` partition (never
      the evaluated one), and reuses the fitted attack for every cell of that model with the same attack
      identity and threat model, so :meth:`generate` must depend only on what ``fit`` learnt and its inputs.
    - Reports (optional): a ``last_report`` dict set by :meth:`generate` (per-utterance lists and totals:
      queries used, which member flipped what) is merged over the cell's batches into the record's
      ``metrics.attack_report``; an optional ``finish_report(report) -> report`` then adds figures of the
      whole cell (a minimal-perturbation attack's median size to flip and its curve of UAR against budget).
    """

    norms: tuple[str, ...] = ("linf",)
    domains: tuple[str, ...] = DOMAINS
    # True: the harness calls :meth:`fit` with training data before the first :meth:`generate`.
    needs_training_data: bool = False

    def __init__(self, eps: float = 0.0, norm: str = "linf", domain: str = "feature") -> None:
        self.threat = ThreatModel(domain=domain, norm=norm, eps=float(eps))
        if norm not in self.norms:
            raise SerbenchError(f"attack {self.name!r} supports norms {', '.join(self.norms)}, not {norm!r}")
        if domain not in self.domains:
            raise SerbenchError(f"attack {self.name!r} supports domains {', '.join(self.domains)}, not {domain!r}")

    @property
    def eps(self) -> float:
        return self.threat.eps

    @property
    def name(self) -> str:
        """The component name when the class carries registry metadata, else the class name (for messages)."""
        meta = getattr(type(self), "__serbench_component__", None) or {}
        return meta.get("name") or type(self).__name__

    @property
    def zero_budget(self) -> bool:
        """True when the budget admits no perturbation at all (eps 0, or SNR of +inf dB)."""
        if self.threat.norm == "snr":
            return math.isinf(self.eps) and self.eps > 0
        return self.eps == 0

    def radius(self, x: torch.Tensor) -> torch.Tensor:
        """Per-example budget radius, float64 ``(B,)``: eps for Linf/L2, ``||x||_2 * 10^(-eps/20)`` for SNR."""
        return projection.radius(self.threat.norm, self.eps, x)

    def project(self, x: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor:
        """``x_adv`` moved to the nearest point of the budget ball around ``x``, clipped to the domain bounds.

        For attacks (or wrapped libraries) that do not bound their own output;
        the result always passes :func:`~serbench.attacks.budget.check_budget`.
        """
        return projection.project(self.threat.norm, x, x_adv, self.radius(x), self.threat.bounds).detach()

    def snap(self, x: torch.Tensor, x_adv: torch.Tensor, tol: float = TOLERANCE) -> torch.Tensor:
        """Project only the examples that leave the budget by float rounding, within the harness's tolerance.

        For wrapped libraries that compute in float32: their L2 projections can
        overshoot the ball by a few ulps. The slack is the harness's own
        :data:`TOLERANCE` (``tol`` can only tighten it), in eps units for Linf
        and L2: anything beyond it is left untouched so that
        :func:`~serbench.attacks.budget.check_budget` rejects it. For SNR the
        slack is ``tol`` dB, or four ulps of ``x_adv``'s dtype relative to the
        radius where that is larger (1e-6 dB is about one float32 ulp, below
        what a float32 library can round to; four ulps are about 4e-6 dB).
        """
        tol = min(float(tol), TOLERANCE)
        x, x_adv = x.detach(), x_adv.detach()
        low, high = self.threat.bounds
        r = self.radius(x)
        delta = (x_adv - x).flatten(1).double()
        size = delta.abs().amax(dim=1) if self.threat.norm == "linf" else delta.norm(dim=1)
        if self.threat.norm == "snr":  # tol dB below the budget is an L2 radius larger by 10^(tol/20)
            ulps = 4 * torch.finfo(x_adv.dtype).eps if x_adv.dtype.is_floating_point else 0.0
            slack = r * max(10 ** (tol / 20) - 1, ulps)
        else:
            slack = torch.full_like(r, tol)
        flat = x_adv.flatten(1).double()
        lo, hi = flat.amin(dim=1), flat.amax(dim=1)
        needs = (size > r) | (lo < low) | (hi > high)
        near = needs & (size <= r + slack) & (lo >= low - tol) & (hi <= high + tol)
        if not bool(near.any()):
            return x_adv
        fixed = self.project(x, x_adv)
        return torch.where(near.view(-1, *([1] * (x.dim() - 1))), fixed, x_adv)

    def check_input(self, x: torch.Tensor) -> None:
        """Refuse clean inputs outside the domain's bounds: clipping would silently move them."""
        low, high = self.threat.bounds
        if x.numel() == 0:
            return
        lo, hi = (float(v) for v in torch.aminmax(x.detach()))
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo < low - 1e-6 or hi > high + 1e-6:
            raise SerbenchError(
                f"attack {self.name!r}: clean {self.threat.domain} input spans [{lo:.6g}, {hi:.6g}], outside "
                f"the domain's range [{low:.6g}, {high:.6g}]; scale features with the model's fitted normalisation "
                "and pass its bounds in the threat model (feature domain) or peak-normalise audio to [-1, 1] "
                "(waveform domain)"
            )

    def fit(self, model: nn.Module, x: torch.Tensor | list[torch.Tensor], y: torch.Tensor | list[torch.Tensor],
            mask: torch.Tensor | list[torch.Tensor | None] | None = None) -> None:
        """Learn from training data (only attacks with :attr:`needs_training_data`; the harness calls it first).

        ``model`` is the one :meth:`generate` will get (eval mode, the attacked domain), ``x`` the training
        inputs in that domain inside the bounds, ``y`` their labels and ``mask`` (rows, last axis) their active,
        unpadded positions: one tensor each, or one list entry per length group. Run under fp32.
        """
        raise NotImplementedError(f"attack {self.name!r} learns nothing from training data")

    @abc.abstractmethod
    def generate(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``x``'s adversarial counterpart inside :attr:`threat`, of ``x``'s shape and dtype, detached."""

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.generate(model, x, y)


