"""The results store: one JSON record per cell, written atomically, checkpoints beside.

Layout: ``<root>/records/<key>.json``, ``<root>/checkpoints/<train_key>.pt`` (with
its sha256 in ``<train_key>.pt.sha256``), ``<root>/locks/<train_key>.lock``,
``<root>/quarantine/`` for files that failed verification and ``<root>/examples/<key>/`` for the audio
``serbench run --save-examples`` keeps (:mod:`serbench.bench.examples`). Writes go to a
temporary file in the same directory and are moved into place with
``os.replace``, so readers never see a half-written record and several workers
(also on a shared filesystem) may write at once; the train-cell locks
(:mod:`serbench.bench.locks`) keep two of them from training the same model.
Temporary files a killed writer left are never read and are removed once they
are old.

Every record carries ``digest``, the sha256 of its canonical JSON without that
field, and every checkpoint a digest of its bytes: a record edited by hand, or a
checkpoint damaged on disk, is never taken for a result. The runner treats such
a file as missing (it is moved to the quarantine folder with a warning and
recomputed); the leaderboard refuses it (:class:`~serbench.errors.RecordError`).
A checkpoint also holds its train record, so that record is restored, not lost,
when a run dies between the two writes or the record is damaged later.

torch is imported only where checkpoints are read or written: commands that only read records (the
leaderboard, ``results``, ``compare``) never pay its import.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import pickle
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any, Iterator


from serbench.bench.cells import SCHEMA_VERSION
from serbench.canonical import canonical_json
from serbench.bench.locks import CellLock
from serbench.errors import RecordError, SerbenchError
from serbench.files import TEMP_GLOB, write_bytes_atomic

DIGEST_FIELD = "digest"
CHECKPOINT_RECORD = "record"  # the train record inside its checkpoint's payload
METRIC_TOLERANCE = 1e-9  # stored uar/wa against their recomputation from predictions and targets
RERUN_HINT = "rerun `serbench run SPEC` to recompute it, or delete it"


def record_digest(record: dict[str, Any]) -> str:
    """sha256 of the record's canonical JSON without its ``digest`` field: what ``Store.write`` stores."""
    payload = {k: v for k, v in record.items() if k != DIGEST_FIELD}
    return hashlib.sha256(canonical_json(payload, allow_nan=True).encode()).hexdigest()


def _same(a: Any, b: Any, tol: float = METRIC_TOLERANCE) -> bool:
    """Two metric values agree: both NaN, or numbers within ``tol``."""
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, (int, float)) \
            or not isinstance(b, (int, float)):
        return False
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= tol


def recomputed_metrics(targets: list[int], pred: list[int], n_classes: int) -> dict[str, float]:
    """UAR, WA and macro-F1 of class-index lists, in plain Python: reading records (the leaderboard) imports no
    numpy, and the check is a second implementation of :func:`serbench.engine.metrics.classification_metrics`
    (tests/test_metrics.py holds them equal)."""
    for what, values in (("prediction", pred), ("target", targets)):
        bad = [v for v in values if not 0 <= v < n_classes]
        if bad:
            raise SerbenchError(f"metrics: {what} class index {bad[0]} is outside the {n_classes} classes")
    hits, support, predicted = [0] * n_classes, [0] * n_classes, [0] * n_classes
    for t, p in zip(targets, pred):
        support[t] += 1
        predicted[p] += 1
        hits[t] += t == p
    recalls = [hits[c] / support[c] for c in range(n_classes) if support[c]]
    f1 = [2 * hits[c] / (support[c] + predicted[c]) for c in range(n_classes) if support[c] + predicted[c]]
    nan = float("nan")
    return {"uar": sum(recalls) / len(recalls) if recalls else nan,
            "wa": sum(hits) / len(targets) if targets else nan,
            "macro_f1": sum(f1) / len(f1) if f1 else nan}


def metrics_problem(metrics: dict[str, Any]) -> str | None:
    """Why an ok eval record's stored uar/wa/macro_f1 do not follow from its predictions and targets, or None."""
    pred, targets = metrics.get("predictions"), metrics.get("targets")
    if pred is None or targets is None:
        return None
    if not isinstance(pred, list) or not isinstance(targets, list) or len(pred) != len(targets):
        return "its predictions and targets are not two lists of one length"
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in pred + targets):
        return "its predictions and targets are not class indices"
    labels = metrics.get("labels")
    n_classes = len(labels) if isinstance(labels, list) else max(pred + targets, default=-1) + 1
    try:
        again = recomputed_metrics(targets, pred, n_classes)
    except SerbenchError as exc:
        return str(exc)
    for name in ("uar", "wa", "macro_f1"):
        if name in metrics and not _same(metrics[name], again[name]):
            return (f"its {name} {metrics[name]!r} does not follow from its predictions and targets "
                    f"({again[name]!r})")
    return None


