"""TESS (Toronto emotional speech set), 7 classes, 2 speakers (OAF, YAF), about 24.4 kHz.

Names ``{OAF|YAF}_<word>_<emotion>.wav`` in any subfolders (a few files of
some copies start ``OA_``: the older speaker). The same 200 words are spoken
by both speakers in every emotion.

No speaker-independent validation exists: with two speakers the only
speaker-independent test is train on one, test on the other. The protocol
``train-one-test-other`` carves validation from the training speaker's
utterances of a held-out 20 % of the words (all emotions of those words), so
model selection is speaker-dependent. Its folds say so
(``valid_shares_train_speakers=True``); the test speaker is still checked to
appear nowhere else.
"""

from __future__ import annotations

import re

from serbench.data.corpus import Corpus, Utterance, declare_protocols
from serbench.data.local import LocalCorpus, matching_files, resolve_root
from serbench.data.protocols import Fold, stable_order
from serbench.errors import DataError, SerbenchError
from serbench.registry import register

NAME = "tess"
EMOTIONS = {
    "angry": "angry", "disgust": "disgust", "fear": "fear", "happy": "happy", "neutral": "neutral",
    "ps": "surprise", "sad": "sad",
}
LABELS = tuple(sorted(set(EMOTIONS.values())))
_STEM = re.compile(r"^(OAF|YAF|OA)_(.+)_([A-Za-z]+)$", re.IGNORECASE)
VALID_WORD_FRACTION = 0.2


def train_one_test_other(corpus: Corpus) -> list[Fold]:
    """Two folds: train on one speaker, test on the other; validate on 20 % of the trainer's words."""
    speakers = corpus.speakers
    if len(speakers) != 2:
        raise SerbenchError(f"corpus {corpus.name!r}: train-one-test-other needs exactly 2 speakers, "
                            f"found {speakers}")
    folds = []
    for test_speaker in speakers:
        train_speaker = next(s for s in speakers if s != test_speaker)
        own = [u for u in corpus.utterances if u.speaker == train_speaker]
        words = stable_order(sorted({u.meta["word"] for u in own}), seed=NAME)
        held = set(words[: max(1, round(VALID_WORD_FRACTION * len(words)))])
        folds.append(Fold(
            name=f"test-{test_speaker}",
            train=tuple(u.id for u in own if u.meta["word"] not in held),
            valid=tuple(u.id for u in own if u.meta["word"] in held),
            test=tuple(u.id for u in corpus.utterances if u.speaker == test_speaker),
            speaker_independent=True,
            valid_shares_train_speakers=True,
        ))
    return folds


@register(
    "datasets", "tess", version="1.0",
    summary="TESS from a local copy: 7 classes, 2 speakers (no speaker-independent validation exists)",
    paper="Dupuis & Pichora-Fuller 2010, Toronto emotional speech set",
    tags=("local", "7-class", "english", "acted"),
)
@declare_protocols("train-one-test-other")
def tess(root: str | None = None, sample_rate: int = 16000) -> LocalCorpus:
    """TESS from a local copy (7 classes, 2 speakers); audio resampled to ``sample_rate``."""
    base = resolve_root(NAME, root)
    utterances, problems = [], []
    for utt_id, path, m in matching_files(NAME, base, _STEM, "{OAF|YAF}_<word>_<emotion>", problems,
                                            "TESS wavs (OAF_back_angry.wav, YAF_...)"):
        speaker = "OAF" if m[1].upper().startswith("OA") else "YAF"
        emo = m[3].lower()
        if emo not in EMOTIONS:
            raise DataError(f"{path}: unknown emotion {m[3]!r}; TESS emotions are {', '.join(EMOTIONS)}")
        utterances.append(Utterance(
            id=utt_id, label=EMOTIONS[emo], speaker=speaker, session=speaker, gender="F", path=str(path),
            meta={"word": m[2].lower()},
        ))
    return LocalCorpus(
        NAME, base, utterances, LABELS, sample_rate,
        protocols={"train-one-test-other": train_one_test_other},
        default_protocol="train-one-test-other", problems=problems,
    )
