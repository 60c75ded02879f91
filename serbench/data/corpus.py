"""A corpus: utterances with labels and speakers, its audio, and its named protocols.

A dataset plugin returns a :class:`Corpus`. Folds are built by serbench from
speaker and session metadata (see :mod:`serbench.data.protocols`) and checked
speaker-disjoint when built; split files from elsewhere are never trusted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from serbench.data.protocols import Fold, check_fold
from serbench.errors import SerbenchError


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
    """

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

    # -- access -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.utterances)

    def __getitem__(self, utt_id: str) -> Utterance:
        return self._by_id[utt_id]

    def label_index(self, label: str) -> int:
        return self.labels.index(label)

    def load_audio(self, utt: Utterance) -> np.ndarray:
        """Mono float32 waveform at :attr:`sample_rate`."""
        if self._loader is None:
            raise NotImplementedError(f"corpus {self.name!r} has no audio loader")
        return self._loader(utt)

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
        """Hash of the utterance list (ids, labels, speakers, sessions): a content key for caches."""
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
