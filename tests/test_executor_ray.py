"""The Ray executor on a real local Ray instance: same records as the local executor, shared store."""

from __future__ import annotations

import pytest

from serbench.bench.runner import LocalRunner
from serbench.bench.spec import parse_spec
from serbench.bench.store import Store

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'serbench[ray]'")

SPEC = {
    "name": "ray",
    "dataset": {"name": "synthetic", "params": {"utterances_per_class": 4, "seed": 13}, "folds": [0]},
    "frontend": {"seconds": 1.0},
    "training": {"iterations": 20, "eval_every": 10, "batch_size": 16},
    "models": ["cnn4.tiny"],
    "seeds": [0, 1],
    "attacks": [{"name": "fgsm", "eps": [0.01]}],
    "noises": [{"name": "white", "snr": [10]}],
}


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def metrics(store: Store) -> dict[str, dict]:
    return {r["key"]: {k: r["metrics"][k] for k in ("uar", "wa", "predictions")}
            for r in store.records() if r["kind"] == "eval"}


@pytest.mark.slow
def test_ray_and_local_executors_write_the_same_records(tmp_path, local_ray):
    from serbench.bench.ray_executor import run_with_ray

    spec = parse_spec(SPEC)
    local, remote = Store(tmp_path / "local"), Store(tmp_path / "ray")
    # the local run at the threads each Ray task runs with (threads_per_task=1): the count is in CPU keys
    assert LocalRunner(spec, local, device="cpu", threads=1).run().ok
    events = []
    summary = run_with_ray(spec, remote, device="cpu", threads_per_task=1,
                           progress=lambda e, p: events.append(e))
    assert summary.ok and summary.computed == 2 * 3 and summary.cached == 0
    assert events.count("train_cell_done") == 2
    # CPU training is deterministic per seed and thread count, whatever process runs it
    assert metrics(remote) == metrics(local)
    again = run_with_ray(spec, remote, device="cpu")
    assert again.computed == 0 and again.cached == 6


@pytest.mark.slow
def test_a_failing_cell_in_a_ray_worker_is_reported_and_recorded(tmp_path, local_ray):
    from serbench.bench.ray_executor import run_with_ray

    spec = parse_spec({**SPEC, "seeds": [0], "frontend": {"seconds": 1.0, "sample_rate": 8000}})
    summary = run_with_ray(spec, Store(tmp_path), device="cpu")
    assert not summary.ok and len(summary.failed) == 3
    assert all("front end expects 8000 Hz" in reason for _, reason in summary.failed)
    assert {r["status"] for r in Store(tmp_path).records()} == {"failed"}
