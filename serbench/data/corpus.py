"""A corpus: utterances with labels and speakers, its audio, and its named protocols.

A dataset plugin returns a :class:`Corpus`. Folds are built by serbench from
speaker and session metadata (see :mod:`serbench.data.protocols`) and checked
speaker-disjoint when built; split files from elsewhere are never trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from serbench.data.problems import Problem, require_finite
from serbench.data.protocols import Fold, check_fold
from serbench.canonical import canonical_json
from serbench.errors import SerbenchError

# Bumped when what a fingerprint covers changes, so no cache keyed by an older one is trusted.
FINGERPRINT_VERSION = 2
_PROTOCOLS_ATTR = "__serbench_protocols__"
F = TypeVar("F")


def declare_protocols(default: str, *others: str) -> Callable[[F], F]:
    """Declare the protocol names a dataset factory's corpora have, ``default`` first.

    A spec that names no protocol is keyed by the default's name, and a misspelt
    one is refused, while the spec is read: without loading (or even having) the
    data. Use it on the factory a dataset registers or an entry point names::

        @declare_protocols("leave-one-session-out", "leave-one-speaker-out")
        def my_corpus(root: str | None = None) -> Corpus: ...

    Undeclared factories are checked when the runner loads their corpus instead.
    """
    def wrap(factory: F) -> F:
        setattr(factory, _PROTOCOLS_ATTR, (default, tuple(dict.fromkeys((default, *others)))))
        return factory

    return wrap


def declared_protocols(factory: Any) -> tuple[str, tuple[str, ...]] | None:
    """``(default, every name)`` declared by :func:`declare_protocols` on ``factory``, or None."""
    found = getattr(factory, _PROTOCOLS_ATTR, None)
    return (found[0], tuple(found[1])) if found else None


def short_hash(value: Any) -> str:
    """16 hex digits of the sha256 of ``value``'s canonical JSON."""
    blob = canonical_json(value, allow_nan=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def file_stat(path: str | os.PathLike) -> list[int] | str:
    """``[size, mtime_ns]`` of a file (following links): cheap evidence of its content for a fingerprint.

    A file that cannot be stat'ed (gone, a dangling link) gives the string ``"unreadable"``: the
    fingerprint stays computable and reading the file later fails with a message naming it.
    """
    try:
        st = os.stat(path)
    except OSError:
        return "unreadable"
    return [int(st.st_size), int(st.st_mtime_ns)]


@dataclass(frozen=True)
class Utterance:
    """One labelled recording. ``path`` is None for generated corpora."""

    id: str
    label: str
    speaker: str
    session: str
    gender: str = ""
    path: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


ProtocolBuilder = Callable[["Corpus"], list[Fold]]


class Corpus:
    """Utterances, label set, native sample rate, audio access and protocols.

    Subclasses (or instances) provide :meth:`load_audio`; protocols map a name to
    a builder returning folds. ``default_protocol`` names the one specs use when
    they name none.

    The contract the harness relies on:

    - A dataset component is a factory (a function or a class) called with the spec's ``params`` over its
      defaults, returning a :class:`Corpus`. It is called in every process that runs the spec (the main
      process, each Ray worker) and must give the same corpus each time. A local copy's folder is the
      parameter ``root`` (a spec writes ``params: {root: PATH}``; the CLI ``--root``): ``root`` is left out of
      every key, so it must only say where the files are.
    - Creating the corpus lists it (ids, labels, speakers, sessions, paths) without decoding audio: the
      runner loads every corpus of a spec to fingerprint it before computing anything.
    - :meth:`load_audio` returns one utterance as mono float32 at :attr:`sample_rate`, read lazily.
    - Folds come from the protocol builders (:func:`serbench.leave_one_session_out` and friends, or your own
      function of the corpus); serbench checks each fold (no empty partition, no unknown id, no speaker in
      two partitions of a speaker-independent fold). Declare the protocol names on the factory with
      :func:`declare_protocols` so a spec naming no protocol, or a misspelt one, is settled when it is read.
    - Keys: a train cell's key holds the name, ``version``, distribution and its version, the resolved
      parameters without ``root``, and :meth:`fingerprint`, which covers :meth:`content_fingerprint`: make
      that change whenever the audio does (a generated corpus: its generator's parameters and version).
    """

    # Declared so that readers ask for them instead of probing; a corpus read from files sets both.
    root: Path | None = None  # the folder its files are read from; None when nothing is (generated audio)
    problems: Sequence[Problem] = ()  # what listing its files found wrong

    def __init__(
        self,
        name: str,
        utterances: list[Utterance],
        labels: tuple[str, ...],
        sample_rate: int,
        protocols: dict[str, ProtocolBuilder],
        default_protocol: str,
        loader: Callable[[Utterance], np.ndarray] | None = None,
    ) -> None:
        if not utterances:
            raise SerbenchError(f"corpus {name!r} has no utterances")
        ids = [u.id for u in utterances]
        if len(set(ids)) != len(ids):
            raise SerbenchError(f"corpus {name!r} has duplicate utterance ids")
        stray = sorted({u.label for u in utterances} - set(labels))
        if stray:
            raise SerbenchError(f"corpus {name!r}: labels {stray} are not in its label set {list(labels)}")
        if default_protocol not in protocols:
            raise SerbenchError(f"corpus {name!r}: default protocol {default_protocol!r} is not defined")
        self.name = name
        self.utterances = list(utterances)
        self.labels = tuple(labels)
        self.sample_rate = int(sample_rate)
        self.protocols = dict(protocols)
        self.default_protocol = default_protocol
        self._loader = loader
        self._by_id = {u.id: u for u in self.utterances}
        self._folds: dict[str, list[Fold]] = {}
        self._fingerprint: str | None = None

    # -- access -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.utterances)

    def __getitem__(self, utt_id: str) -> Utterance:
        return self._by_id[utt_id]

    def label_index(self, label: str) -> int:
        return self.labels.index(label)

    def load_audio(self, utt: Utterance) -> np.ndarray:
        """Mono float32 waveform at :attr:`sample_rate`; NaN or Inf samples raise :class:`DataError`."""
        if self._loader is None:
            raise NotImplementedError(f"corpus {self.name!r} has no audio loader")
        return require_finite(self._loader(utt), f"corpus {self.name!r} utterance {utt.id} ({utt.path or 'no file'})")

    @property
    def speakers(self) -> list[str]:
        return sorted({u.speaker for u in self.utterances})

    @property
    def sessions(self) -> list[str]:
        return sorted({u.session for u in self.utterances})

    # -- protocols ----------------------------------------------------------------
    def folds(self, protocol: str | None = None) -> list[Fold]:
        """The protocol's folds, built once and checked speaker-disjoint."""
        protocol = protocol or self.default_protocol
        if protocol not in self.protocols:
            raise SerbenchError(
                f"corpus {self.name!r} has no protocol {protocol!r}; "
                f"protocols: {', '.join(sorted(self.protocols))}"
            )
        if protocol not in self._folds:
            folds = self.protocols[protocol](self)
            for fold in folds:
                check_fold(self, fold)
            self._folds[protocol] = folds
        return self._folds[protocol]

    def fold(self, protocol: str | None, index: int | str) -> Fold:
        folds = self.folds(protocol)
        if isinstance(index, str):
            for f in folds:
                if f.name == index:
                    return f
            raise SerbenchError(
                f"corpus {self.name!r} protocol {protocol!r} has no fold {index!r}; "
                f"folds: {', '.join(f.name for f in folds)}"
            )
        if not 0 <= index < len(folds):
            raise SerbenchError(
                f"corpus {self.name!r} protocol {protocol or self.default_protocol!r} has "
                f"{len(folds)} folds; fold index {index} is out of range"
            )
        return folds[index]

    def fingerprint(self) -> str:
        """What the data is, never where it lives: the cell keys and feature caches of this corpus hold it.

        A hash of the utterance list (ids, labels, speakers, sessions, genders), the sample rate and
        :meth:`content_fingerprint` (what the audio is). Computed once per loaded corpus, so loading
        it again after its files changed gives a new fingerprint.
        """
        if self._fingerprint is None:
            rows = [[u.id, u.label, u.speaker, u.session, u.gender] for u in self.utterances]
            self._fingerprint = short_hash([FINGERPRINT_VERSION, self.name, self.sample_rate, list(self.labels),
                                            rows, self.content_fingerprint()])
        return self._fingerprint

    def content_fingerprint(self) -> Any:
        """JSON data that changes when the audio does; subclasses say what their audio comes from.

        Here: each utterance file's size and modification time (by utterance id: the path, and so
        where the copy lives, stays out). A loader without files contributes nothing, so a plugin
        corpus that generates or downloads its audio should override this (e.g. its generator's
        parameters and version).
        """
        return [[u.id, file_stat(u.path)] for u in self.utterances if u.path]

    def listing_hash(self) -> str:
        """Hash of the utterance list alone (ids, labels, speakers, sessions, paths): no file is touched."""
        rows = [[u.id, u.label, u.speaker, u.session, u.path or ""] for u in self.utterances]
        blob = json.dumps([self.name, self.sample_rate, list(self.labels), rows], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def summary(self) -> dict[str, Any]:
        """Counts per label, speaker and session."""
        def count(attr: str) -> dict[str, int]:
            out: dict[str, int] = {}
            for u in self.utterances:
                key = getattr(u, attr)
                out[key] = out.get(key, 0) + 1
            return dict(sorted(out.items()))

        return {
            "name": self.name,
            "utterances": len(self.utterances),
            "sample_rate": self.sample_rate,
            "labels": count("label"),
            "speakers": count("speaker"),
            "sessions": count("session"),
            "protocols": sorted(self.protocols),
            "default_protocol": self.default_protocol,
        }
