"""Where a number came from: the device a run uses, the versions it records, seeding, timestamps.

Also the process settings a run starts with (threads, the C allocator). torch and numpy are imported
inside the functions that use them, so the command line can set the allocator before anything heavy
is loaded (``serbench --help`` imports neither).
"""

from __future__ import annotations

import ctypes
import os
import platform
import subprocess
from typing import TYPE_CHECKING, Any

import serbench
from serbench.errors import SerbenchError
from serbench.registry import REGISTRIES, editable_installs

if TYPE_CHECKING:
    import torch

MALLOC_ENV = "SERBENCH_MALLOC"
MALLOC_MODES = ("tuned", "default")
# glibc mallopt(3) settings of ``tuned``. Every training step allocates and frees activations of tens to
# hundreds of MB; by default glibc serves each with a fresh mmap and unmaps it on free (and trims the heap
# top), so the next step faults every page in again: 4k-100k minor faults and 8-190 ms of system time per
# step on cnn4.small. With no mmap and a 2 GiB trim threshold freed blocks stay in the heap for the next
# step: no faults, 5-15 % less CPU per step, a resident size near the peak instead of below it.
TUNED_MALLOPT = {"M_MMAP_MAX": 0, "M_TRIM_THRESHOLD": 2**31 - 1}
_MALLOPT_PARAMS = {"M_TRIM_THRESHOLD": -1, "M_TOP_PAD": -2, "M_MMAP_THRESHOLD": -3, "M_MMAP_MAX": -4}
_allocator: dict[str, Any] = {"malloc": "not configured"}


def configure_allocator(mode: str | None = None) -> dict[str, Any]:
    """Apply the C allocator setting ``mode`` (default: ``$SERBENCH_MALLOC``, else ``tuned``) to this process.

    ``tuned`` sets :data:`TUNED_MALLOPT` with glibc's ``mallopt`` (on any other C library it does
    nothing and says so); ``default`` leaves the allocator alone. Call it once at start-up, before the
    large allocations (the command line does; so should an executor's worker process). It changes no
    result, so it is recorded in :func:`environment` and is in no cell key. Returns what was done.
    """
    mode = os.environ.get(MALLOC_ENV, "tuned") if mode is None else mode
    if mode not in MALLOC_MODES:
        raise SerbenchError(f"{MALLOC_ENV}={mode!r}: unknown allocator setting; use {' or '.join(MALLOC_MODES)}")
    setting: dict[str, Any] = {"malloc": mode}
    if mode == "tuned":
        libc = _glibc()
        if libc is None:
            setting.update(applied=False, reason=f"no glibc mallopt on this {platform.system()} C library")
        else:
            failed = [k for k, v in TUNED_MALLOPT.items() if libc.mallopt(_MALLOPT_PARAMS[k], v) != 1]
            setting.update(applied=not failed, mallopt=dict(TUNED_MALLOPT))
            if failed:
                setting["reason"] = f"mallopt refused {', '.join(failed)}"
    _allocator.clear()
    _allocator.update(setting)
    return dict(setting)


CPU_KERNELS_ENV = "SERBENCH_CPU_KERNELS"
CPU_KERNEL_MODES = ("portable", "native")
# What ``portable`` sets before torch loads: torch's own kernels, oneDNN's and MKL's at AVX2, the newest
# instruction set nearly every x86-64 CPU of the last decade has. Measured: the quickstart's records on an
# AMD EPYC with AVX-512 kernels differ from an AVX2 machine's by up to 25 UAR points (training amplifies
# the rounding); with these three variables the EPYC reproduces the AVX2 records exactly.
PORTABLE_X86_KERNELS = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
_cpu_kernels: dict[str, Any] = {"mode": "not configured"}


