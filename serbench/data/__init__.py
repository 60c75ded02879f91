"""Corpora: utterances, audio, protocols. Importing this imports the built-in datasets, which register
themselves."""

from serbench.data.corpora.crema_d import crema_d
from serbench.data.corpora.demos import demos
from serbench.data.corpora.emodb import emodb
from serbench.data.corpora.iemocap import iemocap
from serbench.data.corpora.msp_improv import msp_improv
from serbench.data.corpora.ravdess import ravdess
from serbench.data.corpora.tess import tess
from serbench.data.corpus import Corpus, Utterance
from serbench.data.cross_corpus import CrossCorpus, cross_corpus
from serbench.data.local import LocalCorpus
from serbench.data.problems import Problem
from serbench.data.protocols import Fold, check_fold, leave_one_session_out, leave_one_speaker_out
from serbench.data.synthetic import synthetic

__all__ = [
    "Corpus",
    "CrossCorpus",
    "Fold",
    "LocalCorpus",
    "Problem",
    "Utterance",
    "check_fold",
    "crema_d",
    "cross_corpus",
    "demos",
    "emodb",
    "iemocap",
    "leave_one_session_out",
    "leave_one_speaker_out",
    "msp_improv",
    "ravdess",
    "synthetic",
    "tess",
]
