"""Ray workers on a real local Ray: a worker keeps its run's runner between tasks (same records as the local
executor), and gets the driver's SERBENCH_* variables, thread counts and CPU priority."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from serbench.bench.ray_executor import WORKER_NICENESS, worker_env_vars
from serbench.bench.runner import LocalRunner
from serbench.bench.spec import parse_spec
from serbench.bench.store import Store

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'serbench[ray]'")

SPEC = {
    "name": "ray-reuse",
    "dataset": {"name": "synthetic", "params": {"utterances_per_class": 4, "seed": 17}, "folds": [0]},
    "frontend": {"seconds": 1.0},
    "training": {"iterations": 6, "eval_every": 3, "batch_size": 16},
    "models": ["cnn4.tiny"],
    "seeds": [0, 1],
    "attacks": [{"name": "fgsm", "eps": [0.01]}],
}


@pytest.fixture(scope="module")
def one_worker_ray():
    """A local Ray of one CPU started as ``serbench run --executor ray`` starts it: one worker serves every task."""
    from serbench.bench.ray_executor import start_ray, stop_ray

    start_ray(num_cpus=1, threads=1)
    yield
    stop_ray()


def test_worker_env_vars_forward_every_serbench_variable_and_size_the_thread_pools():
    environ = {"SERBENCH_CACHE": "/c", "SERBENCH_SOURCE_VERSIONS": "1", "SERBENCH_MALLOC": "default",
               "SERBENCH_DATA_IEMOCAP": "/d", "PYTHONPATH": "/p", "HOME": "/root", "OMP_NUM_THREADS": "64"}
    assert worker_env_vars(3, environ) == {
        "SERBENCH_CACHE": "/c", "SERBENCH_SOURCE_VERSIONS": "1", "SERBENCH_MALLOC": "default",
        "SERBENCH_DATA_IEMOCAP": "/d", "PYTHONPATH": "/p",
        "OMP_NUM_THREADS": "3", "MKL_NUM_THREADS": "3", "OPENBLAS_NUM_THREADS": "3", WORKER_NICENESS: "0"}
    assert worker_env_vars(1, {WORKER_NICENESS: "12"})[WORKER_NICENESS] == "12"  # the user's choice stays


def metrics(store: Store) -> dict[str, dict]:
    return {r["key"]: {k: r["metrics"][k] for k in ("uar", "wa", "predictions")}
            for r in store.records() if r["kind"] == "eval"}


@pytest.mark.slow
def test_tasks_of_one_run_on_one_worker_share_its_runner_and_match_the_local_executor(tmp_path, one_worker_ray):
    spec = parse_spec(SPEC)
    store = Store(tmp_path / "ray")
    plan = LocalRunner(spec, store, device="cpu", threads=1).plan()  # planned as the driver plans a 1-thread task

    def task(*args):  # defined here, so Ray ships it by value; runs the real task, then marks what it used
        from serbench.bench import ray_executor

        summary = ray_executor.run_train_cell_task(*args)
        ((runner, _),) = ray_executor._WORKER_RUNNERS.values()
        corpus = runner.corpus(0)
        seen = (getattr(runner, "_seen_by_test", False), getattr(corpus, "_seen_by_test", False))
        runner._seen_by_test = corpus._seen_by_test = True
        return os.getpid(), seen, summary.computed

    remote = ray.remote(task).options(num_cpus=1, max_retries=0)

    def submit(tc, run_id):
        return ray.get(remote.remote(spec.source, spec.path, tc, str(store.root), "cpu", False, False, 1, run_id))

    first, second = submit(plan[0][0], "run-a"), submit(plan[1][0], "run-a")
    assert first[0] == second[0]  # one CPU: one worker process served both tasks
    assert first[1:] == ((False, False), 2) and second[1:] == ((True, True), 2)  # runner and corpus kept
    again = submit(plan[0][0], "run-b")  # another run: a fresh runner, none of run-a's state
    assert again[0] == first[0] and again[1:] == ((False, False), 0)

    local = Store(tmp_path / "local")
    assert LocalRunner(spec, local, device="cpu", threads=1).run().ok  # the worker's threads: they are in the keys
    assert metrics(store) == metrics(local) and len(metrics(local)) == 4  # a reused runner changes no number


@pytest.mark.slow
def test_workers_get_the_task_threads_and_the_driver_priority(one_worker_ray):
    def probe():
        return {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}, \
            os.nice(0)

    threads, nice = ray.get(ray.remote(probe).options(num_cpus=1).remote())
    assert threads == {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    assert nice == os.nice(0)  # Ray's default would run it 15 nice levels below the driver


@pytest.mark.slow
def test_a_serbench_variable_set_after_ray_started_reaches_the_workers(tmp_path, one_worker_ray, monkeypatch):
    from serbench.bench.ray_executor import run_with_ray

    late = tmp_path / "late-cache"
    monkeypatch.setenv("SERBENCH_CACHE", str(late))  # the running workers inherited the old values
    monkeypatch.setenv("SERBENCH_MALLOC", "default")
    spec = parse_spec({**SPEC, "seeds": [0], "dataset": {**SPEC["dataset"], "params": {"utterances_per_class": 4,
                                                                                      "seed": 19}}})
    store = Store(tmp_path / "results")
    summary = run_with_ray(spec, store, device="cpu", threads_per_task=1)
    assert summary.ok and summary.computed == 2
    assert list(late.glob("synthetic/*.npz"))  # the worker generated the corpus's audio where the driver says
    # and set its allocator as the driver's SERBENCH_MALLOC says, as the command line does at start-up
    assert {r["env"]["allocator"]["malloc"] for r in store.records()} == {"default"}


@pytest.mark.slow
def test_the_command_line_starts_its_own_ray_and_stops_it(tmp_path):
    """``serbench run --executor ray`` without ``--address``: a local Ray started for the run (its workers inherit
    the variables), the cells computed in its workers, Ray stopped; a second run finds every cell cached."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({**SPEC, "seeds": [0]}))
    cli = Path(sys.executable).with_name("serbench")
    cmd = [str(cli), "run", str(spec), "--results", str(tmp_path / "results"), "--executor", "ray", "--num-cpus",
           "1", "--quiet"]
    env = {**os.environ, "SERBENCH_MALLOC": "default"}
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "2 computed, 0 cached, 0 failed" in first.stderr
    records = list(Store(tmp_path / "results").records())
    assert len(records) == 3 and {r["env"]["threads"] for r in records} == {1}  # threads = --cpus-per-task
    assert {r["env"]["allocator"]["malloc"] for r in records} == {"default"}  # inherited by the workers
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert again.returncode == 0 and "0 computed, 2 cached, 0 failed" in again.stderr, again.stderr[-2000:]
