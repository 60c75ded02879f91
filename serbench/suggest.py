"""The "did you mean" hint every unknown-name error ends with, written once so all read alike."""

from __future__ import annotations

import difflib
from typing import Iterable


def did_you_mean(word: str, choices: Iterable[str], n: int = 1, cutoff: float = 0.6) -> str:
    """``"; did you mean 'a' or 'b'?"`` naming up to ``n`` choices close to ``word``, or ``""`` when none is.

    The fragment goes straight after the quoted unknown name, so callers keep their own message around it.
    """
    close = difflib.get_close_matches(word, list(choices), n=n, cutoff=cutoff)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
