"""The Ray executor: one Ray task per train cell with its eval cells, workers writing to the shared store.

The driver expands the spec (as the local executor does), submits every train
cell that has work left, and reports each as it finishes. A worker re-parses the
spec from the mapping it was read from, so nothing unpicklable crosses the wire,
and runs the local executor's own code for its cell, under the cell's lock, so a
local run and a Ray run (or two Ray runs) on one results directory never train a
model twice. Without ``address`` a local Ray instance is started and stopped.

What keeps N workers at N times one: a worker process serves many tasks of one run
and keeps that run's :class:`LocalRunner` (parsed spec, loaded corpora) between
them, as the local executor keeps one for the whole run; each worker's native
thread pools are sized to its task before it imports anything (``OMP_NUM_THREADS``
and friends in its environment), so workers x threads never exceed the CPUs Ray
reserves; workers run at the driver's CPU priority, not Ray's lowered one; and
every ``SERBENCH_*`` variable of the driver reaches the workers (cache, data roots,
source versions and allocator decide keys and where data is).
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any, Callable

from serbench.bench.cells import TrainCell
from serbench.bench.environment import configure_allocator, set_threads
from serbench.bench.runner import LocalRunner, RunSummary, environment, resolve_device
from serbench.bench.spec import Spec
from serbench.bench.store import Store
from serbench.errors import SerbenchError

# Native thread pools a worker must size to its task before they start (OpenMP: torch's; MKL and OpenBLAS:
# numpy's and scipy's): inherited values (a cluster node's shell often sets OMP_NUM_THREADS to all its
# cores) would oversubscribe every worker.
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
# Read by each Ray worker at start-up: how much lower than the raylet's its CPU priority is.
WORKER_NICENESS = "RAY_worker_niceness"

# In a worker process: the runner of the run it serves now, by (run id, results, device, force, retry_failed).
# One entry at most, so a worker that served an earlier run (same driver, Ray left up) holds nothing of it.
_WORKER_RUNNERS: dict[tuple[Any, ...], tuple[LocalRunner, dict[str, Any]]] = {}
# In the driver: (node id, worker variables) of the local Ray that start_ray started, whose workers inherit them.
_LOCAL_RAY: tuple[str, dict[str, str]] | None = None


def _ray():
    try:
        import ray
    except ImportError:
        raise SerbenchError("--executor ray needs Ray: pip install 'serbench[ray]'") from None
    return ray


def worker_env_vars(threads: int, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment variables every task's worker gets: the driver's ``SERBENCH_*`` and ``PYTHONPATH``,
    ``threads`` for each native thread pool (:data:`THREAD_VARS`), and ``RAY_worker_niceness`` 0 unless the
    driver sets it: Ray's default (15) runs the workers, which do all of a run's compute, behind every other
    process of the host (measured at a load of 8 on 2 cores: each cell 1.42 x slower than run locally, 1.16 x
    at 0)."""
    environ = os.environ if environ is None else environ
    env = {k: v for k, v in environ.items() if k.startswith("SERBENCH_") or k == "PYTHONPATH"}
    env.update({k: str(threads) for k in THREAD_VARS})
    env[WORKER_NICENESS] = environ.get(WORKER_NICENESS, "0")
    return env


def _worker_runner(run_id: str | None, source: dict[str, Any], path: str, results: str, device: str, force: bool,
                   retry_failed: bool) -> tuple[LocalRunner, dict[str, Any]]:
    """This worker's runner for the run ``run_id`` and the environment its records carry, made on the run's first
    task here and kept for its next ones (``run_id`` None: a fresh one, kept by nobody)."""
    key = (run_id, results, device, force, retry_failed)
    if run_id is None or key not in _WORKER_RUNNERS:
        _WORKER_RUNNERS.clear()  # another run's runner: its corpora and spec are not this run's
        runner = LocalRunner(Spec.reparse(source, path), Store(results), device=device, force=force,
                             retry_failed=retry_failed)
        entry = (runner, environment(runner.device))  # once per run, as the local executor does
        if run_id is None:
            return entry
        _WORKER_RUNNERS[key] = entry
    return _WORKER_RUNNERS[key]


