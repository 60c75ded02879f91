"""CREMA-D, 6 classes, 91 actors (1001-1091), 16 kHz.

Names ``<actor>_<sentence>_<EMO>_<level>.wav`` (``AudioWAV/`` in most copies).
Gender comes from ``VideoDemographics.csv`` when the copy has it (then folds
are gender-balanced); otherwise it is left empty. ``1076_MTI_SAD_XX`` is
silent in real copies: it is left out and reported, so runs never trip on it.
No sessions: each actor is its own session.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from pathlib import Path

from serbench.data.corpus import Utterance, declare_protocols
from serbench.data.local import LocalCorpus, find_named, matching_files, read_text, resolve_root
from serbench.data.problems import WARNING, Problem
from serbench.data.protocols import leave_one_speaker_out_rotating, speaker_kfold
from serbench.errors import DataError
from serbench.registry import register

NAME = "crema-d"
EMOTIONS = {"ANG": "angry", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
LABELS = tuple(sorted(EMOTIONS.values()))
SENTENCES = ("IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI")
LEVELS = ("LO", "MD", "HI", "XX")
KNOWN_SILENT = ("1076_MTI_SAD_XX",)
_STEM = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")


def _demographics(root: Path) -> Path | None:
    """The copy's VideoDemographics.csv, if it has one."""
    found = find_named(root, "VideoDemographics.csv")
    return found[0] if found else None


def _genders(path: Path | None) -> dict[str, str]:
    """Actor id -> F/M from VideoDemographics.csv (none without it)."""
    if path is None:
        return {}
    out = {}
    with io.StringIO(read_text(path), newline="") as fh:
        for row in csv.DictReader(fh):
            sex = (row.get("Sex") or "").strip().lower()
            actor = (row.get("ActorID") or "").strip()
            if actor and sex in ("male", "female"):
                out[actor] = "M" if sex == "male" else "F"
    return out


@register(
    "datasets", "crema-d", version="1.0",
    summary="CREMA-D from a local copy: 6 classes, 91 actors",
    paper="Cao et al. 2014, CREMA-D: crowd-sourced emotional multimodal actors dataset",
    tags=("local", "6-class", "english", "acted"),
)
@declare_protocols("speaker-kfold", "leave-one-speaker-out")
def crema_d(root: str | None = None, sample_rate: int = 16000) -> LocalCorpus:
    """CREMA-D from a local copy (6 classes, 91 actors); audio resampled to ``sample_rate``."""
    base = resolve_root(NAME, root)
    demographics = _demographics(base)
    genders = _genders(demographics)
    utterances, problems = [], []
    for utt_id, path, m in matching_files(NAME, base, _STEM, "<actor>_<sentence>_<EMO>_<level>", problems,
                                            "CREMA-D wavs (AudioWAV/1001_DFA_ANG_XX.wav)"):
        actor, sentence, emo, level = m.groups()
        if emo not in EMOTIONS:
            raise DataError(f"{path}: unknown emotion code {emo!r}; CREMA-D codes are {', '.join(EMOTIONS)}")
        if sentence not in SENTENCES or level not in LEVELS or not 1001 <= int(actor) <= 1091:
            raise DataError(f"{path}: actor, sentence or level field is not a CREMA-D value")
        if utt_id in KNOWN_SILENT:
            problems.append(Problem("excluded", "silent in real CREMA-D copies; left out", str(path),
                                    WARNING))
            continue
        utterances.append(Utterance(
            id=utt_id, label=EMOTIONS[emo], speaker=actor, session=actor, gender=genders.get(actor, ""),
            path=str(path), meta={"sentence": sentence, "level": level},
        ))
    return LocalCorpus(
        NAME, base, utterances, LABELS, sample_rate,
        protocols={
            "speaker-kfold": functools.partial(speaker_kfold, k=5),
            "leave-one-speaker-out": leave_one_speaker_out_rotating,
        },
        default_protocol="speaker-kfold", problems=problems, manifests=[demographics] if demographics else [],
    )
