"""Conformance checks for components: ``serbench validate KIND NAME`` and a plugin's own pytest.

Example, in a model plugin's tests::

    from serbench.validation import validate
    def test_conforms():
        report = validate("models", "myns.mymodel")
        assert report.ok, report.failures()

or, with the pytest plugin serbench ships (:mod:`serbench.testing.pytest_plugin`), the fixture
``serbench_validate("models", "myns.mymodel")``, which fails the test with every failing check.
Every kind has a check, datasets included (:func:`validate_dataset`).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch

import serbench
from serbench.errors import DataError, SerbenchError

if TYPE_CHECKING:
    from serbench.data.corpus import Corpus, Utterance


class Note(str):
    """What a passing check found (its message in the report), as opposed to a failure message."""


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
        """Run one check: ``fn`` returns None or a :class:`Note` (pass) or a message; an exception is a failure too."""
        try:
            msg = fn()
        except Exception as exc:  # a failing component may raise anything: that is the finding
            msg = _raised(exc)
        passed = msg is None or isinstance(msg, Note)
        self.checks.append((label, passed, msg or "ok"))


def _raised(exc: BaseException) -> str:
    return (f"raised {type(exc).__name__}: {exc}".splitlines() or [type(exc).__name__])[0]


def validate(kind: str, name: str, **params: Any) -> ValidationReport:
    """Run the conformance checks of component ``name`` of ``kind``; ``params`` go to the component (and the
    check's own keyword options, e.g. ``samples`` for datasets)."""
    validators = {"datasets": validate_dataset, "models": validate_model, "attacks": validate_attack,
                  "noises": validate_noise, "defenses": validate_defense, "corruptions": validate_corruption}
    if kind not in validators:
        raise SerbenchError(f"validate: no conformance check for {kind!r} yet; kinds: {', '.join(validators)}")
    return validators[kind](name, **params)


def _model(name: str, num_classes: int, **params: Any) -> torch.nn.Module:
    return serbench.get("models", name, num_classes=num_classes, **params)


def validate_model(name: str, *, batch: int = 2, frames: tuple[int, ...] = (64, 100, 256),
                   n_features: tuple[int, ...] = (64, 128), **params: Any) -> ValidationReport:
    """Shapes for several T and feature heights, dtype, finite outputs, input gradients, eval determinism,
    ``forward == forward_head(forward_features)``, ``num_classes`` honoured.

    A waveform model (:mod:`serbench.models.waveform`) gets (B, samples) audio of 0.5, 1 and 1.5 s at its
    ``sample_rate`` instead, and one more check: a row's logits alone and zero-padded in a batch agree."""
    from serbench.inputs import WAVEFORM, input_kind

    rep = ValidationReport("models", name)
    torch.manual_seed(0)
    model = _model(name, 4, **params).eval()
    waveform = input_kind(model) == WAVEFORM
    if waveform:
        rate = int(getattr(model, "sample_rate", 16000))
        sizes = [(None, int(rate * s)) for s in (0.5, 1.0, 1.5)]
    else:
        sizes = [(f, t) for f in n_features for t in frames]

    def example(rows: int, size: tuple[int | None, int] | None = None, grad: bool = False) -> torch.Tensor:
        f, t = size or sizes[0]
        x = 0.1 * torch.randn(rows, t) if waveform else torch.rand(rows, 1, f, t)
        return x.requires_grad_(grad)

    def described(size: tuple[int | None, int]) -> str:
        return f"(B, {size[1]})" if waveform else f"(B, 1, {size[0]}, {size[1]})"

    def shapes() -> str | None:
        for size in sizes:
            out = model(example(batch, size))
            if out.shape != (batch, 4):
                return f"input {described(size)} gave {tuple(out.shape)}, expected ({batch}, 4)"
            if out.dtype != torch.float32:
                return f"logits are {out.dtype}, expected float32"
            if not torch.isfinite(out).all():
                return f"non-finite logits for input {described(size)}"
        return None

    def features_2d() -> str | None:
        z = model.forward_features(example(batch))
        return None if z.ndim == 2 and z.shape[0] == batch else f"forward_features gave {tuple(z.shape)}"

    def split() -> str | None:
        x = example(batch, sizes[1])
        a, b = model(x), model.forward_head(model.forward_features(x))
        return None if torch.allclose(a, b, atol=1e-5) else "forward != forward_head(forward_features)"

    def gradient() -> str | None:
        x = example(batch, grad=True)
        model(x).logsumexp(1).sum().backward()
        if x.grad is None or not torch.isfinite(x.grad).all() or x.grad.abs().sum() == 0:
            return "no finite, non-zero gradient reaches the input in eval mode"
        return None

    def deterministic() -> str | None:
        x = example(batch, sizes[1])
        with torch.no_grad():
            return None if torch.equal(model(x), model(x)) else "two eval-mode forwards differ"

    def classes() -> str | None:
        for k in (3, 7):
            out = _model(name, k, **params).eval()(example(batch))
            if out.shape[1] != k:
                return f"num_classes={k} gave {out.shape[1]} logits"
        return None

    def train_step() -> str | None:
        m = _model(name, 4, **params).train()
        x = example(max(batch, 2))
        loss = torch.nn.functional.cross_entropy(m(x), torch.tensor([0, 1] * (max(batch, 2) // 2)))
        loss.backward()
        missing = [n for n, p in m.named_parameters() if p.requires_grad and p.grad is None]
        return f"parameters without gradient: {missing[:3]}" if missing else None

    def padding() -> str | None:
        short, long = example(1, sizes[0]), example(1, sizes[-1])
        padded = torch.zeros(2, long.shape[-1])
        padded[0, : short.shape[-1]], padded[1] = short[0], long[0]
        with torch.no_grad():
            alone, in_batch = model(short)[0], model(padded)[0]
        gap = float((alone - in_batch).abs().max())
        scale = max(1.0, float(alone.abs().max()))
        return None if gap <= 1e-4 * scale else (
            f"a {short.shape[-1]}-sample row's logits change by {gap:.3g} when zero-padded to {padded.shape[-1]} in a "
            "batch; find each row's length with serbench.active_lengths and mask or pool by it")

    checks = [("shapes and dtype", shapes), ("forward_features is 2-D", features_2d),
              ("forward == head(features)", split), ("input gradient in eval mode", gradient),
              ("eval determinism", deterministic), ("num_classes honoured", classes),
              ("every parameter trains", train_step)]
    if waveform:
        checks.append(("padding invariance", padding))
    for label, fn in checks:
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
    # Other inputs to learn from, for attacks that craft on training data first (a universal perturbation)
    training = {"feature": low + (high - low) * torch.rand(8, 1, 64, 32), "waveform": 0.1 * torch.randn(8, 8000)}
    y_training = torch.arange(8) % 4
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
                if getattr(attack, "needs_training_data", False):
                    attack.fit(m, training[domain], y_training)
                check_budget(name, threat, x, attack.generate(m, x, y))
                return None

            def identity(zero=zero, norm=norm, domain=domain, m=m, x=x) -> str | None:
                attack = serbench.get("attacks", name, eps=zero, norm=norm, domain=domain, **params)
                attack.threat = attack.threat.with_bounds(bounds[domain])
                if getattr(attack, "needs_training_data", False):
                    attack.fit(m, training[domain], y_training)
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


# -- datasets -------------------------------------------------------------------------------------------------

AUDIO_SAMPLES = 20  # utterances the dataset check decodes: enough to catch a systematic fault, seconds at most
# How far a decoded utterance's length may be from its file's length at the declared rate (resamplers round).
LENGTH_TOLERANCE = (2, 0.01)  # samples, fraction


def spread(items: list, count: int) -> list:
    """Up to ``count`` of ``items`` spread evenly over the list, first and last included: deterministic."""
    n = len(items)
    if n <= count:
        return list(items)
    if count <= 1:
        return items[:max(count, 0)]
    return [items[i] for i in sorted({round(k * (n - 1) / (count - 1)) for k in range(count)})]


def validate_dataset(name: str, *, samples: int = AUDIO_SAMPLES, **params: Any) -> ValidationReport:
    """A corpus as the harness uses it: built by its factory, ids unique, labels in the declared label set,
    speakers present, every protocol's folds built by the corpus's own builder, deterministic and checked by
    :func:`serbench.data.protocols.check_fold` (no speaker in two partitions of a speaker-independent fold),
    audio readable (up to ``samples`` utterances decoded: mono float32 in [-1, 1], finite, not silent, and a
    file-backed utterance as long as its file at the declared sample rate), and a fingerprint that is stable
    and covers the audio (it enters every cell key).

    A corpus read from a local copy is checked on that copy: ``root`` in ``params``, else its
    ``SERBENCH_DATA_<NAME>``; a missing copy raises the corpus's one-line :class:`DataError` naming the root.
    """
    from serbench.data.corpus import Corpus, declared_protocols

    rep = ValidationReport("datasets", name)
    resolved = serbench.resolve("datasets", name, params)  # an unknown name or parameter: the registry's one line
    try:
        corpus = resolved.create()
    except DataError:
        raise  # the local copy is missing or unreadable: the user's to fix, said in one line
    except Exception as exc:  # a corpus that cannot be built (duplicate ids, a stray label, ...) is the finding
        rep.checks.append(("builds a Corpus", False, str(exc) if isinstance(exc, SerbenchError) else _raised(exc)))
        return rep
    if not isinstance(corpus, Corpus):
        rep.checks.append(("builds a Corpus", False,
                           f"the factory returned {type(corpus).__name__}, not a serbench.Corpus"))
        return rep
    utts = list(corpus.utterances)
    rep.checks.append(("builds a Corpus", True, f"{len(utts)} utterances, {len(corpus.labels)} labels, "
                                               f"{corpus.sample_rate} Hz"))
    second: list[Corpus] = []

    def again() -> Corpus:
        """The corpus built a second time from the same parameters, as another worker or a rerun builds it."""
        if not second:
            second.append(resolved.create())
        return second[0]

    rep.check("utterance ids unique", lambda: _ids(utts))
    rep.check("labels in the label set", lambda: _labels(corpus, utts))
    rep.check("speakers present", lambda: _speakers(utts))
    rep.check("protocols declared", lambda: _protocols(corpus, declared_protocols(resolved.info.factory)))
    for protocol in sorted(corpus.protocols):
        rep.check(f"protocol {protocol!r}: folds built, speaker-disjoint",
                  lambda protocol=protocol: _folds(corpus, protocol, again))
    rep.check("audio files exist", lambda: _files(utts))
    chosen = spread(utts, samples)
    rep.check("audio readable at the declared rate", lambda: _audio(corpus, chosen, len(utts)))
    rep.check("fingerprint stable and covers the audio", lambda: _fingerprint(corpus, again))
    rep.check("audio deterministic", lambda: _deterministic(corpus, chosen, again))
    return rep


def _ids(utts: list[Utterance]) -> str | None:
    blank = [u for u in utts if not isinstance(u.id, str) or not u.id]
    if blank:
        return f"{len(blank)} utterances have no id (a non-empty string), e.g. {blank[0].id!r}"
    counts = Counter(u.id for u in utts)
    repeated = sorted(i for i, n in counts.items() if n > 1)
    if repeated:
        return f"utterance ids are not unique: {repeated[:3]} appear more than once"
    return Note(f"{len(utts)} ids")


def _labels(corpus: Corpus, utts: list[Utterance]) -> str | None:
    declared = list(corpus.labels)
    if not declared:
        return "the label set is empty"
    if len(set(declared)) != len(declared):
        return f"the label set {declared} repeats a label"
    counts = Counter(u.label for u in utts)
    stray = sorted(set(counts) - set(declared), key=str)
    if stray:
        first = next(u for u in utts if u.label == stray[0])
        return (f"labels {stray} are not in the declared label set {declared} "
                f"(e.g. utterance {first.id}{f' ({first.path})' if first.path else ''})")
    if len(counts) < 2:
        return f"only {len(counts)} label has utterances ({sorted(counts)}): a classifier needs two"
    unused = [label for label in declared if not counts[label]]
    return Note(f"{len(declared)} labels" + (f"; {unused} have no utterances" if unused else ""))


def _speakers(utts: list[Utterance]) -> str | None:
    blank = [u.id for u in utts if not isinstance(u.speaker, str) or not u.speaker]
    if blank:
        return (f"{len(blank)} utterances have no speaker (e.g. {blank[0]}): folds cannot be checked "
                "speaker-disjoint")
    speakers = {u.speaker for u in utts}
    if len(speakers) < 2:
        return f"one speaker ({next(iter(speakers))}): no speaker-independent test is possible"
    return Note(f"{len(speakers)} speakers, {len({u.session for u in utts})} sessions")


def _protocols(corpus: Corpus, declared: tuple[str, tuple[str, ...]] | None) -> str | None:
    names = sorted(corpus.protocols)
    if not names:
        return "the corpus has no protocol"
    if corpus.default_protocol not in corpus.protocols:
        return f"the default protocol {corpus.default_protocol!r} is not one of its protocols {names}"
    if declared is None:
        return Note(f"{names}, default {corpus.default_protocol!r}; not declared with serbench.declare_protocols "
                    "on the factory, so a spec's protocol is checked only when the corpus loads")
    default, every = declared
    if default != corpus.default_protocol:
        return (f"declare_protocols on the factory names the default {default!r}, the corpus "
                f"{corpus.default_protocol!r}: specs naming no protocol would be keyed by the wrong one")
    if set(every) != set(names):
        return f"declare_protocols on the factory names {sorted(every)}, the corpus has {names}"
    return Note(f"{names}, default {default!r}")


def _fold_rows(folds: list) -> list[tuple]:
    return [(f.name, tuple(f.train), tuple(f.valid), tuple(f.test)) for f in folds]


def _folds(corpus: Corpus, protocol: str, again: Callable[[], Corpus]) -> str | None:
    """The protocol's folds as its builder makes them, each checked as the harness checks it, and the same
    folds from a second build of the corpus (a cell's fold index must name the same partition everywhere)."""
    from serbench.data.protocols import Fold, check_fold

    try:
        folds = corpus.protocols[protocol](corpus)
    except SerbenchError as exc:
        return str(exc)
    if not isinstance(folds, list) or not folds:
        return f"its builder returned {type(folds).__name__} {str(folds)[:40]}, not a non-empty list of serbench.Fold"
    wrong = [f for f in folds if not isinstance(f, Fold)]
    if wrong:
        return f"its builder returned a {type(wrong[0]).__name__}, not a serbench.Fold"
    names = [f.name for f in folds]
    if len(set(names)) != len(names):
        return f"fold names repeat: {names}"
    for fold in folds:
        try:
            check_fold(corpus, fold)
        except SerbenchError as exc:
            return str(exc)
    other = again()
    if _fold_rows(other.protocols[protocol](other)) != _fold_rows(folds):
        return ("a second build of the corpus gives other folds: build them from the utterances only (no unseeded "
                "randomness, no set order)")
    dependent = [f.name for f in folds if not f.speaker_independent]
    return Note(f"{len(folds)} folds" + (f"; {dependent} declared speaker-dependent" if dependent else
                                         ", speaker-independent"))


def _files(utts: list[Utterance]) -> str | None:
    with_files = [u for u in utts if u.path]
    if not with_files:
        return Note("no files: the audio is generated")
    missing = [u for u in with_files if not os.path.isfile(u.path)]
    if missing:
        return f"{len(missing)} of {len(with_files)} audio files are missing, e.g. {missing[0].path} ({missing[0].id})"
    return Note(f"{len(with_files)} files")


def _audio(corpus: Corpus, chosen: list[Utterance], total: int) -> str | None:
    for u in chosen:
        problem = _audio_problem(corpus, u)
        if problem:
            return problem
    return Note(f"{len(chosen)} of {total} utterances decoded")


def _audio_problem(corpus: Corpus, u: Utterance) -> str | None:
    """What is wrong with one utterance's decoded audio, or None."""
    import soundfile as sf

    where = f"utterance {u.id}" + (f" ({u.path})" if u.path else "")
    try:
        wave = corpus.load_audio(u)
    except SerbenchError as exc:  # serbench's readers name the file and the fault
        return str(exc)
    except Exception as exc:
        return f"{where}: load_audio {_raised(exc)}"
    if not isinstance(wave, np.ndarray):
        return f"{where}: load_audio returned {type(wave).__name__}, not a numpy array"
    if wave.ndim != 1 or wave.size == 0:
        return f"{where}: load_audio returned shape {wave.shape}; expected mono samples, 1-D and not empty"
    if wave.dtype != np.float32:
        return f"{where}: load_audio returned {wave.dtype} samples; expected float32"
    if not np.isfinite(wave).all():
        return f"{where}: {int(np.size(wave) - np.isfinite(wave).sum())} NaN or Inf samples"
    peak = float(np.abs(wave).max())
    if peak > 1.0 + 1e-6:
        return f"{where}: samples reach {peak:.4g}, outside [-1, 1] (full scale is 1: waveform attacks refuse it)"
    if peak == 0.0:
        return f"{where}: the audio is silent (all samples zero)"
    if not u.path:
        return None
    try:
        info = sf.info(u.path)
    except Exception:  # noqa: BLE001 - a format libsndfile cannot open: the corpus's own reader handles it
        return None
    expected = info.frames * corpus.sample_rate / info.samplerate
    slack, share = LENGTH_TOLERANCE
    if abs(wave.size - expected) > slack + share * expected:
        return (f"{where}: the file holds {info.frames} samples at {info.samplerate} Hz, load_audio returned "
                f"{wave.size}, where {expected:.0f} are expected at the corpus's declared {corpus.sample_rate} Hz; "
                "resample to the declared rate (serbench.read_audio(path, target_rate=sample_rate))")
    return None


def _fingerprint(corpus: Corpus, again: Callable[[], Corpus]) -> str | None:
    first, second = corpus.fingerprint(), again().fingerprint()
    if first != second:
        return (f"two builds of the same data give fingerprints {first} and {second}: cells would never be reused; "
                "leave paths, times and random draws out of content_fingerprint")
    if not any(u.path for u in corpus.utterances) and not corpus.content_fingerprint():
        return ("the audio comes from no file and content_fingerprint() is empty, so cell keys would not change "
                "when the audio does; override it (the generator's parameters and version) or subclass "
                "serbench.GeneratedCorpus")
    return Note(first)


def _deterministic(corpus: Corpus, chosen: list[Utterance], again: Callable[[], Corpus]) -> str | None:
    """The same audio from a second build; a generated corpus's ``generate()`` run afresh gives it too (its cache
    on disk would hide a generator that draws from unseeded randomness)."""
    from serbench.data.generated import GeneratedCorpus

    other = again()
    fresh = other.generate() if isinstance(other, GeneratedCorpus) else None
    for u in chosen:
        try:
            a = corpus.load_audio(u)
        except SerbenchError:
            continue  # unreadable: the check of readable audio names it
        b = fresh[u.id] if fresh is not None else other.load_audio(other[u.id])
        if not np.array_equal(a, np.asarray(b, dtype=a.dtype)) or np.shape(a) != np.shape(b):
            source = "generate() run again" if fresh is not None else "a second build of the corpus"
            return f"utterance {u.id}: {source} gives other audio; draw only from generators seeded by the parameters"
    where = "generate() run again" if fresh is not None else "a second build"
    return Note(f"{len(chosen)} utterances equal in {where}")
