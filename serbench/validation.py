"""Conformance checks for components: ``serbench validate KIND NAME`` and a plugin's own pytest.

Example, in a model plugin's tests::

    from serbench.validation import validate
    def test_conforms():
        report = validate("models", "myns.mymodel")
        assert report.ok, report.failures()
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

import serbench
from serbench.errors import SerbenchError


@dataclass
class ValidationReport:
    kind: str
    name: str
    checks: list[tuple[str, bool, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(passed for _, passed, _ in self.checks)

    def rows(self) -> list[tuple[str, bool, str]]:
        return list(self.checks)

    def failures(self) -> list[str]:
        return [f"{check}: {msg}" for check, passed, msg in self.checks if not passed]

    def check(self, label: str, fn: Callable[[], str | None]) -> None:
        """Run one check: ``fn`` returns None (pass) or a message; an exception is a failure too."""
        try:
            msg = fn()
        except Exception as exc:  # a failing component may raise anything: that is the finding
            msg = f"raised {type(exc).__name__}: {exc}".splitlines()[0]
        self.checks.append((label, msg is None, msg or "ok"))


def validate(kind: str, name: str, **params: Any) -> ValidationReport:
    validators = {"models": validate_model, "attacks": validate_attack, "noises": validate_noise,
                  "defenses": validate_defense}
    if kind not in validators:
        raise SerbenchError(f"validate: no conformance check for {kind!r} yet; kinds: {', '.join(validators)}")
    return validators[kind](name, **params)


def _model(name: str, num_classes: int, **params: Any) -> torch.nn.Module:
    return serbench.get("models", name, num_classes=num_classes, **params)


def validate_model(name: str, *, batch: int = 2, frames: tuple[int, ...] = (64, 100, 256),
                   n_features: tuple[int, ...] = (64, 128), **params: Any) -> ValidationReport:
    """Shapes for several T and feature heights, dtype, finite outputs, input gradients, eval determinism,
    ``forward == forward_head(forward_features)``, ``num_classes`` honoured."""
    rep = ValidationReport("models", name)
    torch.manual_seed(0)
    model = _model(name, 4, **params).eval()

    def shapes() -> str | None:
        for f in n_features:
            for t in frames:
                out = model(torch.rand(batch, 1, f, t))
                if out.shape != (batch, 4):
                    return f"input (B, 1, {f}, {t}) gave {tuple(out.shape)}, expected ({batch}, 4)"
                if out.dtype != torch.float32:
                    return f"logits are {out.dtype}, expected float32"
                if not torch.isfinite(out).all():
                    return f"non-finite logits for input (B, 1, {f}, {t})"
        return None

    def features_2d() -> str | None:
        z = model.forward_features(torch.rand(batch, 1, n_features[0], frames[0]))
        return None if z.ndim == 2 and z.shape[0] == batch else f"forward_features gave {tuple(z.shape)}"

    def split() -> str | None:
        x = torch.rand(batch, 1, n_features[0], frames[1])
        a, b = model(x), model.forward_head(model.forward_features(x))
        return None if torch.allclose(a, b, atol=1e-5) else "forward != forward_head(forward_features)"

    def gradient() -> str | None:
        x = torch.rand(batch, 1, n_features[0], frames[0], requires_grad=True)
        model(x).logsumexp(1).sum().backward()
        if x.grad is None or not torch.isfinite(x.grad).all() or x.grad.abs().sum() == 0:
            return "no finite, non-zero gradient reaches the input in eval mode"
        return None

    def deterministic() -> str | None:
        x = torch.rand(batch, 1, n_features[0], frames[1])
        with torch.no_grad():
            return None if torch.equal(model(x), model(x)) else "two eval-mode forwards differ"

    def classes() -> str | None:
        for k in (3, 7):
            out = _model(name, k, **params).eval()(torch.rand(batch, 1, n_features[0], frames[0]))
            if out.shape[1] != k:
                return f"num_classes={k} gave {out.shape[1]} logits"
        return None

    def train_step() -> str | None:
        m = _model(name, 4, **params).train()
        x = torch.rand(max(batch, 2), 1, n_features[0], frames[0])
        loss = torch.nn.functional.cross_entropy(m(x), torch.tensor([0, 1] * (max(batch, 2) // 2)))
        loss.backward()
        missing = [n for n, p in m.named_parameters() if p.requires_grad and p.grad is None]
        return f"parameters without gradient: {missing[:3]}" if missing else None

    for label, fn in [("shapes and dtype", shapes), ("forward_features is 2-D", features_2d),
                      ("forward == head(features)", split), ("input gradient in eval mode", gradient),
                      ("eval determinism", deterministic), ("num_classes honoured", classes),
                      ("every parameter trains", train_step)]:
        rep.check(label, fn)
    return rep


def validate_attack(name: str, **params: Any) -> ValidationReport:
    """Every supported norm and domain: output inside the budget and range; eps = 0 returns the input.

    Budgets are measured against the threat model built here, as the runner measures against the cell's:
    never against the attack's own ``attack.threat``, which a plugin can widen. As in the runner, the
    feature domain is the default normalisation's (``natural-log``, not [0, 1]) and the attack is
    handed the threat model with those bounds: an attack that clips to [0, 1] fails here.
    """
    from serbench.attacks.base import ThreatModel
    from serbench.attacks.budget import check_budget
    from serbench.features import FeaturePipeline, LogSpectrogram
    from serbench.normalization import DEFAULT_NORMALIZATION, from_state

    rep = ValidationReport("attacks", name)
    torch.manual_seed(0)
    model = serbench.get("models", "cnn4.tiny", num_classes=4).eval()
    norm = from_state({"name": DEFAULT_NORMALIZATION, "center_db": -40.0, "high_db": 20.0})
    pipeline = FeaturePipeline(LogSpectrogram(), norm, model).eval()
    y = torch.tensor([0, 1, 2, 3])
    low, high = norm.bounds
    features = low + (high - low) * torch.rand(4, 1, 64, 32)
    inputs = {"feature": (model, features), "waveform": (pipeline, 0.1 * torch.randn(4, 8000))}
    bounds = {"feature": norm.bounds, "waveform": None}
    budgets = {"linf": (0.03, 0.0), "l2": (0.5, 0.0), "snr": (30.0, float("inf"))}
    cls = serbench.info("attacks", name).factory
    for domain in getattr(cls, "domains", ("feature",)):
        for norm in getattr(cls, "norms", ("linf",)):
            if norm == "snr" and domain != "waveform":
                continue
            eps, zero = budgets[norm]
            m, x = inputs[domain]
            try:
                serbench.get("attacks", name, eps=eps, norm=norm, domain=domain, **params)
            except SerbenchError as exc:  # refusing a configuration with a clear error is conforming
                rep.checks.append((f"{domain}/{norm}", True, f"refuses this configuration: {exc}"))
                continue

            def within(eps=eps, norm=norm, domain=domain, m=m, x=x) -> str | None:
                threat = ThreatModel(domain=domain, norm=norm, eps=float(eps)).with_bounds(bounds[domain])
                attack = serbench.get("attacks", name, domain=domain, norm=norm, eps=float(eps), **params)
                attack.threat = threat
                check_budget(name, threat, x, attack.generate(m, x, y))
                return None

            def identity(zero=zero, norm=norm, domain=domain, m=m, x=x) -> str | None:
                attack = serbench.get("attacks", name, eps=zero, norm=norm, domain=domain, **params)
                attack.threat = attack.threat.with_bounds(bounds[domain])
                return None if torch.allclose(attack.generate(m, x, y), x) else "eps = 0 changed the input"

            rep.check(f"{domain}/{norm} budget", within)
            rep.check(f"{domain}/{norm} zero budget is identity", identity)
    return rep


def validate_noise(name: str, **params: Any) -> ValidationReport:
    """Length, dtype, finite, not silent, deterministic from the rng."""
    rep = ValidationReport("noises", name)
    noise = serbench.get("noises", name, **params)

    def basic() -> str | None:
        out = np.asarray(noise.sample(16000, 16000, np.random.default_rng(0)))
        if out.shape != (16000,):
            return f"sample(16000) returned shape {out.shape}"
        if not np.isfinite(out).all() or not np.any(out):
            return "samples are non-finite or all zero"
        return None

    def deterministic() -> str | None:
        a = noise.sample(4000, 16000, np.random.default_rng(1))
        b = noise.sample(4000, 16000, np.random.default_rng(1))
        return None if np.array_equal(a, b) else "the same rng seed gave different noise"

    rep.check("shape, finite, not silent", basic)
    rep.check("deterministic from the rng", deterministic)
    return rep


def validate_defense(name: str, **params: Any) -> ValidationReport:
    """The loss on a tiny batch is a finite scalar whose gradient reaches the model."""
    from serbench.defenses.base import TrainBatch

    rep = ValidationReport("defenses", name)

    def loss() -> str | None:
        torch.manual_seed(0)
        model = serbench.get("models", "cnn4.tiny", num_classes=4).train()
        defense = serbench.get("defenses", name, **params)
        value = defense.loss(TrainBatch(model, torch.rand(4, 1, 64, 32), torch.tensor([0, 1, 2, 3]), 10_000,
                                        torch.Generator().manual_seed(0)))
        if value.ndim != 0 or not torch.isfinite(value):
            return f"loss is not a finite scalar: {value}"
        value.backward()
        return None if any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters()) \
            else "the loss's gradient does not reach the model"

    rep.check("finite scalar loss with gradient", loss)
    return rep
