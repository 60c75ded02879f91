"""Re-verify a sample of a submission's cells: re-run them and compare their metrics with the records'.

``serbench leaderboard --verify BUNDLE --sample N`` opens a bundle (:mod:`serbench.bench.submission`), checks
every file against its manifest, picks ``N`` eval cells with a seeded generator and re-runs them in a temporary
results store with the bundle's spec: by default evaluating the bundle's checkpoints (copied into the store
under their train keys, with their train records, so the runner loads rather than trains), with ``retrain``
training each sampled cell's model from scratch first. A folder of records without a manifest (the committed
``leaderboard/``) is verified the same way with the specs given, and retraining, as it holds no checkpoints.

The tolerance (:data:`DEFAULT_TOLERANCE`) bounds the absolute difference of UAR and accuracy. The same code at
the same thread count on a CPU with serbench's portable kernels reproduces a record exactly (difference 0), and
a cell's key names its thread count, so a re-run that finds the cell plans it that way. The 0.01 absorbs another
BLAS build rounding a near-tie logit the other way: one flipped prediction in the 192 test utterances of the
embedded corpus moves UAR and accuracy by about 0.005, so 0.01 allows one or two such flips and rejects any
record whose predictions were altered beyond that. Worst-case cells are not sampled: they are a per-utterance
minimum over other records, whose predictions are what a re-run checks.
"""

from __future__ import annotations

import json
import random
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from serbench.bench.conditions import Transfer
from serbench.bench.spec import Spec, load_spec
from serbench.bench.store import Store
from serbench.bench.submission import FORMAT, MANIFEST, SPEC_FILE, TAR_SUFFIXES, sha256_file
from serbench.errors import SerbenchError

DEFAULT_TOLERANCE = 0.01
METRICS = ("uar", "wa")


@dataclass
class Opened:
    """A bundle or records folder ready to verify: its root (records/ and checkpoints/), the manifest (None for a
    records folder) and the temporary folder it was unpacked into (removed by :meth:`close`)."""

    root: Path
    manifest: dict[str, Any] | None
    unpacked: Path | None = None

    @property
    def spec_path(self) -> Path | None:
        return None if self.manifest is None else self.root / SPEC_FILE

    def close(self) -> None:
        if self.unpacked is not None:
            shutil.rmtree(self.unpacked, ignore_errors=True)


def open_bundle(path: Path) -> Opened:
    """Unpack a ``.tar.gz`` bundle (regular files under relative paths only) or take a folder as it is; a bundle's
    files must be exactly those its manifest lists, each with the sha256 it lists."""
    if not path.exists():
        raise SerbenchError(f"--verify {path}: no such bundle or folder")
    if path.is_dir():
        if not (path / MANIFEST).is_file():
            if not (path / "records").is_dir():
                raise SerbenchError(f"--verify {path}: neither a submission bundle ({MANIFEST}) nor a records "
                                    "folder (records/)")
            return Opened(path, None)
        opened = Opened(path, None)
    elif path.name.endswith(TAR_SUFFIXES):
        tmp = Path(tempfile.mkdtemp(prefix="serbench-bundle-"))
        opened = Opened(tmp, None, tmp)
        try:
            with tarfile.open(path, "r:gz") as tar:
                for member in tar.getmembers():
                    name = Path(member.name)
                    if not (member.isfile() or member.isdir()) or name.is_absolute() or ".." in name.parts:
                        raise SerbenchError(f"--verify {path}: member {member.name!r} is not a plain file inside "
                                            "the bundle; refusing it")
                tar.extractall(tmp, filter="data")
        except (tarfile.TarError, OSError, EOFError) as exc:
            opened.close()
            raise SerbenchError(f"--verify {path}: not a readable .tar.gz bundle ({exc})") from None
        except SerbenchError:
            opened.close()
            raise
    else:
        raise SerbenchError(f"--verify {path}: a bundle is a .tar.gz file or a folder")
    try:
        opened.manifest = check_manifest(opened.root, path)
    except SerbenchError:
        opened.close()
        raise
    return opened


