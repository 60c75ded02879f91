"""Folds: (train, valid, test) partitions by speaker or session, built and checked here.

Published split files are known to leak speakers; serbench builds folds from
metadata and refuses any speaker-independent fold in which a speaker appears
in two partitions.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from serbench.errors import SerbenchError

if TYPE_CHECKING:
    from serbench.data.corpus import Corpus


@dataclass(frozen=True)
class Fold:
    """Utterance ids of each partition. ``speaker_independent`` folds are checked disjoint.

    ``valid_shares_train_speakers`` declares, for corpora too small for anything
    else (TESS: two speakers), that validation utterances come from training
    speakers: model selection is then speaker-dependent while the test stays
    speaker-independent, and the check still refuses any test speaker elsewhere.
    """

    name: str
    train: tuple[str, ...]
    valid: tuple[str, ...]
    test: tuple[str, ...]
    speaker_independent: bool = True
    valid_shares_train_speakers: bool = False

    def partition(self, part: str) -> tuple[str, ...]:
        if part not in ("train", "valid", "test"):
            raise SerbenchError(f"unknown partition {part!r}; use train, valid or test")
        return getattr(self, part)


def check_fold(corpus: Corpus, fold: Fold) -> None:
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
        pairs = [("train", "test"), ("valid", "test")]
        if not fold.valid_shares_train_speakers:
            pairs.insert(0, ("train", "valid"))
        for a, b in pairs:
            shared = speakers[a] & speakers[b]
            if shared:
                raise SerbenchError(
                    f"corpus {corpus.name!r} fold {fold.name!r} leaks speakers {sorted(shared)} "
                    f"between {a} and {b}"
                )


def _split(corpus: Corpus, attr: str, valid: set[str], test: set[str], train: set[str] | None = None,
           ) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(train, valid, test) ids by ``attr`` (speaker or session); train = the rest unless given."""
    parts: tuple[list[str], list[str], list[str]] = ([], [], [])
    for u in corpus.utterances:
        key = getattr(u, attr)
        if key in test:
            parts[2].append(u.id)
        elif key in valid:
            parts[1].append(u.id)
        elif train is None or key in train:
            parts[0].append(u.id)
    return tuple(parts[0]), tuple(parts[1]), tuple(parts[2])


def leave_one_session_out(corpus: Corpus) -> list[Fold]:
    """Test on one session; validate on the next session (cyclically); train on the rest."""
    sessions = corpus.sessions
    if len(sessions) < 3:
        raise SerbenchError(f"corpus {corpus.name!r}: leave-one-session-out needs >= 3 sessions")
    folds = []
    for k, test_session in enumerate(sessions):
        valid_session = sessions[(k + 1) % len(sessions)]
        train, valid, test = _split(corpus, "session", {valid_session}, {test_session})
        folds.append(Fold(name=f"session-{test_session}", train=train, valid=valid, test=test))
    return folds


def leave_one_speaker_out(corpus: Corpus) -> list[Fold]:
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
        train, _, _ = _split(corpus, "session", set(), {session})
        _, valid, test = _split(corpus, "speaker", mates, {speaker}, train=set())
        folds.append(Fold(name=f"speaker-{speaker}", train=train, valid=valid, test=test))
    return folds


# -- builders for corpora without sessions (one speaker per recording group) ----------------------------


def stable_order(items: list[str], seed: int | str = 0) -> list[str]:
    """A shuffled but reproducible order: sort by sha256 of ``seed:item`` (independent of numpy versions)."""
    return sorted(items, key=lambda s: hashlib.sha256(f"{seed}:{s}".encode()).hexdigest())


def speakers_by_gender(corpus: Corpus) -> dict[str, list[str]]:
    """Sorted speakers of each gender ("" when the corpus does not record gender)."""
    out: dict[str, set[str]] = {}
    for u in corpus.utterances:
        out.setdefault(u.gender, set()).add(u.speaker)
    return {g: sorted(s) for g, s in sorted(out.items())}


