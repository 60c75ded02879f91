"""Per-train-cell lock files, so concurrent runs and Ray workers never train one model twice.

A lock is a file created with ``O_CREAT | O_EXCL`` (atomic on local disks and on
NFS v3+, unlike ``flock``), holding its owner's host, pid and a token. The owner
refreshes its mtime every ``heartbeat`` seconds. A lock is stale when its owner
is a dead process on this host, or when its heartbeat is older than
``stale_after`` (an owner on another host that died).

Taking over a stale lock is the delicate part: two runs may judge the same lock
stale at once, and a breaker that removes whatever file sits at the path *now*
may remove the fresh lock the other breaker has just created, so both would own
the cell. A stale lock is therefore identified by what was judged (its token,
or its inode when it holds no token), and only the holder of a *break guard*
named after that identity may remove it: the guard is itself a ``CellLock``
(created with ``O_EXCL``, so one breaker per stale lock), and under it the
breaker checks that the path still holds the judged lock before moving it
aside. A breaker killed while holding a guard leaves a guard whose owner is
dead, which is stale in turn and taken over the same way (one level deeper).
Guards never share a name with a lock (``<name>.break<depth>.<hash>``).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HEARTBEAT_S = 10.0
STALE_AFTER_S = 120.0
MAX_GUARD_DEPTH = 3  # a guard of a guard of a guard: three breakers killed in a row on one lock


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


@dataclass(frozen=True)
class LockSeen:
    """One look at a lock file: which lock it is (``identity``), its owner record and its heartbeat time."""

    identity: str
    owner: dict[str, Any] | None
    mtime: float


def _look(path: Path) -> LockSeen | None:
    """Read a lock file once (content and stat from one open file), or None when there is none."""
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            data = fh.read()
    except FileNotFoundError:
        return None
    try:
        owner = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        owner = None  # being written this instant, or its writer died before writing it
    if not isinstance(owner, dict):
        owner = None
    token = owner.get("token") if owner else None
    # A file without a token (its creator died before writing it) is told apart by inode and mtime: an
    # inode number alone may be reused at once by the next lock file created at this path.
    identity = (f"token:{token}" if isinstance(token, str) and token
                else f"inode:{st.st_dev}:{st.st_ino}:{st.st_mtime_ns}:{st.st_size}")
    return LockSeen(identity, owner, st.st_mtime)


class CellLock:
    """``with CellLock(path) as lock: if lock.acquired: ...``; or ``try_acquire()`` / ``release()``."""

    def __init__(self, path: str | os.PathLike, heartbeat: float = HEARTBEAT_S,
                 stale_after: float = STALE_AFTER_S) -> None:
        self.path = Path(path)
        self.heartbeat, self.stale_after = heartbeat, stale_after
        self.token = uuid.uuid4().hex
        self.acquired = False
        self.lost = False  # set by the heartbeat when the file at ``path`` stopped being this lock's
        self._depth = 0  # 0 for a cell's lock, n for the break guard n levels above it
        self._root = self.path.name
        self._beats = True
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- ownership ----------------------------------------------------------------
    def owner(self) -> dict[str, Any] | None:
        seen = _look(self.path)
        return seen.owner if seen else None  # None: gone, or being written this instant

    def is_stale(self, seen: LockSeen | None = None) -> bool:
        """Whether the lock file (``seen``, or the one there now) belongs to an owner that is gone."""
        seen = seen if seen is not None else _look(self.path)
        if seen is None:
            return False
        owner = seen.owner
        if owner and owner.get("host") == socket.gethostname():
            try:
                pid = int(owner.get("pid", -1))
            except (TypeError, ValueError):
                pid = -1  # malformed: judged by its heartbeat alone
            if pid > 0 and not _pid_alive(pid):
                return True
        return time.time() - seen.mtime > self.stale_after

    def try_acquire(self) -> bool:
        """Take the lock if it is free or stale; never blocks (but for a takeover's few file operations)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            if self._create():
                return True
            seen = _look(self.path)
            if seen is None:
                continue  # released this instant: try again
            if not self.is_stale(seen):
                return False
            if not self._break_stale(seen.identity):
                return False  # another run is taking this stale lock over right now
        return False

    # -- the steps of a takeover (separate, so a test can interleave two breakers) --
    def _create(self) -> bool:
        """Create the lock file with ``O_EXCL``: True when this call made it (then this object owns it)."""
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as fh:
            json.dump({"host": socket.gethostname(), "pid": os.getpid(), "token": self.token,
                       "since": time.time()}, fh)
        self.acquired, self.lost = True, False
        if self._beats:
            self._start_heartbeat()
        return True

    def _guard(self, identity: str) -> "CellLock":
        """The lock that one breaker of the stale lock ``identity`` must hold to remove it."""
        digest = hashlib.sha256(f"{self.path.name}|{identity}".encode()).hexdigest()[:24]
        guard = CellLock(self.path.with_name(f"{self._root}.break{self._depth + 1}.{digest}"),
                         heartbeat=self.heartbeat, stale_after=self.stale_after)
        guard._depth, guard._root, guard._beats = self._depth + 1, self._root, False
        return guard

    def _break_stale(self, identity: str) -> bool:
        """Remove the stale lock ``identity`` if it is still there; False when another breaker holds its guard."""
        if self._depth >= MAX_GUARD_DEPTH:
            return False
        guard = self._guard(identity)
        if not guard.try_acquire():
            return False
        try:
            self._move_aside(identity)
        finally:
            guard.release()
        return True

    def _move_aside(self, identity: str) -> None:
        """Under the guard of ``identity``: remove the lock file if it still is that lock, else leave it be."""
        seen = _look(self.path)
        if seen is None or seen.identity != identity:
            return  # already broken and taken (or released) by someone else: nothing of ours to remove
        aside = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}.stale")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        moved = _look(aside)
        if moved is not None and moved.identity != identity:
            # Only possible when the judged owner was alive after all and released its lock, and a third
            # run created a new one, between our look and our rename: give that one back (link: no-replace).
            try:
                os.link(aside, self.path)
            except FileExistsError:
                pass  # a fourth run holds the path now; the lock we moved lost (its heartbeat notices)
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

        def beat() -> None:  # refreshes only a file that is still this lock, never a successor's
            while not self._stop.wait(self.heartbeat):
                seen = _look(self.path)
                if seen is None or seen.identity != f"token:{self.token}":
                    self.lost = True
                    return
                try:
                    os.utime(self.path)
                except FileNotFoundError:
                    self.lost = True
                    return

        self._thread = threading.Thread(target=beat, name=f"lock-heartbeat-{self.path.name}", daemon=True)
        self._thread.start()

    def __enter__(self) -> "CellLock":
        self.try_acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()
