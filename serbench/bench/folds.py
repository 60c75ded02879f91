"""Fold preparation: one fold of a corpus as the model sees it, decoded and featurised once.

:class:`FoldData` holds a fold's three partitions (waveforms in length groups with each row's
active length, and labels) and computes their unscaled (dB) features on demand, per length group,
with the frame masks that tell speech from padding. Waveforms, lengths and features are cached on
disk by corpus content, utterance ids, front end and length (:mod:`serbench.data.feature_cache`),
so a matrix decodes every file once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from serbench.data.corpus import Corpus
from serbench.data.protocols import Fold
from serbench.data.feature_cache import FeatureCache, feature_key
from serbench.engine import data as fold_data
from serbench.engine.lengths import LengthGroup, PadOrCrop, Segments, group_waves, length_policy
from serbench.errors import SerbenchError
from serbench.features import WAVEFORM_KIND, FrontendConfig, LogSpectrogram, RawWaveform

if TYPE_CHECKING:
    from serbench.bench.cells import FrontendPart

PARTITIONS = ("train", "valid", "test")


def frontend_for(features: FrontendConfig, corpus: Corpus) -> LogSpectrogram | RawWaveform:
    """The front end a train cell names (the samples themselves for a waveform model); its sample rate must be
    the corpus's."""
    waveform = features.kind == WAVEFORM_KIND
    frontend = RawWaveform(features) if waveform else LogSpectrogram(features)
    if frontend.config.sample_rate != corpus.sample_rate:
        who = "the waveform model" if waveform else "front end"
        raise SerbenchError(
            f"{who} expects {frontend.config.sample_rate} Hz but corpus {corpus.name!r} delivers "
            f"{corpus.sample_rate} Hz; set the dataset's sample_rate param"
        )
    return frontend


class Partitions(Mapping[str, fold_data.Partition]):
    """The fold's partitions, each decoded (or read from the cache) the first time it is asked for: a rerun that
    loads a saved model and evaluates the test partition never reads the training audio."""

    def __init__(self, load: Callable[[str], fold_data.Partition]) -> None:
        self._load, self._loaded = load, {}

    def __getitem__(self, part: str) -> fold_data.Partition:
        if part not in PARTITIONS:
            raise KeyError(part)
        if part not in self._loaded:
            self._loaded[part] = self._load(part)
        return self._loaded[part]

    def __iter__(self) -> Iterator[str]:
        return iter(PARTITIONS)

    def __len__(self) -> int:
        return len(PARTITIONS)

    def loaded(self) -> list[str]:
        return list(self._loaded)


