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
                  "defenses": validate_defense, "corruptions": validate_corruption}
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


def speech_like(rows: int = 3, seconds: float = 1.0, sample_rate: int = 16000) -> tuple[torch.Tensor, torch.Tensor]:
    """A (rows, samples) batch of voiced, speech-like test signals (harmonics of a gliding f0 under a syllable
    envelope) of decreasing length, zero-padded, with their lengths."""
    width = int(seconds * sample_rate)
    t = np.arange(width) / sample_rate
    rows_out, lengths = [], []
    for i in range(rows):
        f0 = 120 + 40 * i + 20 * np.sin(2 * np.pi * 1.5 * t)
        phase = 2 * np.pi * np.cumsum(f0) / sample_rate
        voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
        envelope = 0.5 * (1 - np.cos(2 * np.pi * 4 * t)) * (0.3 + 0.1 * i)
        n = width - i * width // (2 * rows)  # from the full width down to just over half of it
        row = np.zeros(width)
        row[:n] = (voiced * envelope)[:n]
        rows_out.append(row)
        lengths.append(n)
    return torch.tensor(np.stack(rows_out), dtype=torch.float32), torch.tensor(lengths)


def validate_corruption(name: str, *, sample_rate: int = 16000, **params: Any) -> ValidationReport:
    """At every severity: same shape, finite, padding silent; the same generators give the same audio; a
    batch gives what each utterance gives alone; severity 1 changes the signal; the family's distortion
    measure does not fall as severity rises."""
    from serbench.corruptions.base import utterance_rngs

    rep = ValidationReport("corruptions", name)
    corruption = serbench.get("corruptions", name, **params)
    waves, lengths = speech_like(sample_rate=sample_rate)
    ids = [f"utt{i}" for i in range(len(waves))]
    severities = range(1, len(corruption.levels) + 1)

    def run(severity: int, batch: torch.Tensor = waves, lens: torch.Tensor = lengths,
            who: list[str] = ids) -> torch.Tensor:
        return corruption.apply(batch, sample_rate, severity, utterance_rngs(0, name, severity, who), lens)

    def shapes() -> str | None:
        if len(corruption.levels) < 1:
            return "declares no severity levels"
        for s in severities:
            out = run(s)
            if out.shape != waves.shape or not bool(torch.isfinite(out).all()):
                return f"severity {s}: shape {tuple(out.shape)} or non-finite samples"
            if any(out[i, n:].any() for i, n in enumerate(lengths.tolist())):
                return f"severity {s}: the padding is not silent"
        return None

    def deterministic() -> str | None:
        same = all(torch.equal(run(s), run(s)) for s in severities)
        return None if same else "the same generators gave different audio"

    def batched() -> str | None:
        for s in severities:
            out = run(s)
            for i, n in enumerate(lengths.tolist()):
                alone = run(s, waves[i:i + 1, :n], lengths[i:i + 1], ids[i:i + 1])[0]
                if not torch.allclose(out[i, :n], alone, atol=1e-5):
                    return f"severity {s}: utterance {i} differs in a batch from alone"
        return None

    def changes() -> str | None:
        return None if not torch.equal(run(1), waves) else "severity 1 leaves the signal unchanged"

    def monotonic() -> str | None:
        measured = []
        for s in severities:
            out = run(s)
            measured.append(float(np.mean([corruption.distortion(waves[i, :n].numpy(), out[i, :n].numpy(),
                                                                 sample_rate)
                                           for i, n in enumerate(lengths.tolist())])))
        falls = [s + 2 for s in range(len(measured) - 1) if measured[s + 1] < measured[s] - 0.05]
        text = ", ".join(f"{m:.2f}" for m in measured)
        return None if not falls else f"distortion falls at severity {falls[0]} ({text})"

    rep.check("shape, finite, padding silent", shapes)
    rep.check("deterministic from the generators", deterministic)
    rep.check("batch equals each utterance alone", batched)
    rep.check("severity 1 changes the signal", changes)
    rep.check("distortion does not fall with severity", monotonic)
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
