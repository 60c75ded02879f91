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
import weakref
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np
import torch

from serbench.attacks.base import Attack as AttackBase, ThreatModel
from serbench.attacks.gradients import sharing_gradients
from serbench.attacks.ensemble import attack_labels, robust_accuracy, robust_uar
from serbench.attacks.universal import add_test_rates
from serbench.bench import examples, records
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
    examples: int = 0  # ``serbench run --save-examples K``: clean/changed pairs kept per waveform or attack cell


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
        mixed = mix_at_snr(clean, to_device(noise_waves, tm.device), cond.snr_db, lengths=g.lengths)  # SNR over speech
        if pairs is not None:
            pairs.observe(g.index, clean, mixed)
        return mixed

    pairs = _pairs(cell, ctx)
    metrics = _scored_audio(cell, ctx, noisy)
    return _with_pairs(cell, ctx, metrics, pairs, "noisy"), []


def evaluate_corruption(cell: EvalCell, cond: Corrupted, ctx: EvalContext) -> tuple[Metrics, list[str]]:
    """The speech of every utterance corrupted at the cell's severity, from a generator seeded by (seed,
    corruption, severity, utterance id): the same audio whatever batch or order the utterance comes in."""
    tm = ctx.trained
    corruption = registry("corruptions").create(cond.corruption["name"], **cond.corruption["params"])

    def corrupted(g: LengthGroup, ids: list[str]) -> torch.Tensor:
        rngs = utterance_rngs(cell.train.seed, cond.corruption["name"], cond.severity, ids)
        out = corruption.apply(g.waves, tm.corpus.sample_rate, cond.severity, rngs, lengths=g.lengths)
        if pairs is not None:
            pairs.observe(g.index, g.waves, out)
        return out

    # The corrupted audio depends on the corruption, severity, seed and utterance, never on the model: its
    # features are cached, so every model of a suite with this front end scores the same audio, made once; and
    # its perceptual measures are measured once per process (PESQ and STOI cost seconds per cell).
    tag = {"corruption": cond.corruption, "severity": cond.severity, "seed": cell.train.seed}
    audio = canonical_json({"data": cell.train.data.identity, "frontend": cell.train.frontend.identity,
                            "partition": cell.partition, "tag": tag,
                            "utterances": cell.settings.perceptual_utterances})
    measured = None if ctx.examples else _MEASURED.get(audio)
    pairs = None if measured is not None else _pairs(cell, ctx)
    features = tm.data.changed_features(cell.partition, corrupted, tag)
    metrics = _scored_features(cell, ctx, features)
    if measured is not None:
        metrics["perceptual"] = dict(measured)
        return metrics, []
    if pairs is not None:  # features from the cache: the subset corrupted again (the same audio, per utterance)
        for g in tm.partitions[cell.partition].groups:
            rows = [r for r, p in enumerate(g.index.tolist()) if p in pairs.wanted and p not in pairs.changed]
            if rows:
                sub = LengthGroup(g.index[rows], g.waves[rows], g.lengths[rows])
                corrupted(sub, [pairs.ids[p] for p in sub.index.tolist()])  # observed as it is made
    metrics = _with_pairs(cell, ctx, metrics, pairs, "corrupted")
    if "perceptual" in metrics:
        _MEASURED[audio] = dict(metrics["perceptual"])
    return metrics, []


# Perceptual measures of corrupted audio, by what the audio depends on (data, front end, partition, corruption,
# severity, seed): the same for every model of a suite. Small dicts; one per condition of a run.
_MEASURED: dict[str, dict[str, Any]] = {}


def _pairs(cell: EvalCell, ctx: EvalContext, waveforms: bool = True) -> examples.Pairs | None:
    """What to keep of the cell's changed inputs: its perceptual subset (waveforms only) and ``--save-examples``
    pairs; None when neither is asked for."""
    count = max(cell.settings.perceptual_utterances if waveforms else 0, ctx.examples)
    return examples.Pairs(ctx.trained.partitions[cell.partition], count) if count else None


def _with_pairs(cell: EvalCell, ctx: EvalContext, metrics: Metrics, pairs: examples.Pairs | None, kind: str,
                features: bool = False) -> Metrics:
    """``metrics`` with the cell's ``perceptual`` measures (none for a feature-domain attack: it says so), and its
    examples written beside the records when the run keeps them."""
    tm, count = ctx.trained, cell.settings.perceptual_utterances
    if features:
        metrics["perceptual"] = {"utterances": 0, "note": examples.FEATURE_NOTE}
    elif count and pairs is not None:
        metrics["perceptual"] = pairs.perceptual(count, tm.corpus.sample_rate)
    if ctx.examples and pairs is not None:
        render = None
        if features:  # the scored model's features were attacked (a transfer's source shares its normalisation)
            render = (_feature_db(cell, tm, pairs), tm.frontend, pairs.originals(tm.partitions[cell.partition]))
        examples.write_examples(ctx.store.examples_dir(cell.key), cell, pairs, ctx.examples, tm.corpus.sample_rate,
                                kind, render)
    return metrics


def _feature_db(cell: EvalCell, tm: TrainedModel, pairs: examples.Pairs) -> Callable[[int, np.ndarray], torch.Tensor]:
    """``(position, scaled features) -> dB features``: the clean utterance's unscaled features plus the change in
    scaled units times the normalisation's dB per unit (per bin where it has one), so clipping in the
    normalisation is not undone into the clean part."""
    part = tm.partitions[cell.partition]
    raw = {p: f[row].float().cpu() for g, f in zip(part.groups, tm.data.raw_features(cell.partition))
           for row, p in enumerate(g.index.tolist()) if p in pairs.changed}
    per = torch.as_tensor(tm.norm.db_per_unit(), dtype=torch.float32).cpu()
    per = per.reshape(-1, 1) if per.dim() == 1 else per

    def to_db(position: int, features: np.ndarray) -> torch.Tensor:
        change = torch.as_tensor(features) - torch.as_tensor(pairs.clean[position])
        return raw[position] + change * per

    return to_db


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


