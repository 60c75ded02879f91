"""A problem found in a local corpus copy: what, where, and whether a run can live with it.

Loaders record what they notice while listing files (a labelled file that is
missing, a file nobody labelled, a known-bad file they leave out);
:func:`serbench.data.checks.check_corpus` adds what decoding reveals.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from serbench.errors import DataError

ERROR = "error"  # a run on this corpus would fail or be invalid
WARNING = "warning"  # worth knowing; a run works around it


@dataclass(frozen=True)
class Problem:
    """``kind`` is one of missing, unlabelled, unrecognised, excluded, unreadable, corrupt, empty, silent,
    nonfinite, labels, speakers, folds."""

    kind: str
    message: str
    path: str | None = None
    severity: str = ERROR

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


NONFINITE_HINT = "replace or re-export this file, or remove it from the copy (`serbench data check` lists them all)"
UNREADABLE_HINT = "check that it exists (not a dangling link) and that you may read it (permissions)"


def nonfinite_message(wave: np.ndarray) -> str | None:
    """``"audio has N NaN or Inf samples; ..."`` when ``wave`` holds any, else None.

    NaN passes every other check (it is not zero, so not silent) and poisons features, scaler and
    training, so it is refused wherever audio is read.
    """
    bad = int(wave.size - np.count_nonzero(np.isfinite(wave)))
    return f"audio has {bad} NaN or Inf samples of {wave.size}; {NONFINITE_HINT}" if bad else None


def require_finite(wave: np.ndarray, where: str) -> np.ndarray:
    """``wave`` itself, or :class:`DataError` naming ``where`` (a file or utterance) if any sample is NaN/Inf."""
    msg = nonfinite_message(np.asarray(wave))
    if msg:
        raise DataError(f"{where}: {msg}")
    return wave