def run_train_cell_task(source: dict[str, Any], path: str, tc: TrainCell, results: str,
                        device: str, force: bool, retry_failed: bool, threads: int | None,
                        run_id: str | None = None) -> RunSummary:
    """What one Ray task does (also callable in-process): one train cell and its eval cells.

    Tasks of one run (``run_id``) that land on one worker share its runner: the spec is parsed and each corpus
    listed, fingerprinted and decoded once per worker, not once per cell."""
    set_threads(threads)
    configure_allocator()  # as the command line does at start-up (SERBENCH_MALLOC, forwarded from the driver)
    runner, env = _worker_runner(run_id, source, path, results, device, force, retry_failed)
    try:
        return runner.execute([(tc, runner.spec.eval_cells(tc))], env)
    finally:
        if runner.device.type == "cuda":  # workers sharing a GPU (fractional --gpus-per-task) get its memory back
            import torch

            torch.cuda.empty_cache()


@contextlib.contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` set in this process's environment for the block, then restored."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def start_ray(address: str | None = None, num_cpus: int | None = None, threads: int = 1) -> None:
    """Start a local Ray instance with ``num_cpus`` CPUs, or connect to the cluster at ``address``.

    A local instance is started with :func:`worker_env_vars` in its environment, so the workers it prestarts
    inherit them and serve the run's first tasks at once; a task with a ``runtime_env`` would wait for workers
    of its own (1.4-1.9 s measured here). A cluster's workers get the variables from each task's runtime_env.
    """
    global _LOCAL_RAY
    ray = _ray()
    env = worker_env_vars(threads)
    try:
        if address:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        else:
            with _environ(env):
                ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"at {address}" if address else "locally"
        raise SerbenchError(f"--executor ray: cannot start or reach Ray {where}: {exc}") from None
    _LOCAL_RAY = None if address else (ray.get_runtime_context().get_node_id(), env)


def stop_ray() -> None:
    """Stop the Ray that :func:`start_ray` started (or connected to)."""
    global _LOCAL_RAY
    _LOCAL_RAY = None
    _ray().shutdown()


def _task_runtime_env(ray: Any, threads: int) -> dict[str, Any] | None:
    """The runtime_env each task needs: none when the workers inherited the same variables (a local Ray that
    :func:`start_ray` started, environment unchanged since), else the variables (Ray merges them into the
    job's)."""
    env = worker_env_vars(threads)
    if _LOCAL_RAY is not None and _LOCAL_RAY == (ray.get_runtime_context().get_node_id(), env):
        return None
    return {"env_vars": env}


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
    # Threads per task never exceed the CPUs Ray reserves for it: workers x threads <= CPUs.
    threads = threads_per_task or max(1, int(cpus_per_task))
    # The driver expands the matrix only (for the workers' device type and thread count: both enter CPU keys);
    # training and data decoding happen in the workers.
    planner = LocalRunner(spec, store, device="cpu", force=force, retry_failed=retry_failed, threads=threads,
                          device_type="cuda" if gpus_per_task else "cpu")
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
            start_ray(address, num_cpus, threads)
            started_here = True
        try:
            # On the task, not on ray.init: a Ray that the caller started gets them too.
            runtime_env = _task_runtime_env(ray, threads)
            # Workers are kept between tasks, GPU ones too (max_calls=0, where Ray's default for a function
            # declared with GPUs is one call per worker): the run's runner and the CUDA context survive from
            # one cell to the next.
            remote = ray.remote(max_calls=0)(run_train_cell_task)
            options = dict(num_gpus=gpus_per_task, max_retries=0, **({"runtime_env": runtime_env} if runtime_env
                                                                      else {}))
            worker_device = "cuda" if gpus_per_task else device
            if worker_device != "auto" and worker_device != "cuda":
                resolve_device(worker_device)  # fail fast on a malformed name
            run_id = uuid.uuid4().hex
            refs = {}
            for tc, evals in todo:
                # a spec that pins training.threads above the task's threads reserves as many CPUs for its cells
                n = tc.thread_count or threads
                cell_task = remote.options(num_cpus=max(cpus_per_task, n), **options)
                refs[cell_task.remote(spec.source, spec.path, tc, str(store.root.resolve()), worker_device, force,
                                      retry_failed, n, run_id)] = (tc, evals)
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
                stop_ray()
    summary.seconds = time.perf_counter() - start
    return summary
