"""Single training: no defense."""

from __future__ import annotations

from serbench.defenses.base import Defense


class Standard(Defense):
    """Plain training on clean data with cross-entropy ("single training" in Ren et al.)."""
