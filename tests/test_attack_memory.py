"""Attack loops keep no autograd graph from one step to the next: their peak memory does not grow with steps.

Large waveform encoders (wav2vec 2.0 large: 300 M parameters, activations per second of audio in the hundreds of
megabytes) leave no room for a loop that holds step k's graph while step k+1 runs (``loss += ...`` on a tensor,
a perturbation updated without ``detach``, a history list of graph-carrying tensors). The measure is exact and the
same on every device: the bytes autograd saves for backward that are alive at once, counted through
:func:`torch.autograd.graph.saved_tensors_hooks` as the attack runs. One graph's worth is the floor; a retained
graph per step would multiply it by the step count.
"""

from __future__ import annotations

import pytest
import torch

import serbench
from serbench.attacks.base import ThreatModel


class _LiveSaved:
    """Counts the bytes of tensors autograd has saved and not yet freed, and the peak of that count."""

    def __init__(self) -> None:
        self.live = self.peak = 0

    def pack(self, tensor: torch.Tensor) -> "_Held":
        return _Held(self, tensor)

    @staticmethod
    def unpack(held: "_Held") -> torch.Tensor:
        return held.tensor


class _Held:
    def __init__(self, counter: _LiveSaved, tensor: torch.Tensor) -> None:
        self.counter, self.tensor, self.nbytes = counter, tensor, tensor.numel() * tensor.element_size()
        counter.live += self.nbytes
        counter.peak = max(counter.peak, counter.live)

    def __del__(self) -> None:
        self.counter.live -= self.nbytes


def _peak_saved_bytes(name: str, steps: int, **params) -> int:
    torch.manual_seed(0)
    model = serbench.get("models", "m5.tiny", num_classes=4).eval()
    threat = ThreatModel(domain="waveform", norm=params.pop("norm", "linf"), eps=params.pop("eps", 0.01))
    attack = serbench.get("attacks", name, steps=steps, **threat.as_dict(), **params)
    x = 0.1 * torch.randn(4, 8000)
    y = torch.tensor([0, 1, 2, 3])
    counter = _LiveSaved()
    with torch.autograd.graph.saved_tensors_hooks(counter.pack, counter.unpack):
        attack.generate(model, x, y)
    assert counter.live == 0 or counter.live < counter.peak, "a graph outlived the attack"
    return counter.peak


# Every native gradient attack with a step count; each is run at 2 and at 12 steps.
ITERATIVE = {
    "bim": {}, "pgd": {}, "apgd": {}, "cw": {"norm": "l2", "eps": 1.0, "binary_search_steps": 1},
    "deepfool": {"norm": "l2", "eps": 1.0}, "psychoacoustic": {"stage2_steps": 3},
}


@pytest.mark.parametrize("name", sorted(ITERATIVE))
def test_peak_saved_memory_does_not_grow_with_steps(name):
    few = _peak_saved_bytes(name, 2, **ITERATIVE[name])
    many = _peak_saved_bytes(name, 12, **ITERATIVE[name])
    assert few > 0, "the attack took no gradient"
    # One forward's saved activations (plus what one step keeps, e.g. APGD's checkpoint) at any step count.
    assert many <= 1.1 * few, f"{name}: peak saved {many} B at 12 steps vs {few} B at 2: a graph is kept across steps"


def test_the_measure_sees_a_retained_graph():
    """The counter catches the fault it guards against: a loop that keeps every step's loss alive."""
    torch.manual_seed(0)
    model = serbench.get("models", "m5.tiny", num_classes=4).eval()
    x = (0.1 * torch.randn(4, 8000)).requires_grad_(True)
    peaks = []
    for steps in (2, 12):
        counter, kept = _LiveSaved(), []
        with torch.autograd.graph.saved_tensors_hooks(counter.pack, counter.unpack):
            for _ in range(steps):
                kept.append(model(x).logsumexp(1).sum())  # graph retained through ``kept``
        peaks.append(counter.peak)
        del kept
    assert peaks[1] > 4 * peaks[0]
