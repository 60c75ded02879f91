"""IEMOCAP, 4 classes (angry, happy = hap + exc, neutral, sad), 5 sessions x 2 speakers.

Labels come from the summary lines of ``Session{N}/dialog/EmoEvaluation/<dialog>.txt``;
per-annotator lines are ignored. The speaker is the session plus the gender
letter of the utterance id's last token (``Ses01F_impro01_M003`` is the male
speaker of session 1), not the dialog prefix: the dialog prefix names who
wore the markers, and using it puts both speakers of a dialog on one side.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from serbench.data.corpus import Utterance, declare_protocols
from serbench.data.local import (
    LocalCorpus,
    index_by_stem,
    is_sidecar,
    list_folder,
    no_files_error,
    read_text,
    resolve_root,
    walk_files,
)
from serbench.data.problems import WARNING, Problem
from serbench.data.protocols import leave_one_session_out, leave_one_speaker_out
from serbench.errors import DataError
from serbench.registry import register

NAME = "iemocap"
LABELS = ("angry", "happy", "neutral", "sad")
# Every code IEMOCAP uses; None = not one of the four classes (dropped).
CODES: dict[str, str | None] = {
    "neu": "neutral", "hap": "happy", "exc": "happy", "ang": "angry", "sad": "sad",
    "fru": None, "sur": None, "fea": None, "dis": None, "oth": None, "xxx": None,
}
_SUMMARY = re.compile(r"^\[\s*([0-9.]+)\s*-\s*([0-9.]+)\s*\]\s+(\S+)\s+(\S+)\s+\[")
_ID = re.compile(r"^Ses(\d\d)[FM]_\S+_([A-Za-z])\d+$")
_SESSION_DIR = re.compile(r"^Session([1-5])$")


def _session_dirs(root: Path) -> list[Path]:
    """``Session1``..``Session5`` under the root or under ``root/IEMOCAP_full_release``."""
    for base in (root, root / "IEMOCAP_full_release"):
        if base.is_dir():
            found = [p for p in list_folder(base) if p.is_dir() and _SESSION_DIR.match(p.name)]
            if found:
                return found
    raise no_files_error(NAME, root, "Session1..Session5 folders (nor IEMOCAP_full_release/Session*)")


def parse_label_file(path: Path) -> dict[str, tuple[str, float, float]]:
    """Utterance id -> (code, start, end) from an EmoEvaluation file's summary lines."""
    out: dict[str, tuple[str, float, float]] = {}
    with io.StringIO(read_text(path), newline=None) as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.startswith("["):
                continue  # header, blank, or a per-annotator line (C-E2:, A-F1: ...)
            m = _SUMMARY.match(line)
            if not m:
                raise DataError(f"{path}:{lineno}: cannot parse summary line {line.strip()!r}")
            start, end, utt_id, code = float(m[1]), float(m[2]), m[3], m[4]
            if code not in CODES:
                raise DataError(
                    f"{path}:{lineno}: unknown emotion code {code!r} for {utt_id}; "
                    f"IEMOCAP codes are {', '.join(CODES)}"
                )
            out[utt_id] = (code, start, end)
    return out


@register(
    "datasets", "iemocap", version="1.0",
    summary="IEMOCAP from a local copy: 4 classes (hap+exc), 10 speakers, 5 sessions",
    paper="Busso et al. 2008, IEMOCAP: interactive emotional dyadic motion capture database",
    tags=("local", "4-class", "english", "acted"),
)
@declare_protocols("leave-one-session-out", "leave-one-speaker-out")
def iemocap(root: str | None = None, sample_rate: int = 16000) -> LocalCorpus:
    """IEMOCAP from a local copy (4 classes, 10 speakers, 5 sessions); audio resampled to ``sample_rate``."""
    base = resolve_root(NAME, root)
    utterances: list[Utterance] = []
    problems: list[Problem] = []
    manifests: list[Path] = []
    for session_dir in _session_dirs(base):
        label_dir = session_dir / "dialog" / "EmoEvaluation"
        wav_root = session_dir / "sentences" / "wav"
        wavs = index_by_stem(NAME, walk_files(wav_root)) if wav_root.is_dir() else {}
        dialogs = sorted({p.parent.name for p in wavs.values()})
        labels: dict[str, tuple[str, float, float]] = {}
        label_files = [
            p for p in list_folder(label_dir) if p.suffix == ".txt" and p.is_file() and not is_sidecar(p.name)
        ] if label_dir.is_dir() else []
        manifests += label_files
        for dialog in dialogs:
            expected = label_dir / f"{dialog}.txt"
            if not expected.is_file():
                raise DataError(f"{expected}: label file missing for the wavs in {wav_root / dialog}")
        for lf in label_files:
            labels.update(parse_label_file(lf))
        if not wavs and not labels:
            problems.append(Problem("missing", "no wavs and no label files in this session",
                                    str(session_dir), WARNING))
            continue
        for utt_id, (code, start, end) in sorted(labels.items()):
            label = CODES[code]
            if label is None:
                continue
            m = _ID.match(utt_id)
            if not m or m[2].upper() not in ("F", "M"):
                raise DataError(f"{label_dir}: utterance id {utt_id!r} does not end in an F/M speaker token")
            path = wavs.get(utt_id)
            if path is None:
                dialog = utt_id.rsplit("_", 1)[0]
                problems.append(Problem("missing", "labelled utterance has no wav; left out",
                                        str(wav_root / dialog / f"{utt_id}.wav"), WARNING))
                continue
            session, gender = m[1], m[2].upper()
            utterances.append(Utterance(
                id=utt_id, label=label, speaker=f"Ses{session}{gender}", session=session, gender=gender,
                path=str(path), meta={"code": code, "dialog": path.parent.name, "start": start, "end": end},
            ))
        for utt_id, path in sorted(wavs.items()):
            if utt_id not in labels:
                problems.append(Problem("unlabelled", "wav has no summary line in EmoEvaluation; left out",
                                        str(path), WARNING))
    return LocalCorpus(
        NAME, base, utterances, LABELS, sample_rate,
        protocols={"leave-one-session-out": leave_one_session_out,
                   "leave-one-speaker-out": leave_one_speaker_out},
        default_protocol="leave-one-session-out", problems=problems, manifests=manifests,
    )
