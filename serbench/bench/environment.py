"""Where a number came from: the device a run uses, the versions it records, seeding, timestamps."""

from __future__ import annotations

import os
import platform
import subprocess
from typing import Any

import numpy as np
import torch

import serbench
from serbench.errors import SerbenchError
from serbench.registry import REGISTRIES, editable_installs


def resolve_device(name: str = "auto") -> torch.device:
    """The one place a device name becomes a device (``--device`` everywhere)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise SerbenchError(f"--device: unknown device {name!r}; use auto, cpu or cuda[:N]") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SerbenchError(f"--device {name}: CUDA is not available on this machine; use --device cpu")
    return dev


def available_cpus() -> int:
    """The CPUs this process may run on, as the scheduler's affinity reports them (a container's or a
    ``taskset``'s limit, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity on this platform
        return max(1, os.cpu_count() or 1)


def set_threads(threads: int | None) -> int:
    """Give torch ``threads`` intra-op threads (default: :func:`available_cpus`); returns the number set.

    On a shared host, more threads than free cores is far slower than fewer (each step waits for its
    slowest thread): pass ``--threads`` the cores you may really use."""
    if threads is not None and threads < 1:
        raise SerbenchError(f"--threads must be at least 1, got {threads}")
    threads = threads or available_cpus()
    torch.set_num_threads(threads)
    return threads


def environment(device: torch.device) -> dict[str, Any]:
    """Versions and device: enough to say where a number came from."""
    git = None
    try:
        git = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=os.path.dirname(serbench.__file__)).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        git = None
    plugins = {}
    for kind, reg in REGISTRIES.items():
        for name in reg.loaded_plugins():
            inf = reg.info(name)
            plugins[f"{kind}/{name}"] = f"{inf.source} {inf.version}"
    return {
        "serbench": serbench.__version__, "torch": torch.__version__, "python": platform.python_version(),
        "platform": platform.platform(), "device": str(device), "threads": torch.get_num_threads(),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
        "git": git, "plugins": plugins,
        "editable": editable_installs(),  # code that can change without its version changing (cell keys)
    }


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
