"""Latif et al.'s segment protocol: fixed windows of frames, utterance posterior = mean over its windows.

Every window carries its utterance's label for training; at test time an
utterance's posterior is the mean of its windows' posteriors. The pad/crop
protocol (Ren et al., :func:`serbench.data.audio.pad_or_crop`) stays the default;
a spec turns segments on with ``frontend: {segments: {window: 256}}`` and
:mod:`serbench.engine.lengths` applies them in training and every evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from serbench.errors import SerbenchError

WINDOW = 256


def window_starts(num_frames: int, window: int = WINDOW, hop: int | None = None) -> list[int]:
    """Start frames: every ``hop`` while a full window fits, plus one window flush with the end for a tail.

    An utterance shorter than ``window`` gets one window (padded); no frame is dropped.
    """
    hop = hop or window
    if window < 1 or hop < 1:
        raise SerbenchError(f"segment window {window} and hop {hop} must be positive")
    if num_frames <= window:
        return [0]
    starts = list(range(0, num_frames - window + 1, hop))
    if starts[-1] + window < num_frames:
        starts.append(num_frames - window)
    return starts


def segment(
    features: torch.Tensor | Sequence[torch.Tensor], window: int = WINDOW, hop: int | None = None,
    pad_value: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features ``(1, F, T)`` (T free) -> windows ``(W, 1, F, window)`` and each window's utterance ``(W,)``.

    Accepts one ``(1, F, T)`` tensor, a batch ``(N, 1, F, T)`` or a list of
    ``(1, F, T_i)``. Short utterances are right-padded with ``pad_value``.
    """
    if isinstance(features, torch.Tensor):
        items = [features] if features.dim() == 3 else list(features)
    else:
        items = list(features)
    if not items:
        raise SerbenchError("segment: no utterances given")
    windows, index = [], []
    n_freq = items[0].shape[-2]
    for i, feat in enumerate(items):
        if feat.dim() != 3 or feat.shape[0] != 1 or feat.shape[1] != n_freq:
            raise SerbenchError(
                f"segment: utterance {i} has shape {tuple(feat.shape)}; expected (1, {n_freq}, T)")
        t = feat.shape[-1]
        if t < window:
            feat = torch.nn.functional.pad(feat, (0, window - t), value=pad_value)
        for s in window_starts(t, window, hop):
            windows.append(feat[..., s : s + window])
            index.append(i)
    return torch.stack(windows), torch.tensor(index, dtype=torch.long, device=items[0].device)


def mean_posteriors(posteriors: torch.Tensor, utt_index: torch.Tensor, num_utterances: int | None = None
                    ) -> torch.Tensor:
    """Window posteriors ``(W, C)`` -> utterance posteriors ``(N, C)``: the mean over its windows."""
    if posteriors.dim() != 2 or utt_index.shape != posteriors.shape[:1]:
        raise SerbenchError(
            f"mean_posteriors: posteriors {tuple(posteriors.shape)} and index {tuple(utt_index.shape)} "
            "disagree"
        )
    n = int(num_utterances if num_utterances is not None else int(utt_index.max()) + 1)
    idx = utt_index.to(posteriors.device)
    sums = torch.zeros(n, posteriors.shape[1], dtype=posteriors.dtype, device=posteriors.device)
    sums.index_add_(0, idx, posteriors)
    counts = torch.bincount(idx, minlength=n).to(posteriors.dtype)
    if bool((counts == 0).any()):
        missing = torch.nonzero(counts == 0).flatten().tolist()[:5]
        raise SerbenchError(f"mean_posteriors: utterances {missing} have no windows")
    return sums / counts[:, None]
