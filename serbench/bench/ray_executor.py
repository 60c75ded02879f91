"""The Ray executor: one Ray task per train cell with its eval cells, workers writing to the shared store.

The driver expands the spec (as the local executor does), submits every train
cell that has work left, and reports each as it finishes. A worker re-parses the
spec from the mapping it was read from, so nothing unpicklable crosses the wire,
and runs the local executor's own code for its cell, under the cell's lock, so a
local run and a Ray run (or two Ray runs) on one results directory never train a
model twice. Without ``address`` a local Ray instance is started and stopped.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable

from serbench.bench.cells import TrainCell
from serbench.bench.environment import set_threads
from serbench.bench.runner import LocalRunner, RunSummary, environment, resolve_device
from serbench.bench.spec import Spec
from serbench.bench.store import Store
from serbench.errors import SerbenchError


def _ray():
    try:
        import ray
    except ImportError:
        raise SerbenchError("--executor ray needs Ray: pip install 'serbench[ray]'") from None
    return ray


def run_train_cell_task(source: dict[str, Any], path: str, tc: TrainCell, results: str,
                        device: str, force: bool, retry_failed: bool, threads: int | None) -> RunSummary:
    """What one Ray task does (also callable in-process): one train cell and its eval cells."""
    set_threads(threads)
    spec = Spec.reparse(source, path)
    runner = LocalRunner(spec, Store(results), device=device, force=force, retry_failed=retry_failed)
    return runner.execute([(tc, spec.eval_cells(tc))], environment(runner.device))


def run_with_ray(spec: Spec, store: Store, *, address: str | None = None, device: str = "auto",
                 force: bool = False, retry_failed: bool = False, num_cpus: int | None = None,
                 cpus_per_task: float = 1.0, gpus_per_task: float = 0.0, threads_per_task: int | None = None,
                 progress: Callable[[str, dict[str, Any]], None] | None = None) -> RunSummary:
    """Run ``spec`` on a Ray cluster (``address``) or on a local Ray instance with ``num_cpus`` CPUs."""
    ray = _ray()
    progress = progress or (lambda event, payload: None)
    if gpus_per_task and device == "cpu":
        raise SerbenchError("--gpus-per-task with --device cpu: drop one of them")
    start = time.perf_counter()
    # The driver expands the matrix only; training and data decoding happen in the workers.
    planner = LocalRunner(spec, store, device="cpu", force=force, retry_failed=retry_failed)
    plan = planner.plan()
    progress("start", {"cells": sum(len(evals) for _, evals in plan), "train_cells": len(plan)})
    store.root.mkdir(parents=True, exist_ok=True)
    store.remove_stale_temp_files()
    store.remove_stale_locks()
    summary = RunSummary()
    todo = []
    for tc, evals in plan:
        if planner.needs_work(tc, evals):  # an eval cell, or the train record itself
            todo.append((tc, evals))
        else:
            planner.count_cached(summary, evals, tc)  # failed cached cells count as failed
            progress("cached", {"n": len(evals)})
    started_here = False
    if todo:
        if not ray.is_initialized():
            try:
                ray.init(address=address, num_cpus=None if address else num_cpus, include_dashboard=False,
                         log_to_driver=False, configure_logging=False,
                         runtime_env={"env_vars": {k: v for k, v in os.environ.items()
                                                   if k in ("PYTHONPATH", "SERBENCH_CACHE") or
                                                   k.startswith("SERBENCH_DATA_")}})
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = f"at {address}" if address else "locally"
                raise SerbenchError(f"--executor ray: cannot start or reach Ray {where}: {exc}") from None
            started_here = True
        try:
            task = ray.remote(run_train_cell_task).options(num_cpus=cpus_per_task, num_gpus=gpus_per_task,
                                                           max_retries=0)
            worker_device = "cuda" if gpus_per_task else device
            if worker_device != "auto" and worker_device != "cuda":
                resolve_device(worker_device)  # fail fast on a malformed name
            # Threads per task never exceed the CPUs Ray reserves for it: workers x threads <= CPUs.
            threads = threads_per_task or max(1, int(cpus_per_task))
            refs = {task.remote(spec.source, spec.path, tc, str(store.root.resolve()), worker_device, force,
                                retry_failed, threads): (tc, evals) for tc, evals in todo}
            pending = list(refs)
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                tc, evals = refs[done[0]]
                try:
                    part = ray.get(done[0])
                except Exception as exc:  # a worker that died: its cells are failed, the others go on
                    first = str(exc).splitlines()[0] if str(exc) else ""
                    reason = f"Ray task failed: {type(exc).__name__}: {first}"
                    missing = [e for e in evals if planner.needs(e.key)]
                    env = environment(resolve_device("cpu"))
                    for e in missing:
                        planner.write_failed(e, reason, env)
                    part = RunSummary(failed=[(planner.describe(e), reason) for e in missing])
                summary.add(part)
                progress("train_cell_done", {"n": len(evals), "label": planner.describe_train(evals[0].train),
                                             "failed": len(part.failed)})
        finally:
            if started_here:
                ray.shutdown()
    summary.seconds = time.perf_counter() - start
    return summary
