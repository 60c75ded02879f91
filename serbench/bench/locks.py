"""Per-train-cell lock files, so concurrent runs and Ray workers never train one model twice.

A lock is a file created with ``O_CREAT | O_EXCL`` (atomic on local disks and on
NFS v3+, unlike ``flock``), holding its owner's host, pid and a token. The owner
refreshes its mtime every ``heartbeat`` seconds. A lock is stale when its owner
is a dead process on this host, or when its heartbeat is older than
``stale_after`` (an owner on another host that died); a stale lock is taken over
by renaming it away first, so of two processes breaking it only one succeeds.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

HEARTBEAT_S = 10.0
STALE_AFTER_S = 120.0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


class CellLock:
    """``with CellLock(path) as lock: if lock.acquired: ...``; or ``try_acquire()`` / ``release()``."""

    def __init__(self, path: str | os.PathLike, heartbeat: float = HEARTBEAT_S,
                 stale_after: float = STALE_AFTER_S) -> None:
        self.path = Path(path)
        self.heartbeat, self.stale_after = heartbeat, stale_after
        self.token = uuid.uuid4().hex
        self.acquired = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- ownership ----------------------------------------------------------------
    def owner(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None  # gone, or being written this instant

    def is_stale(self) -> bool:
        try:
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return False
        owner = self.owner()
        if owner and owner.get("host") == socket.gethostname() and not _pid_alive(int(owner.get("pid", -1))):
            return True
        return age > self.stale_after

    def try_acquire(self) -> bool:
        """Take the lock if it is free or stale; never blocks."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if not self.is_stale():
                    return False
                self._break_stale()
                continue
            with os.fdopen(fd, "w") as fh:
                json.dump({"host": socket.gethostname(), "pid": os.getpid(), "token": self.token,
                           "since": time.time()}, fh)
            self.acquired = True
            self._start_heartbeat()
            return True
        return False

    def _break_stale(self) -> None:
        aside = self.path.with_name(f"{self.path.name}.stale.{uuid.uuid4().hex}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return  # someone else broke it first
        aside.unlink(missing_ok=True)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.acquired:
            owner = self.owner()
            if owner and owner.get("token") == self.token:
                self.path.unlink(missing_ok=True)
            self.acquired = False

    # -- heartbeat ----------------------------------------------------------------
    def _start_heartbeat(self) -> None:
        self._stop.clear()

        def beat() -> None:
            while not self._stop.wait(self.heartbeat):
                try:
                    os.utime(self.path)
                except FileNotFoundError:
                    return

        self._thread = threading.Thread(target=beat, name=f"lock-heartbeat-{self.path.name}", daemon=True)
        self._thread.start()

    def __enter__(self) -> "CellLock":
        self.try_acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()