def check_manifest(root: Path, shown: Path) -> dict[str, Any]:
    """The manifest of the bundle at ``root``, after checking every file's sha256 and that no file is unlisted."""
    try:
        manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (FileNotFoundError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SerbenchError(f"{shown}: {MANIFEST} is missing or not JSON ({exc}); submit the results again") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("files"),
                                                                                           dict):
        raise SerbenchError(f"{shown}: {MANIFEST} is not a serbench submission manifest")
    listed = manifest["files"]
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} - {MANIFEST}
    for name in sorted(present - set(listed)):
        raise SerbenchError(f"{shown}: {name} is not listed in its manifest (added after submission); remove it")
    for name, want in sorted(listed.items()):
        if name not in present:
            raise SerbenchError(f"{shown}: {name} is listed in its manifest but missing")
        if sha256_file(root / name) != want:
            raise SerbenchError(f"{shown}: {name} does not match its manifest sha256 (changed after submission)")
    if manifest.get("spec", {}).get("sha256") != listed.get(SPEC_FILE):
        raise SerbenchError(f"{shown}: the manifest's spec sha256 is not that of {SPEC_FILE}")
    return manifest


@dataclass
class CellCheck:
    """One re-run cell: its label, the stored and re-run metrics and the verdict's reason when rejected."""

    key: str
    label: str
    stored: dict[str, float] = field(default_factory=dict)
    again: dict[str, float] = field(default_factory=dict)
    differing: int | None = None  # predictions that differ (same utterance ids)
    n: int | None = None
    problem: str | None = None

    @property
    def differences(self) -> dict[str, float]:
        return {m: abs(self.again[m] - self.stored[m]) for m in METRICS if m in self.again and m in self.stored}

    def accepted(self, tolerance: float) -> bool:
        return self.problem is None and bool(self.differences) and max(self.differences.values()) <= tolerance

    def line(self, tolerance: float) -> str:
        verdict = "ok  " if self.accepted(tolerance) else "FAIL"
        if self.problem is not None:
            return f"{verdict} {self.label}: {self.problem}"
        parts = [f"{m} {self.stored[m]:.4f} -> {self.again[m]:.4f} (diff {d:.4f})" for m, d in self.differences.items()]
        if self.differing is not None:
            parts.append(f"{self.differing}/{self.n} predictions differ")
        return f"{verdict} {self.label}: " + ", ".join(parts)


@dataclass
class Report:
    seed: int
    tolerance: float
    retrain: bool
    cells: list[CellCheck] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return bool(self.cells) and all(c.accepted(self.tolerance) for c in self.cells)


