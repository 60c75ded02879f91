"""What the pytest plugin's fixtures build, usable without pytest: a tiny corpus tree on disk and a tiny
trained model with its front end and fitted normalisation, both from serbench's embedded ``synthetic`` corpus.

Both are deterministic (fixed seeds), CPU-only and take seconds, so a plugin's CI can use them on every run.
"""

from __future__ import annotations

import contextlib
import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

    from serbench.data.local import LocalCorpus

TREE_SAMPLE_RATE = 16000
MANIFEST = "labels.csv"
MANIFEST_FIELDS = ("id", "file", "label", "speaker", "session", "gender")


@contextlib.contextmanager
def corpus_cache(path: Path | None) -> Iterator[None]:
    """``SERBENCH_CACHE`` pointed at ``path`` for the block (None: left alone), restored afterwards: generating
    the fixtures' audio never writes into the user's cache."""
    if path is None:
        yield
        return
    old = os.environ.get("SERBENCH_CACHE")
    os.environ["SERBENCH_CACHE"] = str(path)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("SERBENCH_CACHE", None)
        else:
            os.environ["SERBENCH_CACHE"] = old


def _synthetic(cache: Path | None, **params: Any) -> tuple[Any, dict[str, np.ndarray]]:
    """serbench's ``synthetic`` corpus with ``params`` and every utterance's audio, generated under ``cache``."""
    import serbench

    with corpus_cache(cache):
        corpus = serbench.get("datasets", "synthetic", **params)
        audio = {u.id: corpus.load_audio(u) for u in corpus.utterances}
    return corpus, audio


@dataclass(frozen=True)
class CorpusTree:
    """A tiny corpus on disk: WAV files under :attr:`root` and a manifest listing them.

    Layout: ``Session01/Ses01F/Ses01F_angry_000.wav`` ..., 16 kHz mono PCM-16, speech-like audio (serbench's
    synthesiser), 3 sessions x 2 speakers (one female, one male) x 4 classes x 2 utterances; ``labels.csv``
    has one row per file (``id, file, label, speaker, session, gender``, ``file`` relative to the root).
    :attr:`rows` is that manifest, what a correct loader must find.
    """

    root: Path
    rows: tuple[dict[str, str], ...]
    labels: tuple[str, ...]
    sample_rate: int = TREE_SAMPLE_RATE

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST

    def corpus(self, name: str = "tree") -> "LocalCorpus":
        """The tree read as a serbench corpus (what a correct loader returns), with IEMOCAP's protocols."""
        from serbench.data.corpus import Utterance
        from serbench.data.local import LocalCorpus
        from serbench.data.protocols import leave_one_session_out, leave_one_speaker_out

        utts = [Utterance(id=r["id"], label=r["label"], speaker=r["speaker"], session=r["session"],
                          gender=r["gender"], path=str(self.root / r["file"])) for r in self.rows]
        return LocalCorpus(name, self.root, utts, self.labels, self.sample_rate,
                           {"leave-one-session-out": leave_one_session_out,
                            "leave-one-speaker-out": leave_one_speaker_out},
                           "leave-one-session-out", manifests=[self.manifest])


