"""Which memory format a model and its 4-D inputs use: ``training.memory_format``.

A layout changes a trained model's numbers (other kernels sum in another order, and training amplifies the
last bits), so the format is decided by a fixed rule, never by timing in the running process (two processes
would decide differently and one cell key would name two results), and the resolved format is part of the
train cell's key (:class:`serbench.bench.cells.TrainCell`; named there only where it is not contiguous, so
keys of contiguous cells are those of before this setting).

``auto`` resolves by :data:`CHANNELS_LAST` (device type x model); ``channels_last`` and ``contiguous`` are
taken as they are. This module imports no torch at import time: the spec reader and the record readers use
its names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from serbench.errors import SerbenchError
from serbench.suggest import did_you_mean

if TYPE_CHECKING:
    import torch

AUTO, CHANNELS_LAST, CONTIGUOUS = "auto", "channels_last", "contiguous"
MEMORY_FORMATS = (AUTO, CHANNELS_LAST, CONTIGUOUS)  # what a spec may ask for
DEFAULT_MEMORY_FORMAT = AUTO

# Built-in models whose forward takes (B, 1, F, T) and runs Conv2d blocks (every one of the zoo today),
# by base name (variants share their base's entry).
CONV_MODELS = frozenset({"cnn", "cnn-lstm", "cnn4", "cnn5", "densenet", "densenet-lstm", "densenet-lstm-highway",
                         "resnet50", "vgg16"})

CHANNELS_LAST_MODELS: dict[str, frozenset[str]] = {
    "cpu": CONV_MODELS,
    "cuda": CONV_MODELS,
}
"""Device type -> the models ``auto`` runs channels_last; every other pair (another device type, a model not
listed, e.g. a plugin's or a recurrent-only one) runs contiguous.

cpu: measured, ``python benchmarks/layout_speed.py`` (contiguous and channels_last side by side in one
process, medians of interleaved repetitions; channels_last time / contiguous time, lower is faster):
torch 2.14.1, 1 thread, batch 8 x 1 x 64 x 128, median of 3 (``--batch 8 --repeats 3 --threads 1``)::

    model                  train step  inference  input gradient
    cnn                          0.58       0.39            0.71
    cnn-lstm                     0.64       0.43            0.67
    cnn4                         0.91       0.63            0.66
    cnn5                         0.80       0.79            0.82
    densenet                     0.54       0.71            0.78
    densenet-lstm                0.82       0.81            0.82
    densenet-lstm-highway        0.76       0.80            0.90
    resnet50                     0.61       0.64            0.89
    vgg16                        0.89       0.78            0.85

Every built-in model is faster channels_last in all three (logits of one model in both layouts agree to
1e-7, resnet50's to 2e-5), so ``auto`` runs them all so; the model must take (B, C, F, T) and run Conv2d
(a recurrent-only or 3-D model gains nothing from it).

cuda: reasoned, not measured (no GPU was available to this project): NVIDIA's guidance for tensor cores is
NHWC (channels_last) for convolutions under fp16/bf16 and TF32, which cuDNN otherwise reaches by transposing
NCHW tensors around each convolution; ``python benchmarks/layout_speed.py --device cuda`` measures it.
Other device types (mps, xpu, ...) run contiguous until measured.
"""


def check_memory_format(value: Any, where: str = "training.memory_format") -> str:
    """``value`` if a spec may ask for it, else a one-line error naming ``where`` and the choices."""
    if not isinstance(value, str) or value not in MEMORY_FORMATS:
        raise SerbenchError(f"{where}: unknown memory format {value!r}{did_you_mean(str(value), MEMORY_FORMATS)} "
                            f"(use one of {', '.join(MEMORY_FORMATS)})")
    return value


def device_type(device: Any) -> str:
    """``cpu`` / ``cuda`` / ... of a :class:`torch.device` or a device name (``cuda:1``)."""
    return getattr(device, "type", None) or str(device).split(":")[0]


def resolve_memory_format(requested: str, device: Any, model_name: str) -> str:
    """The format a model named ``model_name`` (its registered base name) runs in on ``device``:
    ``requested`` unless it is ``auto``, then :data:`CHANNELS_LAST_MODELS`'s entry. Deterministic: the same
    arguments give the same answer in every process."""
    check_memory_format(requested)
    if requested != AUTO:
        return requested
    return CHANNELS_LAST if model_name in CHANNELS_LAST_MODELS.get(device_type(device), ()) else CONTIGUOUS


def torch_format(name: str) -> "torch.memory_format":
    """The torch memory format of a resolved format name."""
    import torch

    formats = {CHANNELS_LAST: torch.channels_last, CONTIGUOUS: torch.contiguous_format}
    if name not in formats:
        raise SerbenchError(f"memory format {name!r} is not resolved; use one of {', '.join(formats)}")
    return formats[name]


def apply_to_model(model: "torch.nn.Module", name: str) -> "torch.nn.Module":
    """``model`` with its 4-D parameters and buffers (convolution weights) in format ``name`` (in place)."""
    return model.to(memory_format=torch_format(name))


def as_input(x: "torch.Tensor", name: str) -> "torch.Tensor":
    """A 4-D batch ``x`` laid out for a model in format ``name`` (other ranks: ``x``). The values and their
    logical order never change, so everything indexing or flattening the batch (budget checks, projections,
    masks) sees the same tensor; with one input channel no data moves."""
    return x.contiguous(memory_format=torch_format(name)) if x.dim() == 4 else x
