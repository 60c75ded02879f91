"""The defense contract: a training procedure (what the model sees, what it minimises).

The trainer calls :meth:`Defense.expand_training_set` once on the training
waveforms (waveform augmentations such as speed perturbation add copies
there) and :meth:`Defense.loss` on every mini-batch of scaled features.
:class:`Defense` states what each call receives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn


@dataclass
class TrainBatch:
    """One optimisation step's inputs. ``y`` holds class indices.

    ``model`` is in train mode; ``x`` (B, 1, n_features, T) and ``y`` are on the training device; ``iteration``
    counts optimisation steps from 0. ``generator`` is the trainer's own CPU ``torch.Generator`` (seeded by the
    train cell's seed, and the one that orders the batches): draw on the CPU
    (``torch.rand(..., generator=batch.generator).to(batch.x.device)``), never from the global generator.

    ``bounds`` is the scaled feature domain (the fitted normalisation's (low, high)), which a defense
    cannot infer from the batch: adversarial examples clipped to any other box (e.g. [0, 1] under a
    log normalisation) are not the inputs the model meets under attack at test time. ``mask`` is (B, T) bool, True on
    active frames of a pad/crop batch: perturbing padding trains against silence that is not speech.
    None for either: the domain's default bounds, every frame active.
    """

    model: nn.Module
    x: torch.Tensor
    y: torch.Tensor
    iteration: int
    generator: torch.Generator
    bounds: tuple[float, float] | None = None
    mask: torch.Tensor | None = None


class Defense:
    """Base class; the default is plain empirical risk minimisation.

    The contract the harness relies on (``serbench validate defenses NAME`` checks the loss):

    - Construction: once per train cell, with the spec's ``params`` over the defaults. A defense that attacks
      builds its attack here (``serbench.get("attacks", name, eps=..., norm="linf", domain="feature")``).
    - :meth:`loss` runs on every optimisation step with a :class:`TrainBatch`: the model in train mode, under
      bf16 autocast on CUDA. Return a scalar whose gradient reaches the model; the trainer steps the optimiser.
      Craft adversarial examples in eval mode (BatchNorm on its running statistics, dropout off, so the
      attack's forwards change no statistic and are deterministic) and restore every module's own mode
      before the loss, inside the bounds ``batch.bounds`` and never in the padding ``batch.mask``
      (:func:`serbench.attacks.padding.masked_generate` does both).
    - :meth:`expand_training_set` runs once, before training, on the decoded unpadded waveforms of the
      training partition, only when ``expands_training_set`` is True; ``rng`` is a numpy generator seeded by
      the train cell's seed.
    - Model selection only considers checkpoints with at least one defended step behind them
      (:meth:`first_defended_iteration`); a training budget that ends before the first one is refused.
    - Keys: a train cell's key holds the name, ``version``, distribution and its version, and every resolved
      parameter; bump ``version`` when the same parameters train differently.

    Capabilities are declared, not probed: ``expands_training_set`` is True on every defense whose
    :meth:`expand_training_set` must see the decoded waveforms (the trainer takes the waveform path for it),
    and ``adversarial_batches`` counts the mini-batches trained on adversarial examples (None: not counted).
    ``changes_loss`` is True on every defense with its own :meth:`loss` (set for a subclass that defines
    one), so ``compose`` can refuse two of them instead of silently dropping one.
    """

    expands_training_set: ClassVar[bool] = False
    changes_loss: ClassVar[bool] = False
    adversarial_batches: int | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "loss" in cls.__dict__ and "changes_loss" not in cls.__dict__:
            cls.changes_loss = True

    def expand_training_set(
        self, waves: list[np.ndarray], labels: list[int], sample_rate: int, rng: np.random.Generator
    ) -> tuple[list[np.ndarray], list[int]]:
        return waves, labels

    def loss(self, batch: TrainBatch) -> torch.Tensor:
        return nn.functional.cross_entropy(batch.model(batch.x), batch.y)

    def first_defended_iteration(self) -> int:
        """The first optimisation step (0-based ``TrainBatch.iteration``) whose loss applies this defense.

        Model selection only counts a checkpoint with at least one such step behind it: before it the
        weights are those of standard training under the defense's name. 0 (the default): every step
        is defended (standard training, augmentations); adversarial objectives return their
        ``start_iteration`` (Ren et al.'s warm-up on clean data).
        """
        return 0

    def defended_updates(self, iterations: int) -> int:
        """How many of the first ``iterations`` optimisation steps applied the defense."""
        return max(0, int(iterations) - self.first_defended_iteration())
