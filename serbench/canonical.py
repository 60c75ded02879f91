"""Canonical JSON: the one serialisation that keys, digests and fingerprints hash.

Sorted keys, no whitespace, ASCII only; NaN and infinities refused unless ``allow_nan`` (record
digests cover metrics, which may hold them). Two equal values always give the same bytes, so
their hashes agree across processes, machines and Python versions.
"""

from __future__ import annotations

import json
from typing import Any


def canonical_json(obj: Any, *, allow_nan: bool = False) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=allow_nan)
