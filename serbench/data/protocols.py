"""Folds: (train, valid, test) partitions by speaker or session, built and checked here.

Published split files are known to leak speakers; serbench builds folds from
metadata and refuses any speaker-independent fold in which a speaker appears
in two partitions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from serbench.errors import SerbenchError

if TYPE_CHECKING:
    from serbench.data.corpus import Corpus


@dataclass(frozen=True)
class Fold:
    """Utterance ids of each partition. ``speaker_independent`` folds are checked disjoint."""

    name: str
    train: tuple[str, ...]
    valid: tuple[str, ...]
    test: tuple[str, ...]
    speaker_independent: bool = True

    def partition(self, part: str) -> tuple[str, ...]:
        if part not in ("train", "valid", "test"):
            raise SerbenchError(f"unknown partition {part!r}; use train, valid or test")
        return getattr(self, part)


def check_fold(corpus: "Corpus", fold: Fold) -> None:
    """Raise if a partition is empty, an id is unknown, or a speaker spans two partitions."""
    speakers: dict[str, set[str]] = {}
    for part in ("train", "valid", "test"):
        ids = fold.partition(part)
        if not ids:
            raise SerbenchError(f"corpus {corpus.name!r} fold {fold.name!r}: {part} partition is empty")
        try:
            speakers[part] = {corpus[i].speaker for i in ids}
        except KeyError as exc:
            raise SerbenchError(
                f"corpus {corpus.name!r} fold {fold.name!r}: unknown utterance id {exc.args[0]!r}"
            ) from None
    all_ids = fold.train + fold.valid + fold.test
    if len(set(all_ids)) != len(all_ids):
        raise SerbenchError(f"corpus {corpus.name!r} fold {fold.name!r}: an utterance is in two partitions")
    if fold.speaker_independent:
        for a, b in (("train", "valid"), ("train", "test"), ("valid", "test")):
            shared = speakers[a] & speakers[b]
            if shared:
                raise SerbenchError(
                    f"corpus {corpus.name!r} fold {fold.name!r} leaks speakers {sorted(shared)} "
                    f"between {a} and {b}"
                )


def _ids(corpus: "Corpus", pred) -> tuple[str, ...]:
    return tuple(u.id for u in corpus.utterances if pred(u))


def leave_one_session_out(corpus: "Corpus") -> list[Fold]:
    """Test on one session; validate on the next session (cyclically); train on the rest."""
    sessions = corpus.sessions
    if len(sessions) < 3:
        raise SerbenchError(f"corpus {corpus.name!r}: leave-one-session-out needs >= 3 sessions")
    folds = []
    for k, test_session in enumerate(sessions):
        valid_session = sessions[(k + 1) % len(sessions)]
        folds.append(
            Fold(
                name=f"session-{test_session}",
                train=_ids(corpus, lambda u: u.session not in (test_session, valid_session)),
                valid=_ids(corpus, lambda u: u.session == valid_session),
                test=_ids(corpus, lambda u: u.session == test_session),
            )
        )
    return folds


def leave_one_speaker_out(corpus: "Corpus") -> list[Fold]:
    """Latif et al.: test one speaker, validate on the other speaker(s) of its session, train on the rest."""
    folds = []
    for speaker in corpus.speakers:
        session = next(u.session for u in corpus.utterances if u.speaker == speaker)
        mates = {u.speaker for u in corpus.utterances if u.session == session} - {speaker}
        if not mates:
            raise SerbenchError(
                f"corpus {corpus.name!r}: speaker {speaker!r} is alone in session {session!r}; "
                "leave-one-speaker-out needs two speakers per session"
            )
        folds.append(
            Fold(
                name=f"speaker-{speaker}",
                train=_ids(corpus, lambda u: u.session != session),
                valid=_ids(corpus, lambda u: u.speaker in mates),
                test=_ids(corpus, lambda u: u.speaker == speaker),
            )
        )
    return folds