def configure_cpu_kernels(mode: str | None = None) -> dict[str, Any]:
    """Choose the CPU kernels' instruction set (default ``$SERBENCH_CPU_KERNELS``, else ``portable``).

    A CPU result depends on the kernels torch picks for the CPU: AVX-512 and AVX2 round differently and
    training amplifies it, so the same cell key gave different records on two machines. ``portable`` caps
    the kernels at AVX2 on x86-64 (:data:`PORTABLE_X86_KERNELS`; variables the user already set win), so
    x86 machines agree; ``native`` lets each CPU use its best kernels (faster where AVX-512 exists) and
    puts the instruction set into train keys (:func:`cpu_kernels_key`). Only effective before torch is
    imported (the command line calls it first; a Ray worker inherits the variables). Returns what was done.
    """
    import sys

    mode = os.environ.get(CPU_KERNELS_ENV, "portable") if mode is None else mode
    if mode not in CPU_KERNEL_MODES:
        raise SerbenchError(f"{CPU_KERNELS_ENV}={mode!r}: unknown CPU kernel setting; use "
                            f"{' or '.join(CPU_KERNEL_MODES)}")
    setting: dict[str, Any] = {"mode": mode}
    if mode == "portable":
        if platform.machine().lower() not in ("x86_64", "amd64"):
            setting.update(applied=False, reason=f"no kernel cap for {platform.machine()}: only x86-64 has one")
        elif "torch" in sys.modules:
            setting.update(applied=False, reason="torch was imported before the kernels could be chosen")
        elif "avx2" not in _cpu_flags():
            setting.update(applied=False, reason="this CPU has no AVX2: its own kernels are used")
        else:
            for name, value in PORTABLE_X86_KERNELS.items():
                os.environ.setdefault(name, value)
            setting.update(applied=True, variables={k: os.environ[k] for k in PORTABLE_X86_KERNELS})
    _cpu_kernels.clear()
    _cpu_kernels.update(setting)
    return dict(setting)


def cpu_kernels_key(device_type: str | None) -> str | None:
    """What a train key names about the CPU kernels: ``native`` when a CPU cell runs with each CPU's own
    kernels (``SERBENCH_CPU_KERNELS=native``), so its records never stand in for portable ones; None (key
    unchanged) for portable kernels and for other devices."""
    if device_type not in (None, "cpu"):
        return None
    return "native" if os.environ.get(CPU_KERNELS_ENV, "portable") == "native" else None


def cpu_kernels_setting() -> dict[str, Any]:
    """What :func:`configure_cpu_kernels` last did in this process (``not configured``: never called)."""
    return dict(_cpu_kernels)


def _cpuinfo(field: str) -> str | None:
    """The first ``field`` line of ``/proc/cpuinfo`` (Linux), or None where there is none."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith(field):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _cpu_flags() -> set[str]:
    return set((_cpuinfo("flags") or "").split())


def allocator_setting() -> dict[str, Any]:
    """What :func:`configure_allocator` last did in this process (``not configured``: never called)."""
    return dict(_allocator)


def _glibc() -> ctypes.CDLL | None:
    """This process's C library when it is glibc on Linux (mallopt's parameters are glibc's), else None."""
    try:
        if platform.system() != "Linux" or not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
            return None
        libc = ctypes.CDLL(None)
        libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    except (OSError, ValueError, AttributeError):  # confstr: no such name here
        return None
    return libc


def resolve_device(name: str = "auto") -> torch.device:
    """The one place a device name becomes a device (``--device`` everywhere)."""
    import torch

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
    import torch

    if threads is not None and threads < 1:
        raise SerbenchError(f"--threads must be at least 1, got {threads}")
    threads = threads or available_cpus()
    torch.set_num_threads(threads)
    return threads


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux; ``platform.processor()`` elsewhere, often empty)."""
    return _cpuinfo("model name") or platform.processor()


def environment(device: torch.device) -> dict[str, Any]:
    """Versions and device: enough to say where a number came from (and the allocator, which changes
    speed, not results)."""
    import torch

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
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model(),
        # The kernels torch picked for this CPU: a different instruction set rounds differently, and training
        # amplifies the difference (docs/methodology.md, "Same key, another CPU").
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "git": git, "plugins": plugins,
        "editable": editable_installs(),  # code that can change without its version changing (cell keys)
        "allocator": allocator_setting(),
        "cpu_kernels": cpu_kernels_setting(),
    }


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
