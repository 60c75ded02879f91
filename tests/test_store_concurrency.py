"""Several writers on one results directory: lock files, a run killed with SIGKILL, two runs at once."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from serbench.bench.locks import CellLock
from serbench.bench.runner import LocalRunner
from serbench.bench.spec import load_spec
from serbench.bench.store import Store

SPEC = {
    "name": "concurrency",
    "dataset": {"name": "synthetic", "params": {"utterances_per_class": 4, "seed": 11}, "folds": [0]},
    "frontend": {"seconds": 1.0},
    "training": {"iterations": 30, "eval_every": 15, "batch_size": 16},
    "models": ["cnn4.tiny"],
    "seeds": [0, 1, 2],
    "attacks": [{"name": "fgsm", "eps": [0.01, 0.02]}],
}


def test_a_lock_is_exclusive_until_released(tmp_path):
    a, b = CellLock(tmp_path / "k.lock"), CellLock(tmp_path / "k.lock")
    assert a.try_acquire() and not b.try_acquire()
    assert a.owner()["pid"] == os.getpid()
    a.release()
    assert not (tmp_path / "k.lock").exists() and b.try_acquire()
    b.release()


def test_a_dead_owner_on_this_host_or_a_silent_one_elsewhere_is_stale(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    path = tmp_path / "k.lock"
    path.write_text(json.dumps({"host": socket.gethostname(), "pid": int(dead.stdout), "token": "x"}))
    lock = CellLock(path)
    assert lock.try_acquire()
    lock.release()
    path.write_text(json.dumps({"host": "elsewhere", "pid": 1, "token": "y"}))
    assert not CellLock(path, stale_after=60).try_acquire()  # fresh heartbeat: alive as far as we know
    old = time.time() - 120
    os.utime(path, (old, old))
    taker = CellLock(path, stale_after=60)
    assert taker.try_acquire() and taker.owner()["token"] == taker.token
    taker.release()


def test_the_owner_keeps_its_lock_fresh(tmp_path):
    lock = CellLock(tmp_path / "k.lock", heartbeat=0.05)
    assert lock.try_acquire()
    old = time.time() - 100
    os.utime(lock.path, (old, old))
    time.sleep(0.3)
    assert time.time() - lock.path.stat().st_mtime < 5
    lock.release()


def _write_spec(tmp_path: Path) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(SPEC))
    return path


def _start(spec: Path, results: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "serbench", "run", str(spec), "--results", str(results), "-q",
                             "--device", "cpu"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _expected(spec: Path) -> tuple[set[str], set[str]]:
    s = load_spec(spec)
    trains = LocalRunner(s, Store(spec.parent / "unused"), device="cpu").train_cells()  # keys need the data
    return {tc.key for tc in trains}, {e.key for tc in trains for e in s.eval_cells(tc)}


def _records(results: Path) -> dict[str, dict]:
    out = {}
    for path in (results / "records").glob("*.json"):
        rec = json.loads(path.read_text())  # every file is complete, valid JSON
        assert path.stem == rec["key"] and rec["key"] not in out
        out[rec["key"]] = rec
    return out


def _dead_owner_lock(path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"host": socket.gethostname(), "pid": int(dead.stdout), "token": "dead"}))


def test_the_store_sweeps_locks_whose_owner_is_gone_and_keeps_live_ones(tmp_path):
    store = Store(tmp_path)
    _dead_owner_lock(store.locks_dir / "complete-cell.lock")
    live = store.lock("running-cell")
    assert live.try_acquire()
    try:
        assert store.remove_stale_locks() == 1
        assert [p.name for p in store.locks_dir.glob("*.lock")] == ["running-cell.lock"]
        assert live.owner()["token"] == live.token
    finally:
        live.release()


@pytest.mark.slow
def test_a_run_killed_with_sigkill_resumes_without_redoing_finished_work(tmp_path):
    spec, results = _write_spec(tmp_path), tmp_path / "results"
    train_keys, eval_keys = _expected(spec)
    proc = _start(spec, results)
    deadline = time.time() + 240
    while time.time() < deadline:  # kill it once the first model is trained and evaluated, mid-matrix
        recs = _records(results) if (results / "records").is_dir() else {}
        if any(r["kind"] == "eval" for r in recs.values()):
            break
        time.sleep(0.2)
    else:
        pytest.fail("the run wrote no eval record in time")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {k: r["created"] for k, r in _records(results).items() if r["kind"] == "train"}
    assert 0 < len(before) < len(train_keys), f"{len(before)} of {len(train_keys)} models trained before the kill"
    # The kill can land after a cell's last record but before its lock's release; make that case certain.
    _dead_owner_lock(results / "locks" / f"{next(iter(before))}.lock")
    rerun = _start(spec, results)
    out, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err
    recs = _records(results)
    assert {k for k, r in recs.items() if r["kind"] == "eval"} == eval_keys, err
    assert {k for k, r in recs.items() if r["kind"] == "train"} == train_keys, err
    assert all(r["status"] == "ok" for r in recs.values()), [r.get("error") for r in recs.values()]
    assert all(recs[k]["created"] == created for k, created in before.items()), err  # not trained again
    assert not list((results / "locks").glob("*.lock")), err


@pytest.mark.slow
def test_two_concurrent_runs_compute_every_cell_exactly_once(tmp_path):
    spec, results = _write_spec(tmp_path), tmp_path / "results"
    train_keys, eval_keys = _expected(spec)
    runs = [_start(spec, results), _start(spec, results)]
    outputs = [p.communicate(timeout=600) for p in runs]
    assert [p.returncode for p in runs] == [0, 0], outputs
    computed = cached = 0
    for _, err in outputs:
        m = re.search(r"(\d+) computed, (\d+) cached, 0 failed", err)
        assert m, err
        computed, cached = computed + int(m.group(1)), cached + int(m.group(2))
    assert computed == len(eval_keys) and cached == len(eval_keys)  # each cell computed by exactly one run
    recs = _records(results)
    assert {k for k, r in recs.items() if r["kind"] == "eval"} == eval_keys
    assert {k for k, r in recs.items() if r["kind"] == "train"} == train_keys
    assert all(r["status"] == "ok" for r in recs.values())


# -- fault injection: the write hook of serbench.files and benchmarks/fault_injection.py ----------------------

_WRITE_THREE = """
import sys
from pathlib import Path
from serbench.files import write_bytes_atomic
for i in range(3):
    write_bytes_atomic(Path(sys.argv[1]) / f"f{i}.bin", bytes(range(200)), durable=True)
