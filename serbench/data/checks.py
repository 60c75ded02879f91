"""Is a local corpus copy usable? Problems found in its files, labels, speakers and folds, and a summary.

``serbench data check NAME --root PATH`` prints :func:`check_corpus`'s problems
(exit 1 when :func:`usable` is false); ``serbench data summary`` prints
:func:`summary`. Both return plain data (dataclasses and dicts) for ``--json``.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import soundfile as sf

from serbench.data.audio import unreadable_reason
from serbench.data.corpus import Corpus
from serbench.data.problems import ERROR, WARNING, Problem, nonfinite_message
from serbench.errors import SerbenchError

__all__ = ["Problem", "check_corpus", "probe_audio", "summary", "usable"]


def probe_audio(path: str, decode: bool = True) -> Problem | None:
    """A file's problem, if any: unreadable (cannot be opened), corrupt (not audio), empty (no samples),
    nonfinite (NaN or Inf samples, needs decode) or silent (all zero, needs decode).

    Without ``decode`` only the header is read: fast, but NaN and silence go unseen.
    """
    try:
        if not decode:
            info = sf.info(path)
            return None if info.frames > 0 else Problem("empty", "audio file has no samples", path)
        data, _ = sf.read(path, dtype="float32", always_2d=True)
    except Exception as exc:  # noqa: BLE001 - libsndfile raises several types; each becomes a Problem
        unreadable = unreadable_reason(path)
        if unreadable:
            return Problem("unreadable", unreadable, path)
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        return Problem("corrupt", f"cannot read audio ({reason})", path)
    if data.size == 0:
        return Problem("empty", "audio file has no samples", path)
    nonfinite = nonfinite_message(data)
    if nonfinite:
        return Problem("nonfinite", nonfinite, path)
    if not np.any(data):
        return Problem("silent", "audio file is silent (all samples are zero)", path)
    return None


def _file_problems(corpus: Corpus, decode: bool, workers: int) -> list[Problem]:
    paths = [u.path for u in corpus.utterances if u.path is not None]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:  # libsndfile releases the GIL
        found = list(pool.map(lambda p: probe_audio(p, decode), paths))
    return [p for p in found if p is not None]


def _label_problems(corpus: Corpus) -> list[Problem]:
    counts = Counter(u.label for u in corpus.utterances)
    out = []
    if len(counts) < 2:
        out.append(Problem("labels", f"only {len(counts)} class has utterances: {sorted(counts)}"))
    for label in corpus.labels:
        if counts[label] == 0:
            out.append(Problem("labels", f"class {label!r} has no utterances", severity=WARNING))
    return out


def _speaker_problems(corpus: Corpus) -> list[Problem]:
    out = []
    blank = sum(1 for u in corpus.utterances if not u.speaker)
    if blank:
        out.append(Problem("speakers", f"{blank} utterances have no speaker; speaker-independent folds "
                                       "cannot be checked"))
    if len(corpus.speakers) < 2:
        out.append(Problem("speakers",
                           f"{len(corpus.speakers)} speaker: no speaker-independent test possible"))
    return out


def _fold_problems(corpus: Corpus) -> list[Problem]:
    out = []
    for name in sorted(corpus.protocols):
        try:
            folds = corpus.folds(name)
        except SerbenchError as exc:
            out.append(Problem("folds", f"protocol {name!r}: {exc}",
                               severity=ERROR if name == corpus.default_protocol else WARNING))
            continue
        for fold in folds:
            for part in ("train", "test"):
                present = {corpus[i].label for i in fold.partition(part)}
                absent = sorted(set(corpus.labels) - present)
                if absent:
                    out.append(Problem("folds", f"protocol {name!r} fold {fold.name!r}: {part} has no "
                                                f"utterances of {absent}", severity=WARNING))
    return out


def check_corpus(corpus: Corpus, decode: bool = True, workers: int = 4) -> list[Problem]:
    """Every problem of ``corpus``: what listing found, bad files (decoded unless ``decode=False``),
    label and speaker counts, and each protocol's folds."""
    problems = list(corpus.problems)
    problems += _file_problems(corpus, decode, workers)
    problems += _label_problems(corpus)
    problems += _speaker_problems(corpus)
    problems += _fold_problems(corpus)
    return problems


def usable(problems: list[Problem]) -> bool:
    """False when any problem would make a run fail or its numbers invalid (severity error)."""
    return not any(p.severity == ERROR for p in problems)


def _fold_summary(corpus: Corpus, name: str) -> dict[str, Any]:
    try:
        folds = corpus.folds(name)
    except SerbenchError as exc:
        return {"error": str(exc)}
    out = []
    for fold in folds:
        parts = {}
        for part in ("train", "valid", "test"):
            ids = fold.partition(part)
            parts[part] = {"utterances": len(ids), "speakers": sorted({corpus[i].speaker for i in ids})}
        out.append({"name": fold.name, "speaker_independent": fold.speaker_independent,
                    "valid_shares_train_speakers": fold.valid_shares_train_speakers, **parts})
    return {"folds": out}


def summary(corpus: Corpus, problems: list[Problem] | None = None) -> dict[str, Any]:
    """Counts per label, speaker, session and gender; each protocol's folds with partition sizes and
    speakers; problems (a header-only :func:`check_corpus` unless given). JSON-ready."""
    if problems is None:
        problems = check_corpus(corpus, decode=False)
    data = corpus.summary()
    data["genders"] = dict(sorted(Counter(u.gender for u in corpus.utterances).items()))
    root = corpus.root
    data["root"] = str(root) if root is not None else None
    data["fingerprint"] = corpus.fingerprint()
    data["protocols"] = {name: _fold_summary(corpus, name) for name in sorted(corpus.protocols)}
    data["problems"] = [p.as_dict() for p in problems]
    data["usable"] = usable(problems)
    return data
