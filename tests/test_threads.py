"""``--threads``: the local executor's torch threads, defaulting to the CPUs the process may use."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

SPEC = {
    "name": "threads",
    "dataset": {"name": "synthetic", "params": {"utterances_per_class": 2}, "folds": [0]},
    "frontend": {"seconds": 0.5},
    "training": {"iterations": 2, "eval_every": 1, "batch_size": 8},
    "models": ["cnn4.tiny"],
}


def _python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this platform")
def test_the_default_is_the_cpus_the_scheduler_allows_not_the_machines_count():
    one = _python("import os; os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]}); "
                  "from serbench.bench.environment import set_threads; import torch; "
                  "print(set_threads(None), torch.get_num_threads())")
    assert one == "1 1"
    assert _python("from serbench.bench.environment import available_cpus; print(available_cpus())") == \
        str(len(os.sched_getaffinity(0)))


def _run(tmp_path, *args):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    return subprocess.run([sys.executable, "-m", "serbench", "run", str(spec), "--results", str(tmp_path / "r"),
                           "-q", "--device", "cpu", *args], capture_output=True, text=True)


def test_run_uses_the_threads_asked_for_and_records_them(tmp_path):
    done = _run(tmp_path, "--threads", "1")
    assert done.returncode == 0, done.stderr
    envs = [json.loads(p.read_text())["env"] for p in (tmp_path / "r" / "records").glob("*.json")]
    assert envs and {e["threads"] for e in envs} == {1}


def test_zero_threads_is_a_usage_error(tmp_path):
    done = _run(tmp_path, "--threads", "0")
    assert done.returncode == 2 and "--threads" in done.stderr


# -- the thread count is part of a CPU cell's key ------------------------------------------------------------------
def _train_keys(spec: dict, tmp_path, **runner) -> list[dict]:
    from serbench.bench.runner import LocalRunner
    from serbench.bench.spec import parse_spec
    from serbench.bench.store import Store

    return [tc for tc in LocalRunner(parse_spec(spec, "spec.yaml"), Store(tmp_path / "r"), device="cpu",
                                     **runner).train_cells()]


def test_a_cpu_cells_key_names_its_thread_count(tmp_path):
    one, = _train_keys(SPEC, tmp_path, threads=1)
    two, = _train_keys(SPEC, tmp_path, threads=2)
    assert one.identity["training"]["threads"] == 1 and two.identity["training"]["threads"] == 2
    assert one.key != two.key  # same data, code and kernels; other sums, other numbers


def test_a_spec_that_pins_threads_has_the_same_keys_at_any_runner_thread_count(tmp_path):
    pinned = {**SPEC, "training": {**SPEC["training"], "threads": 2}}
    keys = {tc.key for n in (1, 2, 3) for tc in _train_keys(pinned, tmp_path, threads=n)}
    assert len(keys) == 1
    auto2, = _train_keys(SPEC, tmp_path, threads=2)
    assert keys == {auto2.key}  # pinned 2 and auto at 2 threads are the same cell


def test_a_gpu_cell_key_has_no_thread_count(tmp_path):
    gpu, = _train_keys(SPEC, tmp_path, threads=1, device_type="cuda")
    assert "threads" not in gpu.identity["training"] and gpu.thread_count is None


@pytest.mark.parametrize("value", [0, -1, "two", 1.5, True])
def test_a_bad_thread_count_in_a_spec_names_the_field(value):
    from serbench.bench.spec import parse_spec
    from serbench.errors import SerbenchError

    with pytest.raises(SerbenchError, match="training.threads"):
        parse_spec({**SPEC, "training": {**SPEC["training"], "threads": value}}, "spec.yaml")


def test_a_pinned_thread_count_is_what_the_cell_runs_with_and_records(tmp_path):
    pinned = {**SPEC, "training": {**SPEC["training"], "threads": 1}}
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(pinned))
    done = subprocess.run([sys.executable, "-m", "serbench", "run", str(spec), "--results", str(tmp_path / "r"),
                           "-q", "--device", "cpu", "--threads", "2"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    records = [json.loads(p.read_text()) for p in (tmp_path / "r" / "records").glob("*.json")]
    assert records and {r["env"]["threads"] for r in records} == {1}
    dry = subprocess.run([sys.executable, "-m", "serbench", "run", str(spec), "--results", str(tmp_path / "r"),
                          "--dry-run", "--json", "--threads", "3"], capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    assert {c["state"] for c in json.loads(dry.stdout)["cells"]} == {"done"}  # pinned: any --threads plans them


def test_the_dry_run_plans_the_keys_a_run_with_the_same_threads_computes(tmp_path):
    done = _run(tmp_path, "--threads", "1")
    assert done.returncode == 0, done.stderr
    spec = tmp_path / "spec.yaml"

    def states(*args):
        dry = subprocess.run([sys.executable, "-m", "serbench", "run", str(spec), "--results", str(tmp_path / "r"),
                              "--dry-run", "--json", *args], capture_output=True, text=True)
        assert dry.returncode == 0, dry.stderr
        return {c["state"] for c in json.loads(dry.stdout)["cells"]}

    assert states("--threads", "1") == {"done"}
    assert states("--threads", "2") == {"missing"}
