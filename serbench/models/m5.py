"""M5 (Dai et al., ICASSP 2017): the end-to-end 1-D CNN on raw waveforms, serbench's built-in waveform model.

It is the waveform baseline beside the spectrogram CNNs: no front end, the harness hands it samples
(:mod:`serbench.models.waveform`). Pooling is length-aware: each layer's valid output length follows from the
row's active length, and the embedding averages valid frames only, so zero padding never changes a prediction.
"""

from __future__ import annotations

import torch
from torch import nn

from serbench.models.base import scaled
from serbench.models.waveform import WaveformModel, active_lengths
from serbench.registry import register


def _conv_block(cin: int, cout: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(cin, cout, kernel, stride=stride), nn.BatchNorm1d(cout), nn.ReLU(inplace=True))


@register(
    "models", "m5", version="1.0",
    summary="M5 (Dai et al. 2017): raw-waveform 1-D CNN, conv 128(80/4)/128/256/512 x3 + max pool 4, mean pool, FC",
    paper="Dai et al., ICASSP 2017", tags=("cnn", "waveform"),
    variants={"small": {"width": 0.25}, "tiny": {"width": 0.125}},
)
class M5(WaveformModel):
    """Four conv blocks (kernel 80 stride 4, then 3, 3, 3), max pooling 4 after each, mean over valid frames, FC.

    ``width`` scales every channel count (1.0 is the paper's 128/128/256/512). Input: (B, samples) at
    ``sample_rate``; trailing zeros are padding (:func:`serbench.active_lengths`).
    """

    KERNELS = ((80, 4), (3, 1), (3, 1), (3, 1))  # (kernel, stride) of each conv; each is followed by max pool 4
    POOL = 4

    def __init__(self, num_classes: int = 4, width: float = 1.0, sample_rate: int = 16000) -> None:
        self.check_params(dict(num_classes=num_classes, width=width))
        super().__init__()
        self.sample_rate = int(sample_rate)
        widths = [scaled(c, width) for c in (128, 128, 256, 512)]
        blocks, cin = [], 1
        for (kernel, stride), cout in zip(self.KERNELS, widths):
            blocks.append(_conv_block(cin, cout, kernel, stride))
            cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.pool = nn.MaxPool1d(self.POOL)
        self.add_head(cin, num_classes)

    def min_samples(self) -> int:
        """The shortest input that leaves one frame after every layer."""
        n = 1
        for kernel, stride in reversed(self.KERNELS):
            n = (n * self.POOL - 1) * stride + kernel
        return n

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        lengths = active_lengths(x)
        if x.shape[-1] < self.min_samples():  # too short for the receptive field: pad with silence
            x = nn.functional.pad(x, (0, self.min_samples() - x.shape[-1]))
        h = x.unsqueeze(1)
        for block, (kernel, stride) in zip(self.blocks, self.KERNELS):
            h = self.pool(block(h))
            lengths = ((lengths - kernel).div(stride, rounding_mode="floor") + 1).div(self.POOL, rounding_mode="floor")
        lengths = lengths.clamp(1, h.shape[-1])
        valid = torch.arange(h.shape[-1], device=h.device) < lengths.unsqueeze(1)
        return (h * valid.unsqueeze(1)).sum(-1) / lengths.unsqueeze(1).to(h.dtype)
