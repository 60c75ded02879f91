"""Latif et al.'s segment protocol: windows of 256 frames, utterance posterior = mean of window posteriors."""

from __future__ import annotations

import pytest
import torch

from serbench.data.segments import mean_posteriors, segment, window_starts
from serbench.errors import SerbenchError


def test_window_starts():
    assert window_starts(256) == [0]
    assert window_starts(100) == [0]
    assert window_starts(512) == [0, 256]
    assert window_starts(600) == [0, 256, 344]  # the tail gets a window flush with the end
    assert window_starts(600, hop=128) == [0, 128, 256, 344]


def test_segment_shapes_padding_and_content():
    long = torch.arange(2 * 600, dtype=torch.float32).reshape(1, 2, 600)
    short = torch.ones(1, 2, 100)
    windows, index = segment([long, short])
    assert windows.shape == (4, 1, 2, 256) and index.tolist() == [0, 0, 0, 1]
    assert torch.equal(windows[1], long[..., 256:512]) and torch.equal(windows[2], long[..., 344:600])
    assert torch.equal(windows[3, ..., :100], short) and torch.all(windows[3, ..., 100:] == 0)
    batch, idx = segment(torch.zeros(3, 1, 2, 300), pad_value=-1.0)
    assert batch.shape == (6, 1, 2, 256) and idx.tolist() == [0, 0, 1, 1, 2, 2]
    with pytest.raises(SerbenchError, match="expected"):
        segment([long, torch.zeros(1, 3, 50)])


def test_mean_posteriors():
    post = torch.tensor([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8], [0.3, 0.7]])
    out = mean_posteriors(post, torch.tensor([0, 0, 0, 1]))
    torch.testing.assert_close(out, torch.tensor([[1.6 / 3, 1.4 / 3], [0.3, 0.7]]))
    with pytest.raises(SerbenchError, match="no windows"):
        mean_posteriors(post, torch.tensor([0, 0, 0, 2]), num_utterances=3)