def gender_interleaved(corpus: Corpus, seed: int | str = 0) -> list[str]:
    """Speakers in an order whose every prefix has about the corpus's gender ratio.

    Within each gender speakers are in :func:`stable_order`; the j-th of ``n_g``
    speakers of a gender sits at position (j + 0.5) / n_g, so consecutive blocks of
    this list are gender-balanced.
    """
    keyed = []
    for gender, speakers in speakers_by_gender(corpus).items():
        for j, s in enumerate(stable_order(speakers, seed)):
            keyed.append(((j + 0.5) / len(speakers), gender, s))
    return [s for _, _, s in sorted(keyed)]


def speaker_groups(corpus: Corpus, k: int) -> list[list[str]]:
    """``k`` gender-balanced speaker groups: each gender's sorted speakers dealt round-robin.

    The deal of the second gender continues where the first stopped, so group
    sizes differ by at most one overall.
    """
    groups: list[list[str]] = [[] for _ in range(k)]
    pos = 0
    for speakers in speakers_by_gender(corpus).values():
        for s in speakers:
            groups[pos % k].append(s)
            pos += 1
    return groups


def speaker_kfold(corpus: Corpus, k: int = 5) -> list[Fold]:
    """k folds over gender-balanced speaker groups: test group i, validate on group i+1, train on the rest."""
    if len(corpus.speakers) < max(k, 3) or k < 3:
        raise SerbenchError(
            f"corpus {corpus.name!r}: {k}-fold speaker protocol needs k >= 3 and at least k speakers "
            f"(it has {len(corpus.speakers)})"
        )
    groups = [set(g) for g in speaker_groups(corpus, k)]
    folds = []
    for i in range(k):
        train, valid, test = _split(corpus, "speaker", groups[(i + 1) % k], groups[i])
        folds.append(Fold(name=f"speakers-{i + 1}of{k}", train=train, valid=valid, test=test))
    return folds


def leave_one_speaker_out_rotating(corpus: Corpus) -> list[Fold]:
    """Test one speaker, validate on the next speaker (sorted, cyclic), train on the rest.

    For corpora without sessions; :func:`leave_one_speaker_out` validates on the
    test speaker's session mate instead.
    """
    speakers = corpus.speakers
    if len(speakers) < 3:
        raise SerbenchError(f"corpus {corpus.name!r}: leave-one-speaker-out needs >= 3 speakers")
    folds = []
    for i, speaker in enumerate(speakers):
        train, valid, test = _split(corpus, "speaker", {speakers[(i + 1) % len(speakers)]}, {speaker})
        folds.append(Fold(name=f"speaker-{speaker}", train=train, valid=valid, test=test))
    return folds


def scaled_sizes(n: int, sizes: tuple[int, ...]) -> tuple[int, ...]:
    """``sizes`` if they sum to ``n``, else proportional sizes (largest remainder), each at least 1."""
    if n < len(sizes):
        raise SerbenchError(f"cannot split {n} speakers into {len(sizes)} non-empty parts")
    total = sum(sizes)
    if n == total:
        return tuple(sizes)
    raw = [n * s / total for s in sizes]
    out = [max(1, int(r)) for r in raw]
    order = sorted(range(len(sizes)), key=lambda i: raw[i] - int(raw[i]), reverse=True)
    i = 0
    while sum(out) < n:
        out[order[i % len(order)]] += 1
        i += 1
    while sum(out) > n:
        j = max((j for j in range(len(out)) if out[j] > 1), key=lambda j: out[j] - raw[j])
        out[j] -= 1
    return tuple(out)


def speaker_split(corpus: Corpus, name: str, sizes: tuple[int, int, int], seed: int | str = 0) -> Fold:
    """One train/valid/test fold with ``sizes`` speakers, gender-balanced, deterministic in ``seed``.

    Consecutive blocks of :func:`gender_interleaved` order, so each partition has
    about the corpus's gender ratio. When the corpus has a different number of
    speakers than ``sum(sizes)`` the sizes are scaled (:func:`scaled_sizes`).
    """
    order = gender_interleaved(corpus, seed)
    n_train, n_valid, _ = scaled_sizes(len(order), sizes)
    valid_set, test_set = set(order[n_train : n_train + n_valid]), set(order[n_train + n_valid :])
    train, valid, test = _split(corpus, "speaker", valid_set, test_set)
    return Fold(name=name, train=train, valid=valid, test=test)
