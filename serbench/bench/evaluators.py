"""One evaluator per condition kind: a trained model and an eval cell in, the cell's metrics out.

``EVALUATORS`` maps each condition class of :mod:`serbench.bench.conditions` to its evaluator, so
adding a kind of condition is one class there and one function here. Every evaluator returns
``(metrics, warnings)``; :func:`evaluate` adds what every record carries (ids and targets, which
paired tests need) and builds the record.

Every evaluator honours the cell's :class:`~serbench.bench.cells.EvalSettings`: batch sizes, and a
precision other than fp32 (autocast; the model keeps clean logits and shared gradients per precision).
Waveforms are changed (noise mixed) on the model's device. Features reach the model in its memory format
(:meth:`TrainedModel.inputs`); a transfer's source model runs in its own cell's format.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np
import torch

from serbench.attacks.gradients import sharing_gradients
from serbench.attacks.ensemble import attack_labels, robust_accuracy, robust_uar
from serbench.bench import records
from serbench.bench.cells import EvalCell, TrainCell
from serbench.bench.conditions import Attack, Clean, Condition, Corrupted, Noise, Transfer, WorstCase
from serbench.bench.store import Store
from serbench.bench.training import TrainedModel
from serbench.canonical import canonical_json
from serbench.corruptions.base import utterance_rngs
from serbench.engine.evaluate import evaluate_attack, evaluate_predictions, pinned_empty, predict, to_device
from serbench.engine.lengths import LengthGroup, scatter
from serbench.errors import SerbenchError
from serbench.noises.base import mix_at_snr
from serbench.registry import registry

Metrics = dict[str, Any]


@dataclass
class EvalContext:
    """What evaluators may use besides the cell: its trained model, the store (records of other cells), and
    the model of another train cell (a transfer's source; trained or loaded under its lock)."""

    trained: TrainedModel
    store: Store
    source: Callable[[TrainCell], TrainedModel]


def clean_logits(tm: TrainedModel, cell: EvalCell) -> torch.Tensor:
    """The model's logits on the cell's partition at the cell's precision."""
    return tm.clean_logits(cell.partition, cell.settings.precision, cell.settings.batch_size)


def evaluate_clean(cell: EvalCell, cond: Clean, ctx: EvalContext) -> tuple[Metrics, list[str]]:
    tm = ctx.trained
    y = tm.partitions[cell.partition].labels.to(tm.device)
    return evaluate_predictions(y, clean_logits(tm, cell), tm.corpus.labels), []


def evaluate_noise(cell: EvalCell, cond: Noise, ctx: EvalContext) -> tuple[Metrics, list[str]]:
    """Noise drawn per utterance from a generator seeded by (seed, SNR), mixed at the SNR over the speech.

    The draws stay the plugin's (a numpy generator: the same noise on every device, so a noise cell's numbers
    do not depend on where it ran); they fill pinned host memory that is copied to the model's device without
    blocking, and the mixing and the features are computed there.
    """
    tm = ctx.trained
    noise = registry("noises").create(cond.noise["name"], **cond.noise["params"])
    rng = np.random.default_rng([cell.train.seed, 7, int(round(cond.snr_db * 1000)) % 2**31])

    def noisy(g: LengthGroup, ids: list[str]) -> torch.Tensor:
        samples = g.waves.shape[1]
        noise_waves = pinned_empty((len(ids), samples), torch.float32, tm.device)
        for row in range(len(ids)):
            drawn = np.asarray(noise.sample(samples, tm.corpus.sample_rate, rng), dtype=np.float32)
            if drawn.shape != (samples,):
                raise SerbenchError(f"noise {cond.noise['name']!r} returned an array of shape {drawn.shape} "
                                    f"for {samples} samples")
            noise_waves[row] = torch.from_numpy(drawn)
        clean = to_device(g.waves, tm.device)
        return mix_at_snr(clean, to_device(noise_waves, tm.device), cond.snr_db, lengths=g.lengths)  # SNR over speech

    return _scored_audio(cell, ctx, noisy), []


def evaluate_corruption(cell: EvalCell, cond: Corrupted, ctx: EvalContext) -> tuple[Metrics, list[str]]:
    """The speech of every utterance corrupted at the cell's severity, from a generator seeded by (seed,
    corruption, severity, utterance id): the same audio whatever batch or order the utterance comes in."""
    tm = ctx.trained
    corruption = registry("corruptions").create(cond.corruption["name"], **cond.corruption["params"])

    def corrupted(g: LengthGroup, ids: list[str]) -> torch.Tensor:
        rngs = utterance_rngs(cell.train.seed, cond.corruption["name"], cond.severity, ids)
        return corruption.apply(g.waves, tm.corpus.sample_rate, cond.severity, rngs, lengths=g.lengths)

    # The corrupted audio depends on the corruption, severity, seed and utterance, never on the model: its
    # features are cached, so every model of a suite with this front end scores the same audio, made once.
    tag = {"corruption": cond.corruption, "severity": cond.severity, "seed": cell.train.seed}
    features = tm.data.changed_features(cell.partition, corrupted, tag)
    return _scored_features(cell, ctx, features), []


def _scored_audio(cell: EvalCell, ctx: EvalContext,
                  change: Callable[[LengthGroup, list[str]], torch.Tensor]) -> Metrics:
    """The metrics of the model on the cell's partition with each length group's audio replaced by
    ``change(group, its utterance ids)``, through the model's own front end and normalisation."""
    part = ctx.trained.partitions[cell.partition]
    features = [ctx.trained.data.features_of(change(g, [part.ids[i] for i in g.index.tolist()])) for g in part.groups]
    return _scored_features(cell, ctx, features)


def _scored_features(cell: EvalCell, ctx: EvalContext, features: list[torch.Tensor]) -> Metrics:
    """The metrics of the model on the cell's partition given its unscaled features, one tensor per length
    group, through the model's own normalisation."""
    tm = ctx.trained
    part = tm.partitions[cell.partition]
    logits = [predict(tm.eval_model, tm.inputs(tm.norm(f)), cell.settings.batch_size, cell.settings.precision)
              for f in features]
    y = part.labels.to(tm.device)
    return evaluate_predictions(y, scatter(part.groups, logits, len(part)), tm.corpus.labels)


def evaluate_attack_condition(cell: EvalCell, cond: Attack | Transfer, ctx: EvalContext) -> tuple[Metrics, list[str]]:
    """A white-box attack on the model, or (a transfer) one crafted on the source model and scored on this one.

    Every batch is measured against the cell's threat model (held here, inside the model's input domain),
    never the attack's own copy.
    """
    tm = ctx.trained
    threat = tm.threat(cond.threat)
    attack = registry("attacks").create(cond.attack["name"], **cond.attack["params"], **cond.threat)
    attack.threat = threat  # the attack clips to the domain it is run in; the harness still checks
    model, x = tm.attacked(cell.partition, threat.domain)
    target, warnings = None, []
    if isinstance(cond, Transfer):
        source = ctx.source(cell.train.source_of(cond))
        if threat.domain == "feature" and source.norm.state() != tm.norm.state():
            raise SerbenchError("feature-domain transfer needs source and target behind the same fitted feature "
                                "normalisation; use domain: waveform for this pair")
        model, target = source.attacked(cell.partition, threat.domain)[0], model
    else:
        warnings += tm.masking_checks(cell.partition, threat.domain)
    y = tm.partitions[cell.partition].labels.to(tm.device)
    # FGSM at several eps: one gradient per batch, not one per eps
    with sharing_gradients(tm.gradients(cell.settings.precision)):
        metrics, _ = evaluate_attack(cond.attack["name"], attack, model, x, y, clean_logits(tm, cell),
                                     tm.corpus.labels, cell.settings.attack_batch_size, target=target,
                                     threat=threat, precision=cell.settings.precision)
    if threat.domain == "feature":  # what this eps is in dB per bin, under this model's normalisation
        metrics["eps_units"] = tm.norm.eps_units(threat.eps)
    return metrics, warnings


def evaluate_worst_case(cell: EvalCell, cond: WorstCase, ctx: EvalContext) -> tuple[Metrics, list[str]]:
    """Per utterance, correct only if every input left it correct: from the inputs' stored predictions.

    Every input of the threat model counts: white-box attacks and transfers (a masked gradient hides
    from the former, not the latter). An attack is its whole identity (name, version, params): two fgsm
    with different eta are two inputs; a transfer is its attack and its source.
    """
    part = ctx.trained.partitions[cell.partition]
    correct = {}
    for condition, label in _labelled_inputs(cond):
        if label in correct:  # labels tell identities apart; a clash would merge two inputs silently
            raise SerbenchError(f"worst case: two inputs share the label {label}; rename one")
        rec = ctx.store.read(replace(cell, condition=condition).key)  # the input at this cell's precision
        if not records.is_ok(rec) or "predictions" not in rec["metrics"]:
            raise SerbenchError(f"worst case: {condition.kind} {label} at {cond.threat} has no usable record")
        if rec["metrics"].get("ids", list(part.ids)) != list(part.ids):
            raise SerbenchError(f"worst case: {condition.kind} {label}'s record scored other utterances than "
                                f"{cell.partition}; rerun it with --force")
        correct[label] = np.asarray(rec["metrics"]["predictions"]) == part.labels.numpy()
    metrics = {"uar": robust_uar(part.labels.numpy(), correct), "wa": robust_accuracy(correct), "n": len(part),
               "attacks": sorted(correct)}
    return metrics, []


def _labelled_inputs(cond: WorstCase) -> list[tuple[Attack | Transfer, str]]:
    """The worst case's distinct inputs, each with its label (``fgsm``, ``fgsm←cnn4``, ``fgsm←cnn4+mixup``)."""
    attacks = list({canonical_json(a): a for a in cond.attacks}.values())
    transfers = list({canonical_json(t): t for t in cond.transfers}.values())
    inputs: list[tuple[Attack | Transfer, str]] = [
        (Attack(a, cond.threat), label) for a, label in zip(attacks, attack_labels(attacks))]
    sources = [t["source"] for t in transfers]
    plain = len({canonical_json(s["defense"]) for s in sources}) <= 1 and \
        all(s["defense"]["name"] == "standard" for s in sources)  # the defense is named unless all plain
    source_labels = [m if plain else f"{m}+{d}" for m, d in zip(attack_labels([s["model"] for s in sources]),
                                                               attack_labels([s["defense"] for s in sources]))]
    inputs += [(Transfer(t["source"], t["attack"], cond.threat), f"{label}←{source}")
               for t, label, source in zip(transfers, attack_labels([t["attack"] for t in transfers]), source_labels)]
    return inputs


EVALUATORS: dict[type[Condition], Callable[[EvalCell, Any, EvalContext], tuple[Metrics, list[str]]]] = {
    Clean: evaluate_clean,
    Noise: evaluate_noise,
    Corrupted: evaluate_corruption,
    Attack: evaluate_attack_condition,
    Transfer: evaluate_attack_condition,
    WorstCase: evaluate_worst_case,
}


def evaluate(cell: EvalCell, ctx: EvalContext, spec_name: str, env: dict[str, Any]) -> records.Record:
    """The ok record of ``cell``: its evaluator's metrics plus the ids and targets of the partition."""
    start = time.perf_counter()
    metrics, warnings = EVALUATORS[type(cell.condition)](cell, cell.condition, ctx)
    part = ctx.trained.partitions[cell.partition]
    metrics["ids"] = list(part.ids)
    metrics["targets"] = part.labels.tolist()  # with "predictions": what paired tests (serbench compare) need
    record = records.eval_record(cell, spec_name, env, metrics=metrics, seconds=time.perf_counter() - start,
                                 warnings=warnings)
    return {**record, **cell.settings.identity}  # a precision other than fp32 is named, as in the key
