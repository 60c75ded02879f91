"""Output paths a command will write to, refused before any work when they cannot be written."""

from __future__ import annotations

import os
from pathlib import Path

from serbench.errors import SerbenchError


def _blocker(path: Path) -> Path | None:
    """The nearest existing ancestor of ``path`` when it is not a writable directory (a regular file, or a
    folder without write permission), else None."""
    for parent in path.absolute().parents:
        if parent.exists():
            ok = parent.is_dir() and os.access(parent, os.W_OK | os.X_OK)
            return None if ok else parent
    return None


def check_output_dir(path: Path, option: str) -> None:
    """Refuse an output folder that is a file or cannot be created, before any work is done."""
    if path.exists() and not path.is_dir():
        raise SerbenchError(f"{option} {path}: is a file, not a directory; give a folder path")
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise SerbenchError(f"{option} {path}: directory is not writable; choose another folder")
        return
    blocker = _blocker(path)
    if blocker is not None:
        why = "is a file" if not blocker.is_dir() else "is not writable"
        raise SerbenchError(f"{option} {path}: cannot create it ({blocker} {why}); choose another folder")


def check_output_file(path: Path, option: str) -> None:
    """Refuse an output file that is a folder or cannot be written, before any work is done."""
    if path.is_dir():
        raise SerbenchError(f"{option} {path}: is a directory; give a file path, e.g. {path / 'results.csv'}")
    if path.exists() and not os.access(path, os.W_OK):
        raise SerbenchError(f"{option} {path}: file is not writable; choose another path")
    blocker = _blocker(path)
    if blocker is not None:
        why = "is a file" if not blocker.is_dir() else "is not writable"
        raise SerbenchError(f"{option} {path}: cannot write there ({blocker} {why}); choose another path")