class FoldData:
    """A fold's partitions and their dB features (per length group, on ``device``), computed once."""

    def __init__(self, corpus: Corpus, fold: Fold, frontend: FrontendPart, cache: FeatureCache,
                 device: torch.device) -> None:
        self.corpus, self.fold, self.cache, self.device = corpus, fold, cache, device
        self.frontend = frontend_for(frontend.features, corpus)
        self.policy = length_policy(frontend.seconds, frontend.segments, frontend.features.hop_length,
                                    corpus.sample_rate)
        self.partitions = Partitions(lambda part: load_partition(corpus, list(fold.partition(part)), self.policy,
                                                                 cache))
        self._features: dict[str, list[torch.Tensor]] = {}

    @property
    def hop_length(self) -> int:
        return self.frontend.config.hop_length

    def raw_features(self, part: str) -> list[torch.Tensor]:
        """Unscaled (dB) features of ``part``, one tensor per length group."""
        if part not in self._features:
            self._features[part] = self._cached_features(part, lambda g, ids: g.waves, {})
        return self._features[part]

    def changed_features(self, part: str, change: Callable[[LengthGroup, list[str]], torch.Tensor],
                         tag: dict[str, Any]) -> list[torch.Tensor]:
        """Unscaled (dB) features of ``part`` with each length group's audio replaced by ``change(group, its
        ids)``, cached on disk under ``tag``: every model with this front end on this fold shares them (a
        corruption's audio does not depend on the model scoring it). ``tag`` must name everything the change
        depends on besides the utterances (the corruption's identity, severity and seed), and ``change`` must
        give an utterance the same audio whatever group it is in."""
        return self._cached_features(part, change, {"changed": tag})

    def _cached_features(self, part: str, audio: Callable[[LengthGroup, list[str]], torch.Tensor],
                         tag: dict[str, Any]) -> list[torch.Tensor]:
        """Per length group of ``part``: the features of ``audio(group, ids)``, from the disk cache under the
        group's key plus ``tag`` (computed and saved on a miss)."""
        out = []
        partition = self.partitions[part]
        if isinstance(self.frontend, RawWaveform):  # the "features" are the audio: nothing worth a second copy
            return [self.features_of(audio(g, [partition.ids[i] for i in g.index.tolist()]))
                    for g in partition.groups]
        for g in partition.groups:
            ids = [partition.ids[i] for i in g.index.tolist()]
            key = feature_key(self.corpus, ids, self.frontend.config.as_dict(),
                              {"policy": "pad_or_crop", "samples": g.waves.shape[1], **tag})
            compute = lambda g=g, ids=ids: self.features_of(audio(g, ids)).cpu()  # noqa: E731
            out.append(self.cache.get_or_compute(key, compute).to(self.device))
        return out

    def masks(self, part: str) -> list[torch.Tensor]:
        """Frame masks of ``part`` (True on speech, False on padding), one per length group."""
        return [g.frame_mask(self.hop_length, f.shape[-1])
                for g, f in zip(self.partitions[part].groups, self.raw_features(part))]

    def features_of(self, waves: torch.Tensor) -> torch.Tensor:
        """dB features of any waveforms (noisy copies, augmented training audio) on ``device``."""
        return fold_data.compute_features(self.frontend, waves, self.device)

    def probe(self) -> torch.Tensor:
        """A couple of inputs as the model sees them in training (unscaled): to check a model's logits' shape.
        Taken from a partition already loaded, else the test partition, which every evaluation loads."""
        waves = self.partitions[self.partitions.loaded()[0] if self.partitions.loaded() else "test"].groups[0].waves[:2]
        labels = torch.zeros(len(waves), dtype=torch.long, device=self.device)
        return self.policy.training_inputs(self.features_of(waves), labels)[0][:2]

    def describe(self) -> dict[str, Any]:
        """Partition sizes and length policy, for the train record."""
        return {part: len(p) for part, p in self.partitions.items()}


def load_partition(corpus: Corpus, ids: list[str], policy: PadOrCrop | Segments,
                   cache: FeatureCache) -> fold_data.Partition:
    """One partition's waveforms in the policy's length groups, decoded at most once (cached on disk)."""
    labels = torch.tensor([corpus.label_index(corpus[i].label) for i in ids], dtype=torch.long)
    rate = {"waveform": corpus.sample_rate}
    decoded: list[list[np.ndarray]] = []

    def decode() -> list[np.ndarray]:
        if not decoded:
            decoded.append(fold_data.load_waves(corpus, ids)[0])
        return decoded[0]

    # Every utterance's length: it groups them (segments) and says where padding starts (masks).
    lengths = cache.get_or_compute(feature_key(corpus, ids, rate, {"policy": "lengths"}),
                                   lambda: torch.tensor([len(w) for w in decode()])).tolist()
    groups = []
    for index, samples in policy.group_lengths(lengths):
        group_ids = [ids[i] for i in index]

        def compute(index=index, samples=samples) -> torch.Tensor:
            return group_waves(PadOrCrop(samples), [decode()[i] for i in index])[0].waves

        key = feature_key(corpus, group_ids, rate, {"policy": "pad_or_crop", "samples": samples})
        waves = cache.get_or_compute(key, compute)
        groups.append(LengthGroup(torch.tensor(index, dtype=torch.long), waves,
                                  torch.tensor([min(lengths[i], samples) for i in index], dtype=torch.long)))
    return fold_data.Partition(ids, labels, groups)
