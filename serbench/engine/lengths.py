"""Length policies: how utterances of any length become fixed-size model inputs.

- ``PadOrCrop`` (Ren et al., the default): every waveform padded or cropped to
  one length; one group holds the whole partition; the model sees utterances.
- ``Segments`` (Latif et al.): the model is trained on fixed windows of frames,
  each labelled with its utterance; an utterance's posterior is the mean of its
  windows' posteriors. Utterances are grouped by their number of windows and
  each is padded only up to its group's window grid, so no window is made of
  padding alone and every tensor that enters a model has one shape. Evaluation
  (clean, noise, every attack) goes through :class:`SegmentedClassifier`, so an
  attack sees, and is scored on, the utterance-level decision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from serbench.data.audio import pad_or_crop
from serbench.data.segments import mean_posteriors, segment


@dataclass
class LengthGroup:
    """Utterances of one padded length: their positions in the partition and their waveforms (n, samples).

    ``lengths`` (n,) counts each row's active samples (the rest is padding); it defaults to the full
    width, so callers that do not know the lengths keep today's behaviour.
    """

    index: torch.Tensor
    waves: torch.Tensor
    lengths: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.lengths is None:
            self.lengths = torch.full((self.waves.shape[0],), self.waves.shape[-1], dtype=torch.long)
        else:
            self.lengths = torch.as_tensor(self.lengths, dtype=torch.long)
        if self.lengths.shape != (self.waves.shape[0],) or bool((self.lengths > self.waves.shape[-1]).any()):
            raise ValueError(f"LengthGroup: lengths {tuple(self.lengths.shape)} must hold one count <= "
                             f"{self.waves.shape[-1]} per row of waves {tuple(self.waves.shape)}")

    def frame_mask(self, hop_length: int, n_frames: int) -> torch.Tensor:
        """(n, frames) bool: the frames of each row's active samples (see :func:`frame_mask`)."""
        return frame_mask(self.lengths, hop_length, n_frames)


