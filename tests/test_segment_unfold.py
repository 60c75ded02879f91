"""Segmentation in one gather is the old loop over utterances x windows, to the last bit, gradients included.

The reference below is the loop ``segment`` and ``SegmentedClassifier`` ran before (slice every window
out of every utterance and stack them); it lives here only, as the definition the fast path must equal.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from serbench.data.segments import mean_posteriors, segment, window_starts
from serbench.engine.lengths import SegmentedClassifier

FRAMES = [1, 5, 7, 8, 9, 16, 17, 31, 33, 40, 64, 100]


def loop_segment(features, window, hop=None, pad_value=0.0):
    """The old ``segment``: a Python loop over utterances x windows, then one stack."""
    items = [features] if isinstance(features, torch.Tensor) and features.dim() == 3 else list(features)
    windows, index = [], []
    for i, feat in enumerate(items):
        t = feat.shape[-1]
        if t < window:
            feat = nn.functional.pad(feat, (0, window - t), value=pad_value)
        for s in window_starts(t, window, hop):
            windows.append(feat[..., s : s + window])
            index.append(i)
    return torch.stack(windows), torch.tensor(index, dtype=torch.long, device=items[0].device)


def loop_classifier(model, x, window, hop):
    """The old ``SegmentedClassifier.forward``: loop segmentation, mean over each utterance's windows."""
    windows, utterance = loop_segment(x, window, hop)
    posteriors = torch.softmax(model(windows).float(), dim=-1)
    return torch.log(mean_posteriors(posteriors, utterance, x.shape[0]).clamp_min(1e-12))


def _same_values_and_gradients(x, fast, slow):
    """Equal outputs and equal input gradients of one random cotangent, to the last bit."""
    (a, ia), (b, ib) = fast(x), slow(x)
    assert torch.equal(a, b) and torch.equal(ia, ib)
    cotangent = torch.randn_like(b)
    (ga,) = torch.autograd.grad((a * cotangent).sum(), x)
    (gb,) = torch.autograd.grad((b * cotangent).sum(), x)
    assert torch.equal(ga, gb)


# window x hop: no overlap, gaps (hop > window), two and up to sixteen windows over one frame, the tail window
@pytest.mark.parametrize("window, hop", [(1, None), (3, 1), (3, 2), (3, 5), (8, None), (8, 1), (8, 3), (8, 5),
                                         (8, 16), (16, 2), (16, 5), (16, 8), (16, None)])
def test_batch_windows_and_gradients_equal_the_loop(window, hop):
    for frames in FRAMES:
        torch.manual_seed(frames)
        x = torch.randn(3, 1, 4, frames, requires_grad=True)
        _same_values_and_gradients(x, lambda v: segment(v, window, hop, -1.5),
                                   lambda v: loop_segment(v, window, hop, -1.5))


@pytest.mark.parametrize("window, hop", [(8, 3), (16, None), (256, 128)])
def test_lists_and_single_utterances_equal_the_loop(window, hop):
    torch.manual_seed(0)
    items = [torch.randn(1, 5, t, requires_grad=True) for t in (3, window, window + 1, 2 * window + 7, 300)]
    a, ia = segment(items, window, hop, 0.25)
    b, ib = loop_segment(items, window, hop, 0.25)
    assert torch.equal(a, b) and torch.equal(ia, ib)
    cotangent = torch.randn_like(b)
    for ga, gb in zip(torch.autograd.grad((a * cotangent).sum(), items),
                      torch.autograd.grad((b * cotangent).sum(), items)):
        assert torch.equal(ga, gb)
    one = items[3]
    _same_values_and_gradients(one, lambda v: segment(v, window, hop), lambda v: loop_segment(v, window, hop))


@pytest.mark.parametrize("window, hop, k", [(8, 8, 1), (8, 8, 5), (8, 4, 3), (8, 3, 6), (16, 2, 9)])
def test_segmented_classifier_equals_the_loop_with_its_input_gradient(window, hop, k):
    torch.manual_seed(k)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                          nn.Linear(12, 4))
    x = torch.randn(5, 1, 6, (k - 1) * hop + window, requires_grad=True)
    y = torch.tensor([0, 1, 2, 3, 0])
    fast = SegmentedClassifier(model, window, hop)(x)
    slow = loop_classifier(model, x, window, hop)
    assert torch.equal(fast, slow)
    (ga,) = torch.autograd.grad(nn.functional.cross_entropy(fast, y), x)  # what an attack differentiates
    (gb,) = torch.autograd.grad(nn.functional.cross_entropy(slow, y), x)
    assert torch.equal(ga, gb)


def test_equal_window_counts_skip_the_check_but_not_the_arithmetic():
    torch.manual_seed(0)
    for each in (1, 2, 3, 7, 24):
        post = torch.softmax(torch.randn(4 * each, 5), -1)
        index = torch.arange(4).repeat_interleave(each)
        assert torch.equal(mean_posteriors(post, index, windows_each=each), mean_posteriors(post, index, 4))


def _graph_nodes(t: torch.Tensor) -> int:
    seen, todo = set(), [t.grad_fn]
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        todo.extend(fn for fn, _ in node.next_functions)
    return len(seen)


def test_a_batch_is_cut_in_a_few_operations_not_one_per_window():
    """The loop recorded a slice per utterance x window (here 8 x 5) in every forward, so in every attack step."""
    x = torch.randn(8, 1, 4, 4 * 6 + 10, requires_grad=True)
    windows, _ = segment(x, 10, 6)
    assert len(windows) == 40
    assert _graph_nodes(windows) <= 3 < 40 < _graph_nodes(loop_segment(x, 10, 6)[0])
