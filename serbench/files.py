"""Atomic file writes: a temp file beside the target, then ``os.replace``.

Readers (other workers on a shared results folder, a CI check) never see half a
file, and a writer that dies leaves only a ``.<name>.*.tmp`` file behind, which
the store cleans up. Files get the permissions ``open()`` would give them (the
user's umask), not ``mkstemp``'s owner-only 0600, so a results folder or a
published leaderboard stays readable by the group that shares it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

TEMP_GLOB = ".*.tmp"


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
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: Path, data: bytes, *, durable: bool = False) -> None:
    write_atomic(path, lambda fh: fh.write(data), durable=durable)
