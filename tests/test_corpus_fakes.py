"""Tiny fake corpus trees (short generated WAVs, never real data) shared by the corpus tests.

Each builder writes a tree in the layout of docs/datasets.md under
``root`` and returns what a correct loader must find, so tests assert exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


def write_wav(path: Path, rate: int = 16000, seconds: float = 0.05, freq: float = 440.0,
              silent: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(rate * seconds)) / rate
    wave = np.zeros_like(t) if silent else 0.3 * np.sin(2 * np.pi * freq * t)
    sf.write(str(path), wave.astype(np.float32), rate, subtype="PCM_16")
    return path


def write_sidecar(path: Path) -> None:
    """A macOS ``._name`` resource fork: not audio, must be skipped."""
    (path.parent / f"._{path.name}").write_bytes(b"\x00\x05\x16\x07 not audio")


# -- IEMOCAP ----------------------------------------------------------------------------------------------

# per session: (dialog, utterance suffix, code); the speaker comes from the LAST token's letter.
IEMOCAP_PLAN = [
    ("F_impro01", "F000", "neu"), ("F_impro01", "M000", "exc"), ("F_impro01", "F001", "fru"),
    ("F_impro01", "M001", "ang"), ("M_script01_1", "F000", "sad"), ("M_script01_1", "M000", "hap"),
]
IEMOCAP_LABEL = {"neu": "neutral", "exc": "happy", "hap": "happy", "ang": "angry", "sad": "sad"}


def iemocap_id(session: int, dialog: str, suffix: str) -> str:
    return f"Ses0{session}{dialog}_{suffix}"


def make_iemocap(root: Path, nested: bool = True, sessions: int = 5) -> dict[str, tuple[str, str, str]]:
    """Returns id -> (label, speaker, session) for the utterances a loader must keep."""
    base = root / "IEMOCAP_full_release" if nested else root
    expected = {}
    for s in range(1, sessions + 1):
        sess = base / f"Session{s}"
        emo = sess / "dialog" / "EmoEvaluation"
        (emo / "Categorical").mkdir(parents=True, exist_ok=True)  # subfolders must be ignored
        (emo / "Categorical" / "notes.txt").write_text("not a label file\n")
        by_dialog: dict[str, list[str]] = {}
        for dialog_suffix, utt_suffix, code in IEMOCAP_PLAN:
            dialog = f"Ses0{s}{dialog_suffix}"
            utt = f"{dialog}_{utt_suffix}"
            wav = write_wav(sess / "sentences" / "wav" / dialog / f"{utt}.wav")
            write_sidecar(wav)
            start = 1.0 + len(by_dialog.get(dialog, []))
            by_dialog.setdefault(dialog, []).append(
                f"[{start:.4f} - {start + 0.5:.4f}]\t{utt}\t{code}\t[2.5000, 2.5000, 2.5000]\n"
                f"C-E2:\tNeutral state;\t()\nA-F1:\tval 3; act 2; dom  2;\t()\n\n"
            )
            if code in IEMOCAP_LABEL:
                gender = utt_suffix[0]
                expected[utt] = (IEMOCAP_LABEL[code], f"Ses0{s}{gender}", f"0{s}")
        for dialog, blocks in by_dialog.items():
            header = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
            (emo / f"{dialog}.txt").write_text(header + "".join(blocks))
            write_sidecar(emo / f"{dialog}.txt")
    return expected


# -- MSP-IMPROV -------------------------------------------------------------------------------------------

MSP_CODES = ["A", "H", "S", "N", "X"]
MSP_LABEL = {"A": "angry", "H": "happy", "S": "sad", "N": "neutral"}


def make_msp_improv(root: Path, audio_prefix: str = "", eval_dir: str = ""
                    ) -> dict[str, tuple[str, str, str]]:
    """6 sessions x 2 speakers x 5 files (one with consensus X, dropped)."""
    expected = {}
    lines = []
    for s in range(1, 7):
        for gender in ("F", "M"):
            for j, code in enumerate(MSP_CODES):
                sentence = f"S0{j + 1}A"
                scenario = "PRST"[j % 4]
                stem = f"MSP-IMPROV-{sentence}-{gender}0{s}-{scenario}-FM0{s}"
                folder = root / audio_prefix / f"session{s}" / sentence / scenario
                write_sidecar(write_wav(folder / f"{stem}.wav"))
                lines.append(f"UTD-IMPROV-{stem[11:]}.avi; {code}; A:3.0; V:3.0; D:3.0 ; N:5;\n")
                lines.append("Rater1; Angry; A:3; V:2; D:3;\nRater2; Angry; A:3; V:2; D:3;\n\n")
                if code in MSP_LABEL:
                    expected[stem] = (MSP_LABEL[code], f"{gender}0{s}", f"0{s}")
    (root / eval_dir).mkdir(parents=True, exist_ok=True)
    (root / eval_dir / "Evaluation.txt").write_text("".join(lines))
    return expected


# -- DEMoS ------------------------------------------------------------------------------------------------

DEMOS_CODES = {"rab": "angry", "tri": "sad", "gio": "happy", "pau": "fear", "dis": "disgust", "col": "guilt",
               "sor": "surprise"}


def make_demos(root: Path, females: int = 23, males: int = 45, codes: tuple[str, ...] = ("rab", "col")
               ) -> dict[str, tuple[str, str, str]]:
    """One emotional file per speaker and code (PR), one neutral per speaker; 68 speakers by default."""
    expected = {}
    n = 0
    for gender, count in (("f", females), ("m", males)):
        for _ in range(count):
            n += 1
            spk = f"{n:02d}"
            for j, code in enumerate(codes):
                kind = "PR" if j % 2 == 0 else "NP"
                stem = f"{kind}_{gender}_{spk}_{code}01a"
                write_wav(root / "DEMoS" / "DEMOS" / f"{stem}.wav", rate=8000, seconds=0.02)
                expected[stem] = (DEMOS_CODES[code], f"{gender.upper()}{spk}", f"{gender.upper()}{spk}")
            write_wav(root / "DEMoS" / "NEU" / f"{gender}_{spk}_neu01a.wav", rate=8000, seconds=0.02)
    return expected


# -- RAVDESS ----------------------------------------------------------------------------------------------

RAVDESS_EMO = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry", "06": "fear",
               "07": "disgust", "08": "surprise"}


def make_ravdess(root: Path, actors: int = 6, nested: bool = True) -> dict[str, tuple[str, str, str]]:
    expected = {}
    for a in range(1, actors + 1):
        folder = root / ("Audio_Speech_Actors_01-24" if nested else "") / f"Actor_{a:02d}"
        for emo in ("01", "05", "08"):
            intensity = "01" if emo == "01" else "02"
            stem = f"03-01-{emo}-{intensity}-01-01-{a:02d}"
            write_sidecar(write_wav(folder / f"{stem}.wav", rate=48000, seconds=0.02))
            expected[stem] = (RAVDESS_EMO[emo], f"{a:02d}", f"{a:02d}")
        write_wav(folder / f"03-02-03-01-01-01-{a:02d}.wav", rate=48000, seconds=0.02)  # song: skipped
    return expected


# -- CREMA-D ----------------------------------------------------------------------------------------------

CREMA_EMO = {"ANG": "angry", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}


def make_crema_d(root: Path, actors: tuple[int, ...] = (1001, 1002, 1003, 1004, 1005, 1076),
                 demographics: bool = True) -> dict[str, tuple[str, str, str]]:
    expected = {}
    for actor in actors:
        for emo, level in (("ANG", "HI"), ("NEU", "XX"), ("SAD", "XX")):
            stem = f"{actor}_{'MTI' if actor == 1076 else 'DFA'}_{emo}_{level}"
            silent = stem == "1076_MTI_SAD_XX"
            write_sidecar(write_wav(root / "AudioWAV" / f"{stem}.wav", silent=silent))
            if not silent:
                expected[stem] = (CREMA_EMO[emo], str(actor), str(actor))
    if demographics:
        rows = ["ActorID,Age,Sex,Race,Ethnicity"]
        rows += [f"{a},30,{'Male' if k % 2 == 0 else 'Female'},Caucasian,Not Hispanic"
                 for k, a in enumerate(actors)]
        (root / "VideoDemographics.csv").write_text("\n".join(rows) + "\n")
    return expected


# -- EmoDB ------------------------------------------------------------------------------------------------

EMODB_EMO = {"W": "angry", "L": "boredom", "E": "disgust", "A": "fear", "F": "happy", "T": "sad",
             "N": "neutral"}
EMODB_SPEAKERS = ("03", "08", "09", "10", "11", "12", "13", "14", "15", "16")


def make_emodb(root: Path, folder: str = "wav") -> dict[str, tuple[str, str, str]]:
    expected = {}
    for spk in EMODB_SPEAKERS:
        for text, emo in (("a01", "W"), ("b02", "N")):
            stem = f"{spk}{text}{emo}a"
            write_sidecar(write_wav(root / folder / f"{stem}.wav"))
            expected[stem] = (EMODB_EMO[emo], spk, spk)
    return expected


# -- TESS -------------------------------------------------------------------------------------------------

TESS_EMO = {"angry": "angry", "disgust": "disgust", "fear": "fear", "happy": "happy", "neutral": "neutral",
            "ps": "surprise", "sad": "sad"}
TESS_WORDS = ("back", "bar", "base", "bath", "bean")


def make_tess(root: Path) -> dict[str, tuple[str, str, str]]:
    expected = {}
    for spk in ("OAF", "YAF"):
        for emo, label in TESS_EMO.items():
            folder = root / f"{spk}_{'Pleasant_surprise' if emo == 'ps' else emo}"
            for word in TESS_WORDS:
                stem = f"{spk}_{word}_{emo}"
                write_wav(folder / f"{stem}.wav", rate=24414, seconds=0.02)
                expected[stem] = (label, spk, spk)
    return expected


def check_expected(corpus, expected: dict[str, tuple[str, str, str]]) -> None:
    """The corpus holds exactly ``expected``: ids, labels, speakers and sessions."""
    got = {u.id: (u.label, u.speaker, u.session) for u in corpus.utterances}
    assert got == expected
