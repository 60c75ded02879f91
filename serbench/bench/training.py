"""A train cell's model: loaded from its checkpoint, or trained (and its train record written).

:class:`ModelBuilder` prepares the fold (:class:`serbench.bench.folds.FoldData`), creates the
seeded model, and either loads a checkpoint that fits the cell or fits the normalisation on the
active training frames, expands the training set (waveform augmentations), trains with the
defense and writes the checkpoint and its train record. The result, :class:`TrainedModel`, is
what every evaluator works on.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from serbench.attacks import masking
from serbench.attacks.base import ThreatModel, input_gradient
from serbench.attacks.gradients import GradientMemo
from serbench.attacks.padding import sample_mask
from serbench.bench import records
from serbench.bench.cells import DEFAULT_PRECISION, FrontendPart, TrainCell
from serbench.bench.environment import seed_everything
from serbench.bench.folds import FoldData
from serbench.bench.store import Store, checkpoint_record
from serbench.data.corpus import Corpus
from serbench.data.feature_cache import FeatureCache
from serbench.defenses.base import Defense
from serbench.engine.data import load_waves
from serbench.engine.evaluate import predict
from serbench.engine.layout import CONTIGUOUS, apply_to_model, as_input
from serbench.engine.lengths import PadOrCrop, group_waves, scatter
from serbench.engine.train import train
from serbench.errors import SerbenchError
from serbench.features import FeaturePipeline, RawWaveform
from serbench.normalization import Normalization, floor_db, from_state, normalization

Progress = Callable[[str, dict[str, Any]], None]
# (positions in the partition, inputs, active-position mask (B, last axis)) per length group
Groups = list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


class TrainedModel:
    """A trained model with the front end and normalisation it was trained behind, plus the fold's data.

    ``eval_model`` is what every evaluation and attack sees: the model itself under pad/crop, the
    window-averaging :class:`SegmentedClassifier` around it under Latif et al.'s segments. The model is in
    the cell's ``memory_format`` (:mod:`serbench.engine.layout`), and so is every 4-D input it is given here.
    """

    def __init__(self, data: FoldData, model: torch.nn.Module, norm: Normalization,
                 memory_format: str = CONTIGUOUS) -> None:
        self.data, self.model, self.norm, self.memory_format = data, model, norm, memory_format
        self.corpus, self.frontend, self.device = data.corpus, data.frontend, data.device
        self.partitions = data.partitions
        self.eval_model = data.policy.eval_model(model).to(self.device).eval()
        self.pipeline = FeaturePipeline(self.frontend, norm, self.eval_model).to(self.device).eval()
        self._features: dict[str, list[torch.Tensor]] = {}
        self._clean_logits: dict[tuple[str, str], torch.Tensor] = {}
        self._checks: dict[tuple[str, str], list[str]] = {}
        self._gradients: dict[str, GradientMemo] = {}

    def threat(self, threat: dict[str, Any]) -> ThreatModel:
        """A cell's threat model inside this model's input domain (feature bounds: its normalisation's)."""
        t = ThreatModel(**threat)
        return t.with_bounds(self.norm.bounds) if t.domain == "feature" else t

    def attacked(self, part: str, domain: str) -> tuple[torch.nn.Module, Groups]:
        """The model an attack in ``domain`` sees, and the inputs in that domain with the mask of their active
        (not padded) positions, per length group: attacks leave the padding alone."""
        groups = self.partitions[part].groups
        if domain == "feature" and isinstance(self.frontend, RawWaveform):
            raise SerbenchError("a waveform model has no feature domain to attack; attack it in the waveform domain")
        if domain == "feature":
            return self.eval_model, [(g.index, x, m) for g, x, m in zip(groups, self.features(part),
                                                                      self.data.masks(part))]
        return self.pipeline, [(g.index, g.waves.to(self.device), sample_mask(g.lengths, g.waves.shape[-1]))
                               for g in groups]

    def masking_checks(self, part: str, domain: str) -> list[str]:
        """AutoAttack-style sanity checks of the model itself, once per partition and domain, on up to 64
        utterances of the first length group: zero gradients, a non-deterministic forward pass, probabilities
        for logits, and an unbounded PGD (20 steps) that must reach about 0 % accuracy."""
        if (part, domain) not in self._checks:
            model, groups = self.attacked(part, domain)
            index, x, _ = groups[0]
            x, y = x[:64], self.partitions[part].labels[index[:64]].to(self.device)
            bounds = self.threat({"domain": domain, "norm": "linf", "eps": 0.0}).bounds
            found = [masking.zero_gradients(input_gradient(model, x, y)),
                     masking.nondeterministic_forward(model, x),
                     masking.probability_output(model, x),
                     masking.unbounded_attack(model, x, y, bounds, domain)]
            self._checks[(part, domain)] = [w for w in found if w]
        return self._checks[(part, domain)]

    def features(self, part: str) -> list[torch.Tensor]:
        """Scaled features of ``part`` per length group: the model's inputs."""
        if part not in self._features:
            self._features[part] = [self.inputs(self.norm(f)) for f in self.data.raw_features(part)]
        return self._features[part]

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Scaled features ``x`` laid out as the model is (same values, same logical order)."""
        return as_input(x, self.memory_format)

    def clean_logits(self, part: str, precision: str = DEFAULT_PRECISION, batch_size: int | None = None
                     ) -> torch.Tensor:
        """Logits on ``part`` at ``precision`` (autocast below fp32), computed once per partition and precision
        (``batch_size`` does not change them)."""
        if (part, precision) not in self._clean_logits:
            groups = self.partitions[part].groups
            logits = [predict(self.eval_model, x, batch_size, precision) for x in self.features(part)]
            self._clean_logits[(part, precision)] = scatter(groups, logits, len(self.partitions[part]))
        return self._clean_logits[(part, precision)]

    def gradients(self, precision: str = DEFAULT_PRECISION) -> GradientMemo:
        """Input gradients that several attack cells of this model share, one memo per precision (a memo's
        key has no precision, so gradients of two precisions never mix)."""
        return self._gradients.setdefault(precision, GradientMemo())


class _Incompatible(Exception):
    """A checkpoint that does not fit its cell's model (already quarantined)."""


class ModelBuilder:
    """Loads or trains train cells' models into ``store``; ``progress`` receives the CLI's events."""

    def __init__(self, store: Store, device: torch.device, spec_name: str, *, force: bool = False,
                 progress: Progress | None = None) -> None:
        self.store, self.device, self.spec_name, self.force = store, device, spec_name, force
        self.progress = progress or (lambda event, payload: None)

    def build(self, tc: TrainCell, corpus: Corpus, env: dict[str, Any], record: bool = False) -> TrainedModel:
        """The model of ``tc``. ``record``: its train record is missing or invalid (the caller holds the cell's
        lock): write it, from the checkpoint's copy, else by training again."""
        fold = corpus.fold(tc.data.protocol, tc.data.fold)
        self.progress("prepare", {"label": f"{corpus.name} fold {fold.name}"})
        data = FoldData(corpus, fold, tc.frontend, FeatureCache(self.store.root / "cache"), self.device)
        probe = data.probe()
        model = self._create(tc, corpus, probe)
        try:
            loaded = self._load(tc, corpus, probe, model, record)
        except _Incompatible:  # the failed load may have copied some weights: start from a fresh model
            model, loaded = self._create(tc, corpus, probe), None
        model, norm = loaded if loaded is not None else self._fit(tc, data, model, env)
        model.eval()
        return TrainedModel(data, model, norm.to(self.device), tc.memory_format)

    # -- creating and loading ------------------------------------------------------
    def _create(self, tc: TrainCell, corpus: Corpus, probe: torch.Tensor) -> torch.nn.Module:
        """A fresh model, seeded by the cell: the same initial weights on every run, on the device and in the
        cell's memory format (a checkpoint loaded into it keeps that format: loading copies values)."""
        seed_everything(tc.seed)
        created = tc.model.info.factory(**{**tc.model.params, "num_classes": len(corpus.labels)}).to(self.device)
        apply_to_model(created, tc.memory_format)
        check_logits(created, tc.model.requested, probe, corpus, "as created")
        return created

    def _load(self, tc: TrainCell, corpus: Corpus, probe: torch.Tensor, model: torch.nn.Module,
              record: bool) -> tuple[torch.nn.Module, Normalization] | None:
        """The cell's checkpoint loaded into ``model``, or None (none, or lacking the train record that ``record``
        asks to restore). One that does not fit is quarantined and :class:`_Incompatible` raised."""
        cached = None if self.force else self.store.load_checkpoint(tc.key)
        saved_record = None if cached is None else checkpoint_record(cached, tc.key)
        if cached is None or (record and saved_record is None):
            return None  # a checkpoint saved without its train record: train again to write that record
        name = tc.model.requested
        try:
            model.load_state_dict(cached["model"])
            norm = saved_normalization(cached["scaler"], tc.frontend)
        except (RuntimeError, KeyError, TypeError, ValueError, SerbenchError) as exc:
            first = (str(exc).splitlines() or [""])[0][:160]
            self.store.quarantine(self.store.checkpoint_path(tc.key), "incompatible",
                                  f"checkpoint does not fit model {name!r} ({type(exc).__name__}: {first})")
            raise _Incompatible from exc
        check_logits(model, name, probe, corpus, f"loaded from {self.store.checkpoint_path(tc.key).name}")
        if record and saved_record is not None:  # lost or damaged: the checkpoint's copy, as written
            self.store.write(saved_record)
        self.progress("train_cached", {"key": tc.key})
        return model, norm

    # -- training ------------------------------------------------------------------
    def _fit(self, tc: TrainCell, data: FoldData, model: torch.nn.Module,
             env: dict[str, Any]) -> tuple[torch.nn.Module, Normalization]:
        """Train ``model`` as the cell says, save its checkpoint and write its train record."""
        sched = tc.training
        # Ren et al.'s final models are fitted on train + dev for the fixed budget, without selection.
        fit_parts = ["train"] if sched.selects_on_valid else ["train", "valid"]
        # Statistics over the active frames of the fitted partitions: padding never enters them.
        norm = new_normalization(tc.frontend).fit([f for p in fit_parts for f in data.raw_features(p)],
                                                       [m for p in fit_parts for m in data.masks(p)])
        defense = tc.defense.create()
        x_train, y_train, m_train, n_train = self._training_set(defense, data, norm, fit_parts, tc.seed)
        x_train = as_input(x_train, tc.memory_format)  # batches indexed from it keep its layout
        valid = data.partitions["valid"]
        x_valid, valid_logits = self._validation(data, norm, tc.memory_format) if sched.selects_on_valid \
            else (None, None)
        label = f"train {tc.model.requested} + {tc.defense.requested} (fold {data.fold.name}, seed {tc.seed})"
        self.progress("train_start", {"label": label, "total": 0})
        result = train(
            model, defense, x_train, y_train, x_valid,
            valid.labels.to(self.device), sched, tc.seed, len(data.corpus.labels),
            progress=lambda it, tot, info: self.progress("train_step", {"it": it, "total": tot, **info}),
            valid_logits=valid_logits, bounds=norm.bounds, mask=m_train,
        )
        self.progress("train_end", {"label": label})
        train_record = records.train_record(
            tc, self.spec_name, env, fold_name=data.fold.name, best_valid_uar=result.best_valid_uar,
            timings={**result.summary(), "adversarial_batches": defense.adversarial_batches},
            history=result.history,
            data=data.describe() | {"fit_on": sched.fit_on, "train_expanded": n_train, "train_inputs": len(x_train),
                                    "length": data.policy.describe(), "normalization": norm.describe(),
                                    "memory_format": tc.memory_format, "input": tc.frontend.input_kind,
                                    "parameters": parameter_counts(model)})
        # The record travels inside the checkpoint: a run killed before the record's own write, or a
        # record damaged later, gets it back from there without training again.
        self.store.save_checkpoint(tc.key, {"model": result.state_dict, "scaler": norm.state()}, record=train_record)
        self.store.write(train_record)
        return model, norm

    def _training_set(self, defense: Defense, data: FoldData, norm: Normalization, fit_parts: list[str],
                      seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
        """The model's training inputs, labels and frame masks, and how many utterances they come from."""
        partitions = data.partitions
        if not defense.expands_training_set:
            groups = [g for p in fit_parts for g in partitions[p].groups]
            labels_of = [partitions[p].labels[g.index] for p in fit_parts for g in partitions[p].groups]
            feats = [norm(f) for p in fit_parts for f in data.raw_features(p)]
        else:  # waveform augmentations work on the decoded, unpadded audio
            rng = np.random.default_rng(seed)
            fit_ids = [i for p in fit_parts for i in data.fold.partition(p)]
            waves, labels = load_waves(data.corpus, fit_ids)
            waves, labels = defense.expand_training_set(waves, labels, data.corpus.sample_rate, rng)
            groups = group_waves(data.policy, waves)
            labels_of = [torch.tensor(labels, dtype=torch.long)[g.index] for g in groups]
            feats = [norm(data.features_of(g.waves)) for g in groups]
        masks = [g.frame_mask(data.hop_length, f.shape[-1]).to(self.device) for g, f in zip(groups, feats)]
        inputs = [data.policy.training_inputs(f, y.to(self.device), m) for f, y, m in zip(feats, labels_of, masks)]
        return (torch.cat([x for x, _, _ in inputs]), torch.cat([y for _, y, _ in inputs]),
                torch.cat([m for _, _, m in inputs]), sum(len(g.index) for g in groups))

    @staticmethod
    def _validation(data: FoldData, norm: Normalization, memory_format: str = CONTIGUOUS):
        """What selection scores: the scaled validation inputs (pad/crop), or a function giving the
        validation logits of a model (segments: mean posterior over each utterance's windows), in the model's
        memory format."""
        if isinstance(data.policy, PadOrCrop):
            return as_input(norm(data.raw_features("valid")[0]), memory_format), None
        valid = data.partitions["valid"]
        groups = [as_input(norm(f), memory_format) for f in data.raw_features("valid")]

        def valid_logits(m: torch.nn.Module) -> torch.Tensor:
            seg = data.policy.eval_model(m)
            return scatter(valid.groups, [predict(seg, x) for x in groups], len(valid))

        return None, valid_logits


def parameter_counts(model: torch.nn.Module) -> dict[str, int]:
    """Every parameter of the model, and those training updates (a probe's frozen encoder is not among them)."""
    params = list(model.parameters())
    return {"total": sum(p.numel() for p in params), "trainable": sum(p.numel() for p in params if p.requires_grad)}


def new_normalization(frontend: FrontendPart) -> Normalization:
    """The unfitted normalisation a train cell names, at its front end's log floor."""
    params = dict(frontend.normalization)
    return normalization(params.pop("name"), floor_db=floor_db(frontend.features.log_floor), **params)


def saved_normalization(state: dict[str, Any], frontend: FrontendPart) -> Normalization:
    """A checkpoint's fitted normalisation; it must be the one the cell names (else the checkpoint is stale)."""
    norm = from_state(state)
    wanted = frontend.normalization["name"]
    if norm.name != wanted:
        raise ValueError(f"checkpoint normalisation {norm.name!r} is not the cell's {wanted!r}")
    return norm


def check_logits(model: torch.nn.Module, name: str, x: torch.Tensor, corpus: Corpus, when: str) -> None:
    """Refuse a model whose output is not one logit per class of the corpus, naming the model and shapes.

    Runs in eval mode without gradients, so it changes no weight, statistic or random state.
    """
    n = len(corpus.labels)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x)
    except Exception as exc:
        first = (str(exc).splitlines() or [""])[0]
        raise SerbenchError(f"model {name!r} ({when}) fails on an input batch of shape {tuple(x.shape)}: "
                            f"{type(exc).__name__}: {first}") from exc
    finally:
        model.train(was_training)
    shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
    if shape != (len(x), n):
        raise SerbenchError(
            f"model {name!r} ({when}) returns output of shape {shape} for an input batch of {len(x)}; expected "
            f"({len(x)}, {n}): one logit per class of {corpus.name!r} ({', '.join(corpus.labels)})"
        )