def frame_mask(lengths: torch.Tensor, hop_length: int, n_frames: int) -> torch.Tensor:
    """(B, n_frames) bool: True on the frames a centred STFT of the unpadded row would have.

    A row of ``n`` active samples has ``1 + n // hop_length`` frames
    (:meth:`serbench.features.LogSpectrogram.num_frames`); the frames after them are padding. The last
    active frame's window reaches into the padding by up to half a window, as it reaches into the
    reflection when the row is not padded.
    """
    lengths = torch.as_tensor(lengths, dtype=torch.long)
    active = (1 + lengths // int(hop_length)).clamp(max=int(n_frames))
    return torch.arange(int(n_frames), device=lengths.device)[None, :] < active[:, None]


class SegmentedClassifier(nn.Module):
    """Utterance features (B, C, F, T) -> log of the mean window posterior (B, classes).

    ``T`` must sit on the window grid, ``(k - 1) * hop + window`` for some k >= 1. The output is a
    log-probability, so ``argmax`` is the utterance decision and cross-entropy on it is the
    utterance-level loss an attack maximises.
    """

    def __init__(self, model: nn.Module, window: int, hop: int) -> None:
        super().__init__()
        self.model, self.window, self.hop = model, window, hop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[-1]
        if t < self.window or (t - self.window) % self.hop:
            raise ValueError(f"SegmentedClassifier: {t} frames are not on the grid of window {self.window}, "
                             f"hop {self.hop}")
        windows, utterance = segment(x, self.window, self.hop)
        posteriors = torch.softmax(self.model(windows).float(), dim=-1)
        each = len(windows) // x.shape[0]  # on the grid, every utterance has the same windows: nothing to check
        return torch.log(mean_posteriors(posteriors, utterance, windows_each=each).clamp_min(1e-12))


class PadOrCrop:
    """Every utterance padded or cropped to ``samples``; the model sees whole (fixed-length) utterances."""

    name = "pad_or_crop"

    def __init__(self, samples: int) -> None:
        self.samples = samples

    def group_lengths(self, lengths: list[int]) -> list[tuple[list[int], int]]:
        return [(list(range(len(lengths))), self.samples)]

    def eval_model(self, model: nn.Module) -> nn.Module:
        return model

    def training_inputs(self, features: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None,
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The model's training rows, their labels and their active-frame masks (``mask`` (B, T), or None)."""
        return features, labels, mask

    def describe(self) -> dict[str, Any]:
        return {"policy": self.name, "samples": self.samples}


class Segments:
    """Latif et al.'s protocol: windows of ``window`` frames every ``hop`` frames, audio capped at ``max_samples``."""

    name = "segments"

    def __init__(self, window: int, hop: int, max_samples: int, hop_length: int) -> None:
        self.window, self.hop, self.max_samples, self.hop_length = window, hop, max_samples, hop_length

    def windows_for(self, samples: int) -> int:
        frames = 1 + min(samples, self.max_samples) // self.hop_length
        return 1 if frames <= self.window else math.ceil((frames - self.window) / self.hop) + 1

    def samples_for(self, windows: int) -> int:
        """Waveform length whose centred STFT has exactly the frames of ``windows`` windows."""
        return ((windows - 1) * self.hop + self.window - 1) * self.hop_length

    def group_lengths(self, lengths: list[int]) -> list[tuple[list[int], int]]:
        by_windows: dict[int, list[int]] = {}
        for i, n in enumerate(lengths):
            by_windows.setdefault(self.windows_for(n), []).append(i)
        return [(index, self.samples_for(k)) for k, index in sorted(by_windows.items())]

    def eval_model(self, model: nn.Module) -> nn.Module:
        return SegmentedClassifier(model, self.window, self.hop)

    def training_inputs(self, features: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None,
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Every window of every utterance, each with its utterance's label and its frames' mask (``mask``
        (B, T) of active frames, cut into the same windows; None stays None)."""
        windows, utterance = segment(features, self.window, self.hop)
        window_mask = None
        if mask is not None:
            as_frames = mask.to(features.dtype).view(mask.shape[0], 1, 1, mask.shape[1])
            window_mask = segment(as_frames, self.window, self.hop)[0][:, 0, 0, :] > 0.5
        return windows, labels[utterance.to(labels.device)], window_mask

    def describe(self) -> dict[str, Any]:
        return {"policy": self.name, "window": self.window, "hop": self.hop, "max_samples": self.max_samples}


def length_policy(seconds: float, segments: dict[str, int] | None, hop_length: int,
                  sample_rate: int) -> PadOrCrop | Segments:
    """The policy a train cell's front end names: pad/crop to ``seconds``, or Latif et al.'s ``segments``
    ({window, hop} in frames of ``hop_length`` samples) of at most ``seconds`` of audio."""
    samples = int(round(seconds * sample_rate))
    if segments is None:
        return PadOrCrop(samples)
    return Segments(segments["window"], segments["hop"], samples, hop_length)


def group_waves(policy: PadOrCrop | Segments, waves: list[np.ndarray]) -> list[LengthGroup]:
    """Decoded waveforms -> padded groups (positions in ``waves`` order), with each row's active length."""
    groups = []
    for index, samples in policy.group_lengths([len(w) for w in waves]):
        arr = np.stack([pad_or_crop(np.asarray(waves[i], dtype=np.float32), samples) for i in index])
        lengths = torch.tensor([min(len(waves[i]), samples) for i in index], dtype=torch.long)
        groups.append(LengthGroup(torch.tensor(index, dtype=torch.long), torch.from_numpy(arr), lengths))
    return groups


def scatter(groups: list[LengthGroup], per_group: list[torch.Tensor], total: int) -> torch.Tensor:
    """Per-group rows -> one tensor in partition order."""
    first = per_group[0]
    out = torch.empty((total, *first.shape[1:]), dtype=first.dtype, device=first.device)
    for g, rows in zip(groups, per_group):
        out[g.index.to(out.device)] = rows
    return out
