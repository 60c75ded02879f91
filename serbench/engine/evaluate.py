"""Evaluators: clean, under noise, under attack. Every attack batch is budget-checked."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import nn

from serbench.attacks.base import Attack, ThreatModel
from serbench.attacks.budget import check_budget
from serbench.attacks.padding import masked_generate
from serbench.engine.metrics import classification_metrics, success_rate
from serbench.errors import SerbenchError


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Logits for every row of ``x`` in eval mode (float32)."""
    was_training = model.training
    model.eval()
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
    y: torch.Tensor, clean_logits: torch.Tensor, labels: tuple[str, ...], batch_size: int = 128,
    target: nn.Module | None = None, *, threat: ThreatModel | dict[str, Any],
) -> tuple[dict[str, Any], np.ndarray]:
    """Attack every batch, verify its budget, and measure; return metrics and per-utterance correctness.

    ``threat`` is the threat model the cell specifies, held by the harness: every
    batch is measured against it, never against the attack's own (reassignable)
    ``attack.threat``, so an attack cannot widen its budget.

    ``model`` maps the attacked domain to logits (for waveforms: the front end +
    model pipeline) and ``x`` is in that domain: one tensor in ``y``'s order, or
    length groups ``[(positions, x_group), ...]`` or ``[(positions, x_group, mask), ...]`` where ``mask``
    (rows, last axis) marks the active, unpadded positions: the attack runs with the padding held
    clean and its output is restricted to active positions
    (:func:`serbench.attacks.padding.masked_generate`), so no budget is spent on, and no example is
    won through, padding. With
    ``target`` (a transfer, black-box attack) the examples crafted on ``model``
    are scored on ``target``; ``clean_logits`` are then the target's.
    """
    threat = threat if isinstance(threat, ThreatModel) else ThreatModel(**threat)
    check_logits(clean_logits, len(y), labels, "the model (clean)")
    model.eval()
    target = model if target is None else target.eval()
    groups = [(torch.arange(len(x)), x, None)] if isinstance(x, torch.Tensor) else [(*g, None)[:3] for g in x]
    pred_t = torch.full((len(y),), -1, dtype=torch.long)
    meas: dict[str, list[torch.Tensor]] = {"linf": [], "l2": [], "snr_db": []}
    start = time.perf_counter()
    for index, xg, mask in groups:
        for i in range(0, len(xg), batch_size):
            rows = index[i : i + batch_size]
            xb, yb = xg[i : i + batch_size], y[rows.to(y.device)]
            x_adv = masked_generate(attack, model, xb, yb, None if mask is None else mask[i : i + batch_size])
            m = check_budget(name, threat, xb, x_adv)
            for k in meas:
                meas[k].append(m[k].cpu())
            with torch.no_grad():
                logits = target(x_adv).float()
            check_logits(logits, len(xb), labels)
            pred_t[rows.cpu()] = logits.argmax(1).cpu()
    seconds = time.perf_counter() - start
    if bool((pred_t < 0).any()):
        raise ValueError("evaluate_attack: the groups do not cover every utterance")
    pred = pred_t.numpy()
    y_np = y.cpu().numpy()
    metrics = classification_metrics(y_np, pred, labels)
    finite = lambda t: t[torch.isfinite(t)]  # noqa: E731 - SNR is inf where nothing changed
    cat = {k: torch.cat(v) for k, v in meas.items()}
    snr = finite(cat["snr_db"])
    metrics.update({
        "predictions": pred.tolist(),
        "success_rate": success_rate(y_np, clean_logits.argmax(1).cpu().numpy(), pred),
        "perturbation": {
            "linf_max": float(cat["linf"].max()), "linf_mean": float(cat["linf"].mean()),
            "l2_max": float(cat["l2"].max()), "l2_mean": float(cat["l2"].mean()),
            "snr_db_min": float(snr.min()) if snr.numel() else None,
            "snr_db_mean": float(snr.mean()) if snr.numel() else None,
        },
        "seconds_per_utterance": seconds / max(1, len(y)),
    })
    return metrics, pred == y_np
