"""The local executor: schedules train cells and their eval cells, in-process, and writes their records.

A rerun computes only missing cells (``force`` recomputes all, ``retry_failed``
also retries failed ones). Checkpoints are cached by train key, so eval cells
added later reuse the trained model. Scheduling is all this module does: a
model comes from :class:`serbench.bench.training.ModelBuilder`, a cell's
metrics from :mod:`serbench.bench.evaluators`, records from
:mod:`serbench.bench.records`. The Ray executor and the dry run use the
public methods here (:meth:`LocalRunner.needs`, :meth:`LocalRunner.describe`, ...).
"""

from __future__ import annotations

import os
import time
import traceback
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from serbench.bench import records
from serbench.bench.cells import EvalCell, TrainCell
from serbench.bench.cross_cell import cross_cell_warnings
from serbench.bench.environment import available_cpus, cpu_kernels_key, environment, resolve_device
from serbench.bench.evaluators import EvalContext, evaluate
from serbench.bench.spec import Spec
from serbench.bench.store import Store
from serbench.bench.training import ModelBuilder, TrainedModel
from serbench.data.corpus import Corpus
from serbench.errors import DataError, SerbenchError

__all__ = ["LocalRunner", "RunSummary", "environment", "resolve_device"]


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


class LocalRunner:
    """Runs a spec in-process. ``progress`` receives (event, payload) for the CLI's bars."""

    def __init__(self, spec: Spec, store: Store, device: str = "auto", force: bool = False,
                 retry_failed: bool = False, progress: Callable[[str, dict[str, Any]], None] | None = None,
                 threads: int | None = None, device_type: str | None = None, save_examples: int = 0) -> None:
        """``threads``: the CPU threads cells with ``training.threads: auto`` plan and run with (default: the CPUs
        this process may use, as ``serbench run`` without ``--threads``). ``device_type``: the device type cells
        are planned for when it is not this process's (a Ray driver planning for GPU workers)."""
        self.spec, self.store, self.device = spec, store, resolve_device(device)
        self.threads, self.device_type = threads, device_type or self.device.type
        self.force, self.retry_failed = force, retry_failed
        self.save_examples = save_examples  # clean/changed audio pairs kept per computed eval cell (--save-examples)
        self.progress = progress or (lambda event, payload: None)
        self._corpora: dict[str, Corpus] = {}
        self._trained_models: dict[str, TrainedModel] = {}
        self.builder = ModelBuilder(store, self.device, spec.name, force=force, progress=self.progress)

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
        # on this runner's device type: it resolves training.memory_format: auto (serbench.engine.layout),
        # the CPU kernels it runs with (SERBENCH_CPU_KERNELS; serbench.bench.environment.cpu_kernels_key)
        # and the thread count of training.threads: auto
        kernels = cpu_kernels_key(self.device_type)
        threads = None
        if self.device_type == "cpu":
            threads = self.threads or available_cpus()  # what `serbench run` uses without --threads
        return [replace(tc, device=self.device_type, cpu_kernels=kernels, threads=threads)
                for tc in self.spec.train_cells(counts, fingerprints)]

    def _run_as_planned(self, tc: TrainCell) -> None:
        """Run ``tc`` on the device type and with the thread count its key names (a cell planned elsewhere, e.g.
        by a Ray driver, must not be computed another way under the same key)."""
        if tc.device is not None and tc.device != self.device.type:
            raise SerbenchError(f"this cell was planned for {tc.device} and would run on {self.device.type}: "
                                f"run with --device {tc.device}")
        if tc.thread_count is not None:
            import torch

            torch.set_num_threads(tc.thread_count)

    def needs(self, key: str) -> bool:
        """Whether the cell of ``key`` is to be computed: missing or invalid, failed with ``retry_failed``, or
        any with ``force``."""
        if self.force:
            return True
        status = self.store.status(key)
        return status is None or (status == "failed" and self.retry_failed)

    def needs_work(self, tc: TrainCell, evals: list[EvalCell]) -> bool:
        """Whether a run has anything to do for ``tc``: an eval cell to compute, or its own train record to
        write (missing or invalid: restored from the checkpoint, else trained again; failed: with
        ``retry_failed``). The local executor and the Ray driver ask this; the dry run shows the same states."""
        return self.needs(tc.key) or any(self.needs(e.key) for e in evals)

    def _corpus_for(self, cell: TrainCell) -> Corpus:
        """The loaded corpus of ``cell``; its data must still be what the cell's key names."""
        corpus = self.corpus(cell.data.axis)
        planned, found = cell.data.fingerprint, corpus.fingerprint()
        if planned != found:
            raise DataError(
                f"dataset {cell.data.dataset.requested!r}: its files changed since the cells were planned (data "
                f"fingerprint {found}, planned {planned}), or this worker reads another copy; run again to plan "
                "cells for the data as it is now")
        return corpus

    # -- the run ------------------------------------------------------------------
    def plan(self) -> list[tuple[TrainCell, list[EvalCell]]]:
        """Every train cell with its eval cells, in spec order (``exclude`` applied)."""
        return [(tc, self.spec.eval_cells(tc)) for tc in self.train_cells()]

    def run(self) -> RunSummary:
        start = time.perf_counter()
        plan = self.plan()
        self.progress("start", {"cells": sum(len(evals) for _, evals in plan), "train_cells": len(plan)})
        self.store.remove_stale_temp_files()
        self.store.remove_stale_locks()
        summary = self.execute(plan, environment(self.device))
        summary.seconds = time.perf_counter() - start
        return summary

    def execute(self, plan: list[tuple[TrainCell, list[EvalCell]]], env: dict[str, Any],
                poll_s: float = 0.5) -> RunSummary:
        """Run ``plan`` holding each train cell's lock; a cell another run holds is retried after the rest.
        Each cell runs at its own thread count; the process's count is restored afterwards."""
        import torch

        before = torch.get_num_threads()
        try:
            return self._execute(plan, env, poll_s)
        finally:
            torch.set_num_threads(before)

    def _execute(self, plan: list[tuple[TrainCell, list[EvalCell]]], env: dict[str, Any],
                 poll_s: float) -> RunSummary:
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
        todo = [e for e in evals if self.needs(e.key)]
        keys = {e.key for e in todo}
        self.count_cached(summary, [e for e in evals if e.key not in keys])
        record = self.needs(tc.key)
        if not todo and not record:
            return summary
        if tc.thread_count is not None:  # the record says what the cell ran with
            env = {**env, "threads": tc.thread_count}
        try:
            self._run_as_planned(tc)
            trained = self._trained(tc, env, record=record)
        except Exception as exc:  # recorded per cell; the run goes on with other cells
            reason = _reason(exc, self._data_roots())
            self.write_failed_train(tc, reason, env)
            if not todo:  # only the train record was missing: the failure is the train cell's
                summary.failed.append((self.describe_train(tc), reason))
            for e in todo:
                self.write_failed(e, reason, env)
                summary.failed.append((self.describe(e), reason))
                self.progress("cell", {"label": self.describe(e), "status": "failed"})
            return summary
        ctx = EvalContext(trained, self.store, lambda source: self._trained_source(source, env), self.save_examples)
        for e in todo:
            try:
                rec = evaluate(e, ctx, self.spec.name, env)
                self.store.write(rec)
                summary.computed += 1
                self.progress("cell", {"label": self.describe(e), "status": "ok", "uar": rec["metrics"]["uar"]})
            except Exception as exc:
                reason = _reason(exc, self._data_roots())
                self.write_failed(e, reason, env)
                summary.failed.append((self.describe(e), reason))
                self.progress("cell", {"label": self.describe(e), "status": "failed"})
        cross_cell_warnings(self.store, evals)
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
            if records.is_failed(rec):
                summary.failed_cached.append((self.describe(e), records.error_of(rec)))
        if tc is not None and len(summary.failed_cached) == before:
            rec = self.store.read(tc.key)
            if records.is_failed(rec):
                summary.failed_cached.append((self.describe_train(tc), records.error_of(rec)))
        self.progress("cached", {"n": len(evals)})

    def _data_roots(self) -> list[str]:
        """Where the loaded corpora live: stripped from failure reasons, which are published."""
        return [str(root) for c in self._corpora.values() if (root := c.root)]

    def describe(self, e: EvalCell) -> str:
        """``<train cell>: <condition>``, the line progress and failures show."""
        return f"{self.describe_train(e.train)}: {e.label}"

    def describe_train(self, tc: TrainCell) -> str:
        """``corpus/fold f model + defense seed s``."""
        return (f"{tc.data.dataset.requested}/fold {tc.data.fold} {tc.model.requested} + {tc.defense.requested} "
                f"seed {tc.seed}")

    def write_failed(self, e: EvalCell, reason: str, env: dict[str, Any]) -> None:
        """Record that ``e`` failed for ``reason`` (one line)."""
        self.store.write(records.failed_eval_record(e, self.spec.name, env, reason))

    def write_failed_train(self, tc: TrainCell, reason: str, env: dict[str, Any]) -> None:
        """Record a failed training, so a rerun leaves it (and its failed eval cells) to ``--retry-failed``;
        an ok train record stays: it describes the model that is saved and evaluated."""
        if self.store.status(tc.key) == "ok":
            return
        self.store.write(records.failed_train_record(tc, self.spec.name, env, reason))

    def _trained(self, tc: TrainCell, env: dict[str, Any], record: bool = False) -> TrainedModel:
        """The model of ``tc``, trained or loaded once per train cell. ``record``: its train record is missing
        or invalid, and the caller holds the cell's lock: write it (from the checkpoint, else by training)."""
        if tc.key not in self._trained_models or record:
            self._trained_models[tc.key] = self.builder.build(tc, self._corpus_for(tc), env, record)
        return self._trained_models[tc.key]

    def _trained_source(self, tc: TrainCell, env: dict[str, Any], poll_s: float = 0.5) -> TrainedModel:
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
