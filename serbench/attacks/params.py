"""Checks of an attack's numeric parameters: one line naming the attack and the parameter, so a bad spec value
fails before any compute (and every attack words it the same way)."""

from __future__ import annotations

import math
from typing import Any

from serbench.errors import SerbenchError


def _finite(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def integer(attack: str, what: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum`` (a float with an integral value is accepted: YAML may write 10.0)."""
    if not _finite(value) or int(value) != value or value < minimum:
        bound = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise SerbenchError(f"attack {attack!r}: {what} must be {bound}, got {value!r}")
    return int(value)


def number(attack: str, what: str, value: Any, positive: bool = True) -> float:
    """``value`` as a finite float, > 0 (``positive``) or >= 0."""
    if not _finite(value) or (value <= 0 if positive else value < 0):
        raise SerbenchError(f"attack {attack!r}: {what} must be a finite number {'> 0' if positive else '>= 0'}, "
                            f"got {value!r}")
    return float(value)
