"""A problem found in a local corpus copy: what, where, and whether a run can live with it.

Loaders record what they notice while listing files (a labelled file that is
missing, a file nobody labelled, a known-bad file they leave out);
:func:`serbench.data.checks.check_corpus` adds what decoding reveals.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

ERROR = "error"  # a run on this corpus would fail or be invalid
WARNING = "warning"  # worth knowing; a run works around it


@dataclass(frozen=True)
class Problem:
    """``kind`` is one of missing, unlabelled, unrecognised, excluded, corrupt, empty, silent,
    labels, speakers, folds."""

    kind: str
    message: str
    path: str | None = None
    severity: str = ERROR

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
