"""EmoDB (Berlin, German), 7 classes, 10 speakers (5 female, 5 male), 16 kHz.

Names like ``03a01Wa.wav`` under ``wav/`` (some copies ``wav_corpus/``):
speaker, text code, emotion letter, version. No sessions: each speaker is
its own session.
"""

from __future__ import annotations

import functools
import re

from serbench.data.corpus import Utterance, declare_protocols
from serbench.data.local import LocalCorpus, matching_files, resolve_root
from serbench.data.protocols import leave_one_speaker_out_rotating, speaker_kfold
from serbench.errors import DataError
from serbench.registry import register

NAME = "emodb"
EMOTIONS = {
    "W": "angry", "L": "boredom", "E": "disgust", "A": "fear", "F": "happy", "T": "sad", "N": "neutral",
}
LABELS = tuple(sorted(EMOTIONS.values()))
SPEAKERS = ("03", "08", "09", "10", "11", "12", "13", "14", "15", "16")
MALE = ("03", "10", "11", "12", "15")
_STEM = re.compile(r"^(\d\d)([a-z]\d\d)([A-Za-z])([a-z])$")


@register(
    "datasets", "emodb", version="1.0",
    summary="EmoDB (Berlin, German) from a local copy: 7 classes, 10 speakers",
    paper="Burkhardt et al. 2005, A database of German emotional speech",
    tags=("local", "7-class", "german", "acted"),
)
@declare_protocols("leave-one-speaker-out", "speaker-kfold")
def emodb(root: str | None = None, sample_rate: int = 16000) -> LocalCorpus:
    """EmoDB from a local copy (7 classes, 10 speakers); audio resampled to ``sample_rate``."""
    base = resolve_root(NAME, root)
    utterances, problems = [], []
    for utt_id, path, m in matching_files(NAME, base, _STEM, "an EmoDB name like 03a01Wa", problems,
                                            "EmoDB wavs (wav/03a01Wa.wav)"):
        speaker, text, emo, version = m.groups()
        if emo not in EMOTIONS:
            raise DataError(f"{path}: unknown emotion letter {emo!r}; EmoDB letters are {''.join(EMOTIONS)}")
        if speaker not in SPEAKERS:
            raise DataError(f"{path}: unknown speaker {speaker!r}; EmoDB speakers are {', '.join(SPEAKERS)}")
        utterances.append(Utterance(
            id=utt_id, label=EMOTIONS[emo], speaker=speaker, session=speaker,
            gender="M" if speaker in MALE else "F", path=str(path), meta={"text": text, "version": version},
        ))
    return LocalCorpus(
        NAME, base, utterances, LABELS, sample_rate,
        protocols={
            "leave-one-speaker-out": leave_one_speaker_out_rotating,
            "speaker-kfold": functools.partial(speaker_kfold, k=5),
        },
        default_protocol="leave-one-speaker-out", problems=problems,
    )
