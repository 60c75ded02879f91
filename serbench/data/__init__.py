"""Corpora: utterances, audio, protocols. Importing this registers the built-in datasets."""

from serbench.data.corpus import Corpus, Utterance
from serbench.data.protocols import Fold, check_fold, leave_one_session_out, leave_one_speaker_out
from serbench.data.synthetic import synthetic
from serbench.registry import register

register(
    "datasets",
    "synthetic",
    version="1.0",
    summary="Embedded procedurally generated emotional speech: 4 IEMOCAP classes, 5 sessions x 2 speakers",
    tags=("embedded", "4-class", "offline"),
)(synthetic)

__all__ = [
    "Corpus", "Utterance", "Fold", "check_fold", "leave_one_session_out", "leave_one_speaker_out", "synthetic",
]
