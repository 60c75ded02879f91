"""The model contract every architecture follows (timm's split).

Input (B, 1, n_features, T) with T free; ``forward_features`` returns the
penultimate embedding (what similarity-adv compares with ``similarity_on: embedding``),
``forward_head`` the logits, and ``forward = forward_head(forward_features)``.
"""

from __future__ import annotations

import abc
import math
from typing import Any, ClassVar

import torch
from torch import nn

from serbench.errors import SerbenchError

# Size parameters a model may take; each must be > 0 (``width: -3`` would otherwise build a 4-channel net).
POSITIVE_PARAMS = ("num_classes", "in_channels", "width", "hidden", "growth", "layers", "fc", "highway")


class SERModel(nn.Module, abc.ABC):
    """Base class of serbench models.

    Subclasses must implement :meth:`forward_features`; the head is the linear layer ``fc`` that
    :meth:`add_head` builds, or a subclass's own :meth:`forward_head`.

    The contract the harness relies on (``serbench validate models NAME`` checks it):

    - Construction: the factory is called with the spec's ``params`` over the component's defaults and
      ``num_classes`` set to the number of labels of the corpus (whatever its default says), after
      ``torch.manual_seed(seed)`` and ``numpy.random.seed(seed)`` with the train cell's seed, so the initial
      weights are a function of the cell. Draw initial weights from torch's global generator (that is what
      the seed fixes). The model is then moved to the run's device and to the cell's memory format
      (``training.memory_format``; ``auto`` keeps a plugin's model contiguous). An optional classmethod
      ``check_params(params)`` runs when the spec is read, before anything is built.
    - Input: (B, 1, n_features, T) scaled features (float32 outside autocast): ``n_features`` is
      ``frontend.n_mels`` (or ``n_bins``), T is free (the frames of ``frontend.seconds`` under pad/crop, a
      window's frames under ``segments``); frames past an utterance's end are padding at the normalisation's
      lower bound. Output: (B, num_classes) logits; the harness refuses any other shape.
    - Modes: ``train()`` before every optimisation step (CUDA steps run under bf16 autocast); ``eval()`` for
      validation, evaluation and every attack, which may run under fp16/bf16 autocast
      (``evaluation.precision``). In eval mode the forward must be deterministic and differentiable with
      respect to the input: attacks take its input gradient.
    - Keys: the cell key holds the name, ``version``, distribution and its version, and every resolved
      parameter; bump ``version`` whenever the same parameters build a different network or initialisation.
    """

    num_classes: int
    embedding_dim: int
    # What the model takes: "spectrogram" (the features above) or "waveform" (serbench.models.waveform).
    input_kind: ClassVar[str] = "spectrogram"

    @abc.abstractmethod
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, n_features, T) input -> (B, embedding_dim) penultimate embedding."""

    def forward_head(self, z: torch.Tensor) -> torch.Tensor:
        """Embedding -> logits through ``fc`` (see :meth:`add_head`)."""
        return self.fc(z)

    def add_head(self, embedding_dim: int, num_classes: int) -> None:
        """Record both sizes and build ``fc``, the linear head from the embedding to the logits.

        Call it where the head's parameters were always created: the order modules are built in fixes
        which random draws initialise them, and the attribute name ``fc`` is part of every checkpoint.
        """
        self.num_classes, self.embedding_dim = num_classes, embedding_dim
        self.fc = nn.Linear(embedding_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> None:
        """Refuse sizes that are zero, negative or not finite, and a dropout outside [0, 1).

        Cheap (builds nothing), so a spec reader can call it on every model before any compute;
        each built-in model also calls it in ``__init__``.
        """
        meta = getattr(cls, "__serbench_component__", None) or {}
        owner = f"model {meta.get('name') or cls.__name__!r}"
        for key in POSITIVE_PARAMS:
            value = params.get(key)
            if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue  # absent, or a type the registry's type check already reports
            if not (math.isfinite(value) and value > 0):
                raise SerbenchError(f"{owner}: {key} must be > 0, got {value!r}")
        dropout = params.get("dropout")
        if isinstance(dropout, (int, float)) and not isinstance(dropout, bool) and not 0 <= dropout < 1:
            raise SerbenchError(f"{owner}: dropout must be in [0, 1), got {dropout!r}")


def conv_bn_relu(cin: int, cout: int, kernel: int, batch_norm: bool = True) -> nn.Sequential:
    """Conv -> (BatchNorm) -> ReLU, 'same' padding: BN sits before the non-linearity."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def linear_bn_relu(cin: int, cout: int) -> nn.Sequential:
    """Linear -> BatchNorm1d -> ReLU: the dense embedding layer of the DenseNet and Satt CNN baselines."""
    return nn.Sequential(nn.Linear(cin, cout), nn.BatchNorm1d(cout), nn.ReLU(inplace=True))


def scaled(channels: int, width: float) -> int:
    return max(4, int(round(channels * width)))
