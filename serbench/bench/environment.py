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
        "platform": platform.platform(), "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
        "git": git, "plugins": plugins,
        "editable": editable_installs(),  # code that can change without its version changing (cell keys)
    }


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
