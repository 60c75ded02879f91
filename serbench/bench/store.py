"""The results store: one JSON record per cell, written atomically, checkpoints beside.

Layout: ``<root>/records/<key>.json``, ``<root>/checkpoints/<train_key>.pt`` and
``<root>/locks/<train_key>.lock``. Writes go to a temporary file in the same
directory and are moved into place with ``os.replace``, so readers never see a
half-written record and several workers (also on a shared filesystem) may write
at once; the train-cell locks (:mod:`serbench.bench.locks`) keep two of them from
training the same model. Temporary files a killed writer left are never read
and are removed once they are old.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterator

import torch

from serbench.bench.cells import SCHEMA_VERSION
from serbench.bench.locks import CellLock
from serbench.errors import SerbenchError
from serbench.files import TEMP_GLOB, write_atomic, write_bytes_atomic


class Store:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.records_dir = self.root / "records"
        self.checkpoints_dir = self.root / "checkpoints"
        self.locks_dir = self.root / "locks"

    def lock(self, train_key: str) -> CellLock:
        """The lock a run holds while it trains and evaluates train cell ``train_key``."""
        return CellLock(self.locks_dir / f"{train_key}.lock")

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

    # -- records ------------------------------------------------------------------
    def record_path(self, key: str) -> Path:
        return self.records_dir / f"{key}.json"

    def write(self, record: dict[str, Any]) -> Path:
        record = {"schema": SCHEMA_VERSION, **record}
        data = json.dumps(record, indent=1, sort_keys=True, allow_nan=True).encode()
        path = self.record_path(record["key"])
        write_bytes_atomic(path, data, durable=True)
        return path

    def read(self, key: str) -> dict[str, Any] | None:
        path = self.record_path(key)
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except json.JSONDecodeError as exc:
            raise SerbenchError(f"{path}: corrupt record ({exc}); delete it and rerun") from None

    def status(self, key: str) -> str | None:
        rec = self.read(key)
        return rec.get("status") if rec else None

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record, in key order (deterministic)."""
        if not self.records_dir.is_dir():
            return
        for path in sorted(self.records_dir.glob("*.json")):
            try:
                yield json.loads(path.read_text())
            except json.JSONDecodeError as exc:
                raise SerbenchError(f"{path}: corrupt record ({exc}); delete it and rerun") from None

    # -- checkpoints --------------------------------------------------------------
    def checkpoint_path(self, train_key: str) -> Path:
        return self.checkpoints_dir / f"{train_key}.pt"

    def save_checkpoint(self, train_key: str, payload: dict[str, Any]) -> None:
        write_atomic(self.checkpoint_path(train_key), lambda fh: torch.save(payload, fh), durable=True)

    def load_checkpoint(self, train_key: str) -> dict[str, Any] | None:
        path = self.checkpoint_path(train_key)
        if not path.exists():
            return None
        return torch.load(path, map_location="cpu", weights_only=True)
