"""DenseNet baselines and the proposed DenseNet-LSTM-highway model of Latif et al. (Interspeech 2020).

Dense layers are BN -> ReLU -> 3x3 conv producing ``growth`` channels,
concatenated onto their input (Huang et al. 2017); transitions are BN -> ReLU
-> 1x1 conv -> 2x2 average pooling with stride 2. BN precedes every ReLU, as
Latif et al. state.
"""

from __future__ import annotations

import torch
from torch import nn

from serbench.models.base import SERModel, linear_bn_relu
from serbench.models.recurrent import SequenceLSTM, to_sequence
from serbench.registry import register


class DenseLayer(nn.Module):
    def __init__(self, cin: int, growth: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(inplace=True),
                                  nn.Conv2d(cin, growth, 3, padding=1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.body(x)], dim=1)


def dense_block(cin: int, layers: int, growth: int) -> tuple[nn.Sequential, int]:
    mods = [DenseLayer(cin + i * growth, growth) for i in range(layers)]
    return nn.Sequential(*mods), cin + layers * growth


def transition(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(inplace=True), nn.Conv2d(cin, cout, 1, bias=False),
                         nn.AvgPool2d(2, stride=2, ceil_mode=True))


def _stem(in_channels: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class _DenseTrunk(nn.Module):
    """Stem and ``blocks`` DenseBlocks of ``layers`` layers, transitions between them (not after the last)."""

    def __init__(self, in_channels: int, blocks: int, layers: int, growth: int) -> None:
        super().__init__()
        c = 2 * growth
        self.stem = _stem(in_channels, c)
        self.blocks = nn.ModuleList()
        self.transitions = nn.ModuleList()
        self.block_channels = []
        for i in range(blocks):
            block, c = dense_block(c, layers, growth)
            self.blocks.append(block)
            self.block_channels.append(c)
            if i < blocks - 1:
                self.transitions.append(transition(c, c // 2))
                c //= 2
        self.out_channels = c
        self.norm = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Final feature map and each DenseBlock's output (the skip connections)."""
        h, skips = self.stem(x), []
        for i, block in enumerate(self.blocks):
            h = block(h)
            skips.append(h)
            if i < len(self.transitions):
                h = self.transitions[i](h)
        return self.norm(h), skips


@register(
    "models", "densenet", version="1.0",
    summary="DenseNet baseline: 3 DenseBlocks (L=6, G=16), global average pooling, FC 1000",
    paper="Latif et al., Interspeech 2020", tags=("densenet", "baseline"),
    variants={"small": {"growth": 8, "fc": 128}},
)
class DenseNet(SERModel):
    """Three DenseBlocks (L = 6, G = 16), global average pooling, FC 1000 (the embedding), linear head."""

    def __init__(self, num_classes: int = 4, in_channels: int = 1, layers: int = 6, growth: int = 16,
                 fc: int = 1000) -> None:
        self.check_params(dict(num_classes=num_classes, in_channels=in_channels, layers=layers, growth=growth,
                               fc=fc))
        super().__init__()
        self.trunk = _DenseTrunk(in_channels, 3, layers, growth)
        self.embed = linear_bn_relu(self.trunk.out_channels, fc)
        self.add_head(fc, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.trunk(x)[0].mean(dim=(2, 3)))


@register(
    "models", "densenet-lstm", version="1.0",
    summary="DenseNet-LSTM baseline: 3 DenseBlocks (L=6, G=16) read over time by an LSTM",
    paper="Latif et al., Interspeech 2020", tags=("densenet", "recurrent", "baseline"),
    variants={"small": {"growth": 8, "hidden": 64}},
)
class DenseNetLSTM(SERModel):
    """The DenseNet trunk read as a sequence over time by an LSTM instead of global pooling."""

    def __init__(self, num_classes: int = 4, in_channels: int = 1, layers: int = 6, growth: int = 16,
                 hidden: int = 128) -> None:
        self.check_params(dict(num_classes=num_classes, in_channels=in_channels, layers=layers, growth=growth,
                               hidden=hidden))
        super().__init__()
        self.trunk = _DenseTrunk(in_channels, 3, layers, growth)
        self.freq_pool = nn.AdaptiveAvgPool2d((4, None))
        self.lstm = SequenceLSTM(self.trunk.out_channels * 4, hidden)
        self.add_head(hidden, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.lstm(to_sequence(self.freq_pool(self.trunk(x)[0])))[:, -1]


class Highway(nn.Module):
    """y = T(x) * ReLU(W x) + (1 - T(x)) * x, T(x) = sigmoid(W_T x) (Srivastava et al. 2015)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.h = nn.Linear(size, size)
        self.t = nn.Linear(size, size)
        nn.init.constant_(self.t.bias, -1.0)  # start close to carrying the input through

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.t(x))
        return gate * torch.relu(self.h(x)) + (1 - gate) * x


@register(
    "models", "densenet-lstm-highway", version="1.0",
    summary="Latif et al.'s model: 2 DenseBlocks (L=6, G=24), LSTM, summed skips, 3 highway layers of 128",
    paper="Latif et al., Interspeech 2020", tags=("densenet", "recurrent", "highway", "paper"),
    variants={"small": {"growth": 12, "hidden": 64, "highway": 64}},
)
class DenseNetLSTMHighway(SERModel):
    """Latif et al.'s proposed model.

    Initial conv; DenseBlock (L = 6, G = 24); transition (BN, 1x1 conv, 2x2 avg
    pool stride 2); DenseBlock (L = 6, G = 24); the feature map as a sequence
    over time; LSTM; dropout 0.5. The two DenseBlocks' outputs, globally
    average-pooled and projected to the LSTM's size, are summed (the skip
    connections) and concatenated with the LSTM output; three highway layers
    of 128 units (ReLU) give the embedding; a linear head the logits.
    """

    def __init__(self, num_classes: int = 4, in_channels: int = 1, layers: int = 6, growth: int = 24,
                 hidden: int = 128, highway: int = 128, dropout: float = 0.5) -> None:
        self.check_params(dict(num_classes=num_classes, in_channels=in_channels, layers=layers, growth=growth,
                               hidden=hidden, highway=highway, dropout=dropout))
        super().__init__()
        self.trunk = _DenseTrunk(in_channels, 2, layers, growth)
        self.freq_pool = nn.AdaptiveAvgPool2d((4, None))
        self.lstm = SequenceLSTM(self.trunk.out_channels * 4, hidden)
        self.dropout = nn.Dropout(dropout)
        self.skips = nn.ModuleList(nn.Linear(c, hidden) for c in self.trunk.block_channels)
        self.into_highway = nn.Sequential(nn.Linear(2 * hidden, highway), nn.ReLU(inplace=True))
        self.highway = nn.Sequential(*[Highway(highway) for _ in range(3)])
        self.add_head(highway, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        fmap, skips = self.trunk(x)
        seq = self.dropout(self.lstm(to_sequence(self.freq_pool(fmap)))[:, -1])
        skip = sum(proj(s.mean(dim=(2, 3))) for proj, s in zip(self.skips, skips))
        return self.highway(self.into_highway(torch.cat([seq, skip], dim=1)))
