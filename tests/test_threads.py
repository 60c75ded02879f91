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
