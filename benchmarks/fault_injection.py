"""Fault injection: kill, corrupt and race runs on one results store, then check that nothing was lost.

The store promises that a run killed at any point (even by SIGKILL, even in the
middle of writing a record or a checkpoint), a damaged record or checkpoint, and
several runs at once on one store all end, after one more undisturbed run, in
the same results as a single undisturbed run. This script tries to break that
promise. It writes a tiny spec (the embedded ``synthetic`` corpus, ``cnn4.small``,
2 seeds x (clean + FGSM at 2 eps + white noise at 1 SNR); ``--quick``: ``cnn4.tiny``,
1 seed, clean + FGSM + white noise), runs it once undisturbed into a reference
store, and then, round after round, on a second store:

- starts one to three ``serbench run SPEC --results STORE --quiet`` at once;
- kills each (SIGKILL) after a random delay (its phase, training or evaluation,
  told by the lock it holds and whether its checkpoint exists), or in the middle
  of its Nth atomic write (``SERBENCH_FAULT_KILL_WRITE=N``, see
  :mod:`serbench.files`: a record, checkpoint or feature-cache write), or lets it
  finish;
- between rounds damages records (truncated, a digit of ``uar`` changed,
  ``null``, binary garbage) and checkpoints (truncated, garbage).

At the end one more undisturbed run, then the checks (goals: all zero): every
cell of the spec has exactly one record (cells lost, cells duplicated, stray
files in ``records/``), every record passes ``Store.verify``, and the uar, wa and
predictions of every eval cell equal the reference's. Exit status 1 when a goal
is missed, 2 when the set-up itself fails.

    .venv/bin/python benchmarks/fault_injection.py                   # 5 rounds, seed 0
    .venv/bin/python benchmarks/fault_injection.py --rounds 20 --seed 3 --workdir /tmp/fi
    .venv/bin/python benchmarks/fault_injection.py --quick --rounds 1  # smoke test (tests/test_store_concurrency.py)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

FAULT_ENV = "SERBENCH_FAULT_KILL_WRITE"  # serbench.files.FAULT_KILL_WRITE_ENV, not imported: no torch here
KEY_NAME = re.compile(r"[0-9a-f]{64}\.json")

FULL_SPEC: dict[str, Any] = {
    "name": "fault-injection",
    "dataset": {"name": "synthetic", "params": {"utterances_per_class": 4, "seed": 11}, "folds": [0]},
    "frontend": {"seconds": 1.0},
    "training": {"iterations": 20, "eval_every": 10, "batch_size": 16},
    "models": ["cnn4.small"],
    "seeds": [0, 1],
    "attacks": [{"name": "fgsm", "domain": "feature", "norm": "linf", "eps": [0.005, 0.01]}],
    "noises": [{"name": "white", "snr": [10]}],
}
QUICK_SPEC: dict[str, Any] = {
    **FULL_SPEC,
    "name": "fault-injection-quick",
    "training": {"iterations": 6, "eval_every": 3, "batch_size": 16},
    "models": ["cnn4.tiny"],
    "seeds": [0],
    "attacks": [{"name": "fgsm", "domain": "feature", "norm": "linf", "eps": [0.01]}],
}


@dataclass
class Tally:
    """What happened, for the summary table."""

    rounds: int = 0
    runs_started: int = 0
    killed: Counter = field(default_factory=Counter)  # by phase
    finished_ok: int = 0
    finished_failed: list[str] = field(default_factory=list)  # first line of each failing run's stderr
    hung: int = 0
    corrupted: Counter = field(default_factory=Counter)  # by kind of damage


def serbench_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "serbench", *args]


def start_run(spec: Path, store: Path, log: Path, fault_write: int | None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != FAULT_ENV}
    if fault_write is not None:
        env[FAULT_ENV] = str(fault_write)
    out = open(log, "wb")  # noqa: SIM115 - closed by finish()
    proc = subprocess.Popen(serbench_cmd("run", str(spec), "--results", str(store), "--quiet", "--device", "cpu"),
                            stdout=out, stderr=subprocess.STDOUT, env=env)
    proc.log, proc.log_fh = log, out  # type: ignore[attr-defined]
    return proc


def finish(proc: subprocess.Popen) -> str:
    proc.log_fh.close()  # type: ignore[attr-defined]
    return proc.log.read_text(errors="replace")  # type: ignore[attr-defined]


def phase_of(pid: int, store: Path) -> str:
    """What a run is doing now: training or evaluating the cell whose lock it holds, else between cells."""
    for lock in (store / "locks").glob("*.lock"):
        try:
            owner = json.loads(lock.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(owner, dict) and owner.get("pid") == pid:
            key = lock.name[: -len(".lock")]
            return "evaluation" if (store / "checkpoints" / f"{key}.pt").exists() else "training"
    return "start-up or between cells"


def phase_of_write(log_text: str) -> str:
    m = re.search(r"fault injection: SIGKILL in atomic write \d+ of (\S+)", log_text)
    if not m:
        return "write (unknown file)"
    path = m.group(1)
    for folder, phase in (("/records/", "record write"), ("/checkpoints/", "checkpoint write"),
                          ("/cache/", "feature-cache write")):
        if folder in path:
            return phase
    return "other write"


def count_writes(store: Path) -> int:
    """About how many atomic writes one run into an empty store makes: every file it left."""
    return sum(1 for p in store.rglob("*") if p.is_file() and not p.name.endswith(".lock"))


def run_round(rng: random.Random, spec: Path, store: Path, logs: Path, ref_seconds: float, writes: int,
              max_parallel: int, tally: Tally) -> None:
    n = rng.randint(1, max_parallel)
    procs = []
    for _ in range(n):
        fate = rng.choices(["delay", "write", "none"], weights=[0.45, 0.4, 0.15])[0]
        fault = rng.randint(1, max(1, writes)) if fate == "write" else None
        kill_at = rng.uniform(0.05, 1.0) * ref_seconds if fate == "delay" else None
        log = logs / f"run{tally.runs_started:03d}.log"
        proc = start_run(spec, store, log, fault)
        tally.runs_started += 1
        procs.append({"proc": proc, "fate": fate, "kill_at": kill_at, "start": time.monotonic(), "phase": None})
    deadline = time.monotonic() + 20 * ref_seconds + 60
    while any(p["proc"].poll() is None for p in procs):
        now = time.monotonic()
        for p in procs:
            proc = p["proc"]
            if proc.poll() is not None:
                continue
            if p["kill_at"] is not None and now - p["start"] >= p["kill_at"]:
                p["phase"] = phase_of(proc.pid, store)
                proc.send_signal(signal.SIGKILL)
                proc.wait()
            elif now > deadline:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                p["phase"] = "hung"
        time.sleep(0.05)
    for p in procs:
        proc, text = p["proc"], finish(p["proc"])
        if p["phase"] == "hung":
            tally.hung += 1
        elif proc.returncode == -signal.SIGKILL:
            tally.killed[p["phase"] or phase_of_write(text)] += 1
        elif proc.returncode == 0:
            tally.finished_ok += 1
        else:
            lines = [ln for ln in text.splitlines() if ln.strip()]
            tally.finished_failed.append(f"rc {proc.returncode}: {lines[-1] if lines else '(no output)'}")


def corrupt(rng: random.Random, store: Path, tally: Tally, max_files: int) -> None:
    """Damage up to ``max_files`` random records or checkpoints in place."""
    records = sorted((store / "records").glob("*.json"))
    checkpoints = sorted((store / "checkpoints").glob("*.pt"))
    for _ in range(rng.randint(1, max_files)):
        if records and (not checkpoints or rng.random() < 0.7):
            path = rng.choice(records)
            how = rng.choice(["truncate", "flip uar digit", "null", "garbage"])
            data = path.read_bytes()
            if how == "flip uar digit":
                m = re.search(rb'"uar": -?\d+\.(\d+)', data)
                if not m:
                    how = "truncate"  # a train or failed record has no uar
                else:
                    i = m.start(1) + rng.randrange(len(m.group(1)))
                    new = str((int(chr(data[i])) + rng.randint(1, 9)) % 10).encode()
                    data = data[:i] + new + data[i + 1:]
            if how == "truncate":
                data = data[: len(data) // 2]
            elif how == "null":
                data = b"null"
            elif how == "garbage":
                data = rng.randbytes(max(16, len(data)))
            path.write_bytes(data)
            tally.corrupted[f"record: {how}"] += 1
        elif checkpoints:
            path = rng.choice(checkpoints)
            how = rng.choice(["truncate", "garbage"])
            data = path.read_bytes()
            path.write_bytes(data[: len(data) // 2] if how == "truncate" else rng.randbytes(len(data)))
            tally.corrupted[f"checkpoint: {how}"] += 1


def expected_cells(spec: Path, store: Path) -> tuple[set[str], set[str], dict[str, str]]:
    """The spec's train and eval keys (``serbench run --dry-run --json``) and the CLI's state of each cell."""
    done = subprocess.run(serbench_cmd("run", str(spec), "--results", str(store), "--dry-run", "--json"),
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"fault_injection: the dry run failed: {done.stderr.strip() or done.stdout.strip()}")
    cells = json.loads(done.stdout)["cells"]
    trains = {c["key"] for c in cells if c["kind"] == "train"}
    evals = {c["key"] for c in cells if c["kind"] == "eval"}
    return trains, evals, {c["key"]: c["state"] for c in cells}


def load_records(store: Path) -> tuple[dict[str, list[Any]], list[str]]:
    """Every record file by the key it holds (a list: duplicates show), and the names of stray files."""
    by_key: dict[str, list[Any]] = {}
    stray = []
    folder = store / "records"
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if not KEY_NAME.fullmatch(path.name):
            if not (path.name.startswith(".") and path.name.endswith(".tmp")):
                stray.append(path.name)  # a left-over temp file is fine; anything else is not
            continue
        try:
            rec = json.loads(path.read_bytes())
        except (ValueError, UnicodeDecodeError):
            rec = None
        key = rec.get("key") if isinstance(rec, dict) else None
        if key != path.name[: -len(".json")]:
            by_key.setdefault(path.name[: -len(".json")], []).append(rec)
            if key is not None:
                stray.append(f"{path.name} (holds key {key})")
            continue
        by_key.setdefault(key, []).append(rec)
    return by_key, stray


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def check(spec: Path, store: Path, reference: Path) -> dict[str, Any]:
    from serbench.bench.store import Store  # imported late: the set-up above needs no torch

    trains, evals, states = expected_cells(spec, store)
    records, stray = load_records(store)
    ref_records, _ = load_records(reference)
    verify = getattr(Store(store), "verify", None)
    out: dict[str, Any] = {"lost": [], "duplicated": [], "unverified": [], "mismatch": [], "stray": stray,
                           "not done (dry run)": [k for k, s in states.items() if s != "done"]}
    for key in sorted(trains | evals):
        recs = records.get(key, [])
        kind = "train" if key in trains else "eval"
        if not recs:
            out["lost"].append(f"{kind} {key[:12]}")
            continue
        if len(recs) > 1:
            out["duplicated"].append(f"{kind} {key[:12]} x{len(recs)}")
        rec = recs[0]
        problem = "not a JSON record" if not isinstance(rec, dict) else (verify(rec) if verify else None)
        if problem:
            out["unverified"].append(f"{kind} {key[:12]}: {problem}")
            continue
        if kind == "eval":
            ref = (ref_records.get(key) or [None])[0]
            if not isinstance(ref, dict):
                out["mismatch"].append(f"eval {key[:12]}: no reference record")
                continue
            diffs = [] if rec.get("status") == ref.get("status") else ["status"]
            for name in ("uar", "wa", "predictions"):
                if not same(rec.get("metrics", {}).get(name), ref.get("metrics", {}).get(name)):
                    diffs.append(name)
            if diffs:
                out["mismatch"].append(f"eval {key[:12]}: {', '.join(diffs)} differ")
    out["verify available"] = verify is not None
    return out


def checkpoint_damage(store: Path) -> int:
    """Checkpoints whose bytes do not match their .sha256 (left damaged; information, not a goal)."""
    import hashlib

    bad = 0
    for path in (store / "checkpoints").glob("*.pt"):
        digest = path.with_name(path.name + ".sha256")
        if digest.exists() and hashlib.sha256(path.read_bytes()).hexdigest() != digest.read_text().strip():
            bad += 1
    return bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=None, help="rounds of kills and damage (default 5; --quick: 1)")
    ap.add_argument("--seed", type=int, default=0, help="seed of every random choice (which run dies when, ...)")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="an empty or new folder for the spec, the stores and the logs (default: a temp folder, "
                         "removed afterwards)")
    ap.add_argument("--quick", action="store_true", help="a smaller spec and at most two runs at once (smoke test)")
    args = ap.parse_args()
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 5)
    if rounds < 0:
        ap.error("--rounds: expected 0 or more")
    if args.workdir is not None and args.workdir.exists() and any(args.workdir.iterdir()):
        ap.error(f"--workdir {args.workdir}: not empty; give an empty or new folder")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="serbench-faults-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        return run(work, rounds, args.seed, args.quick)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


def run(work: Path, rounds: int, seed: int, quick: bool) -> int:
    t0 = time.monotonic()
    rng = random.Random(seed)
    spec, reference, store, logs = work / "spec.yaml", work / "reference", work / "store", work / "logs"
    logs.mkdir()
    spec.write_text(yaml.safe_dump(QUICK_SPEC if quick else FULL_SPEC, sort_keys=False))
    tally = Tally()

    start = time.monotonic()
    ref = start_run(spec, reference, logs / "reference.log", None)
    ref.wait()
    ref_text = finish(ref)
    ref_seconds = time.monotonic() - start
    if not (reference / "records").is_dir():
        print(f"fault_injection: the reference run wrote no record (rc {ref.returncode}):\n{ref_text}",
              file=sys.stderr)
        return 2
    writes = count_writes(reference)

    for _ in range(rounds):
        run_round(rng, spec, store, logs, ref_seconds, writes, 2 if quick else 3, tally)
        tally.rounds += 1
        if (store / "records").is_dir():
            corrupt(rng, store, tally, 1 if quick else 2)

    final = start_run(spec, store, logs / "final.log", None)
    final.wait()
    final_text = finish(final)
    tally.runs_started += 1
    found = check(spec, store, reference)
    wall = time.monotonic() - t0

    rows = [
        ("rounds", tally.rounds, ""),
        ("runs started", tally.runs_started, "including the final run"),
        ("runs killed", sum(tally.killed.values()),
         ", ".join(f"{k}: {v}" for k, v in sorted(tally.killed.items())) or "-"),
        ("runs finished ok", tally.finished_ok, "undisturbed or killed after their last write"),
        ("runs failed", len(tally.finished_failed), "; ".join(tally.finished_failed[:3])),
        ("runs hung (killed)", tally.hung, ""),
        ("files corrupted", sum(tally.corrupted.values()),
         ", ".join(f"{k}: {v}" for k, v in sorted(tally.corrupted.items())) or "-"),
        ("reference run", f"rc {ref.returncode}", f"{ref_seconds:.1f} s, ~{writes} atomic writes"),
        ("final run", f"rc {final.returncode}", _last_line(final_text)),
        ("cells lost", len(found["lost"]), "; ".join(found["lost"][:4])),
        ("cells duplicated", len(found["duplicated"]) + len(found["stray"]),
         "; ".join((found["duplicated"] + found["stray"])[:4])),
        ("records failing verification", len(found["unverified"]),
         "; ".join(found["unverified"][:3]) if found["verify available"] else "Store.verify missing: JSON only"),
        ("metric mismatches", len(found["mismatch"]), "; ".join(found["mismatch"][:4])),
        ("cells not done (dry run)", len(found["not done (dry run)"]), "information"),
        ("damaged checkpoints left", checkpoint_damage(store), "information: never reloaded"),
        ("wall time", f"{wall:.0f} s", str(work)),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"fault injection: seed {seed}, {'quick' if quick else 'full'} spec")
    for name, value, note in rows:
        print(f"  {name:<{width}}  {str(value):>8}  {note}")
    goals = {"cells lost": len(found["lost"]), "cells duplicated": len(found["duplicated"]) + len(found["stray"]),
             "records failing verification": len(found["unverified"]), "metric mismatches": len(found["mismatch"]),
             "final run failed": int(final.returncode != 0), "runs hung": tally.hung}
    missed = {k: v for k, v in goals.items() if v}
    if missed:
        print("MISSED: " + ", ".join(f"{k} ({v})" for k, v in missed.items()))
        for name in ("lost", "duplicated", "stray", "unverified", "mismatch"):
            for line in found[name]:
                print(f"  {name}: {line}")
        if final.returncode != 0:
            print(f"  final run output (tail):\n{final_text[-2000:]}")
        return 1
    print("all goals met")
    return 0


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:100] if lines else ""


if __name__ == "__main__":
    sys.exit(main())
