"""Evaluators: clean, under noise, under attack. Every attack batch is budget-checked.

Batch sizes do not change a prediction (each row is computed on its own in eval mode), so they are
settings of a run, not of a cell: ``None`` asks :func:`default_batch_size`. (An attack that draws a
random start from one generator batch after batch, as PGD's L2 and SNR starts do, draws other numbers
under another batching: its own business, not the harness's.) Precision does change results: a
cell evaluated under bf16 or fp16 autocast (:func:`autocast`) is another cell (its key names it), and
its budgets are still checked in fp32 on the fp32 inputs.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from serbench.attacks.base import Attack, ThreatModel
from serbench.attacks.budget import BudgetLedger
from serbench.attacks.padding import gated_generate
from serbench.attacks.report import merge_reports
from serbench.engine.metrics import classification_metrics, success_rate
from serbench.errors import SerbenchError

# Autocast dtype of each precision a spec may ask for; fp32 runs without autocast.
AUTOCAST_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
# Today's batch sizes: the CPU's, and the fallback where a device cannot say how much memory is free.
CPU_BATCH_SIZES = {"predict": 256, "attack": 128}
# Device memory one input row needs, in multiples of the row's own bytes. Ren et al.'s CNN-4 at full width
# (the widest convolution at full resolution among the built-ins) holds, in a no-grad forward, its first
# block's conv and BN outputs at once: 2 x 64 channels x the input, ~130x. An attack keeps every block's
# activations for the input gradient (conv, BN, ReLU, pooling indices: ~4 x 64x at the first block, half
# that again for the later ones) plus the backward's transients: ~500-600x. Twice that, for margin.
WORKING_SET = {"predict": 256, "attack": 1024}
# Past a few thousand rows a batch only raises peak memory: the device is busy already.
MAX_BATCH_SIZES = {"predict": 4096, "attack": 1024}
MEMORY_SHARE = 0.5  # of the free memory: the rest for the model, the partition's inputs and the allocator


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Autocast to ``precision`` on ``device`` (fp32: nothing changes)."""
    if precision not in AUTOCAST_DTYPES:
        raise SerbenchError(f"unknown precision {precision!r}; use one of {', '.join(AUTOCAST_DTYPES)}")
    dtype = AUTOCAST_DTYPES[precision]
    return contextlib.nullcontext() if dtype is None else torch.autocast(device_type=device.type, dtype=dtype)


def free_memory(device: torch.device) -> int | None:
    """Bytes this process can still allocate on ``device`` (the driver's free memory plus what torch holds
    unused); None on the CPU and on devices torch cannot ask."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    return None


def default_batch_size(kind: str, x: torch.Tensor, model: torch.nn.Module | None = None) -> int:
    """Rows per batch for ``kind`` (``predict`` or ``attack``) of inputs like ``x`` on ``x``'s device:
    today's 256 and 128 on the CPU (or a device that cannot report free memory), else
    :func:`batch_size_for` its free memory. With ``model`` (an attack's), one row's forward and backward is
    measured on the device (:func:`measured_attack_row_bytes`) and the larger of that and the rule of thumb
    decides: a 300 M-parameter waveform encoder holds far more per row than :data:`WORKING_SET` input sizes."""
    free = free_memory(x.device)
    if free is None:
        return CPU_BATCH_SIZES[kind]
    row_bytes = x[:1].numel() * x.element_size() if len(x) else x.element_size()
    if model is not None and kind == "attack" and len(x):
        measured = measured_attack_row_bytes(model, x[:1])
        if measured is not None:
            row_bytes = max(row_bytes, -(-measured // WORKING_SET[kind]))  # ceil: in WORKING_SET units of input
    return batch_size_for(kind, row_bytes, free)


def measured_attack_row_bytes(model: torch.nn.Module, row: torch.Tensor) -> int | None:
    """Peak device memory above the current allocation of one row's forward + input gradient (what an attack
    step holds), from the allocator's statistics; None where the device keeps none (the CPU)."""
    if row.device.type != "cuda":
        return None
    torch.cuda.synchronize(row.device)
    before = torch.cuda.memory_allocated(row.device)
    torch.cuda.reset_peak_memory_stats(row.device)
    probe = row.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        model(probe).float().logsumexp(1).sum().backward(inputs=[probe])
    peak = torch.cuda.max_memory_allocated(row.device)
    del probe
    return max(0, int(peak - before))


