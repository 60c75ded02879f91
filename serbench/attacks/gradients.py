"""Input gradients, computed once where several attacks ask for the same one.

FGSM at E budgets needs one gradient at the clean inputs, not E; BIM's first step at every budget is
that gradient too. Inside :func:`sharing_gradients` (the harness opens one per trained model),
:func:`input_gradient` returns a stored gradient when the model, the inputs and the labels are exactly
those it was computed for. Only models in eval mode are shared (a training-mode forward may draw
dropout masks), and the stored tensors are copies, so an input changed in place later is a miss, not
a wrong hit.
"""

from __future__ import annotations

import contextvars
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

_MEMO: contextvars.ContextVar["GradientMemo | None"] = contextvars.ContextVar("serbench_gradients", default=None)


def model_key(model: nn.Module) -> tuple[Any, ...]:
    """What makes ``model``'s input gradient what it is: the module itself, or what a wrapper declares
    through ``gradient_key()`` (a gate adds the clean values and mask it substitutes)."""
    declared = getattr(model, "gradient_key", None)
    return declared() if callable(declared) else (model,)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape
                and a.dtype == b.dtype and a.device == b.device and bool(torch.equal(a, b)))
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(p, q) for p, q in zip(a, b))
    return a is b if isinstance(a, nn.Module) else a == b


class GradientMemo:
    """The last ``capacity`` gradients with the (model key, inputs, labels) they were computed at."""

    def __init__(self, capacity: int = 256) -> None:
        self._entries: deque[tuple[tuple[Any, ...], torch.Tensor, torch.Tensor, torch.Tensor]] = deque(
            maxlen=capacity)
        self.hits = self.misses = 0

    def get(self, key: tuple[Any, ...], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
        for k, sx, sy, grad in self._entries:
            if _same(sx, x) and _same(sy, y) and _same(k, key):
                self.hits += 1
                return grad.clone()
        self.misses += 1
        return None

    def put(self, key: tuple[Any, ...], x: torch.Tensor, y: torch.Tensor, grad: torch.Tensor) -> None:
        self._entries.append((key, x.detach().clone(), y.detach().clone(), grad.detach().clone()))


@contextmanager
def sharing_gradients(memo: GradientMemo) -> Iterator[GradientMemo]:
    """Within the block, :func:`input_gradient` reuses what ``memo`` holds."""
    token = _MEMO.set(memo)
    try:
        yield memo
    finally:
        _MEMO.reset(token)


def input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Gradient of the summed cross-entropy w.r.t. ``x`` (per-example scale independent of batch size)."""
    memo = _MEMO.get()
    shared = memo is not None and not any(m.training for m in model.modules())
    key = model_key(model) if shared else None
    if key is not None and (hit := memo.get(key, x, y)) is not None:
        return hit
    xg = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        loss = nn.functional.cross_entropy(model(xg), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, xg)
    if key is not None:
        memo.put(key, x, y, grad)
    return grad
