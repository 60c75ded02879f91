"""Wrap a serbench model as an ART ``PyTorchClassifier`` for one batch, without side effects.

ART's classifier moves the model to its device, puts it in eval mode for
good and leaves parameter gradients behind; serbench's attack contract says
an attack does not change the model, so the wrapper undoes all three.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import numpy as np
import torch
from art.estimators.classification import PyTorchClassifier
from torch import nn


@contextmanager
def art_classifier(model: nn.Module, x: torch.Tensor, bounds: tuple[float, float]) -> Iterator[PyTorchClassifier]:
    """A ``PyTorchClassifier`` over ``model`` on ``x``'s device with clip_values = the threat model's bounds.

    The loss is the summed cross-entropy, as serbench's native attacks use:
    per-example gradients do not shrink with the batch size.
    """
    with torch.no_grad():
        nb_classes = int(model(x[:1]).shape[-1])
    was_training = model.training
    params = list(model.parameters())
    saved_grads = [p.grad for p in params]
    on_cuda = x.device.type == "cuda"
    with torch.cuda.device(x.device) if on_cuda else nullcontext():  # ART picks cuda:<current device>
        clf = PyTorchClassifier(
            model=model, loss=nn.CrossEntropyLoss(reduction="sum"), input_shape=tuple(x.shape[1:]),
            nb_classes=nb_classes, clip_values=(float(bounds[0]), float(bounds[1])),
            device_type="gpu" if on_cuda else "cpu",
        )
        try:
            yield clf
        finally:
            model.train(was_training)
            for p, g in zip(params, saved_grads):
                p.grad = g


@contextmanager
def numpy_seed(seed: int) -> Iterator[None]:
    """ART draws random starts from numpy's global RNG: seed it for the call, then restore it."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def to_numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach().cpu().numpy().astype(np.float32, copy=False)


def from_numpy(a: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).to(device=like.device, dtype=like.dtype)