def batch_size_for(kind: str, row_bytes: int, free_bytes: int) -> int:
    """The largest power of two of rows whose working set (:data:`WORKING_SET` times ``row_bytes``) fits in
    :data:`MEMORY_SHARE` of ``free_bytes``, at most :data:`MAX_BATCH_SIZES`, at least 1.

    A 3 s log-Mel row (128 x 301 fp32, 154 KB) on an empty 140 GB H200 gets 1024 (predict) and 256
    (attack); on a 16 GB card, 128 and 32.
    """
    fit = int(free_bytes * MEMORY_SHARE) // (max(1, row_bytes) * WORKING_SET[kind])
    return max(1, min(MAX_BATCH_SIZES[kind], 1 << (fit.bit_length() - 1) if fit > 0 else 1))


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``t`` on ``device``. A host tensor bound for an accelerator is copied from pinned memory without
    blocking, so the host goes on (drawing the next noise) while the copy runs; on the CPU, ``t`` itself."""
    device = torch.device(device)
    if t.device == device or device.type == "cpu":
        return t.to(device)
    if t.device.type == "cpu" and not t.is_pinned():
        t = t.pin_memory()
    return t.to(device, non_blocking=True)


def pinned_empty(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """An empty host tensor to fill and send to ``device``: pinned when that is an accelerator."""
    return torch.empty(shape, dtype=dtype, pin_memory=torch.device(device).type != "cpu")


@torch.inference_mode()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int | None = None,
            precision: str = "fp32") -> torch.Tensor:
    """Logits for every row of ``x`` in eval mode (float32), under ``precision``'s autocast.

    ``batch_size`` None: :func:`default_batch_size` for ``x``'s device. Runs under ``inference_mode``
    (no view or version tracking): the logits are inference tensors, fine for argmax, metrics and memos,
    never for autograd. ``x`` is only read, so cached inputs an attack later differentiates stay normal
    tensors; make those outside this function.
    """
    batch_size = batch_size or default_batch_size("predict", x)
    was_training = model.training
    model.eval()
    with autocast(x.device, precision):
        out = torch.cat([model(x[i : i + batch_size]).float() for i in range(0, len(x), batch_size)])
    model.train(was_training)
    return out


def check_logits(logits: torch.Tensor, rows: int, labels: tuple[str, ...], what: str = "the model") -> None:
    """Refuse logits that are not (rows, one per class): an argmax over extra logits is no prediction."""
    if logits.dim() != 2 or tuple(logits.shape) != (rows, len(labels)):
        raise SerbenchError(
            f"{what} returned logits of shape {tuple(logits.shape)} for {rows} inputs; expected "
            f"({rows}, {len(labels)}), one logit per class ({', '.join(labels)})"
        )


def evaluate_predictions(y: torch.Tensor, logits: torch.Tensor, labels: tuple[str, ...]) -> dict[str, Any]:
    """Metrics plus the per-utterance predictions (for paired tests and worst-case ensembles)."""
    check_logits(logits, len(y), labels)
    pred = logits.argmax(1).cpu().numpy()
    return {**classification_metrics(y.cpu().numpy(), pred, labels), "predictions": pred.tolist()}


def evaluate_attack(
    name: str, attack: Attack, model: nn.Module, x: torch.Tensor | list[tuple[torch.Tensor, ...]],
    y: torch.Tensor, clean_logits: torch.Tensor, labels: tuple[str, ...], batch_size: int | None = None,
    target: nn.Module | None = None, *, threat: ThreatModel | dict[str, Any], precision: str = "fp32",
    observe: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], None] | None = None,
) -> tuple[dict[str, Any], np.ndarray]:
    """Attack every batch, verify its budget, and measure; return metrics and per-utterance correctness.

    ``threat`` is the threat model the cell specifies, held by the harness: every
    batch is measured against it, never against the attack's own (reassignable)
    ``attack.threat``, so an attack cannot widen its budget. Batches are measured on
    the device as they come and verified together once the last is done (one host
    sync per cell, :class:`serbench.attacks.budget.BudgetLedger`): a violating batch
    fails the cell before any metric is returned.

    ``model`` maps the attacked domain to logits (for waveforms: the front end +
    model pipeline) and ``x`` is in that domain: one tensor in ``y``'s order, or
    length groups ``[(positions, x_group), ...]`` or ``[(positions, x_group, mask), ...]`` where ``mask``
    (rows, last axis) marks the active, unpadded positions: the attack runs with the padding held
    clean and its output is restricted to active positions
    (:func:`serbench.attacks.padding.masked_generate`), so no budget is spent on, and no example is
    won through, padding. With
    ``target`` (a transfer, black-box attack) the examples crafted on ``model``
    are scored on ``target``; ``clean_logits`` are then the target's.

    ``precision`` other than fp32 runs the attack and the scoring under autocast; the attack's output
    is cast back to the inputs' dtype before its budget is measured, and that is what is scored.
    ``batch_size`` None: :func:`default_batch_size` per length group. ``observe(rows, x, x_adv)``, where given, sees
    every checked batch with its rows' positions (perceptual measures, saved examples: serbench.bench.examples).
    """
    threat = threat if isinstance(threat, ThreatModel) else ThreatModel(**threat)
    check_logits(clean_logits, len(y), labels, "the model (clean)")
    model.eval()
    target = model if target is None else target.eval()
    groups = [(torch.arange(len(x)), x, None)] if isinstance(x, torch.Tensor) else [(*g, None)[:3] for g in x]
    pred_t = torch.full((len(y),), -1, dtype=torch.long, device=y.device)
    ledger = BudgetLedger(name, threat)
    reports: list[tuple[torch.Tensor, dict[str, Any]]] = []  # what the attack says of each batch (last_report)
    start = time.perf_counter()
    for index, xg, mask in groups:
        size = batch_size or default_batch_size("attack", xg, model)
        rows_g = to_device(torch.as_tensor(index), y.device)
        yg = y[rows_g]
        padded = padded_batches(mask, size, len(xg))  # one host sync per group, none per batch
        mask = None if mask is None else to_device(mask, xg.device)
        for b, i in enumerate(range(0, len(xg), size)):
            xb, yb = xg[i : i + size], yg[i : i + size]
            if hasattr(attack, "last_report"):
                attack.last_report = None  # a batch's report is the one its own generate call sets
            with autocast(xb.device, precision):
                x_adv = gated_generate(attack, model, xb, yb, mask[i : i + size]) if padded[b] \
                    else attack.generate(model, xb, yb)
            if x_adv.dtype != xb.dtype and x_adv.is_floating_point():
                x_adv = x_adv.to(xb.dtype)  # checked, and scored, in the inputs' precision
            ledger.add(xb, x_adv)
            if observe is not None:
                observe(torch.as_tensor(index)[i : i + size], xb, x_adv)
            if getattr(attack, "last_report", None) is not None:
                reports.append((torch.as_tensor(index)[i : i + size], attack.last_report))
            with torch.inference_mode(), autocast(xb.device, precision):  # scored only, never differentiated
                logits = target(x_adv).float()
            check_logits(logits, len(xb), labels)
            pred_t[rows_g[i : i + size]] = logits.argmax(1).to(pred_t.device)
    measured = ledger.verify()  # raises for any batch outside the budget; the one sync of the cell
    pred = pred_t.cpu().numpy()
    seconds = time.perf_counter() - start
    if bool((pred < 0).any()):
        raise ValueError("evaluate_attack: the groups do not cover every utterance")
    y_np = y.cpu().numpy()
    metrics = classification_metrics(y_np, pred, labels)
    finite = lambda t: t[torch.isfinite(t)]  # noqa: E731 - SNR is inf where nothing changed
    snr = finite(measured["snr_db"])
    metrics.update({
        "predictions": pred.tolist(),
        "success_rate": success_rate(y_np, clean_logits.argmax(1).cpu().numpy(), pred),
        "perturbation": {
            "linf_max": float(measured["linf"].max()), "linf_mean": float(measured["linf"].mean()),
            "l2_max": float(measured["l2"].max()), "l2_mean": float(measured["l2"].mean()),
            "snr_db_min": float(snr.min()) if snr.numel() else None,
            "snr_db_mean": float(snr.mean()) if snr.numel() else None,
        },
        "seconds_per_utterance": seconds / max(1, len(y)),
    })
    if reports:  # e.g. queries a score-based attack used, which member of an ensemble flipped each utterance
        metrics["attack_report"] = merge_reports(name, [(rows.tolist(), r) for rows, r in reports], len(y))
        finish = getattr(attack, "finish_report", None)  # figures of the whole cell (a minimal attack's curve)
        if callable(finish):
            metrics["attack_report"] = finish(metrics["attack_report"])
    return metrics, pred == y_np


def padded_batches(mask: torch.Tensor | None, batch_size: int, rows: int) -> list[bool]:
    """Per batch of ``batch_size`` of ``rows`` rows: does its mask hold any padding? Read in one host sync for
    the whole group, not one per batch."""
    if mask is None:
        return [False] * -(-rows // batch_size)
    partial = ~mask.flatten(1).all(dim=1)
    partial = torch.nn.functional.pad(partial, (0, -rows % batch_size))  # the last batch's missing rows: full
    return partial.view(-1, batch_size).any(dim=1).tolist()
