"""The C allocator setting (issue 20): with ``tuned`` glibc keeps freed blocks for the next step.

Each check runs in a fresh interpreter: mallopt changes the whole process, and the page faults it saves are
counted by the kernel (``ru_minflt``) around a loop that allocates, fills and frees 64 MB tensors, as a
training step does with its activations.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from serbench.bench.environment import _glibc

glibc_only = pytest.mark.skipif(_glibc() is None, reason="mallopt is glibc's; elsewhere the setting is a no-op")

LOOP = """
import json, resource, sys
from serbench.bench.environment import configure_allocator
setting = configure_allocator()
import torch
torch.set_num_threads(1)
def steps(n):
    for _ in range(n):
        t = torch.ones(16 * 2**20)  # 64 MB, every page written
        del t
steps(10)  # warm-up: the heap grows to hold the loop's blocks (a few, as aligned requests fragment it)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
steps(50)
after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
print(json.dumps({"faults": after - before, "setting": setting}))
"""


def _python(code: str, malloc: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SERBENCH_MALLOC"}
    if malloc is not None:
        env["SERBENCH_MALLOC"] = malloc
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def _faults(malloc: str | None) -> dict:
    done = _python(LOOP, malloc)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@glibc_only
def test_tuned_keeps_freed_blocks_so_a_step_faults_no_pages_in_again():
    default, tuned = _faults("default"), _faults("tuned")
    assert default["setting"] == {"malloc": "default"}
    assert tuned["setting"]["malloc"] == "tuned" and tuned["setting"]["applied"]
    # default: every 64 MB block is a fresh mapping, its 16k pages faulted in 50 times; tuned: reused, none
    assert default["faults"] > 40 * 16_000
    assert tuned["faults"] * 20 < default["faults"]


@glibc_only
def test_the_command_line_sets_it_and_the_environment_records_it():
    code = """
import json, torch
from serbench.cli.main import main
from serbench.bench.environment import environment
try:
    main(["--help"])
except SystemExit:
    pass
print(json.dumps(environment(torch.device("cpu"))["allocator"]))
"""
    # SERBENCH_MALLOC unset: tuned
    for malloc, expected in (("default", {"malloc": "default"}), (None, {"malloc": "tuned", "applied": True})):
        done = _python(code, malloc)
        assert done.returncode == 0, done.stderr
        recorded = json.loads(done.stdout.strip().splitlines()[-1])
        assert {k: recorded[k] for k in expected} == expected


def test_a_bad_setting_is_a_one_line_error_naming_the_variable():
    done = _python("from serbench.cli.main import main; main(['--help'])", "fast")
    assert done.returncode == 1
    assert done.stderr.strip() == "error: SERBENCH_MALLOC='fast': unknown allocator setting; use tuned or default"
