"""Latif et al.'s segment protocol: fixed windows of frames, utterance posterior = mean over its windows.

Every window carries its utterance's label for training; at test time an
utterance's posterior is the mean of its windows' posteriors. The pad/crop
protocol (Ren et al., :func:`serbench.data.audio.pad_or_crop`) stays the default;
a spec turns segments on with ``frontend: {segments: {window: 256}}`` and
:mod:`serbench.engine.lengths` applies them in training and every evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
    ``(1, F, T_i)``. Short utterances are right-padded with ``pad_value``. Windows come utterance by
    utterance, each utterance's in :func:`window_starts` order.

    A batch is cut in one copy out of ``unfold``'s view (:class:`_Windows`), not a Python loop over
    utterances x windows: :class:`serbench.engine.lengths.SegmentedClassifier` runs this in every forward,
    so in every attack step. Values and gradients are exactly those of slicing every window out and
    stacking them (tests/test_segment_unfold.py keeps that loop as the reference).
    """
    if isinstance(features, torch.Tensor) and features.dim() == 4:
        if not len(features):
            raise SerbenchError("segment: no utterances given")
        _check_utterance(features[0], 0, features.shape[-2])  # every row has the first one's shape
        return _segment_batch(features, window, hop, pad_value)
    items = [features] if isinstance(features, torch.Tensor) else list(features)
    if not items:
        raise SerbenchError("segment: no utterances given")
    n_freq = items[0].shape[-2]
    for i, feat in enumerate(items):
        _check_utterance(feat, i, n_freq)
    parts = [_segment_batch(feat[None], window, hop, pad_value)[0] for feat in items]
    index = [torch.full((len(p),), i, dtype=torch.long, device=items[0].device) for i, p in enumerate(parts)]
    return torch.cat(parts), torch.cat(index)


def _check_utterance(feat: torch.Tensor, i: int, n_freq: int) -> None:
    if feat.dim() != 3 or feat.shape[0] != 1 or feat.shape[1] != n_freq:
        raise SerbenchError(f"segment: utterance {i} has shape {tuple(feat.shape)}; expected (1, {n_freq}, T)")


def _segment_batch(x: torch.Tensor, window: int, hop: int | None, pad_value: float
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(N, 1, F, T)`` -> every row's windows ``(N * K, 1, F, window)`` and their rows ``(N * K,)``."""
    t = x.shape[-1]
    starts = window_starts(t, window, hop)
    if t < window:
        x = torch.nn.functional.pad(x, (0, window - t), value=pad_value)
    windows = _Windows.apply(x, tuple(starts), window, hop or window)
    utterance = torch.arange(len(x), device=x.device).repeat_interleave(len(starts))
    return windows, utterance


class _Windows(torch.autograd.Function):
    """``(N, C, F, T)`` -> the windows at ``starts`` (N * K, C, F, window), utterance by utterance.

    Forward is one copy out of ``unfold``'s view (plus the tail window flush with the end). Backward adds
    each frame's window gradients last window first, the order autograd adds them for stacked slices:
    ``unfold``'s own backward adds them in another order, which moves the last bit of an input gradient
    wherever three or more windows overlap.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, starts: tuple[int, ...], window: int, hop: int) -> torch.Tensor:
        n, c, f, t = x.shape
        k, regular = len(starts), (t - window) // hop + 1  # the windows on the hop grid, then the tail
        ctx.starts, ctx.window, ctx.hop, ctx.regular, ctx.frames = starts, window, hop, regular, t
        out = x.new_empty((n, k, c, f, window))
        out[:, :regular] = x.unfold(-1, window, hop).permute(0, 3, 1, 2, 4)
        if k > regular:
            out[:, regular] = x[..., t - window :]
        return out.view(n * k, c, f, window)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        starts, window, hop, regular = ctx.starts, ctx.window, ctx.hop, ctx.regular
        k = len(starts)
        per = grad.reshape(grad.shape[0] // k, k, *grad.shape[1:])
        out = grad.new_zeros((per.shape[0], *grad.shape[1:-1], ctx.frames))
        if hop >= window:  # no two grid windows overlap: one copy for all, then the tail (a + b = b + a)
            out.unfold(-1, window, hop).copy_(per[:, :regular].permute(0, 2, 3, 1, 4))
            if k > regular:
                out[..., starts[-1] :] += per[:, regular]
            return out, None, None, None
        for j in range(k - 1, -1, -1):
            out[..., starts[j] : starts[j] + window] += per[:, j]
        return out, None, None, None


def mean_posteriors(posteriors: torch.Tensor, utt_index: torch.Tensor, num_utterances: int | None = None,
                    *, windows_each: int | None = None) -> torch.Tensor:
    """Window posteriors ``(W, C)`` -> utterance posteriors ``(N, C)``: the mean over its windows.

    ``windows_each``: every utterance has that many windows (a batch cut by :func:`segment`), so there is
    nothing to check and no host sync (``SegmentedClassifier`` runs this in every attack step).
    """
    if posteriors.dim() != 2 or utt_index.shape != posteriors.shape[:1]:
        raise SerbenchError(
            f"mean_posteriors: posteriors {tuple(posteriors.shape)} and index {tuple(utt_index.shape)} "
            "disagree"
        )
    if windows_each is not None:
        n = len(posteriors) // windows_each
    else:
        n = int(num_utterances if num_utterances is not None else int(utt_index.max()) + 1)
    idx = utt_index.to(posteriors.device)
    sums = torch.zeros(n, posteriors.shape[1], dtype=posteriors.dtype, device=posteriors.device)
    sums.index_add_(0, idx, posteriors)
    if windows_each is not None:
        if n * windows_each != len(posteriors):
            raise SerbenchError(f"mean_posteriors: {len(posteriors)} windows are not {windows_each} per utterance")
        return sums / windows_each
    counts = torch.bincount(idx, minlength=n).to(posteriors.dtype)
    if bool((counts == 0).any()):
        missing = torch.nonzero(counts == 0).flatten().tolist()[:5]
        raise SerbenchError(f"mean_posteriors: utterances {missing} have no windows")
    return sums / counts[:, None]
