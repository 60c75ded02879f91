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
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

import serbench
from serbench.bench.cells import EvalCell, TrainCell
from serbench.bench.spec import Spec
from serbench.bench.store import Store
from serbench.data.corpus import Corpus
from serbench.data.feature_cache import FeatureCache, feature_key
from serbench.defenses.base import Defense
from serbench.engine import data as fold_data
from serbench.attacks import masking
from serbench.attacks.base import input_gradient
from serbench.attacks.ensemble import robust_accuracy, robust_uar
from serbench.engine.evaluate import evaluate_attack, evaluate_predictions, predict
from serbench.engine.schedules import Schedule
from serbench.engine.train import train
from serbench.errors import SerbenchError
from serbench.features import FeaturePipeline, FrontendConfig, LogMel, MinMaxScaler
from serbench.noises.base import mix_at_snr
from serbench.registry import REGISTRIES, registry


@dataclass
class RunSummary:
    computed: int = 0
    cached: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (cell label, reason)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


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
    }


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


class _TrainedModel:
    """A trained model with the front end and scaler it was trained behind, plus the fold's test data."""

    def __init__(self, corpus: Corpus, model: torch.nn.Module, frontend: LogMel, scaler: MinMaxScaler,
                 partitions: dict[str, fold_data.Partition], device: torch.device,
                 raw_features: Callable[[str], torch.Tensor]) -> None:
        self.corpus, self.model, self.frontend, self.scaler = corpus, model, frontend, scaler
        self.raw_features = raw_features
        self.partitions, self.device = partitions, device
        self.pipeline = FeaturePipeline(frontend, scaler, model).to(device).eval()
        self._features: dict[str, torch.Tensor] = {}
        self._clean_logits: dict[str, torch.Tensor] = {}
        self._checks: dict[tuple[str, str], list[str]] = {}

    def attacked(self, part: str, domain: str) -> tuple[torch.nn.Module, torch.Tensor]:
        """The model an attack in ``domain`` sees, and the inputs in that domain."""
        if domain == "feature":
            return self.model, self.features(part)
        return self.pipeline, self.partitions[part].waves.to(self.device)

    def masking_checks(self, part: str, domain: str) -> list[str]:
        """AutoAttack-style sanity checks of the model itself, once per partition and domain."""
        if (part, domain) not in self._checks:
            model, x = self.attacked(part, domain)
            x, y = x[:64], self.partitions[part].labels[:64].to(self.device)
            found = [masking.zero_gradients(input_gradient(model, x, y)),
                     masking.nondeterministic_forward(model, x)]
            self._checks[(part, domain)] = [w for w in found if w]
        return self._checks[(part, domain)]

    def features(self, part: str) -> torch.Tensor:
        if part not in self._features:
            self._features[part] = self.scaler(self.raw_features(part))
        return self._features[part]

    def clean_logits(self, part: str) -> torch.Tensor:
        if part not in self._clean_logits:
            self._clean_logits[part] = predict(self.model, self.features(part))
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
        counts = {i: len(self.corpus(i).folds(d.protocol)) for i, d in enumerate(self.spec.datasets)
                  if d.folds is None}
        return self.spec.train_cells(counts)

    def _needs(self, key: str) -> bool:
        if self.force:
            return True
        status = self.store.status(key)
        return status is None or (status == "failed" and self.retry_failed)

    def _corpus_for(self, cell: TrainCell) -> Corpus:
        ident = {k: v for k, v in cell.spec["dataset"].items() if k not in ("protocol", "fold")}
        for i, d in enumerate(self.spec.datasets):
            if d.resolved.identity() == ident:
                return self.corpus(i)
        raise AssertionError("train cell names a dataset the spec does not have")

    # -- the run ------------------------------------------------------------------
    def run(self) -> RunSummary:
        summary = RunSummary()
        start = time.perf_counter()
        cells = self.train_cells()
        plan = [(tc, self.spec.eval_cells(tc)) for tc in cells]
        total = sum(len(evals) for _, evals in plan)
        self.progress("start", {"cells": total, "train_cells": len(plan)})
        env = environment(self.device)
        for tc, evals in plan:
            todo = [e for e in evals if self._needs(e.key)]
            summary.cached += len(evals) - len(todo)
            self.progress("cached", {"n": len(evals) - len(todo)})
            if not todo:
                continue
            try:
                trained = self._trained(tc, env)
            except Exception as exc:  # recorded per cell; the run goes on with other cells
                reason = _reason(exc)
                for e in todo:
                    self._write_failed(e, reason, env)
                    summary.failed.append((self._describe(e), reason))
                    self.progress("cell", {"label": self._describe(e), "status": "failed"})
                continue
            for e in todo:
                try:
                    rec = self._evaluate(e, trained, env)
                    self.store.write(rec)
                    summary.computed += 1
                    self.progress("cell", {"label": self._describe(e), "status": "ok",
                                           "uar": rec["metrics"]["uar"]})
                except Exception as exc:
                    reason = _reason(exc)
                    self._write_failed(e, reason, env)
                    summary.failed.append((self._describe(e), reason))
                    self.progress("cell", {"label": self._describe(e), "status": "failed"})
            self._cross_cell_warnings(evals)
            self._trained_models.clear()  # keep memory flat across a long matrix
        summary.seconds = time.perf_counter() - start
        return summary

    def _describe(self, e: EvalCell) -> str:
        t = e.train.spec
        return (f"{t['dataset']['name']}/fold {t['dataset']['fold']} {t['model']['name']} + "
                f"{t['defense']['name']} seed {t['seed']}: {e.label}")

    def _write_failed(self, e: EvalCell, reason: str, env: dict[str, Any]) -> None:
        self.store.write({
            "key": e.key, "kind": "eval", "train_key": e.train.key, "status": "failed", "error": reason,
            "spec_name": self.spec.name, "train": e.train.spec, "partition": e.partition,
            "condition": e.condition, "metrics": {}, "timings": {}, "warnings": [], "env": env,
            "created": _now(),
        })

    def _trained(self, tc: TrainCell, env: dict[str, Any]) -> _TrainedModel:
        if tc.key not in self._trained_models:
            self._trained_models[tc.key] = self._train_or_load(tc, env)
        return self._trained_models[tc.key]

    def _train_or_load(self, tc: TrainCell, env: dict[str, Any]) -> _TrainedModel:
        spec = tc.spec
        corpus = self._corpus_for(tc)
        fold = corpus.fold(spec["dataset"]["protocol"], spec["dataset"]["fold"])
        fe = {k: v for k, v in spec["frontend"].items() if k != "seconds"}
        frontend = LogMel(FrontendConfig(**fe))
        if frontend.config.sample_rate != corpus.sample_rate:
            raise SerbenchError(
                f"front end expects {frontend.config.sample_rate} Hz but corpus {corpus.name!r} delivers "
                f"{corpus.sample_rate} Hz; set the dataset's sample_rate param"
            )
        num_samples = int(round(spec["frontend"]["seconds"] * corpus.sample_rate))
        self.progress("prepare", {"label": f"{corpus.name} fold {fold.name}"})
        # Decoded, resampled, padded waveforms and their log-Mel features are cached on disk by corpus
        # content, utterance ids, front end and length policy, so a matrix decodes every file once.
        cache = FeatureCache(self.store.root / "cache")
        length = {"policy": "pad_or_crop", "samples": num_samples}
        partitions = {}
        for part in ("train", "valid", "test"):
            ids = list(fold.partition(part))
            labels = torch.tensor([corpus.label_index(corpus[i].label) for i in ids], dtype=torch.long)
            waves = cache.get_or_compute(
                feature_key(corpus, ids, {"waveform": corpus.sample_rate}, length),
                lambda ids=ids: fold_data.stack(ids, *fold_data.load_waves(corpus, ids), num_samples).waves)
            partitions[part] = fold_data.Partition(ids, waves, labels)

        def raw_features(part: str) -> torch.Tensor:
            key = feature_key(corpus, partitions[part].ids, frontend.config.as_dict(), length)
            compute = lambda: fold_data.compute_features(frontend, partitions[part].waves, self.device).cpu()  # noqa: E731
            return cache.get_or_compute(key, compute).to(self.device)

        seed_everything(spec["seed"])
        model = registry("models").create(spec["model"]["name"], num_classes=len(corpus.labels),
                                          **{k: v for k, v in spec["model"]["params"].items()
                                             if k != "num_classes"}).to(self.device)
        cached = None if self.force else self.store.load_checkpoint(tc.key)
        if cached is not None:
            model.load_state_dict(cached["model"])
            scaler = MinMaxScaler(cached["scaler"]["low"], cached["scaler"]["high"])
            self.progress("train_cached", {"key": tc.key})
        else:
            scaler = fold_data.fit_scaler(raw_features("train"))
            defense = registry("defenses").create(spec["defense"]["name"], **spec["defense"]["params"])
            if type(defense).expand_training_set is Defense.expand_training_set:
                train_part, x_train = partitions["train"], scaler(raw_features("train"))
            else:  # waveform augmentations work on the decoded, unpadded audio
                rng = np.random.default_rng(spec["seed"])
                train_waves, train_labels = fold_data.load_waves(corpus, fold.train)
                train_waves, train_labels = defense.expand_training_set(train_waves, train_labels,
                                                                         corpus.sample_rate, rng)
                train_part = fold_data.stack([f"aug{i}" for i in range(len(train_waves))], train_waves,
                                             train_labels, num_samples)
                x_train = scaler(fold_data.compute_features(frontend, train_part.waves, self.device))
            x_valid = scaler(raw_features("valid"))
            sched = Schedule(**spec["training"])
            label = f"train {spec['model']['name']} + {spec['defense']['name']} (fold {fold.name}, seed {spec['seed']})"
            self.progress("train_start", {"label": label, "total": 0})
            result = train(
                model, defense, x_train, train_part.labels.to(self.device), x_valid,
                partitions["valid"].labels.to(self.device), sched, spec["seed"], len(corpus.labels),
                progress=lambda it, tot, info: self.progress("train_step", {"it": it, "total": tot, **info}),
            )
            self.progress("train_end", {"label": label})
            self.store.save_checkpoint(tc.key, {"model": result.state_dict, "scaler": scaler.state()})
            self.store.write({
                "key": tc.key, "kind": "train", "status": "ok", "error": None, "spec_name": self.spec.name,
                "train": spec, "fold_name": fold.name, "metrics": {"best_valid_uar": result.best_valid_uar},
                "timings": {**result.summary(), "adversarial_batches": getattr(defense, "adversarial_batches", None)},
                "history": result.history, "warnings": [], "env": env,
                "created": _now(),
                "data": {part: len(p) for part, p in partitions.items()} | {"train_expanded": len(train_part)},
            })
        model.eval()
        return _TrainedModel(corpus, model, frontend, scaler.to(self.device), partitions, self.device, raw_features)

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
            n_samples = part.waves.shape[1]
            noise_waves = torch.from_numpy(np.stack([
                np.asarray(noise.sample(n_samples, tm.corpus.sample_rate, rng), dtype=np.float32)
                for _ in range(len(part))]))
            noisy = mix_at_snr(part.waves, noise_waves, cond["snr_db"])
            x = tm.scaler(fold_data.compute_features(tm.frontend, noisy, self.device))
            metrics = evaluate_predictions(y, predict(tm.model, x), labels)
        elif cond["type"] in ("attack", "transfer"):
            threat = cond["threat"]
            attack = registry("attacks").create(cond["attack"]["name"], **cond["attack"]["params"], **threat)
            model, x = tm.attacked(e.partition, threat["domain"])
            target = None
            if cond["type"] == "transfer":
                source_cell = TrainCell({**e.train.spec, **cond["source"]})
                source = self._trained(source_cell, env)
                if threat["domain"] == "feature" and source.scaler.state() != tm.scaler.state():
                    raise SerbenchError(
                        "feature-domain transfer needs source and target behind the same feature scaler; "
                        "use domain: waveform for this pair"
                    )
                model, target = source.attacked(e.partition, threat["domain"])[0], model
            else:
                warnings += tm.masking_checks(e.partition, threat["domain"])
            metrics, _ = evaluate_attack(cond["attack"]["name"], attack, model, x, y,
                                         tm.clean_logits(e.partition), labels, target=target)
        elif cond["type"] == "worst_case":
            correct = {}
            for a in cond["attacks"]:
                key = EvalCell(e.train, e.partition, {"type": "attack", "attack": a, "threat": cond["threat"]}).key
                rec = self.store.read(key)
                if not rec or rec["status"] != "ok" or "predictions" not in rec["metrics"]:
                    raise SerbenchError(f"worst case: attack {a['name']!r} at {cond['threat']} has no usable record")
                correct[a["name"]] = np.asarray(rec["metrics"]["predictions"]) == part.labels.numpy()
            metrics = {"uar": robust_uar(part.labels.numpy(), correct), "wa": robust_accuracy(correct),
                       "n": len(part), "attacks": sorted(correct)}
        else:  # pragma: no cover - the spec reader only produces the types above
            raise SerbenchError(f"unknown condition type {cond['type']!r}")
        metrics["ids"] = list(part.ids)
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
        for r in recs:
            c = r["condition"]
            t = c["threat"]
            series.setdefault((r["partition"], repr(c["attack"]), t["domain"], t["norm"]), []).append(r)
        for group in series.values():
            group.sort(key=lambda r: r["condition"]["threat"]["eps"])
            name = group[0]["condition"]["attack"]["name"]
            w = masking.success_not_rising([r["condition"]["threat"]["eps"] for r in group],
                                           [r["metrics"]["success_rate"] for r in group], attack=name)
            if w and len(group) > 1:
                for r in group:
                    added.setdefault(r["key"], []).append(w)
        fgsm = {(r["partition"], r["condition"]["threat"]["domain"], r["condition"]["threat"]["norm"],
                 r["condition"]["threat"]["eps"]): r for r in recs if r["condition"]["attack"]["name"] == "fgsm"}
        for r in recs:
            t = r["condition"]["threat"]
            ref = fgsm.get((r["partition"], t["domain"], t["norm"], t["eps"]))
            if ref is None or r is ref:
                continue
            w = masking.iterative_weaker_than_single_step(r["metrics"]["wa"], ref["metrics"]["wa"], t["eps"],
                                                          iterative=r["condition"]["attack"]["name"])
            if w:
                added.setdefault(r["key"], []).append(w)
        for r in recs:
            new = [w for w in added.get(r["key"], []) if w not in r["warnings"]]
            if new:
                self.store.write({**r, "warnings": r["warnings"] + new})


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SerbenchError):
        return str(exc)
    if os.environ.get("SERBENCH_DEBUG"):
        traceback.print_exc()
    return f"{type(exc).__name__}: {exc}".splitlines()[0]