def corpus_tree(root: Path, cache: Path | None = None) -> CorpusTree:
    """Write the tiny corpus tree under ``root`` (see :class:`CorpusTree`); ``cache``: where the synthesiser's
    audio is cached (default: ``SERBENCH_CACHE``)."""
    import soundfile as sf

    corpus, audio = _synthetic(cache, sessions=3, utterances_per_class=2, max_seconds=0.5,
                               sample_rate=TREE_SAMPLE_RATE)
    rows = []
    for u in corpus.utterances:
        rel = f"Session{u.session}/{u.speaker}/{u.id}.wav"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(root / rel), audio[u.id], TREE_SAMPLE_RATE, subtype="PCM_16")
        rows.append({"id": u.id, "file": rel, "label": u.label, "speaker": u.speaker, "session": u.session,
                     "gender": u.gender})
    with open(root / MANIFEST, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=MANIFEST_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return CorpusTree(root, tuple(rows), tuple(corpus.labels))


@dataclass
class TinyModel:
    """A tiny model trained as the harness trains one, with everything an attack or defense test needs.

    ``model`` maps scaled features (B, 1, n_mels, T) to logits, in eval mode on the CPU; ``pipeline`` maps
    waveforms (B, samples) in [-1, 1] to logits through ``frontend`` and the fitted ``norm`` (what a
    waveform-domain attack sees). ``x``/``y``/``mask`` are the held-out session's scaled features, class
    indices and active-frame masks (B, T), ``waves``/``lengths`` its waveforms and active samples. Feature
    attacks must stay inside ``bounds`` (the normalisation's scaled range), as the harness requires.
    """

    model: "torch.nn.Module"
    frontend: "torch.nn.Module"
    norm: "torch.nn.Module"
    pipeline: "torch.nn.Module"
    labels: tuple[str, ...]
    sample_rate: int
    x: "torch.Tensor"
    y: "torch.Tensor"
    mask: "torch.Tensor"
    waves: "torch.Tensor"
    lengths: "torch.Tensor"
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def bounds(self) -> tuple[float, float]:
        return self.norm.bounds

    def accuracy(self, x: "torch.Tensor | None" = None) -> float:
        """Share of the held-out rows classified right, on ``x`` (default: the clean features)."""
        import torch

        with torch.no_grad():
            logits = self.model(self.x if x is None else x)
        return float((logits.argmax(1) == self.y).float().mean())


def tiny_trained_model(cache: Path | None = None, *, model: str = "cnn4.tiny", seed: int = 0,
                       iterations: int = 80) -> TinyModel:
    """Train ``model`` on serbench's ``synthetic`` corpus (3 sessions, 16 utterances per class and session,
    0.5 s), fold ``session-01`` of leave-one-session-out, with the ren2020 log-Mel front end and the default
    natural-log normalisation fitted on the training frames: seconds on a CPU."""
    import torch

    import serbench
    from serbench.bench.environment import seed_everything
    from serbench.defenses.base import Defense
    from serbench.engine.lengths import PadOrCrop, group_waves
    from serbench.engine.schedules import schedule
    from serbench.engine.train import train
    from serbench.features import FeaturePipeline, LogSpectrogram, frontend_config
    from serbench.normalization import DEFAULT_NORMALIZATION, normalization

    corpus, audio = _synthetic(cache, sessions=3, utterances_per_class=8, max_seconds=0.5)
    fold = corpus.folds("leave-one-session-out")[0]
    frontend = LogSpectrogram(frontend_config("ren2020"))
    policy = PadOrCrop(int(0.5 * corpus.sample_rate))

    def part(name: str) -> tuple[Any, torch.Tensor, torch.Tensor, torch.Tensor]:
        ids = fold.partition(name)
        (group,) = group_waves(policy, [audio[i] for i in ids])
        with torch.no_grad():
            feats = frontend(group.waves)
        y = torch.tensor([corpus.label_index(corpus[i].label) for i in ids])
        return group, feats, group.frame_mask(frontend.config.hop_length, feats.shape[-1]), y

    (_, train_db, train_mask, y_train), (_, valid_db, valid_mask, y_valid) = part("train"), part("valid")
    test_group, test_db, test_mask, y_test = part("test")
    norm = normalization(DEFAULT_NORMALIZATION).fit([train_db], [train_mask])
    seed_everything(seed)
    net = serbench.get("models", model, num_classes=len(corpus.labels))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small trains fastest on one thread (more only spin, worse on busy CI)
    try:
        result = train(net, Defense(), norm(train_db, train_mask), y_train, norm(valid_db, valid_mask), y_valid,
                       schedule("ren2020", iterations=iterations, eval_every=20, batch_size=16, lr=3e-3), seed,
                       len(corpus.labels), bounds=norm.bounds, mask=train_mask)
    finally:
        torch.set_num_threads(threads)
    net.load_state_dict(result.state_dict)
    net.eval()
    pipeline = FeaturePipeline(frontend, norm, net).eval()
    return TinyModel(model=net, frontend=frontend, norm=norm, pipeline=pipeline, labels=tuple(corpus.labels),
                     sample_rate=corpus.sample_rate, x=norm(test_db, test_mask), y=y_test, mask=test_mask,
                     waves=test_group.waves, lengths=test_group.lengths, history=result.history)