def _with_sample_rate(name: str, params: dict[str, Any], domain: str, sample_rate: int) -> dict[str, Any]:
    """``params`` with the corpus's ``sample_rate`` for a waveform attack that takes one (a psychoacoustic model
    of hearing needs the audio's rate); a spec that names another rate is refused, never silently misapplied.
    The rate follows from the data, which the cell's key already covers."""
    import inspect

    if domain != "waveform":
        return params
    factory = registry("attacks").info(name).factory
    try:
        takes = "sample_rate" in inspect.signature(factory).parameters
    except (TypeError, ValueError):  # a factory without a signature: leave its params as they are
        return params
    if not takes:
        return params
    if "sample_rate" in params and int(params["sample_rate"]) != int(sample_rate):
        raise SerbenchError(f"attack {name!r}: sample_rate {params['sample_rate']} but the corpus is {sample_rate} "
                            "Hz; drop sample_rate from the spec (it follows the corpus)")
    return {**params, "sample_rate": int(sample_rate)}


def evaluate_attack_condition(cell: EvalCell, cond: Attack | Transfer, ctx: EvalContext) -> tuple[Metrics, list[str]]:
    """A white-box attack on the model, or (a transfer) one crafted on the source model and scored on this one.

    Every batch is measured against the cell's threat model (held here, inside the model's input domain),
    never the attack's own copy.
    """
    tm = ctx.trained
    threat = tm.threat(cond.threat)
    params = _with_sample_rate(cond.attack["name"], dict(cond.attack["params"]), threat.domain,
                               tm.corpus.sample_rate)
    attack = registry("attacks").create(cond.attack["name"], **params, **cond.threat)
    attack.threat = threat  # the attack clips to the domain it is run in; the harness still checks
    model, x = tm.attacked(cell.partition, threat.domain)
    target, warnings, crafter = None, [], tm
    if isinstance(cond, Transfer):
        source = ctx.source(cell.train.source_of(cond))
        if threat.domain == "feature" and source.norm.state() != tm.norm.state():
            raise SerbenchError("feature-domain transfer needs source and target behind the same fitted feature "
                                "normalisation; use domain: waveform for this pair")
        model, target, crafter = source.attacked(cell.partition, threat.domain)[0], model, source
    else:
        warnings += tm.masking_checks(cell.partition, threat.domain)
    if getattr(attack, "needs_training_data", False):  # a universal perturbation: crafted on the attacked model
        attack = fitted_attack(attack, crafter, cond.attack, threat)
    y = tm.partitions[cell.partition].labels.to(tm.device)
    # FGSM at several eps: one gradient per batch, not one per eps
    pairs = _pairs(cell, ctx, waveforms=threat.domain == "waveform")
    with sharing_gradients(tm.gradients(cell.settings.precision)):
        metrics, _ = evaluate_attack(cond.attack["name"], attack, model, x, y, clean_logits(tm, cell),
                                     tm.corpus.labels, cell.settings.attack_batch_size, target=target,
                                     threat=threat, precision=cell.settings.precision,
                                     observe=None if pairs is None else pairs.observe)
    metrics = _with_pairs(cell, ctx, metrics, pairs, "adversarial", features=threat.domain == "feature")
    if threat.domain == "feature":  # what this eps is in dB per bin, under this model's normalisation
        metrics["eps_units"] = tm.norm.eps_units(threat.eps)
    if getattr(attack, "needs_training_data", False):  # how often it fools the scored model
        metrics["attack_report"] = add_test_rates(metrics.get("attack_report"), y.cpu().numpy(),
                                                  clean_logits(tm, cell).argmax(1).cpu().numpy(),
                                                  np.asarray(metrics["predictions"]))
        metrics["attack_report"]["info"]["train_partition"] = TRAINING_PARTITION
    return metrics, warnings


# Fitted attacks (universal perturbations) of each crafting model, by attack identity and threat model: crafted
# once per (train cell, threat, params) and reused by every cell of that model (both partitions, every precision).
_FITTED: weakref.WeakKeyDictionary[TrainedModel, dict[str, AttackBase]] = weakref.WeakKeyDictionary()
TRAINING_PARTITION = "train"  # what an attack that learns from data is fitted on: never an evaluated partition


def fitted_attack(attack: AttackBase, crafter: TrainedModel, identity: dict[str, Any],
                  threat: ThreatModel) -> AttackBase:
    """``attack`` fitted on ``crafter``'s training partition in the threat's domain, or the one already fitted
    for the same model, attack identity and threat model.

    The fitted state depends on the model, its training data and the attack's parameters: the first two are the
    eval cell's train cell (a transfer's source cell, through the condition), the last its attack identity, so
    every cell key already covers it. Fitting runs under fp32, whatever the cell's precision.
    """
    memo = _FITTED.setdefault(crafter, {})
    key = canonical_json({"attack": identity, "threat": threat.as_dict()})
    if key not in memo:
        model, groups = crafter.attacked(TRAINING_PARTITION, threat.domain)
        labels = crafter.partitions[TRAINING_PARTITION].labels
        model.eval()
        attack.fit(model, [x for _, x, _ in groups], [labels[index].to(x.device) for index, x, _ in groups],
                   [mask for _, _, mask in groups])
        memo[key] = attack
    return memo[key]


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
