"""Taking over a stale lock: of several runs that judge one stale lock at once, exactly one owns the cell."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from serbench.bench.locks import CellLock


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return int(done.stdout)


def _plant_dead_owner(path: Path, token: str = "dead-owner") -> None:
    """A lock whose owner, a process on this host, has exited."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"host": socket.gethostname(), "pid": _dead_pid(), "token": token}))


def _plant_silent_remote_owner(path: Path, age_s: float = 600.0) -> None:
    """A lock of another host whose heartbeat stopped long ago."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"host": "elsewhere.invalid", "pid": 1, "token": "remote-owner"}))
    old = time.time() - age_s
    os.utime(path, (old, old))


def _pause_after_judging_stale(lock: CellLock) -> tuple[threading.Event, threading.Event]:
    """Make ``lock`` stop right after it first judges the lock stale, before it breaks it, until resumed."""
    judged, resume = threading.Event(), threading.Event()
    real = lock.is_stale
    state = {"paused": False}

    def is_stale(*args, **kwargs):
        verdict = real(*args, **kwargs)
        if verdict and not state["paused"]:
            state["paused"] = True
            judged.set()
            assert resume.wait(20), "the test never resumed the paused breaker"
        return verdict

    lock.is_stale = is_stale  # type: ignore[method-assign]
    return judged, resume


@pytest.mark.parametrize("plant", [_plant_dead_owner, _plant_silent_remote_owner], ids=["dead-pid", "silent-host"])
def test_two_runs_judging_one_stale_lock_at_once_never_both_own_it(tmp_path, plant):
    path = tmp_path / "cell.lock"
    plant(path)
    a, b = CellLock(path, stale_after=60), CellLock(path, stale_after=60)
    judged, resume = _pause_after_judging_stale(b)
    got: dict[str, bool] = {}
    thread = threading.Thread(target=lambda: got.setdefault("b", b.try_acquire()))
    thread.start()
    try:
        assert judged.wait(20), "b never judged the planted lock stale"
        assert a.try_acquire()  # a takes the lock over while b sits between judging it stale and breaking it
    finally:
        resume.set()
        thread.join(20)
    try:
        owners = [name for name, lock in (("a", a), ("b", b)) if lock.acquired]
        assert owners == ["a"] and got == {"b": False}
        assert json.loads(path.read_text())["token"] == a.token  # a's lock file is still there, untouched
    finally:
        a.release()
        b.release()


def test_the_takeover_steps_interleaved_give_one_owner(tmp_path):
    path = tmp_path / "cell.lock"
    _plant_dead_owner(path)
    a, b = CellLock(path), CellLock(path)
    seen_a, seen_b = a.owner(), b.owner()
    assert seen_a == seen_b and a.is_stale() and b.is_stale()
    stale_identity = "token:dead-owner"
    assert a._break_stale(stale_identity) and a._create()  # a breaks the stale lock and creates its own
    assert b._break_stale(stale_identity)  # b breaks "the same" stale lock: it is gone, b must not touch a's
    assert not b._create()
    assert a.acquired and not b.acquired and a.owner()["token"] == a.token
    assert not b.try_acquire()  # a is alive: its lock is not stale
    a.release()


def test_a_breaker_holding_the_break_guard_keeps_the_others_out(tmp_path):
    path = tmp_path / "cell.lock"
    _plant_dead_owner(path)
    a, b = CellLock(path), CellLock(path)
    guard = a._guard("token:dead-owner")
    assert guard.try_acquire()  # a is inside its takeover, between the guard and moving the stale lock aside
    assert not b.try_acquire() and not b.acquired  # b backs off: someone is taking the stale lock over
    a._move_aside("token:dead-owner")
    guard.release()
    assert a._create() and not b.try_acquire()
    assert not guard.path.exists()
    a.release()


def test_a_guard_left_by_a_killed_breaker_is_taken_over(tmp_path):
    path = tmp_path / "cell.lock"
    _plant_dead_owner(path)
    orphan = CellLock(path)._guard("token:dead-owner").path  # a breaker died holding it
    orphan.write_text(json.dumps({"host": socket.gethostname(), "pid": _dead_pid(), "token": "dead-breaker"}))
    lock = CellLock(path)
    assert lock.try_acquire() and lock.owner()["token"] == lock.token
    assert [p.name for p in tmp_path.iterdir()] == ["cell.lock"]  # the orphaned guard was broken and removed
    lock.release()


def test_a_lock_file_without_a_token_is_stale_only_once_old(tmp_path):
    path = tmp_path / "cell.lock"
    path.write_bytes(b"")  # its creator died between O_EXCL and writing, or is writing it this instant
    assert not CellLock(path, stale_after=60).try_acquire()
    old = time.time() - 120
    os.utime(path, (old, old))
    lock = CellLock(path, stale_after=60)
    assert lock.try_acquire() and lock.owner()["token"] == lock.token
    lock.release()


def test_the_heartbeat_stops_when_the_file_is_no_longer_its_lock(tmp_path):
    path = tmp_path / "cell.lock"
    lock = CellLock(path, heartbeat=0.02)
    assert lock.try_acquire()
    path.write_text(json.dumps({"host": "elsewhere.invalid", "pid": 1, "token": "successor"}))
    old = time.time() - 500
    os.utime(path, (old, old))
    deadline = time.time() + 5
    while not lock.lost and time.time() < deadline:
        time.sleep(0.02)
    assert lock.lost
    time.sleep(0.1)
    assert time.time() - path.stat().st_mtime > 400  # it did not refresh the successor's lock
    lock.release()
    assert json.loads(path.read_text())["token"] == "successor"  # nor removed it


def test_many_threads_racing_for_one_stale_lock_give_exactly_one_owner(tmp_path):
    for round_ in range(15):
        path = tmp_path / f"cell{round_}.lock"
        (_plant_dead_owner if round_ % 2 else _plant_silent_remote_owner)(path)
        locks = [CellLock(path, stale_after=60) for _ in range(12)]
        start = threading.Barrier(len(locks))

        def contend(lock: CellLock) -> None:
            start.wait(10)
            lock.try_acquire()

        threads = [threading.Thread(target=contend, args=(lock,)) for lock in locks]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        owners = [lock for lock in locks if lock.acquired]
        assert len(owners) == 1, f"round {round_}: {len(owners)} owners"
        assert json.loads(path.read_text())["token"] == owners[0].token
        assert [p.name for p in tmp_path.glob(f"cell{round_}.lock*")] == [path.name]  # no guard left behind
        for lock in locks:
            lock.release()


def _contend_in_process(path: str, start, done, results) -> None:
    lock = CellLock(path, stale_after=60)
    start.wait(20)
    results.put((os.getpid(), lock.try_acquire()))
    done.wait(20)  # hold the lock (alive) until every contender has tried
    lock.release()


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_many_processes_racing_for_one_stale_lock_give_exactly_one_owner(tmp_path):
    ctx = multiprocessing.get_context("fork")
    for round_ in range(3):
        path = tmp_path / f"cell{round_}.lock"
        _plant_dead_owner(path)
        n = 6
        start, done, results = ctx.Barrier(n), ctx.Barrier(n), ctx.Queue()
        procs = [ctx.Process(target=_contend_in_process, args=(str(path), start, done, results)) for _ in range(n)]
        for p in procs:
            p.start()
        outcomes = [results.get(timeout=30) for _ in procs]
        for p in procs:
            p.join(30)
        assert sum(ok for _, ok in outcomes) == 1, f"round {round_}: {outcomes}"
        assert [p.exitcode for p in procs] == [0] * n
