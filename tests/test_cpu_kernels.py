"""``SERBENCH_CPU_KERNELS``: CPU kernels capped at AVX2 by default, so x86 machines give the same records.

Measured before this setting: the quickstart on an AMD EPYC (torch picks AVX-512 kernels) gave clean UAR
62.0 and white noise 38.0/25.0/25.0 under the keys whose committed records say 66.7 and 63.0/60.4/56.2;
with the kernels capped at AVX2 the EPYC reproduced the committed records exactly.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from serbench.bench.environment import PORTABLE_X86_KERNELS, _cpu_flags, cpu_kernels_key

X86_AVX2 = platform.machine().lower() in ("x86_64", "amd64") and "avx2" in _cpu_flags()
PROBE = ("import json, sys; from serbench.bench.environment import configure_cpu_kernels, environment; "
         "done = configure_cpu_kernels(); import torch; "
         "print(json.dumps([done, torch.backends.cpu.get_cpu_capability(), "
         "environment(torch.device('cpu'))['cpu_kernels']]))")


def _probe(**env: str) -> list:
    clean = {k: v for k, v in os.environ.items() if k not in PORTABLE_X86_KERNELS and k != "SERBENCH_CPU_KERNELS"}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True,
                         env={**clean, **env}).stdout
    return json.loads(out)


def _native_capability() -> str:
    clean = {k: v for k, v in os.environ.items() if k not in PORTABLE_X86_KERNELS}
    return subprocess.run([sys.executable, "-c", "import torch; print(torch.backends.cpu.get_cpu_capability())"],
                          capture_output=True, text=True, check=True, env=clean).stdout.strip()


@pytest.mark.skipif(not X86_AVX2, reason="the portable cap applies to x86-64 CPUs with AVX2")
def test_portable_is_the_default_and_caps_torch_at_avx2():
    done, capability, recorded = _probe()
    assert done["mode"] == "portable" and done["applied"] is True
    assert capability == "AVX2"
    assert recorded == done  # the records say which kernels made them


def test_native_leaves_the_cpu_its_own_kernels():
    done, capability, recorded = _probe(SERBENCH_CPU_KERNELS="native")
    assert done == {"mode": "native"} == recorded
    assert capability == _native_capability()


@pytest.mark.skipif(not X86_AVX2, reason="the portable cap applies to x86-64 CPUs with AVX2")
def test_a_variable_the_user_set_wins():
    done, capability, _ = _probe(ATEN_CPU_CAPABILITY="default")
    assert done["variables"]["ATEN_CPU_CAPABILITY"] == "default" and capability == "DEFAULT"


def test_too_late_once_torch_is_loaded_and_said_so():
    code = ("import torch, json; from serbench.bench.environment import configure_cpu_kernels; "
            "print(json.dumps(configure_cpu_kernels('portable')))")
    done = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                     check=True).stdout)
    assert done["applied"] is False and done["reason"]


def test_a_bad_value_is_one_line_and_exit_1():
    proc = subprocess.run([sys.executable, "-m", "serbench", "list"], capture_output=True, text=True,
                          env={**os.environ, "SERBENCH_CPU_KERNELS": "fast"})
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "SERBENCH_CPU_KERNELS='fast'" in proc.stderr and "portable" in proc.stderr


TINY = {
    "name": "kernels",
    "dataset": {"name": "synthetic", "params": {"sessions": 3, "utterances_per_class": 2, "max_seconds": 0.5},
                "protocol": "leave-one-session-out", "folds": [0]},
    "frontend": {"preset": "ren2020", "seconds": 0.5},
    "training": {"schedule": "ren2020", "iterations": 4, "eval_every": 4, "batch_size": 8},
    "models": ["cnn4.tiny"],
    "seeds": [0],
}


def _planned(tmp_path) -> list:
    from serbench.bench.runner import LocalRunner
    from serbench.bench.spec import parse_spec
    from serbench.bench.store import Store

    return LocalRunner(parse_spec(TINY), Store(tmp_path / "results"), device="cpu").train_cells()


def test_native_kernels_enter_cpu_train_keys_only(monkeypatch, tmp_path):
    monkeypatch.delenv("SERBENCH_CPU_KERNELS", raising=False)
    portable = _planned(tmp_path)
    monkeypatch.setenv("SERBENCH_CPU_KERNELS", "native")
    native = _planned(tmp_path)
    assert [c.key for c in native] != [c.key for c in portable]
    assert all(c.identity["training"]["cpu_kernels"] == "native" for c in native)
    assert "cpu_kernels" not in portable[0].identity["training"]
    assert cpu_kernels_key("cuda") is None and cpu_kernels_key("cpu") == "native"
