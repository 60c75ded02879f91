"""A fold's audio as fixed-length tensors, and its features on the model's device.

Length policy is Ren et al.'s pad/crop to a fixed number of samples; the
scaler is fitted on the training partition's features only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from serbench.data.audio import pad_or_crop
from serbench.data.corpus import Corpus
from serbench.features import LogMel, MinMaxScaler


@dataclass
class Partition:
    """Waveforms (N, samples) on CPU, class indices (N,), and the utterance ids."""

    ids: list[str]
    waves: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.ids)


def load_waves(corpus: Corpus, ids: tuple[str, ...] | list[str]) -> tuple[list[np.ndarray], list[int]]:
    """Raw waveforms and label indices, in ``ids`` order."""
    utts = [corpus[i] for i in ids]
    return [corpus.load_audio(u) for u in utts], [corpus.label_index(u.label) for u in utts]


def stack(ids: list[str], waves: list[np.ndarray], labels: list[int], num_samples: int) -> Partition:
    """Pad/crop each waveform to ``num_samples`` and stack."""
    arr = np.stack([pad_or_crop(np.asarray(w, dtype=np.float32), num_samples) for w in waves])
    return Partition(list(ids), torch.from_numpy(arr), torch.tensor(labels, dtype=torch.long))


@torch.no_grad()
def compute_features(frontend: LogMel, waves: torch.Tensor, device: torch.device,
                     batch_size: int = 256) -> torch.Tensor:
    """Unscaled log-Mel features of every row, computed on ``device``, returned on ``device``."""
    frontend = frontend.to(device)
    parts = [frontend(waves[i : i + batch_size].to(device)) for i in range(0, len(waves), batch_size)]
    return torch.cat(parts)


def fit_scaler(train_features: torch.Tensor) -> MinMaxScaler:
    return MinMaxScaler.fit(train_features)
