"""Adversarial training objectives: vanilla and similarity-based (Ren et al. 2020), PGD (Madry et al. 2018).

Adversarial examples are crafted with the model in eval mode: BatchNorm uses
its running statistics (the attack's forward passes must not update them),
dropout is off, so generation is deterministic; training mode is restored
before the loss. Before ``start_iteration`` the loss is plain cross-entropy
(Ren et al. feed adversarial data from iteration 1 000 on); the trainer's model
selection only considers checkpoints with at least one step at or after it
(:meth:`Defense.first_defended_iteration`), so a warm-up checkpoint is never
reported as a defended model.

Examples are crafted inside the batch's feature bounds (``TrainBatch.bounds``, the fitted
normalisation's range, not [0, 1]) and never touch padded frames (``TrainBatch.mask``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from serbench.attacks.padding import masked_generate
from serbench.defenses.base import Defense, TrainBatch
from serbench.errors import SerbenchError
from serbench.registry import register, registry


class AdversarialObjective(Defense):
    """Shared machinery: which attack, its budget, and from which iteration on."""

    def __init__(self, attack: str = "fgsm", eps: float = 0.01, attack_params: dict[str, Any] | None = None,
                 start_iteration: int = 1000) -> None:
        if eps < 0:
            raise SerbenchError(f"defense: eps must be >= 0, got {eps}")
        self.attack = registry("attacks").create(attack, eps=eps, norm="linf", domain="feature",
                                                 **(attack_params or {}))
        self.start_iteration = int(start_iteration)
        self.adversarial_batches = 0

    def active(self, batch: TrainBatch) -> bool:
        return batch.iteration >= self.start_iteration

    def first_defended_iteration(self) -> int:
        return max(0, self.start_iteration)

    def adversarial(self, batch: TrainBatch) -> torch.Tensor:
        if batch.bounds is not None and tuple(float(v) for v in batch.bounds) != self.attack.threat.bounds:
            self.attack.threat = self.attack.threat.with_bounds(batch.bounds)
        model = batch.model
        modes = [(m, m.training) for m in model.modules()]
        model.eval()
        try:
            x_adv = masked_generate(self.attack, model, batch.x, batch.y, batch.mask)
        finally:
            for m, mode in modes:
                m.train(mode)
        self.adversarial_batches += 1
        return x_adv.detach()


# 1.1 (vanilla-adv, similarity-adv, pgd-adv, compose): model selection only considers checkpoints trained with
# the defense active (issue 21), so models cached by 1.0 keys, possibly warm-up checkpoints, are not reused;
# similarity-adv 1.1 also compares the final layer's output by default (similarity_on: logits).
@register(
    "defenses", "vanilla-adv", version="1.1",
    summary="Vanilla adversarial training: a*L(x) + (1-a)*L(x'), x' from any attack (FGSM default)",
    paper="Ren et al., ICASSP 2020", tags=("adversarial",),
)
class VanillaAdversarial(AdversarialObjective):
    """L = a * L(x) + (1 - a) * L(x') (Ren et al. eq. 3), x' from any registered attack."""

    def __init__(self, a: float = 0.5, attack: str = "fgsm", eps: float = 0.01,
                 attack_params: dict[str, Any] | None = None, start_iteration: int = 1000) -> None:
        if not 0 <= a <= 1:
            raise SerbenchError(f"defense 'vanilla-adv': a must be in [0, 1], got {a}")
        super().__init__(attack, eps, attack_params, start_iteration)
        self.a = float(a)

    def loss(self, batch: TrainBatch) -> torch.Tensor:
        clean = nn.functional.cross_entropy(batch.model(batch.x), batch.y)
        if not self.active(batch) or self.a == 1.0:  # a = 1: the adversarial term weighs nothing
            return clean
        adv = nn.functional.cross_entropy(batch.model(self.adversarial(batch)), batch.y)
        return self.a * clean + (1 - self.a) * adv


SIMILARITY_ON = ("logits", "embedding")


@register(
    "defenses", "similarity-adv", version="1.1",
    summary="Similarity-based adversarial training: b*L(x) + g*L(x') + (1-b-g)*||v - v'||_2, v: logits",
    paper="Ren et al., ICASSP 2020", tags=("adversarial",),
)
class SimilarityAdversarial(AdversarialObjective):
    """L = b * L(x) + g * L(x') + (1 - b - g) * ||v - v'||_2 (Ren et al. eq. 4).

    Which vectors v, v' are is an interpretation, set by ``similarity_on``:

    - ``logits`` (default): the output of the model's final fully connected layer, ``forward_head``'s
      pre-softmax vector. Ren et al. (ICASSP 2020, sec. 3.2.2): "the feature vectors from the final
      fully connected layer should be close in each of these pairs"; "v and v' are the feature
      vectors in the final fully connected layer from the real and adversarial data". Their CNN-4 has
      one fully connected layer, between global max pooling and the softmax, so the vector that layer
      produces is the logits.
    - ``embedding``: the pooled embedding ``forward_features`` feeds into that layer (serbench 1.0's
      reading, "high-level features" in the paper's introduction).

    Both are compared with the per-example Euclidean distance (the paper's "L2 Loss (n=2)"),
    averaged over the batch. ``b = g = 0.4`` and ``start_iteration = 1000`` are the paper's.
    """

    def __init__(self, b: float = 0.4, g: float = 0.4, attack: str = "fgsm", eps: float = 0.01,
                 attack_params: dict[str, Any] | None = None, start_iteration: int = 1000,
                 similarity_on: str = "logits") -> None:
        if b < 0 or g < 0 or b + g > 1:
            raise SerbenchError(f"defense 'similarity-adv': need b, g >= 0 and b + g <= 1, got b={b}, g={g}")
        if similarity_on not in SIMILARITY_ON:
            raise SerbenchError(f"defense 'similarity-adv': similarity_on must be {' or '.join(SIMILARITY_ON)}, "
                                f"got {similarity_on!r}")
        super().__init__(attack, eps, attack_params, start_iteration)
        self.b, self.g = float(b), float(g)
        self.similarity_on = similarity_on

    def loss(self, batch: TrainBatch) -> torch.Tensor:
        model = batch.model
        v = model.forward_features(batch.x)
        logits = model.forward_head(v)
        clean = nn.functional.cross_entropy(logits, batch.y)
        if not self.active(batch):
            return clean
        v_adv = model.forward_features(self.adversarial(batch))
        logits_adv = model.forward_head(v_adv)
        adv = nn.functional.cross_entropy(logits_adv, batch.y)
        a, b = (logits, logits_adv) if self.similarity_on == "logits" else (v, v_adv)
        # Per-example Euclidean distance (a tiny floor keeps its gradient finite at a == b), batch mean.
        distance = ((a - b).pow(2).sum(dim=1) + 1e-12).sqrt().mean()
        return self.b * clean + self.g * adv + (1 - self.b - self.g) * distance


@register(
    "defenses", "pgd-adv", version="1.1",
    summary="PGD adversarial training (min-max), a defense none of the three papers tried",
    paper="Madry et al., ICLR 2018", tags=("adversarial",),
)
class PGDAdversarial(AdversarialObjective):
    """Madry et al.: minimise the loss on PGD examples (``clean_weight`` mixes in the clean loss)."""

    def __init__(self, eps: float = 0.01, attack_params: dict[str, Any] | None = None, clean_weight: float = 0.0,
                 start_iteration: int = 0) -> None:
        if not 0 <= clean_weight <= 1:
            raise SerbenchError(f"defense 'pgd-adv': clean_weight must be in [0, 1], got {clean_weight}")
        super().__init__("pgd", eps, {"steps": 7, **(attack_params or {})}, start_iteration)
        self.clean_weight = float(clean_weight)

    def loss(self, batch: TrainBatch) -> torch.Tensor:
        if not self.active(batch):
            return nn.functional.cross_entropy(batch.model(batch.x), batch.y)
        adv = nn.functional.cross_entropy(batch.model(self.adversarial(batch)), batch.y)
        if self.clean_weight == 0:
            return adv
        clean = nn.functional.cross_entropy(batch.model(batch.x), batch.y)
        return self.clean_weight * clean + (1 - self.clean_weight) * adv