"""


def test_the_fault_hook_kills_its_process_halfway_through_the_nth_atomic_write(tmp_path):
    env = {**os.environ, "SERBENCH_FAULT_KILL_WRITE": "2"}
    done = subprocess.run([sys.executable, "-c", _WRITE_THREE, str(tmp_path)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert f"SIGKILL in atomic write 2 of {tmp_path / 'f1.bin'}" in done.stderr
    assert (tmp_path / "f0.bin").read_bytes() == bytes(range(200))  # the writes before it are complete
    assert not (tmp_path / "f1.bin").exists() and not (tmp_path / "f2.bin").exists()  # no half file in place
    (temp,) = tmp_path.glob(".f1.bin.*.tmp")  # what a writer killed mid-write leaves: half a temp file
    assert temp.read_bytes() == bytes(range(100))
    del env["SERBENCH_FAULT_KILL_WRITE"]
    again = subprocess.run([sys.executable, "-c", _WRITE_THREE, str(tmp_path)], env=env, capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 0 and (tmp_path / "f2.bin").read_bytes() == bytes(range(200)), again.stderr


@pytest.mark.parametrize("value", ["0", "-3", "second"])
def test_a_malformed_fault_hook_value_is_a_one_line_error(tmp_path, monkeypatch, value):
    from serbench.errors import SerbenchError
    from serbench.files import write_bytes_atomic

    monkeypatch.setenv("SERBENCH_FAULT_KILL_WRITE", value)
    with pytest.raises(SerbenchError, match=r"SERBENCH_FAULT_KILL_WRITE=.*positive write number.*unset it"):
        write_bytes_atomic(tmp_path / "f.bin", b"data")
    assert list(tmp_path.iterdir()) == []  # nothing written, no temp file left


@pytest.mark.slow
def test_the_fault_injection_script_quick_round_meets_its_goals(tmp_path):
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "fault_injection.py"
    done = subprocess.run([sys.executable, str(script), "--quick", "--rounds", "1", "--seed", "0",
                           "--workdir", str(tmp_path / "fi")], capture_output=True, text=True, timeout=900)
    for row in ("runs killed", "files corrupted", "cells lost", "cells duplicated", "records failing verification",
                "metric mismatches", "wall time"):
        assert row in done.stdout, done.stdout + done.stderr
    assert done.returncode == 0 and "all goals met" in done.stdout, done.stdout + done.stderr[-3000:]
