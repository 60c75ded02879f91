"""Corpora: utterances, audio, protocols. Importing this registers the built-in datasets."""

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
from serbench.registry import register

register(
    "datasets",
    "synthetic",
    version="1.0",
    summary="Embedded procedurally generated emotional speech: 4 IEMOCAP classes, 5 sessions x 2 speakers",
    tags=("embedded", "4-class", "offline"),
)(synthetic)

register(
    "datasets", "iemocap", version="1.0",
    summary="IEMOCAP from a local copy: 4 classes (hap+exc), 10 speakers, 5 sessions",
    paper="Busso et al. 2008, IEMOCAP: interactive emotional dyadic motion capture database",
    tags=("local", "4-class", "english", "acted"),
)(iemocap)
register(
    "datasets", "msp-improv", version="1.0",
    summary="MSP-IMPROV from a local copy: 4 classes, 12 speakers, 6 sessions",
    paper="Busso et al. 2017, MSP-IMPROV: an acted corpus of dyadic interactions",
    tags=("local", "4-class", "english", "acted"),
)(msp_improv)
register(
    "datasets", "demos", version="1.0",
    summary="DEMoS (Italian) from a local copy: 7 classes without neutral, 68 speakers, Ren et al. split",
    paper="Parada-Cabaleiro et al. 2020, DEMoS: an Italian emotional speech corpus",
    tags=("local", "7-class", "italian", "induced"),
)(demos)
register(
    "datasets", "ravdess", version="1.0",
    summary="RAVDESS speech from a local copy: 8 classes, 24 actors",
    paper="Livingstone & Russo 2018, The Ryerson Audio-Visual Database of Emotional Speech and Song",
    tags=("local", "8-class", "english", "acted"),
)(ravdess)
register(
    "datasets", "crema-d", version="1.0",
    summary="CREMA-D from a local copy: 6 classes, 91 actors",
    paper="Cao et al. 2014, CREMA-D: crowd-sourced emotional multimodal actors dataset",
    tags=("local", "6-class", "english", "acted"),
)(crema_d)
register(
    "datasets", "emodb", version="1.0",
    summary="EmoDB (Berlin, German) from a local copy: 7 classes, 10 speakers",
    paper="Burkhardt et al. 2005, A database of German emotional speech",
    tags=("local", "7-class", "german", "acted"),
)(emodb)
register(
    "datasets", "tess", version="1.0",
    summary="TESS from a local copy: 7 classes, 2 speakers (no speaker-independent validation exists)",
    paper="Dupuis & Pichora-Fuller 2010, Toronto emotional speech set",
    tags=("local", "7-class", "english", "acted"),
)(tess)
register(
    "datasets", "cross-corpus", version="1.0",
    summary="Train on one corpus, test on another through a label mapping (Latif et al. 30/70 selection)",
    paper="Latif et al. 2020, Interspeech",
    tags=("cross-corpus",),
)(cross_corpus)

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
