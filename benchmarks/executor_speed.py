"""Executor speed: one matrix run by the local executor and by the Ray executor on N workers, side by side.

The matrix is N x ``--cells-per-worker`` independent train cells (seeds) of
cnn4.small on the embedded corpus, each with its clean and FGSM eval cells. Each
run starts from an empty results directory; the corpus and its features are
generated once beforehand, so every run measures training and evaluation only.
Runs:

- ``local@1``: the local executor with 1 torch thread (the work one Ray worker does, serially);
- ``local@all``: the local executor with torch's default threads (what a user gets without Ray);
- ``ray@N``: the Ray executor, N workers of 1 CPU and 1 torch thread each;
- ``processes@N``: N plain processes of 1 torch thread (no Ray), the cells split between them: what the
  host gives N independent processes right now, whatever else runs on it, so ``ray@N / processes@N``
  is Ray's own cost even on a loaded host.

Goal: ``local@1 / ray@N`` at least 0.8 x N (independent workers scale). Like for
like: the local runs go after a warm-up cell in this process (imports, first-call
costs, the corpus), and each ``ray@N`` repetition gets a Ray started afresh whose
workers each run one such warm-up cell first (``--cold``: none). Ray's start-up
and the workers' warm-up are timed apart and printed (a long matrix pays them
once per worker; this small one would be dominated by them), with the ratio that
includes the warm-up. With ``--repeats R`` the runs are interleaved R times and
medians reported.

    .venv/bin/python benchmarks/executor_speed.py                 # N = 2, 2 cells per worker
    .venv/bin/python benchmarks/executor_speed.py --workers 4 --iterations 400
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from serbench.bench.ray_executor import run_with_ray, start_ray, stop_ray
from serbench.bench.runner import LocalRunner
from serbench.bench.spec import Spec, parse_spec
from serbench.bench.store import Store


def matrix(cells: int, iterations: int, model: str = "cnn4.small", seconds: float = 2.0) -> dict:
    """``cells`` train cells (seeds) of ``model`` with their clean and FGSM eval cells."""
    return {
        "name": "executor-speed",
        "dataset": {"name": "synthetic", "protocol": "leave-one-session-out", "folds": [0]},
        "frontend": {"preset": "ren2020", "seconds": seconds},
        "training": {"schedule": "ren2020", "iterations": iterations, "eval_every": iterations, "batch_size": 32},
        "models": [model],
        "seeds": list(range(cells)),
        "attacks": [{"name": "fgsm", "eps": [0.005]}],
    }


def warm_spec(spec: dict, cells: int = 1) -> dict:
    """``spec`` cut to ``cells`` one-iteration train cells with their clean cells: what a warm-up runs."""
    warm = {k: v for k, v in spec.items() if k != "attacks"}
    return {**warm, "seeds": list(range(cells)), "training": {**spec["training"], "iterations": 1, "eval_every": 1}}


def warm_cache(tmp: Path, spec: dict) -> Path:
    """Generate the corpus and its cached features of ``spec`` (one 1-iteration cell, which also warms this
    process up) outside the timed runs; returns the cache folder every timed run links to. ``SERBENCH_CACHE``
    must be set (the corpus's audio)."""
    summary = LocalRunner(parse_spec(warm_spec(spec)), Store(tmp / "warm"), device="cpu").run()
    assert summary.ok, summary.failed
    return tmp / "warm" / "cache"


def fresh_store(tmp: Path, name: str, cache: Path) -> Store:
    """An empty results directory ``tmp/name`` sharing the decoded audio and features in ``cache``."""
    store = Store(tmp / name)
    store.root.mkdir()
    os.symlink(cache, store.root / "cache")
    return store


def run_local(spec: Spec, store: Store, threads: int, device: str = "cpu") -> float:
    """Seconds the local executor takes for ``spec`` with ``threads`` torch threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        start = time.perf_counter()
        summary = LocalRunner(spec, store, device=device).run()
        seconds = time.perf_counter() - start
    finally:
        torch.set_num_threads(before)
    assert summary.ok, summary.failed
    return seconds


def run_ray(spec: Spec, store: Store, workers: int, device: str = "cpu",
            warm: tuple[Spec, Store] | None = None) -> dict[str, float]:
    """Seconds of the Ray executor on ``spec`` (``run``) on a local Ray with ``workers`` workers of one CPU and
    one torch thread each, started for this run (``startup``) and stopped after it. With ``warm`` (a spec of
    ``workers`` one-iteration cells and its store) every worker first runs one of those cells (``warmup``):
    process start, imports and first-call costs, which the local runs paid in their warm-up too."""
    start = time.perf_counter()
    start_ray(num_cpus=workers, threads=1)
    out = {"startup": time.perf_counter() - start}
    try:
        gpus = 1.0 / workers if device.startswith("cuda") else 0.0
        if warm is not None:
            start = time.perf_counter()
            summary = run_with_ray(warm[0], warm[1], device=device, cpus_per_task=1, gpus_per_task=gpus,
                                   threads_per_task=1)
            out["warmup"] = time.perf_counter() - start
            assert summary.ok, summary.failed
        start = time.perf_counter()
        summary = run_with_ray(spec, store, device=device, cpus_per_task=1, gpus_per_task=gpus, threads_per_task=1)
        out["run"] = time.perf_counter() - start
    finally:
        stop_ray()
    assert summary.ok, summary.failed
    return out


def _process_share(spec_data: dict, seeds: list[int], root: str, warm_root: str, cache: str, device: str,
                   barrier: Any, results: Any) -> None:
    """One plain process of :func:`run_processes`: warm up as local@1 did, wait for the others, run ``seeds``."""
    torch.set_num_threads(1)
    warm = Store(warm_root)
    warm.root.mkdir()
    os.symlink(cache, warm.root / "cache")
    LocalRunner(parse_spec(warm_spec(spec_data)), warm, device=device).run()
    barrier.wait()
    summary = LocalRunner(parse_spec({**spec_data, "seeds": seeds}), Store(root), device=device).run()
    results.put(summary.ok)


def run_processes(spec_data: dict, store: Store, tmp: Path, workers: int, device: str = "cpu") -> float:
    """Seconds ``workers`` plain processes (no Ray) of one torch thread take for the cells of ``spec_data``, split
    by seed, each warmed up first: what this host gives ``workers`` independent processes now, whatever else
    runs on it (the ceiling for ``ray@N``)."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(workers + 1), ctx.Queue()
    seeds = spec_data["seeds"]
    procs = [ctx.Process(target=_process_share, args=(spec_data, seeds[i::workers], str(store.root),
                                                      str(tmp / f"{store.root.name}-warm{i}"),
                                                      str(store.root / "cache"), device, barrier, results))
             for i in range(workers)]
    for p in procs:
        p.start()
    barrier.wait()
    start = time.perf_counter()
    ok = [results.get() for _ in procs]
    seconds = time.perf_counter() - start
    for p in procs:
        p.join()
    assert all(ok), "a process's cells failed"
    return seconds


def busy_seconds(store: Store) -> float:
    """The cells' own seconds (train + eval timings from their records)."""
    total = 0.0
    for rec in store.records():
        t = rec.get("timings") or {}
        total += float(t.get("seconds", 0.0) if rec["kind"] == "train" else t.get("eval_s", 0.0))
    return total


def measure(tmp: Path, spec_data: dict, workers: int, repeats: int = 1, local_all: bool = True,
            device: str = "cpu", warm_workers: bool = True, processes: bool = True) -> dict[str, list[float]]:
    """Seconds per run, interleaved ``repeats`` times: ``local@1``, (``local@all``), ``ray@N``, (``processes@N``:
    N plain processes, :func:`run_processes`); plus ``startup`` (Ray's), ``warmup`` (the workers' warm-up cells,
    with ``warm_workers``) and ``busy:<run>`` (the cells' own seconds). ``SERBENCH_CACHE`` must be set."""
    cache = warm_cache(tmp, spec_data)
    spec = parse_spec(spec_data)
    warm = parse_spec(warm_spec(spec_data, workers))
    ray_name = f"ray@{workers}"
    out: dict[str, list[float]] = {}
    runs = [("local@1", 1)] + ([("local@all", torch.get_num_threads())] if local_all else []) + [(ray_name, 0)]
    runs += [(f"processes@{workers}", 1)] if processes else []
    for rep in range(repeats):
        for name, threads in runs:
            store = fresh_store(tmp, f"{name}-{rep}", cache)
            if name == ray_name:
                times = run_ray(spec, store, workers, device,
                                (warm, fresh_store(tmp, f"warm-{name}-{rep}", cache)) if warm_workers else None)
                seconds = times.pop("run")
                for k, v in times.items():
                    out.setdefault(k, []).append(v)
            elif name.startswith("processes@"):
                seconds = run_processes(spec_data, store, tmp, workers, device)
            else:
                seconds = run_local(spec, store, threads, device)
            out.setdefault(name, []).append(seconds)
            out.setdefault(f"busy:{name}", []).append(busy_seconds(store))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cells-per-worker", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=1, help="interleaved repetitions (medians reported)")
    ap.add_argument("--no-local-all", action="store_true", help="skip local@all (slow on a loaded host)")
    ap.add_argument("--no-processes", action="store_true", help="skip processes@N (N plain processes)")
    ap.add_argument("--cold", action="store_true", help="no warm-up cell on each Ray worker: process start, "
                    "imports and first-call costs fall inside ray@N (the local runs' warm-up is outside theirs)")
    args = ap.parse_args()
    os.environ.setdefault("SERBENCH_CACHE", tempfile.mkdtemp(prefix="serbench-cache-"))
    n = args.workers
    default_threads = torch.get_num_threads()
    print(f"load average before: {os.getloadavg()[0]:.2f} (ratios mean little above ~0.5 on a small host)")
    with tempfile.TemporaryDirectory() as tmp:
        runs = measure(Path(tmp), matrix(n * args.cells_per_worker, args.iterations), n, args.repeats,
                       local_all=not args.no_local_all, warm_workers=not args.cold, processes=not args.no_processes)
    med = {k: statistics.median(v) for k, v in runs.items()}
    ray_t, startup = med[f"ray@{n}"], med["startup"]
    print(f"matrix: {n * args.cells_per_worker} train cells x (clean + FGSM), cnn4.small, {args.iterations} "
          f"iterations, {os.cpu_count()} CPUs, torch default threads {default_threads}, median of {args.repeats}")
    for name in ("local@1", "local@all", f"ray@{n}", f"processes@{n}"):
        if name in med:
            print(f"  {name:>10}: {med[name]:7.1f} s")
    print(f"  Ray start-up: {startup:.1f} s (not in ray@{n})")
    if "warmup" in med:
        print(f"  worker warm-up (one 1-iteration cell each, as local@1 had): {med['warmup']:.1f} s (not in ray@{n}; "
              f"with it local@1 / ray@{n} = {med['local@1'] / (ray_t + med['warmup']):.2f})")
    print(f"speed-up local@1 / ray@{n}:   {med['local@1'] / ray_t:.2f}  "
          f"(goal >= {0.8 * n:.1f}); with start-up {med['local@1'] / (ray_t + startup):.2f}")
    if "local@all" in med:
        print(f"speed-up local@all / ray@{n}: {med['local@all'] / ray_t:.2f}")
    if f"processes@{n}" in med:
        print(f"the host's ceiling now, local@1 / processes@{n}: {med['local@1'] / med[f'processes@{n}']:.2f}; "
              f"Ray's cost over {n} plain processes, ray@{n} / processes@{n}: {ray_t / med[f'processes@{n}']:.2f}")
    # Where the time goes: the cells' own train + eval seconds (from their records), per run.
    busy = {k.split(":", 1)[1]: v for k, v in med.items() if k.startswith("busy:")}
    print("cell seconds (sum of train + eval timings): " + ", ".join(f"{k} {v:.1f}" for k, v in busy.items()))
    print(f"  per-cell slowdown on ray@{n} vs local@1: {busy[f'ray@{n}'] / busy['local@1']:.2f} "
          f"(>1: workers slow each other down: shared cores, caches, Ray's own processes)")
    print(f"  ray@{n} wall beyond its cells' own time: {ray_t - busy[f'ray@{n}'] / n:.1f} s "
          f"(scheduling, worker start, imports, data loading)")


if __name__ == "__main__":
    main()
