"""Features cached on disk, keyed by everything that determines them.

A key is the sha256 of the canonical JSON of its parts: the corpus
fingerprint (its data's content: file sizes and times, label files, generator
parameters; never its path), the utterance ids in order, the front end's
parameters and the length policy (see :func:`feature_key`). Files are written
to a temp file and ``os.replace``d, so concurrent workers never read half a
file, and read with ``torch.load(weights_only=True)``. An entry that does not
load, whose size differs from the one recorded beside it, or whose first
dimension is not its number of utterances is recomputed, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from serbench.canonical import canonical_json
from serbench.errors import SerbenchError
from serbench.files import write_atomic, write_bytes_atomic

CACHE_VERSION = 2  # 2: corpus fingerprints cover the data's content; entries record their size


def key_json(obj: Any) -> str:
    """Canonical JSON of a cache key; anything not JSON (tensors, objects) is an error naming the cache."""
    try:
        return canonical_json(obj)
    except (TypeError, ValueError) as exc:
        raise SerbenchError(f"feature cache key is not plain JSON data: {exc}") from None


def cache_key(key_parts: dict[str, Any]) -> str:
    return hashlib.sha256(key_json({"v": CACHE_VERSION, **key_parts}).encode()).hexdigest()


def feature_key(corpus: Any, ids: Sequence[str], frontend: dict[str, Any], length: dict[str, Any]
                ) -> dict[str, Any]:
    """The key parts of one partition's features: corpus fingerprint, ids, front end, length policy."""
    return {
        "corpus": corpus.fingerprint(), "ids": list(ids), "frontend": frontend, "length": length,
    }


class FeatureCache:
    """A folder of cached tensors: ``<dir>/<key[:2]>/<key>.pt`` with ``<key>.json`` beside it."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.dir = Path(directory)

    def path(self, key_parts: dict[str, Any]) -> Path:
        key = cache_key(key_parts)
        return self.dir / key[:2] / f"{key}.pt"

    def __contains__(self, key_parts: dict[str, Any]) -> bool:
        return self.path(key_parts).is_file()

    def get_or_compute(self, key_parts: dict[str, Any], compute: Callable[[], torch.Tensor],
                       map_location: str | torch.device | None = "cpu") -> torch.Tensor:
        """The cached tensor for ``key_parts``, or ``compute()`` saved under it.

        A computed tensor is returned as computed; a cached one is loaded to
        ``map_location``. An unreadable, truncated or mismatched cache file is recomputed, with a warning.
        """
        path = self.path(key_parts)
        if path.is_file():
            try:
                value = torch.load(path, map_location=map_location, weights_only=True)
                problem = self._mismatch(path, value, key_parts)
                if problem is None:
                    return value
                warnings.warn(f"{path}: {problem}; recomputing", stacklevel=2)
            except Exception as exc:  # noqa: BLE001 - a truncated or foreign file is recomputed, with a warning
                warnings.warn(f"{path}: unreadable feature cache file ({type(exc).__name__}); recomputing",
                              stacklevel=2)
        value = compute()
        if not isinstance(value, torch.Tensor):
            raise SerbenchError(f"feature cache: compute() returned {type(value).__name__}, not a tensor")
        self._write(path, value, key_parts)
        return value

    @staticmethod
    def _mismatch(path: Path, value: Any, key_parts: dict[str, Any]) -> str | None:
        """Why a loaded entry is not what ``key_parts`` names (None when it is)."""
        if not isinstance(value, torch.Tensor):
            return "cached value is not a tensor"
        ids = key_parts.get("ids")
        if isinstance(ids, list) and (value.dim() == 0 or value.shape[0] != len(ids)):
            return f"cached tensor has shape {tuple(value.shape)}, not one row per each of {len(ids)} utterances"
        try:
            recorded = json.loads(path.with_suffix(".json").read_text()).get("bytes")
        except (OSError, ValueError, AttributeError):
            recorded = None  # no sidecar (written after the tensor, or an older entry): the load checks suffice
        if recorded is not None and recorded != path.stat().st_size:
            return f"cache file has {path.stat().st_size} bytes, {recorded} were written (truncated?)"
        return None

    def _write(self, path: Path, value: torch.Tensor, key_parts: dict[str, Any]) -> None:
        write_atomic(path, lambda fh: torch.save(value.detach().cpu().contiguous(), fh))
        meta = {k: v for k, v in key_parts.items() if k != "ids"}
        meta["num_ids"] = len(key_parts.get("ids", []))
        meta["bytes"] = path.stat().st_size
        write_bytes_atomic(path.with_suffix(".json"), key_json(meta).encode())
