"""Keep machine paths out of published leaderboards.

Failure footnotes and warnings quote error messages, and error messages name
files: ``/home/alice/corpora/iemocap/Session1/x.wav``. A published leaderboard
must not carry a user's home, corpus layout or drive, so every absolute path
(POSIX ``/a/b``, ``~/a``, Windows ``C:\\a\\b`` or ``C:/a/b``, UNC ``\\\\host\\share``) and
every path under the results folder becomes ``<path>/basename``: still enough to
tell which file failed, nothing about where it lived.
"""

from __future__ import annotations

import re
from typing import Iterable

HIDDEN = "<path>"

_STOP = r"\s'\"()\[\]{}<>,;|`"  # characters that end a path in running text
_SEGMENT = rf"[^{_STOP}\\/]+"
_WINDOWS = re.compile(rf"(?<![\w])(?:[A-Za-z]:|\\\\{_SEGMENT})[\\/](?:{_SEGMENT}(?:[\\/]{_SEGMENT})*[\\/]?)?")
_POSIX = re.compile(rf"(?<![\w/\\.<>~-])~?/(?:[^{_STOP}/\\]+/)+[^{_STOP}/\\]*")


def _basename(path: str) -> str:
    parts = [p for p in re.split(r"[\\/]", path) if p]
    return f"{HIDDEN}/{parts[-1]}" if parts else HIDDEN


def redact_paths(text: str, roots: Iterable[str] = ()) -> str:
    """``text`` with every absolute path, and every path under one of ``roots`` (e.g. the results
    folder, also when given relative), replaced by ``<path>/basename``."""
    for root in sorted({str(r).rstrip("/\\") for r in roots if str(r).strip("/\\.")}, key=len, reverse=True):
        under = re.compile(rf"(?<![\w/\\.-]){re.escape(root)}(?:[\\/][^{_STOP}]*)?(?![\w.-])")
        text = under.sub(lambda m: _basename(m.group(0)), text)
    text = _WINDOWS.sub(lambda m: _basename(m.group(0)), text)
    return _POSIX.sub(lambda m: _basename(m.group(0)), text)