def sample_records(root: Path, n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` ok eval records of the store at ``root`` (verified: digest, metrics from predictions, no duplicate
    cell), drawn with ``random.Random(seed)`` from their key order; worst-case cells are derived, not sampled."""
    from serbench.leaderboard.verify import check_records

    records = check_records(Store(root).records(strict=True))
    pool = sorted((r for r in records if r.get("kind") == "eval" and r.get("status") == "ok"
                   and (r.get("condition") or {}).get("type") != "worst_case"), key=lambda r: r["key"])
    if n < 1:
        raise SerbenchError(f"--sample {n}: sample at least one cell")
    if n > len(pool):
        raise SerbenchError(f"--sample {n}: {root} has only {len(pool)} ok eval cells to sample; ask for fewer")
    return random.Random(seed).sample(pool, n)


def _device_type(record: dict[str, Any]) -> str:
    return str((record.get("env") or {}).get("device") or "cpu").split(":")[0]


def _threads(record: dict[str, Any]) -> int | None:
    threads = (record.get("env") or {}).get("threads")
    return threads if isinstance(threads, int) and threads > 0 else None


def verify_sample(path: Path, n: int, *, seed: int, tolerance: float = DEFAULT_TOLERANCE, retrain: bool = False,
                  specs: list[Path] | None = None, device: str | None = None,
                  progress: Callable[[str], None] = lambda line: None) -> Report:
    """Re-run ``n`` seeded eval cells of the bundle or records folder at ``path`` and compare UAR and accuracy."""
    if tolerance < 0:
        raise SerbenchError(f"--tolerance {tolerance}: give a non-negative difference, e.g. {DEFAULT_TOLERANCE}")
    opened = open_bundle(path)
    try:
        if opened.manifest is not None:
            if specs:
                raise SerbenchError(f"--spec: {path} is a submission bundle and carries its own spec; drop --spec")
            spec_paths = [opened.spec_path]
        else:
            spec_paths = list(specs or [])
            if not spec_paths:
                names = sorted({str(r.get("spec_name")) for r in Store(opened.root).records(strict=True)})
                raise SerbenchError(f"--verify {path}: a records folder holds no spec; give --spec for each of its "
                                    f"specs (its records name {', '.join(names) or 'none'}), e.g. "
                                    f"--spec benchmarks/{names[0] if names else 'quickstart'}.yaml --retrain")
            if not retrain:
                raise SerbenchError(f"--verify {path}: a records folder holds no checkpoints; pass --retrain to "
                                    "train the sampled cells' models again")
        loaded = [load_spec(p) for p in spec_paths]
        picked = sample_records(opened.root, n, seed)
        report = Report(seed, tolerance, retrain)
        with tempfile.TemporaryDirectory(prefix="serbench-verify-") as tmp:
            _rerun(opened.root, Store(tmp), loaded, picked, report, retrain, device, progress)
        return report
    finally:
        opened.close()


def _rerun(root: Path, store: Store, specs: list[Spec], picked: list[dict[str, Any]], report: Report, retrain: bool,
           device: str | None, progress: Callable[[str], None]) -> None:
    """Find each picked record's cell in the specs' expansions, group by train cell, re-run, compare."""
    from serbench.bench.runner import LocalRunner
    from serbench.bench.environment import environment

    source = Store(root)
    runners: dict[tuple[int, int | None, str], tuple[LocalRunner, dict[str, Any]]] = {}
    groups: dict[tuple[int, str], tuple[LocalRunner, Any, list[Any]]] = {}
    for rec in picked:
        dtype, threads = _device_type(rec), _threads(rec)
        found = None
        for i, spec in enumerate(specs):
            if (i, threads, dtype) not in runners:
                runner = LocalRunner(spec, store, device=device or dtype, threads=threads, device_type=dtype)
                cells = {e.key: (tc, e) for tc, evals in runner.plan() for e in evals}
                runners[(i, threads, dtype)] = (runner, cells)
            runner, cells = runners[(i, threads, dtype)]
            if rec["key"] in cells:
                found = (i, runner, *cells[rec["key"]])
                break
        if found is None:
            env = rec.get("env") or {}
            report.cells.append(CellCheck(rec["key"], f"record {rec['key'][:12]}", problem=(
                f"not a cell of {', '.join(s.name for s in specs)} here: its components' versions, data or thread "
                f"count differ from this installation's (record: serbench {env.get('serbench')}, "
                f"{env.get('threads')} threads on {env.get('device')})")))
            continue
        i, runner, tc, e = found
        groups.setdefault((i, tc.key), (runner, tc, []))[2].append((e, rec))
    for runner, tc, items in groups.values():
        keys = [tc.key] + [tc.source_of(e.condition).key for e, _ in items if isinstance(e.condition, Transfer)]
        if not retrain:
            for key in dict.fromkeys(keys):
                _copy_trained(source, store, key)
        what = "training" if retrain else "loading"
        progress(f"{what} {runner.describe_train(tc)}, evaluating {len(items)} cell(s)")
        runner.execute([(tc, [e for e, _ in items])], environment(runner.device))
        for e, rec in items:
            report.cells.append(_compare(runner.describe(e), rec, store.read(e.key)))


def _copy_trained(source: Store, dest: Store, key: str) -> None:
    """A train cell's checkpoint, digest and train record from the bundle into the temporary store, so the runner
    loads that model (it trains when it finds no checkpoint)."""
    ckpt = source.checkpoint_path(key)
    if not ckpt.is_file():
        raise SerbenchError(f"{ckpt}: the bundle has no checkpoint of train cell {key[:12]}; verify with --retrain")
    dest.checkpoints_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ckpt, dest.checkpoint_path(key))
    shutil.copyfile(source.checkpoint_digest_path(key), dest.checkpoint_digest_path(key))
    record = source.record_path(key)
    if record.is_file():
        dest.records_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(record, dest.record_path(key))


def _compare(label: str, stored: dict[str, Any], again: dict[str, Any] | None) -> CellCheck:
    check = CellCheck(stored["key"], label)
    if again is None or again.get("status") != "ok":
        check.problem = f"the re-run failed: {(again or {}).get('error') or 'no record written'}"
        return check
    old, new = stored.get("metrics") or {}, again.get("metrics") or {}
    check.stored = {m: old[m] for m in METRICS if isinstance(old.get(m), (int, float))}
    check.again = {m: new[m] for m in METRICS if isinstance(new.get(m), (int, float))}
    if not check.differences:
        check.problem = "no uar or wa to compare"
    ids_old, ids_new = old.get("ids"), new.get("ids")
    if isinstance(ids_old, list) and isinstance(ids_new, list) and isinstance(old.get("predictions"), list) \
            and isinstance(new.get("predictions"), list):
        before = dict(zip(map(str, ids_old), old["predictions"]))
        after = dict(zip(map(str, ids_new), new["predictions"]))
        check.n = len(before)
        check.differing = sum(1 for k, v in before.items() if after.get(k) != v)
    return check


__all__ = ["DEFAULT_TOLERANCE", "CellCheck", "Opened", "Report", "open_bundle", "sample_records", "verify_sample"]
