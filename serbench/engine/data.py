"""A fold's audio as fixed-length tensors, and its features on the model's device.

A partition holds its waveforms in length groups (see :mod:`serbench.engine.lengths`):
one group under Ren et al.'s pad/crop, one per window count under Latif et al.'s
segments, each with its rows' active lengths (padding follows them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from serbench.data.audio import pad_or_crop
from serbench.data.corpus import Corpus
from serbench.engine.lengths import LengthGroup
from serbench.features import LogSpectrogram


@dataclass
class Partition:
    """Utterance ids, class indices (N,), and the waveforms on CPU in length groups."""

    ids: list[str]
    labels: torch.Tensor
    groups: list[LengthGroup]

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def waves(self) -> torch.Tensor:
        """(N, samples) in partition order; only where every utterance has one length (pad/crop)."""
        if len(self.groups) != 1:
            raise ValueError("this partition holds several lengths (segments); iterate over its groups")
        return self.groups[0].waves


def load_waves(corpus: Corpus, ids: tuple[str, ...] | list[str]) -> tuple[list[np.ndarray], list[int]]:
    """Raw waveforms and label indices, in ``ids`` order."""
    utts = [corpus[i] for i in ids]
    return [corpus.load_audio(u) for u in utts], [corpus.label_index(u.label) for u in utts]


def stack(ids: list[str], waves: list[np.ndarray], labels: list[int], num_samples: int) -> Partition:
    """Pad/crop each waveform to ``num_samples`` and stack."""
    arr = np.stack([pad_or_crop(np.asarray(w, dtype=np.float32), num_samples) for w in waves])
    group = LengthGroup(torch.arange(len(ids)), torch.from_numpy(arr))
    return Partition(list(ids), torch.tensor(labels, dtype=torch.long), [group])


@torch.no_grad()
def compute_features(frontend: LogSpectrogram, waves: torch.Tensor, device: torch.device,
                     batch_size: int = 256) -> torch.Tensor:
    """Unscaled log-Mel features of every row, computed on ``device``, returned on ``device``."""
    frontend = frontend.to(device)
    parts = [frontend(waves[i : i + batch_size].to(device)) for i in range(0, len(waves), batch_size)]
    return torch.cat(parts)