class Store:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.records_dir = self.root / "records"
        self.checkpoints_dir = self.root / "checkpoints"
        self.locks_dir = self.root / "locks"

    def lock(self, train_key: str) -> CellLock:
        """The lock a run holds while it trains and evaluates train cell ``train_key``."""
        return CellLock(self.locks_dir / f"{train_key}.lock")

    def remove_stale_locks(self) -> int:
        """Take over and release every lock whose owner is gone.

        A run killed after its cell's last record was written but before it released the lock leaves a
        lock that no later run would touch (the cell is complete, so nobody asks for it); this sweeps it.
        Live owners' locks are left alone; the takeover is the same guarded one a waiting run performs."""
        removed = 0
        if not self.locks_dir.is_dir():
            return removed
        for path in self.locks_dir.glob("*.lock"):
            lock = CellLock(path)
            if lock.is_stale() and lock.try_acquire():
                lock.release()
                removed += 1
        return removed

    def remove_stale_temp_files(self, older_than_s: float = 3600.0) -> int:
        """Delete temp files of writers that died mid-write (old enough that no live writer owns them)."""
        removed, now = 0, time.time()
        for folder in (self.records_dir, self.checkpoints_dir):
            if not folder.is_dir():
                continue
            for tmp in folder.glob(TEMP_GLOB):
                try:
                    if now - tmp.stat().st_mtime > older_than_s:
                        tmp.unlink()
                        removed += 1
                except FileNotFoundError:
                    continue
        return removed

    # -- quarantine -----------------------------------------------------------------
    @property
    def quarantine_dir(self) -> Path:
        return self.root / "quarantine"

    def quarantine(self, path: Path, reason: str, what: str) -> Path | None:
        """Move ``path`` aside to ``<root>/quarantine/<name>.<reason>`` with a warning naming both.

        Returns the new path, or None when another worker moved or replaced it first.
        """
        dest = self.quarantine_dir / f"{path.name}.{reason}"
        try:
            self.quarantine_dir.mkdir(parents=True, exist_ok=True)
            os.replace(path, dest)
        except FileNotFoundError:
            return None
        warnings.warn(f"{path}: {what}; moved to {dest} and recomputing", stacklevel=3)
        return dest

    # -- records ------------------------------------------------------------------
    def record_path(self, key: str) -> Path:
        return self.records_dir / f"{key}.json"

    def examples_dir(self, key: str) -> Path:
        """Where ``serbench run --save-examples`` keeps an eval cell's audio pairs: ``<root>/examples/<key>/``."""
        return self.root / "examples" / key

    def write(self, record: dict[str, Any]) -> Path:
        """Write ``record`` atomically with its schema version and digest (an old digest is replaced)."""
        record = {"schema": SCHEMA_VERSION, **{k: v for k, v in record.items() if k != DIGEST_FIELD}}
        # Digest what a reader will load: the JSON round trip turns tuples into lists, keys into strings.
        body = json.loads(json.dumps(record, allow_nan=True))
        body[DIGEST_FIELD] = record_digest(body)
        data = json.dumps(body, indent=1, sort_keys=True, allow_nan=True).encode()
        path = self.record_path(body["key"])
        write_bytes_atomic(path, data, durable=True)
        return path

    def verify(self, record: Any) -> str | None:
        """None when ``record`` is intact, else a one-line problem.

        Intact: a mapping whose ``digest`` matches its content and, for an ok eval
        record holding ``predictions`` and ``targets``, whose uar and wa recompute
        from them within 1e-9.
        """
        if not isinstance(record, dict):
            return f"not a record (a JSON {type(record).__name__ if record is not None else 'null'})"
        digest = record.get(DIGEST_FIELD)
        if digest is None:
            return "no digest (written by an older serbench, or by hand)"
        if digest != record_digest(record):
            return "its digest does not match its content (edited after it was written)"
        metrics = record.get("metrics")
        if record.get("kind") == "eval" and record.get("status") == "ok":
            if not isinstance(metrics, dict):
                return "an ok eval record without metrics"
            return metrics_problem(metrics)
        return None

    def _load(self, path: Path) -> tuple[Any, str | None]:
        """(record, problem) of one record file; raises FileNotFoundError when there is none."""
        raw = path.read_bytes()
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return None, f"not valid JSON ({first})"
        return record, self.verify(record)

    def read(self, key: str) -> dict[str, Any] | None:
        """The record of ``key``, or None when there is none or it fails :meth:`verify`.

        A record that fails is moved to the quarantine folder (with a warning), so
        a run recomputes it as if it were missing.
        """
        path = self.record_path(key)
        try:
            record, problem = self._load(path)
        except FileNotFoundError:
            return None
        if problem is not None:
            self.quarantine(path, "invalid", f"invalid record: {problem}")
            return None
        return record

    def status(self, key: str, quarantine: bool = True) -> str | None:
        """``ok``, ``failed``, or None when missing or invalid (moved aside unless ``quarantine`` is False)."""
        if quarantine:
            rec = self.read(key)
        else:
            try:
                rec, problem = self._load(self.record_path(key))
            except FileNotFoundError:
                return None
            rec = None if problem else rec
        return rec.get("status") if rec else None

    def records(self, strict: bool = True) -> Iterator[dict[str, Any]]:
        """Every record, in key order (deterministic).

        ``strict`` (the leaderboard's default) raises :class:`RecordError` on a record
        that fails :meth:`verify`; ``strict=False`` skips it with a warning.
        Neither moves anything.
        """
        if not self.records_dir.is_dir():
            return
        for path in sorted(self.records_dir.glob("*.json")):
            try:
                record, problem = self._load(path)
            except FileNotFoundError:  # replaced or quarantined by a worker meanwhile
                continue
            if problem is None:
                yield record
            elif strict:
                raise RecordError(f"{path}: invalid record: {problem}; {RERUN_HINT}")
            else:
                warnings.warn(f"{path}: invalid record skipped: {problem}; {RERUN_HINT}", stacklevel=2)

    # -- checkpoints --------------------------------------------------------------
    def checkpoint_path(self, train_key: str) -> Path:
        return self.checkpoints_dir / f"{train_key}.pt"

    def checkpoint_digest_path(self, train_key: str) -> Path:
        return self.checkpoints_dir / f"{train_key}.pt.sha256"

    def save_checkpoint(self, train_key: str, payload: dict[str, Any],
                        record: dict[str, Any] | None = None) -> None:
        """Write the checkpoint's sha256 and then the checkpoint, each atomically.

        The digest goes first, so a checkpoint that exists always has one: a writer
        killed in between leaves a digest and no checkpoint (nothing to load).
        ``record``, the train record about to be written, travels inside it (as
        plain JSON types, so ``weights_only`` loading still reads it): a run killed
        before that record is written, or a record damaged later, is restored from
        the checkpoint (:func:`checkpoint_record`) instead of being lost or retrained.
        """
        if record is not None:
            payload = {**payload, CHECKPOINT_RECORD: json.loads(json.dumps(
                {k: v for k, v in record.items() if k != DIGEST_FIELD}, allow_nan=True))}
        import torch

        buf = io.BytesIO()
        torch.save(payload, buf)
        data = buf.getvalue()
        write_bytes_atomic(self.checkpoint_digest_path(train_key),
                           (hashlib.sha256(data).hexdigest() + "\n").encode(), durable=True)
        write_bytes_atomic(self.checkpoint_path(train_key), data, durable=True)

    def load_checkpoint(self, train_key: str) -> dict[str, Any] | None:
        """The checkpoint of ``train_key``, or None when there is none or it cannot be trusted.

        One without a digest, whose bytes do not match its digest, or that does not
        load is moved to the quarantine folder (with a warning), so the model is
        trained again. Loads with ``weights_only=True`` only.
        """
        path = self.checkpoint_path(train_key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            want = self.checkpoint_digest_path(train_key).read_text().strip()
        except FileNotFoundError:
            want = None
        except (OSError, UnicodeDecodeError):
            want = ""
        if want is None:
            self.quarantine(path, "no-digest", "checkpoint without its .sha256 digest")
            return None
        if hashlib.sha256(data).hexdigest() != want:
            self.quarantine(path, "digest-mismatch", "checkpoint does not match its .sha256 digest (damaged)")
            return None
        import torch

        try:
            payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, zipfile.BadZipFile, KeyError,
                AttributeError, TypeError) as exc:
            first = (str(exc).splitlines() or [""])[0][:160]
            detail = type(exc).__name__ if not first or "weights_only" in first else f"{type(exc).__name__}: {first}"
            self.quarantine(path, "unloadable", f"checkpoint does not load ({detail})")
            return None
        if not isinstance(payload, dict) or not {"model", "scaler"} <= set(payload):
            self.quarantine(path, "unloadable", "checkpoint is not a serbench checkpoint (no model and scaler)")
            return None
        return payload


def checkpoint_record(payload: dict[str, Any], train_key: str) -> dict[str, Any] | None:
    """The train record saved inside a checkpoint of ``train_key``, or None (saved before records travelled
    with checkpoints, or not a train record of that key): what restores a lost or damaged train record."""
    record = payload.get(CHECKPOINT_RECORD)
    if not isinstance(record, dict) or record.get("key") != train_key or record.get("kind") != "train" \
            or record.get("status") != "ok":
        return None
    return record
