"""MSP-IMPROV, 4 classes (angry, happy, neutral, sad), 12 speakers in 6 sessions.

Labels: the consensus letter after the first ``;`` of each ``UTD-IMPROV-...avi``
line of ``Evaluation.txt``; per-rater lines are skipped. From a file stem
``MSP-IMPROV-S01A-F01-P-FM01``: speaker ``F01`` (gender + session), session ``01``.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from serbench.data.corpus import Utterance, declare_protocols
from serbench.data.local import (
    LocalCorpus,
    find_named,
    index_by_stem,
    no_files_error,
    read_text,
    resolve_root,
    stem,
    walk_files,
)
from serbench.data.problems import WARNING, Problem
from serbench.data.protocols import leave_one_session_out, leave_one_speaker_out
from serbench.errors import DataError
from serbench.registry import register

NAME = "msp-improv"
LABELS = ("angry", "happy", "neutral", "sad")
# Consensus letters; O (other) and X (no agreement) are not one of the four classes.
CODES: dict[str, str | None] = {"A": "angry", "H": "happy", "N": "neutral", "S": "sad", "O": None, "X": None}
_LINE = re.compile(r"^UTD-IMPROV-(\S+?)\.avi\s*;\s*([A-Za-z])\s*;")
_STEM = re.compile(r"^MSP-IMPROV-(S\d\d[A-Z])-([FM])(\d\d)-([PRST])-([A-Z]{1,2}\d\d)$")


def parse_evaluation(path: Path) -> dict[str, str]:
    """``MSP-IMPROV-...`` stem -> consensus letter."""
    out: dict[str, str] = {}
    with io.StringIO(read_text(path), newline=None) as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.startswith("UTD-IMPROV-"):
                continue  # blank or a per-rater line
            m = _LINE.match(line)
            if not m:
                raise DataError(f"{path}:{lineno}: cannot parse consensus line {line.strip()!r}")
            code = m[2].upper()
            if code not in CODES:
                raise DataError(
                    f"{path}:{lineno}: unknown consensus label {m[2]!r}; expected one of {', '.join(CODES)}"
                )
            out[f"MSP-IMPROV-{m[1]}"] = code
    return out


def _evaluation_file(root: Path) -> Path:
    found = [p for p in find_named(root, "Evaluation.txt") if p.is_file()]
    if not found:
        raise DataError(f"{root / 'Evaluation.txt'}: label file missing (searched all of {root}); "
                        "MSP-IMPROV's labels are in Evaluation.txt")
    if len(found) > 1:
        raise DataError(f"{NAME}: several Evaluation.txt under {root}: {', '.join(map(str, sorted(found)))}; "
                        "keep one")
    return found[0]


@register(
    "datasets", "msp-improv", version="1.0",
    summary="MSP-IMPROV from a local copy: 4 classes, 12 speakers, 6 sessions",
    paper="Busso et al. 2017, MSP-IMPROV: an acted corpus of dyadic interactions",
    tags=("local", "4-class", "english", "acted"),
)
@declare_protocols("leave-one-session-out", "leave-one-speaker-out")
def msp_improv(root: str | None = None, sample_rate: int = 16000) -> LocalCorpus:
    """MSP-IMPROV from a local copy (4 classes, 12 speakers, 6 sessions), resampled to ``sample_rate``."""
    base = resolve_root(NAME, root)
    wavs = index_by_stem(NAME, (p for p in walk_files(base) if stem(p).startswith("MSP-IMPROV-")))
    if not wavs:
        raise no_files_error(NAME, base, "MSP-IMPROV-*.wav files (session{1-6}/<S01A>/<P|R|S|T>/)")
    evaluation = _evaluation_file(base)
    labels = parse_evaluation(evaluation)
    utterances, problems = [], []
    for utt_id, path in sorted(wavs.items()):
        m = _STEM.match(utt_id)
        if not m:
            problems.append(Problem("unrecognised", "file name is not MSP-IMPROV-S01A-F01-P-FM01; left out",
                                    str(path), WARNING))
            continue
        if utt_id not in labels:
            problems.append(Problem("unlabelled", "no consensus line in Evaluation.txt; left out",
                                    str(path), WARNING))
            continue
        label = CODES[labels[utt_id]]
        if label is None:
            continue
        gender, session = m[2], m[3]
        utterances.append(Utterance(
            id=utt_id, label=label, speaker=f"{gender}{session}", session=session, gender=gender,
            path=str(path), meta={"sentence": m[1], "scenario": m[4], "code": labels[utt_id]},
        ))
    for utt_id in sorted(set(labels) - set(wavs)):
        problems.append(Problem("missing", "labelled in Evaluation.txt but no wav found; left out",
                                f"{utt_id}.wav", WARNING))
    return LocalCorpus(
        NAME, base, utterances, LABELS, sample_rate,
        protocols={"leave-one-session-out": leave_one_session_out,
                   "leave-one-speaker-out": leave_one_speaker_out},
        default_protocol="leave-one-session-out", problems=problems, manifests=[evaluation],
    )
