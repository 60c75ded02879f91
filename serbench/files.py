"""Atomic file writes: a temp file beside the target, then ``os.replace``.

Readers (other workers on a shared results folder, a CI check) never see half a
file, and a writer that dies leaves only a ``.<name>.*.tmp`` file behind, which
the store cleans up. Files get the permissions ``open()`` would give them (the
user's umask), not ``mkstemp``'s owner-only 0600, so a results folder or a
published leaderboard stays readable by the group that shares it.

Fault injection (``benchmarks/fault_injection.py``, tests): with the environment
variable ``SERBENCH_FAULT_KILL_WRITE=N`` the Nth atomic write of the process
writes half its temp file and then SIGKILLs its own process, so a test can hit
a record or checkpoint write deterministically, which random kills rarely do.
It names the file it dies in on stderr first. Unset, it costs one dict lookup.
"""

from __future__ import annotations

import itertools
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import BinaryIO, Callable

from serbench.errors import SerbenchError

TEMP_GLOB = ".*.tmp"
FAULT_KILL_WRITE_ENV = "SERBENCH_FAULT_KILL_WRITE"
_write_count = itertools.count(1)
_write_count_lock = threading.Lock()


def _fault_kill_due() -> int | None:
    """The number of this write when ``SERBENCH_FAULT_KILL_WRITE`` says the process dies in it, else None."""
    value = os.environ.get(FAULT_KILL_WRITE_ENV)
    if not value:
        return None
    try:
        target = int(value)
    except ValueError:
        target = 0
    if target < 1:
        raise SerbenchError(f"{FAULT_KILL_WRITE_ENV}={value!r}: expected a positive write number "
                            "(fault injection: the Nth atomic write kills its process); unset it")
    with _write_count_lock:
        number = next(_write_count)
    return number if number == target else None


def _die_mid_write(fh: BinaryIO, path: Path, number: int) -> None:
    """Leave the temp file half written, as a writer killed mid-write would, and SIGKILL this process."""
    fh.flush()
    fh.truncate(fh.tell() // 2)
    fh.flush()
    print(f"serbench: fault injection: SIGKILL in atomic write {number} of {path}", file=sys.stderr, flush=True)
    os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path, write: Callable[[BinaryIO], object], *, durable: bool = False) -> None:
    """Create or replace ``path`` with what ``write(fh)`` writes; ``durable`` fsyncs before the rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            number = _fault_kill_due()
            if number is not None:
                _die_mid_write(fh, path, number)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: Path, data: bytes, *, durable: bool = False) -> None:
    write_atomic(path, lambda fh: fh.write(data), durable=durable)
