"""RAVDESS audio-only speech, 8 classes, 24 actors (odd numbers male), 48 kHz.

Names ``03-01-EE-II-SS-RR-AA.wav`` anywhere under the root (copies use
``Audio_Speech_Actors_01-24/Actor_NN/`` or ``Actor_NN/``): modality 03 audio
only, vocal channel 01 speech (02 song is skipped), emotion, intensity,
statement, repetition, actor. No sessions: each actor is its own session.
"""

from __future__ import annotations

import functools
import re

from serbench.data.corpus import Utterance, declare_protocols
from serbench.data.local import LocalCorpus, matching_files, resolve_root
from serbench.data.protocols import leave_one_speaker_out_rotating, speaker_kfold
from serbench.errors import DataError
from serbench.registry import register

NAME = "ravdess"
EMOTIONS = {
    "01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry", "06": "fear", "07": "disgust",
    "08": "surprise",
}
LABELS = tuple(sorted(EMOTIONS.values()))
_STEM = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")


@register(
    "datasets", "ravdess", version="1.0",
    summary="RAVDESS speech from a local copy: 8 classes, 24 actors",
    paper="Livingstone & Russo 2018, The Ryerson Audio-Visual Database of Emotional Speech and Song",
    tags=("local", "8-class", "english", "acted"),
)
@declare_protocols("speaker-kfold", "leave-one-speaker-out")
def ravdess(root: str | None = None, sample_rate: int = 16000) -> LocalCorpus:
    """RAVDESS speech from a local copy (8 classes, 24 actors); audio resampled to ``sample_rate``."""
    base = resolve_root(NAME, root)
    utterances, problems = [], []
    for utt_id, path, m in matching_files(NAME, base, _STEM, "03-01-EE-II-SS-RR-AA", problems,
                                            "RAVDESS wavs (Actor_NN/03-01-EE-II-SS-RR-AA.wav)"):
        modality, channel, emo, intensity, statement, repetition, actor = m.groups()
        if modality != "03" or channel != "01":
            continue  # video files' audio tracks or song: not the speech corpus
        if emo not in EMOTIONS:
            raise DataError(f"{path}: unknown emotion code {emo!r}; RAVDESS codes are 01-08")
        if not 1 <= int(actor) <= 24 or intensity not in ("01", "02") or statement not in ("01", "02"):
            raise DataError(f"{path}: actor, intensity or statement field out of range")
        gender = "M" if int(actor) % 2 else "F"
        utterances.append(Utterance(
            id=utt_id, label=EMOTIONS[emo], speaker=actor, session=actor, gender=gender, path=str(path),
            meta={"intensity": intensity, "statement": statement, "repetition": repetition},
        ))
    return LocalCorpus(
        NAME, base, utterances, LABELS, sample_rate,
        protocols={
            "speaker-kfold": functools.partial(speaker_kfold, k=6),
            "leave-one-speaker-out": leave_one_speaker_out_rotating,
        },
        default_protocol="speaker-kfold", problems=problems,
    )
