"""Executor speed: one matrix run by the local executor and by the Ray executor on N workers, side by side.

The matrix is N x ``--cells-per-worker`` independent train cells (seeds) of
cnn4.small on the embedded corpus, each with its clean and FGSM eval cells. Each
run starts from an empty results directory; the corpus and its features are
generated once beforehand, so every run measures training and evaluation only.
Runs:

- ``local@1``: the local executor with 1 torch thread (the work one Ray worker does, serially);
- ``local@all``: the local executor with torch's default threads (what a user gets without Ray);
- ``ray@N``: the Ray executor, N workers of 1 CPU and 1 torch thread each.

Goal: ``local@1 / ray@N`` at least 0.8 x N (independent workers scale). Ray's own
start-up is timed apart (a cluster is normally up already) and printed.

    .venv/bin/python benchmarks/executor_speed.py                 # N = 2, 2 cells per worker
    .venv/bin/python benchmarks/executor_speed.py --workers 4 --iterations 400
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from serbench.bench.ray_executor import run_with_ray
from serbench.bench.runner import LocalRunner
from serbench.bench.spec import parse_spec
from serbench.bench.store import Store


def matrix(cells: int, iterations: int) -> dict:
    return {
        "name": "executor-speed",
        "dataset": {"name": "synthetic", "protocol": "leave-one-session-out", "folds": [0]},
        "frontend": {"preset": "ren2020", "seconds": 2.0},
        "training": {"schedule": "ren2020", "iterations": iterations, "eval_every": iterations, "batch_size": 32},
        "models": ["cnn4.small"],
        "seeds": list(range(cells)),
        "attacks": [{"name": "fgsm", "eps": [0.005]}],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cells-per-worker", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=200)
    args = ap.parse_args()
    spec = parse_spec(matrix(args.workers * args.cells_per_worker, args.iterations))
    os.environ.setdefault("SERBENCH_CACHE", tempfile.mkdtemp(prefix="serbench-cache-"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # Warm-up: generate the corpus and its cached features outside the timed runs.
        warm = parse_spec({k: v for k, v in matrix(1, 1).items() if k != "attacks"})
        LocalRunner(warm, Store(tmp / "warm"), device="cpu").run()
        cache = tmp / "warm" / "cache"
        times: dict[str, float] = {}
        default_threads = torch.get_num_threads()
        for name, threads in (("local@1", 1), ("local@all", default_threads)):
            torch.set_num_threads(threads)
            store = Store(tmp / name)
            store.root.mkdir()
            os.symlink(cache, store.root / "cache")  # same decoded audio and features for every run
            start = time.perf_counter()
            summary = LocalRunner(spec, store, device="cpu").run()
            times[name] = time.perf_counter() - start
            assert summary.ok, summary.failed
        torch.set_num_threads(default_threads)
        import ray

        start = time.perf_counter()  # a cluster is normally up already: its start-up is timed apart
        ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
        startup = time.perf_counter() - start
        store = Store(tmp / f"ray@{args.workers}")
        store.root.mkdir()
        os.symlink(cache, store.root / "cache")
        start = time.perf_counter()
        summary = run_with_ray(spec, store, device="cpu", cpus_per_task=1, threads_per_task=1)
        times[f"ray@{args.workers}"] = time.perf_counter() - start
        ray.shutdown()
        assert summary.ok, summary.failed
        busy = {name: _busy_seconds(Store(tmp / name)) for name in times}
    ray_t = times[f"ray@{args.workers}"]
    print(f"matrix: {len(spec.seeds)} train cells x (clean + FGSM), cnn4.small, {args.iterations} iterations, "
          f"{os.cpu_count()} CPUs, torch default threads {default_threads}")
    for name, t in times.items():
        print(f"  {name:>10}: {t:7.1f} s")
    print(f"  Ray start-up: {startup:.1f} s (not in ray@{args.workers})")
    print(f"speed-up local@1 / ray@{args.workers}:   {times['local@1'] / ray_t:.2f}  "
          f"(goal >= {0.8 * args.workers:.1f}); with start-up {times['local@1'] / (ray_t + startup):.2f}")
    print(f"speed-up local@all / ray@{args.workers}: {times['local@all'] / ray_t:.2f}")
    # Where the time goes: the cells' own train + eval seconds (from their records), per run.
    n = args.workers
    print("cell seconds (sum of train + eval timings): " + ", ".join(f"{k} {v:.1f}" for k, v in busy.items()))
    print(f"  per-cell slowdown on ray@{n} vs local@1: {busy[f'ray@{n}'] / busy['local@1']:.2f} "
          f"(>1: workers slow each other down: shared cores, caches, Ray's own processes)")
    print(f"  ray@{n} wall beyond its cells' own time: {ray_t - busy[f'ray@{n}'] / n:.1f} s "
          f"(scheduling, worker start, imports, data loading)")


def _busy_seconds(store: Store) -> float:
    total = 0.0
    for rec in store.records():
        t = rec.get("timings") or {}
        total += float(t.get("seconds", 0.0) if rec["kind"] == "train" else t.get("eval_s", 0.0))
    return total


if __name__ == "__main__":
    main()
