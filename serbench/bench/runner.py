"""The local executor: train each model once, evaluate it under every condition, write records.

A rerun computes only missing cells (``force`` recomputes all, ``retry_failed``
also retries failed ones). Checkpoints are cached by train key, so eval cells
added later reuse the trained model.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
import time
import traceback
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

import serbench
from serbench.bench.cells import EvalCell, TrainCell, canonical_json
from serbench.bench.spec import Spec, dataset_identity
from serbench.bench.store import Store, checkpoint_record
from serbench.data.corpus import Corpus
from serbench.data.feature_cache import FeatureCache, feature_key
from serbench.defenses.base import Defense
from serbench.engine import data as fold_data
from serbench.attacks import masking
from serbench.attacks.base import ThreatModel, input_gradient
from serbench.attacks.padding import sample_mask
from serbench.attacks.ensemble import attack_labels, robust_accuracy, robust_uar
from serbench.engine.evaluate import evaluate_attack, evaluate_predictions, predict
from serbench.engine.lengths import LengthGroup, PadOrCrop, Segments, group_waves, length_policy, scatter
from serbench.engine.schedules import Schedule
from serbench.engine.train import train
from serbench.errors import DataError, SerbenchError
from serbench.features import FeaturePipeline, FrontendConfig, LogMel
from serbench.noises.base import mix_at_snr
from serbench.normalization import Normalization, floor_db, from_state, normalization
from serbench.registry import REGISTRIES, editable_installs, registry


@dataclass
class RunSummary:
    """What a run did. ``failed`` failed in this run; ``failed_cached`` were failed in the store already
    and left so (no ``--retry-failed``): both are failed cells of the spec, and ``ok`` needs neither."""

    computed: int = 0
    cached: int = 0  # cells not recomputed, ok or failed
    failed: list[tuple[str, str]] = field(default_factory=list)  # (cell label, reason)
    seconds: float = 0.0
    failed_cached: list[tuple[str, str]] = field(default_factory=list)  # (cell label, stored reason)

    @property
    def ok(self) -> bool:
        """True only when no cell of the spec is failed, new or cached."""
        return not self.failed and not self.failed_cached

    @property
    def failed_total(self) -> int:
        return len(self.failed) + len(self.failed_cached)

    def add(self, other: "RunSummary") -> None:
        self.computed += other.computed
        self.cached += other.cached
        self.failed.extend(other.failed)
        self.failed_cached.extend(other.failed_cached)


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise SerbenchError(f"--device: unknown device {name!r}; use auto, cpu or cuda[:N]") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SerbenchError(f"--device {name}: CUDA is not available on this machine; use --device cpu")
    return dev


def environment(device: torch.device) -> dict[str, Any]:
    """Versions and device: enough to say where a number came from."""
    git = None
    try:
        git = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=os.path.dirname(serbench.__file__)).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        git = None
    plugins = {}
    for kind, reg in REGISTRIES.items():
        for name in reg.loaded_plugins():
            inf = reg.info(name)
            plugins[f"{kind}/{name}"] = f"{inf.source} {inf.version}"
    return {
        "serbench": serbench.__version__, "torch": torch.__version__, "python": platform.python_version(),
        "platform": platform.platform(), "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
        "git": git, "plugins": plugins,
        "editable": editable_installs(),  # code that can change without its version changing (cell keys)
    }


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


# (positions in the partition, inputs, active-position mask (B, last axis)) per length group
Groups = list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


class _TrainedModel:
    """A trained model with the front end and normalisation it was trained behind, plus the fold's test data.

    ``eval_model`` is what every evaluation and attack sees: the model itself under pad/crop, the
    window-averaging :class:`SegmentedClassifier` around it under Latif et al.'s segments.
    """

    def __init__(self, corpus: Corpus, model: torch.nn.Module, frontend: LogMel, norm: Normalization,
                 partitions: dict[str, fold_data.Partition], device: torch.device,
                 raw_features: Callable[[str], list[torch.Tensor]], policy: PadOrCrop | Segments) -> None:
        self.corpus, self.model, self.frontend, self.norm = corpus, model, frontend, norm
        self.raw_features = raw_features
        self.partitions, self.device = partitions, device
        self.eval_model = policy.eval_model(model).to(device).eval()
        self.pipeline = FeaturePipeline(frontend, norm, self.eval_model).to(device).eval()
        self._features: dict[str, list[torch.Tensor]] = {}
        self._clean_logits: dict[str, torch.Tensor] = {}
        self._checks: dict[tuple[str, str], list[str]] = {}

    def threat(self, threat: dict[str, Any]) -> ThreatModel:
        """A cell's threat model inside this model's input domain (feature bounds: its normalisation's)."""
        t = ThreatModel(**threat)
        return t.with_bounds(self.norm.bounds) if t.domain == "feature" else t

    def attacked(self, part: str, domain: str) -> tuple[torch.nn.Module, Groups]:
        """The model an attack in ``domain`` sees, and the inputs in that domain with the mask of their active
        (not padded) positions, per length group: attacks leave the padding alone."""
        groups = self.partitions[part].groups
        if domain == "feature":
            return self.eval_model, [(g.index, x, g.frame_mask(self.frontend.config.hop_length, x.shape[-1]))
                                     for g, x in zip(groups, self.features(part))]
        return self.pipeline, [(g.index, g.waves.to(self.device), sample_mask(g.lengths, g.waves.shape[-1]))
                               for g in groups]

    def masking_checks(self, part: str, domain: str) -> list[str]:
        """AutoAttack-style sanity checks of the model itself, once per partition and domain."""
        if (part, domain) not in self._checks:
            model, groups = self.attacked(part, domain)
            index, x, _ = groups[0]
            x, y = x[:64], self.partitions[part].labels[index[:64]].to(self.device)
            found = [masking.zero_gradients(input_gradient(model, x, y)),
                     masking.nondeterministic_forward(model, x)]
            self._checks[(part, domain)] = [w for w in found if w]
        return self._checks[(part, domain)]

    def features(self, part: str) -> list[torch.Tensor]:
        if part not in self._features:
            self._features[part] = [self.norm(f) for f in self.raw_features(part)]
        return self._features[part]

    def clean_logits(self, part: str) -> torch.Tensor:
        if part not in self._clean_logits:
            groups = self.partitions[part].groups
            logits = [predict(self.eval_model, x) for x in self.features(part)]
            self._clean_logits[part] = scatter(groups, logits, len(self.partitions[part]))
        return self._clean_logits[part]


class LocalRunner:
    """Runs a spec in-process. ``progress`` receives (event, payload) for the CLI's bars."""

    def __init__(self, spec: Spec, store: Store, device: str = "auto", force: bool = False,
                 retry_failed: bool = False, progress: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self.spec, self.store, self.device = spec, store, resolve_device(device)
        self.force, self.retry_failed = force, retry_failed
        self.progress = progress or (lambda event, payload: None)
        self._corpora: dict[str, Corpus] = {}
        self._trained_models: dict[str, _TrainedModel] = {}

    # -- helpers ------------------------------------------------------------------
    def corpus(self, index: int) -> Corpus:
        axis = self.spec.datasets[index]
        key = repr(axis.resolved.identity())
        if key not in self._corpora:
            try:
                corpus = axis.resolved.create()
            except SerbenchError:
                raise
            except Exception as exc:
                raise SerbenchError(
                    f"dataset {axis.resolved.requested!r} failed to load: {type(exc).__name__}: {exc}"
                ) from exc
            if not isinstance(corpus, Corpus):
                raise SerbenchError(f"dataset {axis.resolved.requested!r} did not return a serbench.Corpus")
            self._corpora[key] = corpus
        return self._corpora[key]

    def train_cells(self) -> list[TrainCell]:
        """The spec's train cells, keyed by what each corpus holds now.

        Every corpus is loaded (listed and fingerprinted; no audio is decoded): its content
        fingerprint enters the keys, its protocol is resolved (the default named) and checked, and
        the folds asked for must exist.
        """
        counts, fingerprints = {}, {}
        for i in range(len(self.spec.datasets)):
            corpus = self.corpus(i)
            d = self.spec.datasets[i] = self.spec.datasets[i].resolved_for(corpus, self.spec.path)
            fingerprints[i] = corpus.fingerprint()
            if d.folds is None:
                counts[i] = len(corpus.folds(d.protocol))
        return self.spec.train_cells(counts, fingerprints)

    def _needs(self, key: str) -> bool:
        if self.force:
            return True
        status = self.store.status(key)
        return status is None or (status == "failed" and self.retry_failed)

    def needs_work(self, tc: TrainCell, evals: list[EvalCell]) -> bool:
        """Whether a run has anything to do for ``tc``: an eval cell to compute, or its own train record to
        write (missing or invalid: restored from the checkpoint, else trained again; failed: with
        ``retry_failed``). The local executor and the Ray driver ask this; the dry run shows the same states."""
        return self._needs(tc.key) or any(self._needs(e.key) for e in evals)

    def _corpus_for(self, cell: TrainCell) -> Corpus:
        """The loaded corpus of ``cell``; its data must still be what the cell's key names."""
        ident = {k: v for k, v in cell.spec["dataset"].items() if k not in ("protocol", "fold", "fingerprint")}
        for i, d in enumerate(self.spec.datasets):
            if dataset_identity(d.resolved) == ident:
                corpus = self.corpus(i)
                planned, found = cell.spec["dataset"].get("fingerprint"), corpus.fingerprint()
                if planned != found:
                    raise DataError(
                        f"dataset {d.resolved.requested!r}: its files changed since the cells were planned (data "
                        f"fingerprint {found}, planned {planned}), or this worker reads another copy; run again "
                        "to plan cells for the data as it is now")
                return corpus
        raise AssertionError("train cell names a dataset the spec does not have")

    # -- the run ------------------------------------------------------------------
    def plan(self) -> list[tuple[TrainCell, list[EvalCell]]]:
        """Every train cell with its eval cells, in spec order (``exclude`` applied)."""
        return [(tc, self.spec.eval_cells(tc)) for tc in self.train_cells()]

    def run(self) -> RunSummary:
        start = time.perf_counter()
        plan = self.plan()
        self.progress("start", {"cells": sum(len(evals) for _, evals in plan), "train_cells": len(plan)})
        self.store.remove_stale_temp_files()
        summary = self.execute(plan, environment(self.device))
        summary.seconds = time.perf_counter() - start
        return summary

    def execute(self, plan: list[tuple[TrainCell, list[EvalCell]]], env: dict[str, Any],
                poll_s: float = 0.5) -> RunSummary:
        """Run ``plan`` holding each train cell's lock; a cell another run holds is retried after the rest."""
        summary = RunSummary()
        queue = deque(plan)
        deferred = 0
        while queue:
            tc, evals = queue.popleft()
            if not self.needs_work(tc, evals):
                self.count_cached(summary, evals, tc)
                deferred = 0
                continue
            lock = self.store.lock(tc.key)
            if not lock.try_acquire():  # another run or worker has it: do the others first, then wait
                queue.append((tc, evals))
                deferred += 1
                if deferred >= len(queue):
                    time.sleep(poll_s)
                    deferred = 0
                continue
            deferred = 0
            try:
                summary.add(self.run_train_cell(tc, evals, env))
            finally:
                lock.release()
        return summary

    def run_train_cell(self, tc: TrainCell, evals: list[EvalCell], env: dict[str, Any]) -> RunSummary:
        """Train (or load) one model, write its train record if it has none, and compute its missing eval
        cells; the caller holds its lock."""
        summary = RunSummary()
        todo = [e for e in evals if self._needs(e.key)]
        keys = {e.key for e in todo}
        self.count_cached(summary, [e for e in evals if e.key not in keys])
        record = self._needs(tc.key)
        if not todo and not record:
            return summary
        try:
            trained = self._trained(tc, env, record=record)
        except Exception as exc:  # recorded per cell; the run goes on with other cells
            reason = _reason(exc, self._data_roots())
            self._write_failed_train(tc, reason, env)
            if not todo:  # only the train record was missing: the failure is the train cell's
                summary.failed.append((self._describe_train(tc), reason))
            for e in todo:
                self._write_failed(e, reason, env)
                summary.failed.append((self._describe(e), reason))
                self.progress("cell", {"label": self._describe(e), "status": "failed"})
            return summary
        for e in todo:
            try:
                rec = self._evaluate(e, trained, env)
                self.store.write(rec)
                summary.computed += 1
                self.progress("cell", {"label": self._describe(e), "status": "ok", "uar": rec["metrics"]["uar"]})
            except Exception as exc:
                reason = _reason(exc, self._data_roots())
                self._write_failed(e, reason, env)
                summary.failed.append((self._describe(e), reason))
                self.progress("cell", {"label": self._describe(e), "status": "failed"})
        self._cross_cell_warnings(evals)
        self._trained_models.clear()  # keep memory flat across a long matrix
        return summary

    def count_cached(self, summary: RunSummary, evals: list[EvalCell], tc: TrainCell | None = None) -> None:
        """Count ``evals`` (left as the store holds them) as cached; the failed ones also as failed.

        With ``tc``: a failed train record left so counts as failed too when no eval cell of it does.
        """
        summary.cached += len(evals)
        before = len(summary.failed_cached)
        for e in evals:
            rec = self.store.read(e.key)  # one read: status and error together
            if rec is not None and rec.get("status") == "failed":
                summary.failed_cached.append((self._describe(e), str(rec.get("error") or "failed")))
        if tc is not None and len(summary.failed_cached) == before:
            rec = self.store.read(tc.key)
            if rec is not None and rec.get("status") == "failed":
                summary.failed_cached.append((self._describe_train(tc), str(rec.get("error") or "failed")))
        self.progress("cached", {"n": len(evals)})

    def _data_roots(self) -> list[str]:
        """Where the loaded corpora live: stripped from failure reasons, which are published."""
        return [str(root) for c in self._corpora.values() if (root := getattr(c, "root", None))]

    def _describe(self, e: EvalCell) -> str:
        return f"{self._describe_train(e.train)}: {e.label}"

    def _describe_train(self, tc: TrainCell) -> str:
        t = tc.spec
        return (f"{t['dataset']['name']}/fold {t['dataset']['fold']} {t['model']['name']} + "
                f"{t['defense']['name']} seed {t['seed']}")

    def _write_failed(self, e: EvalCell, reason: str, env: dict[str, Any]) -> None:
        self.store.write({
            "key": e.key, "kind": "eval", "train_key": e.train.key, "status": "failed", "error": reason,
            "spec_name": self.spec.name, "train": e.train.spec, "partition": e.partition,
            "condition": e.condition, "metrics": {}, "timings": {}, "warnings": [], "env": env,
            "created": _now(),
        })

    def _write_failed_train(self, tc: TrainCell, reason: str, env: dict[str, Any]) -> None:
        """Record a failed training, so a rerun leaves it (and its failed eval cells) to ``--retry-failed``;
        an ok train record stays: it describes the model that is saved and evaluated."""
        if self.store.status(tc.key) == "ok":
            return
        self.store.write({
            "key": tc.key, "kind": "train", "status": "failed", "error": reason, "spec_name": self.spec.name,
            "train": tc.spec, "metrics": {}, "timings": {}, "history": [], "warnings": [], "env": env,
            "created": _now(),
        })

    def _trained(self, tc: TrainCell, env: dict[str, Any], record: bool = False) -> _TrainedModel:
        """The model of ``tc``, trained or loaded once per train cell. ``record``: its train record is missing
        or invalid, and the caller holds the cell's lock: write it (from the checkpoint, else by training)."""
        if tc.key not in self._trained_models or record:
            self._trained_models[tc.key] = self._train_or_load(tc, env, record)
        return self._trained_models[tc.key]

    def _trained_source(self, tc: TrainCell, env: dict[str, Any], poll_s: float = 0.5) -> _TrainedModel:
        """A transfer attack's source model: loaded once its checkpoint exists, else trained under its lock.

        Waiting for the checkpoint rather than the lock avoids a deadlock between two runs whose
        cells are each other's sources (checkpoints are saved before any eval cell runs).
        """
        while tc.key not in self._trained_models and not self.store.checkpoint_path(tc.key).exists():
            lock = self.store.lock(tc.key)
            if lock.try_acquire():
                try:
                    return self._trained(tc, env)
                finally:
                    lock.release()
            time.sleep(poll_s)
        return self._trained(tc, env)

    def _train_or_load(self, tc: TrainCell, env: dict[str, Any], record: bool = False) -> _TrainedModel:
        spec = tc.spec
        corpus = self._corpus_for(tc)
        fold = corpus.fold(spec["dataset"]["protocol"], spec["dataset"]["fold"])
        fe = {k: v for k, v in spec["frontend"].items() if k not in ("seconds", "segments", "normalization")}
        frontend = LogMel(FrontendConfig(**fe))
        if frontend.config.sample_rate != corpus.sample_rate:
            raise SerbenchError(
                f"front end expects {frontend.config.sample_rate} Hz but corpus {corpus.name!r} delivers "
                f"{corpus.sample_rate} Hz; set the dataset's sample_rate param"
            )
        policy = length_policy(spec["frontend"], corpus.sample_rate)
        self.progress("prepare", {"label": f"{corpus.name} fold {fold.name}"})
        # Decoded, resampled, padded waveforms and their features are cached on disk by corpus content,
        # utterance ids, front end and length, so a matrix decodes every file once.
        cache = FeatureCache(self.store.root / "cache")
        partitions = {part: _load_partition(corpus, list(fold.partition(part)), policy, cache)
                      for part in ("train", "valid", "test")}
        features_of: dict[str, list[torch.Tensor]] = {}

        def raw_features(part: str) -> list[torch.Tensor]:
            if part not in features_of:
                out = []
                for g in partitions[part].groups:
                    ids = [partitions[part].ids[i] for i in g.index.tolist()]
                    key = feature_key(corpus, ids, frontend.config.as_dict(),
                                      {"policy": "pad_or_crop", "samples": g.waves.shape[1]})
                    compute = lambda g=g: fold_data.compute_features(frontend, g.waves, self.device).cpu()  # noqa: E731
                    out.append(cache.get_or_compute(key, compute).to(self.device))
                features_of[part] = out
            return features_of[part]

        # A couple of the training partition's inputs, as the model sees them: to check its logits' shape.
        probe_waves = partitions["train"].groups[0].waves[:2]
        probe = policy.training_inputs(fold_data.compute_features(frontend, probe_waves, self.device),
                                       torch.zeros(len(probe_waves), dtype=torch.long, device=self.device))[0][:2]

        def create_model() -> torch.nn.Module:
            seed_everything(spec["seed"])
            created = registry("models").create(spec["model"]["name"], num_classes=len(corpus.labels),
                                                **{k: v for k, v in spec["model"]["params"].items()
                                                   if k != "num_classes"}).to(self.device)
            _check_logits(created, spec["model"]["name"], probe, corpus, "as created")
            return created

        model = create_model()
        cached = None if self.force else self.store.load_checkpoint(tc.key)
        saved_record = None if cached is None else checkpoint_record(cached, tc.key)
        if record and saved_record is None:
            cached = None  # a checkpoint saved without its train record: train again to write that record
        if cached is not None:
            try:
                model.load_state_dict(cached["model"])
                norm = _saved_normalization(cached["scaler"], spec["frontend"])
            except (RuntimeError, KeyError, TypeError, ValueError, SerbenchError) as exc:
                first = (str(exc).splitlines() or [""])[0][:160]
                self.store.quarantine(self.store.checkpoint_path(tc.key), "incompatible",
                                      f"checkpoint does not fit model {spec['model']['name']!r} "
                                      f"({type(exc).__name__}: {first})")
                cached = None
                model = create_model()  # a fresh, seeded model: the failed load may have copied some weights
            else:
                _check_logits(model, spec["model"]["name"], probe, corpus,
                              f"loaded from {self.store.checkpoint_path(tc.key).name}")
                if record and saved_record is not None:  # lost or damaged: the checkpoint's copy, as written
                    self.store.write(saved_record)
                self.progress("train_cached", {"key": tc.key})
        if cached is None:
            sched = Schedule(**spec["training"])
            # Ren et al.'s final models are fitted on train + dev for the fixed budget, without selection.
            fit_parts = ["train"] if sched.selects_on_valid else ["train", "valid"]
            # Statistics over the active frames of the fitted partitions: padding never enters them.
            norm = _new_normalization(spec["frontend"]).fit(
                [f for p in fit_parts for f in raw_features(p)],
                [g.frame_mask(frontend.config.hop_length, f.shape[-1])
                 for p in fit_parts for g, f in zip(partitions[p].groups, raw_features(p))])
            defense = registry("defenses").create(spec["defense"]["name"], **spec["defense"]["params"])
            if type(defense).expand_training_set is Defense.expand_training_set:
                train_groups = [g for p in fit_parts for g in partitions[p].groups]
                labels_of = [partitions[p].labels[g.index] for p in fit_parts for g in partitions[p].groups]
                train_feats = [norm(f) for p in fit_parts for f in raw_features(p)]
            else:  # waveform augmentations work on the decoded, unpadded audio
                rng = np.random.default_rng(spec["seed"])
                fit_ids = [i for p in fit_parts for i in fold.partition(p)]
                train_waves, labels_list = fold_data.load_waves(corpus, fit_ids)
                train_waves, labels_list = defense.expand_training_set(train_waves, labels_list,
                                                                        corpus.sample_rate, rng)
                train_groups = group_waves(policy, train_waves)
                labels_of = [torch.tensor(labels_list, dtype=torch.long)[g.index] for g in train_groups]
                train_feats = [norm(fold_data.compute_features(frontend, g.waves, self.device))
                               for g in train_groups]
            masks = [g.frame_mask(frontend.config.hop_length, f.shape[-1]).to(self.device)
                     for g, f in zip(train_groups, train_feats)]
            inputs = [policy.training_inputs(f, y.to(self.device), m) for f, y, m in zip(train_feats, labels_of, masks)]
            x_train = torch.cat([x for x, _, _ in inputs])
            y_train = torch.cat([y for _, y, _ in inputs])
            m_train = torch.cat([m for _, _, m in inputs])
            n_train = sum(len(g.index) for g in train_groups)
            valid = partitions["valid"]
            x_valid, valid_logits = None, None
            if not sched.selects_on_valid:
                pass  # nothing held out to select on
            elif isinstance(policy, PadOrCrop):
                x_valid = norm(raw_features("valid")[0])
            else:
                x_valid_groups = [norm(f) for f in raw_features("valid")]

                def valid_logits(m: torch.nn.Module) -> torch.Tensor:
                    seg = policy.eval_model(m)
                    return scatter(valid.groups, [predict(seg, x) for x in x_valid_groups], len(valid))
            label = f"train {spec['model']['name']} + {spec['defense']['name']} (fold {fold.name}, seed {spec['seed']})"
            self.progress("train_start", {"label": label, "total": 0})
            result = train(
                model, defense, x_train, y_train, x_valid,
                valid.labels.to(self.device), sched, spec["seed"], len(corpus.labels),
                progress=lambda it, tot, info: self.progress("train_step", {"it": it, "total": tot, **info}),
                valid_logits=valid_logits, bounds=norm.bounds, mask=m_train,
            )
            self.progress("train_end", {"label": label})
            train_record = {
                "key": tc.key, "kind": "train", "status": "ok", "error": None, "spec_name": self.spec.name,
                "train": spec, "fold_name": fold.name, "metrics": {"best_valid_uar": result.best_valid_uar},
                "timings": {**result.summary(), "adversarial_batches": getattr(defense, "adversarial_batches", None)},
                "history": result.history, "warnings": [], "env": env,
                "created": _now(),
                "data": {part: len(p) for part, p in partitions.items()}
                | {"fit_on": sched.fit_on, "train_expanded": n_train, "train_inputs": len(x_train),
                   "length": policy.describe(), "normalization": norm.describe()},
            }
            # The record travels inside the checkpoint: a run killed before the record's own write, or a
            # record damaged later, gets it back from there without training again.
            self.store.save_checkpoint(tc.key, {"model": result.state_dict, "scaler": norm.state()},
                                       record=train_record)
            self.store.write(train_record)
        model.eval()
        return _TrainedModel(corpus, model, frontend, norm.to(self.device), partitions, self.device, raw_features,
                             policy)

    def _evaluate(self, e: EvalCell, tm: _TrainedModel, env: dict[str, Any]) -> dict[str, Any]:
        part = tm.partitions[e.partition]
        y = part.labels.to(self.device)
        labels = tm.corpus.labels
        cond = e.condition
        start = time.perf_counter()
        warnings: list[str] = []
        if cond["type"] == "clean":
            metrics = evaluate_predictions(y, tm.clean_logits(e.partition), labels)
        elif cond["type"] == "noise":
            noise = registry("noises").create(cond["noise"]["name"], **cond["noise"]["params"])
            seed = e.train.spec["seed"]
            rng = np.random.default_rng([seed, 7, int(round(cond["snr_db"] * 1000)) % 2**31])
            logits = []
            for g in part.groups:
                noise_waves = torch.from_numpy(np.stack([
                    np.asarray(noise.sample(g.waves.shape[1], tm.corpus.sample_rate, rng), dtype=np.float32)
                    for _ in range(len(g.index))]))
                noisy = mix_at_snr(g.waves, noise_waves, cond["snr_db"], lengths=g.lengths)  # SNR over speech
                x = tm.norm(fold_data.compute_features(tm.frontend, noisy, self.device))
                logits.append(predict(tm.eval_model, x))
            metrics = evaluate_predictions(y, scatter(part.groups, logits, len(part)), labels)
        elif cond["type"] in ("attack", "transfer"):
            threat = tm.threat(cond["threat"])  # the cell's budget inside the model's input domain
            attack = registry("attacks").create(cond["attack"]["name"], **cond["attack"]["params"], **cond["threat"])
            attack.threat = threat  # the attack clips to the domain it is run in; the harness still checks
            model, x = tm.attacked(e.partition, threat.domain)
            target = None
            if cond["type"] == "transfer":
                source_cell = TrainCell({**e.train.spec, **cond["source"]})
                source = self._trained_source(source_cell, env)
                if threat.domain == "feature" and source.norm.state() != tm.norm.state():
                    raise SerbenchError(
                        "feature-domain transfer needs source and target behind the same fitted feature "
                        "normalisation; use domain: waveform for this pair"
                    )
                model, target = source.attacked(e.partition, threat.domain)[0], model
            else:
                warnings += tm.masking_checks(e.partition, threat.domain)
            # Measured against the cell's threat model (held here), never the attack's own copy.
            metrics, _ = evaluate_attack(cond["attack"]["name"], attack, model, x, y,
                                         tm.clean_logits(e.partition), labels, target=target, threat=threat)
            if threat.domain == "feature":  # what this eps is in dB per bin, under this model's normalisation
                metrics["eps_units"] = tm.norm.eps_units(threat.eps)
        elif cond["type"] == "worst_case":
            # Every input of the threat model: white-box attacks and transfers (a masked gradient hides from the
            # former, not the latter). An attack is its whole identity (name, version, params): two fgsm with
            # different eta are two inputs; a transfer is its attack and its source.
            attacks = list({canonical_json(a): a for a in cond["attacks"]}.values())
            transfers = list({canonical_json(t): t for t in cond.get("transfers") or ()}.values())
            inputs = [({"type": "attack", "attack": a, "threat": cond["threat"]}, label)
                      for a, label in zip(attacks, attack_labels(attacks))]
            sources = [t["source"] for t in transfers]
            plain = len({canonical_json(s["defense"]) for s in sources}) <= 1 and \
                all(s["defense"]["name"] == "standard" for s in sources)  # the defense is named unless all plain
            source_labels = [m if plain else f"{m}+{d}" for m, d in zip(attack_labels([s["model"] for s in sources]),
                                                                       attack_labels([s["defense"] for s in sources]))]
            inputs += [({"type": "transfer", "source": t["source"], "attack": t["attack"], "threat": cond["threat"]},
                        f"{label}←{source}")
                       for t, label, source in zip(transfers, attack_labels([t["attack"] for t in transfers]),
                                                   source_labels)]
            correct = {}
            for condition, label in inputs:
                if label in correct:  # labels tell identities apart; a clash would merge two inputs silently
                    raise SerbenchError(f"worst case: two inputs share the label {label}; rename one")
                rec = self.store.read(EvalCell(e.train, e.partition, condition).key)
                if not rec or rec["status"] != "ok" or "predictions" not in rec["metrics"]:
                    raise SerbenchError(f"worst case: {condition['type']} {label} at {cond['threat']} has no "
                                        "usable record")
                if rec["metrics"].get("ids", list(part.ids)) != list(part.ids):
                    raise SerbenchError(f"worst case: {condition['type']} {label}'s record scored other utterances "
                                        f"than {e.partition}; rerun it with --force")
                correct[label] = np.asarray(rec["metrics"]["predictions"]) == part.labels.numpy()
            metrics = {"uar": robust_uar(part.labels.numpy(), correct), "wa": robust_accuracy(correct),
                       "n": len(part), "attacks": sorted(correct)}
        else:  # pragma: no cover - the spec reader only produces the types above
            raise SerbenchError(f"unknown condition type {cond['type']!r}")
        metrics["ids"] = list(part.ids)
        metrics["targets"] = part.labels.tolist()  # with "predictions": what paired tests (serbench compare) need
        return {
            "key": e.key, "kind": "eval", "train_key": e.train.key, "status": "ok", "error": None,
            "spec_name": self.spec.name, "train": e.train.spec, "partition": e.partition, "condition": cond,
            "metrics": metrics, "timings": {"eval_s": time.perf_counter() - start}, "warnings": warnings,
            "env": env, "created": _now(),
        }


    def _cross_cell_warnings(self, evals: list[EvalCell]) -> None:
        """Flags that compare cells: success not rising with eps, iterative attacks weaker than FGSM."""
        recs = [r for r in (self.store.read(e.key) for e in evals if e.condition["type"] == "attack")
                if r and r["status"] == "ok"]
        added: dict[str, list[str]] = {}
        series: dict[tuple, list[dict]] = {}
        identities = list({canonical_json(r["condition"]["attack"]): r["condition"]["attack"] for r in recs}.values())
        label = {canonical_json(a): lab for a, lab in zip(identities, attack_labels(identities))}
        for r in recs:
            c = r["condition"]
            t = c["threat"]
            series.setdefault((r["partition"], repr(c["attack"]), t["domain"], t["norm"]), []).append(r)
        for group in series.values():
            norm = group[0]["condition"]["threat"]["norm"]
            # Increasing budget: increasing eps, but decreasing dB for an SNR budget.
            group.sort(key=lambda r: -r["condition"]["threat"]["eps"] if norm == "snr"
                       else r["condition"]["threat"]["eps"])
            w = masking.success_not_rising([r["condition"]["threat"]["eps"] for r in group],
                                           [r["metrics"]["success_rate"] for r in group],
                                           attack=label[canonical_json(group[0]["condition"]["attack"])], norm=norm)
            if w and len(group) > 1:
                for r in group:
                    added.setdefault(r["key"], []).append(w)
        # The single-step reference: FGSM taking its full step (eta unset or >= eps), the strongest if several.
        fgsm: dict[tuple, dict] = {}
        for r in recs:
            a, t = r["condition"]["attack"], r["condition"]["threat"]
            eta = (a.get("params") or {}).get("eta")
            if a["name"] != "fgsm" or not (eta is None or eta >= t["eps"]):
                continue
            k = (r["partition"], t["domain"], t["norm"], t["eps"])
            if k not in fgsm or r["metrics"]["wa"] < fgsm[k]["metrics"]["wa"]:
                fgsm[k] = r
        for r in recs:
            t = r["condition"]["threat"]
            ref = fgsm.get((r["partition"], t["domain"], t["norm"], t["eps"]))
            if ref is None or r["condition"]["attack"]["name"] == "fgsm":  # FGSM variants are no iterative attack
                continue
            w = masking.iterative_weaker_than_single_step(r["metrics"]["wa"], ref["metrics"]["wa"], t["eps"],
                                                          iterative=label[canonical_json(r["condition"]["attack"])])
            if w:
                added.setdefault(r["key"], []).append(w)
        for r in recs:
            new = [w for w in added.get(r["key"], []) if w not in r["warnings"]]
            if new:
                self.store.write({**r, "warnings": r["warnings"] + new})


def _check_logits(model: torch.nn.Module, name: str, x: torch.Tensor, corpus: Corpus, when: str) -> None:
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


def _reason(exc: BaseException, roots: Sequence[str] = ()) -> str:
    """A failure's one-line reason for its record, with the dataset roots cut from paths (records are published)."""
    if isinstance(exc, SerbenchError):
        text = str(exc)
    else:
        if os.environ.get("SERBENCH_DEBUG"):
            traceback.print_exc()
        text = f"{type(exc).__name__}: {exc}".splitlines()[0]
    for root in sorted({str(r).rstrip("/" + os.sep) for r in roots}, key=len, reverse=True):
        if root:
            text = text.replace(root + os.sep, "").replace(root, "<dataset root>")
    return text


def _load_partition(corpus: Corpus, ids: list[str], policy: PadOrCrop | Segments,
                    cache: FeatureCache) -> fold_data.Partition:
    """One partition's waveforms in the policy's length groups, decoded at most once (cached on disk)."""
    labels = torch.tensor([corpus.label_index(corpus[i].label) for i in ids], dtype=torch.long)
    rate = {"waveform": corpus.sample_rate}
    decoded: list[list[np.ndarray]] = []

    def decode() -> list[np.ndarray]:
        if not decoded:
            decoded.append(fold_data.load_waves(corpus, ids)[0])
        return decoded[0]

    # Every utterance's length: it groups them (segments) and says where padding starts (masks).
    lengths = cache.get_or_compute(feature_key(corpus, ids, rate, {"policy": "lengths"}),
                                   lambda: torch.tensor([len(w) for w in decode()])).tolist()
    groups = []
    for index, samples in policy.group_lengths(lengths):
        group_ids = [ids[i] for i in index]

        def compute(index=index, samples=samples) -> torch.Tensor:
            return group_waves(PadOrCrop(samples), [decode()[i] for i in index])[0].waves

        key = feature_key(corpus, group_ids, rate, {"policy": "pad_or_crop", "samples": samples})
        waves = cache.get_or_compute(key, compute)
        groups.append(LengthGroup(torch.tensor(index, dtype=torch.long), waves,
                                  torch.tensor([min(lengths[i], samples) for i in index], dtype=torch.long)))
    return fold_data.Partition(ids, labels, groups)


def _new_normalization(frontend_spec: dict[str, Any]) -> Normalization:
    """The unfitted normalisation a train cell names, at its front end's log floor."""
    params = dict(frontend_spec.get("normalization") or {"name": "minmax"})
    return normalization(params.pop("name"), floor_db=floor_db(frontend_spec["log_floor"]), **params)


def _saved_normalization(state: dict[str, Any], frontend_spec: dict[str, Any]) -> Normalization:
    """A checkpoint's fitted normalisation; it must be the one the cell names (else the checkpoint is stale)."""
    norm = from_state(state)
    wanted = (frontend_spec.get("normalization") or {"name": "minmax"})["name"]
    if norm.name != wanted:
        raise ValueError(f"checkpoint normalisation {norm.name!r} is not the cell's {wanted!r}")
    return norm
