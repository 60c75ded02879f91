"""DEMoS (Italian), 7 classes without neutral (Ren et al. 2020), 68 speakers.

Files ``{PR|NP}_{f|m}_{NN}_{emo}{NN}{a|b|c}.wav`` (PR prototypical, NP not),
neutral ``{f|m}_{NN}_neu{NN}{a|b}.wav``; folders do not matter. DEMoS has no
sessions: each speaker is its own session.

Protocol ``ren2020``: speakers split 24 / 22 / 22 into train / valid (Ren's
"dev") / test, gender-balanced (consecutive blocks of a gender-interleaved
order, deterministic; every speaker acts every class, so class balance
follows). Ren et al. train the models they test on train + dev; this fold
keeps dev as the validation partition, and a spec asks for Ren's final models
with ``training: {fit_on: train+valid}``. Ren's exact speaker
lists are not published, so per-class counts differ from their Table 1.
"""

from __future__ import annotations

import functools
import re

from serbench.data.corpus import Utterance, declare_protocols
from serbench.data.local import LocalCorpus, index_by_stem, no_files_error, resolve_root, walk_files
from serbench.data.problems import WARNING, Problem
from serbench.data.protocols import speaker_kfold, speaker_split
from serbench.errors import DataError
from serbench.registry import register

NAME = "demos"
CODES = {
    "rab": "angry", "tri": "sad", "gio": "happy", "pau": "fear", "dis": "disgust", "col": "guilt",
    "sor": "surprise", "neu": "neutral",
}
LABELS_7 = tuple(sorted(v for k, v in CODES.items() if k != "neu"))
_EMO = re.compile(r"^(PR|NP)_([fm])_(\d\d)_([a-z]+)(\d\d)([a-z])$", re.IGNORECASE)
_NEU = re.compile(r"^([fm])_(\d\d)_([a-z]+)(\d\d)([a-z])$", re.IGNORECASE)
REN_SIZES = (24, 22, 22)


def ren2020(corpus: LocalCorpus) -> list:
    """Ren et al.'s 24 / 22 / 22 speaker split (train / dev / test), gender-balanced."""
    return [speaker_split(corpus, "ren2020", REN_SIZES, seed="ren2020")]


@register(
    "datasets", "demos", version="1.0",
    summary="DEMoS (Italian) from a local copy: 7 classes without neutral, 68 speakers, Ren et al. split",
    paper="Parada-Cabaleiro et al. 2020, DEMoS: an Italian emotional speech corpus",
    tags=("local", "7-class", "italian", "induced"),
)
@declare_protocols("ren2020", "speaker-kfold")
def demos(root: str | None = None, sample_rate: int = 16000, neutral: bool = False) -> LocalCorpus:
    """DEMoS from a local copy: 7 classes (``neutral=True`` adds neutral); resampled to ``sample_rate``."""
    base = resolve_root(NAME, root)
    wavs = index_by_stem(NAME, walk_files(base))
    utterances, problems = [], []
    for utt_id, path in sorted(wavs.items()):
        m, n = _EMO.match(utt_id), _NEU.match(utt_id)
        if m:
            kind, gender, spk, code, take = m[1].upper(), m[2].upper(), m[3], m[4].lower(), m[5] + m[6]
        elif n:
            kind, gender, spk, code, take = "NEU", n[1].upper(), n[2], n[3].lower(), n[4] + n[5]
        else:
            problems.append(Problem("unrecognised", "file name is not a DEMoS name; left out", str(path),
                                    WARNING))
            continue
        if code not in CODES or (kind == "NEU") != (code == "neu"):
            raise DataError(f"{path}: unknown emotion code {code!r}; DEMoS codes are {', '.join(CODES)}")
        if code == "neu" and not neutral:
            continue
        speaker = f"{gender}{spk}"
        utterances.append(Utterance(
            id=utt_id, label=CODES[code], speaker=speaker, session=speaker, gender=gender, path=str(path),
            meta={"prototypical": kind == "PR", "take": take},
        ))
    if not wavs:
        raise no_files_error(NAME, base, "DEMoS wavs (DEMoS/DEMOS/PR_f_01_rab01a.wav, DEMoS/NEU/...)")
    labels = tuple(sorted(LABELS_7 + (("neutral",) if neutral else ())))
    return LocalCorpus(
        NAME, base, utterances, labels, sample_rate,
        protocols={"ren2020": ren2020, "speaker-kfold": functools.partial(speaker_kfold, k=5)},
        default_protocol="ren2020", problems=problems,
    )
