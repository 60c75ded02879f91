"""Features cached on disk, keyed by everything that determines them.

A key is the sha256 of the canonical JSON of its parts: the corpus
fingerprint, the utterance ids in order, the front end's parameters and the
length policy (see :func:`feature_key`). Files are written to a temp file and
``os.replace``d, so concurrent workers never read half a file, and read with
``torch.load(weights_only=True)``.
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

from serbench.errors import SerbenchError
from serbench.files import write_atomic, write_bytes_atomic

CACHE_VERSION = 1


def canonical_json(obj: Any) -> str:
    """Sorted keys, no whitespace, no NaN; anything not JSON (tensors, objects) is an error."""
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise SerbenchError(f"feature cache key is not plain JSON data: {exc}") from None


def cache_key(key_parts: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json({"v": CACHE_VERSION, **key_parts}).encode()).hexdigest()


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
        ``map_location``. An unreadable cache file is recomputed, with a warning.
        """
        path = self.path(key_parts)
        if path.is_file():
            try:
                value = torch.load(path, map_location=map_location, weights_only=True)
                if isinstance(value, torch.Tensor):
                    return value
                warnings.warn(f"{path}: cached value is not a tensor; recomputing", stacklevel=2)
            except Exception as exc:  # noqa: BLE001 - a truncated or foreign file is recomputed, with a warning
                warnings.warn(f"{path}: unreadable feature cache file ({type(exc).__name__}); recomputing",
                              stacklevel=2)
        value = compute()
        if not isinstance(value, torch.Tensor):
            raise SerbenchError(f"feature cache: compute() returned {type(value).__name__}, not a tensor")
        self._write(path, value, key_parts)
        return value

    def _write(self, path: Path, value: torch.Tensor, key_parts: dict[str, Any]) -> None:
        write_atomic(path, lambda fh: torch.save(value.detach().cpu().contiguous(), fh))
        meta = {k: v for k, v in key_parts.items() if k != "ids"}
        meta["num_ids"] = len(key_parts.get("ids", []))
        write_bytes_atomic(path.with_suffix(".json"), canonical_json(meta).encode())
