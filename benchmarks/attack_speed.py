"""Attack speed: native PGD vs torchattacks vs ART on one model and batch, and PGD-k vs k x (forward + backward).

Goals: native ``pgd`` at least as fast as ``torchattacks.pgd`` (ratio <= 1.00),
and native PGD-k within k times one forward + backward pass (ratio <= 1.00; the
floor: every step needs exactly one, issue #20). All three run the same work: Linf,
``steps`` steps, no random start, on the same eval-mode CNN-4 and batch.
Times are medians over ``--repeats`` round-robin runs after one warm-up run each.

    .venv/bin/python benchmarks/attack_speed.py                     # CPU, cnn4 width 0.25, 16 x (64 x 188)
    .venv/bin/python benchmarks/attack_speed.py --device cuda --width 1 --batch 64
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

import serbench
from serbench.bench.environment import resolve_device
from serbench.models.cnn4 import CNN4


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved_medians(fns: dict[str, Callable[[], object]], repeats: int, device: torch.device) -> dict[str, float]:
    """Median seconds per function; runs round-robin so load from other processes hits all of them alike."""
    for fn in fns.values():  # warm-up: allocator, kernels, oneDNN primitives
        fn()
    _sync(device)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            _sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def forward_backward_fn(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], torch.Tensor]:
    """One forward + backward to the input: the work each PGD step cannot avoid."""
    def forward_backward() -> torch.Tensor:
        xr = x.detach().requires_grad_(True)
        loss = nn.functional.cross_entropy(model(xr), y, reduction="sum")
        return torch.autograd.grad(loss, xr)[0]

    return forward_backward


def pgd_times(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, eps: float, repeats: int,
              attacks: tuple[str, ...] = ("pgd", "torchattacks.pgd", "art.pgd")) -> dict[str, float]:
    """Median seconds of one ``fwd+bwd`` and of each of ``attacks`` (Linf, ``steps`` steps, no random start) on
    ``model`` (eval mode) and the batch ``x, y``, interleaved."""
    params = {"eps": eps, "steps": steps, "random_start": False}
    fns: dict[str, Callable[[], object]] = {"fwd+bwd": forward_backward_fn(model, x, y)}
    for name in attacks:
        attack = serbench.get("attacks", name, **params)
        fns[name] = lambda a=attack: a.generate(model, x, y)
    return interleaved_medians(fns, repeats, x.device)


def add_batch_arguments(p: argparse.ArgumentParser, *, steps: int, repeats: int, width_help: str) -> None:
    """The options every attack-speed script shares: device, model width, batch shape, steps, eps, repeats."""
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    p.add_argument("--width", type=float, default=0.25, help=width_help)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--frames", type=int, default=188, help="time frames (188 = 3 s at hop 256, 16 kHz)")
    p.add_argument("--mels", type=int, default=64)
    p.add_argument("--steps", type=int, default=steps)
    p.add_argument("--eps", type=float, default=0.02)
    p.add_argument("--repeats", type=int, default=repeats)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_batch_arguments(p, steps=10, repeats=5, width_help="CNN-4 channel scale (1.0 = the paper's)")
    args = p.parse_args()
    device = resolve_device(args.device)

    torch.manual_seed(0)
    model = CNN4(num_classes=4, width=args.width).to(device).eval()
    x = torch.rand(args.batch, 1, args.mels, args.frames, device=device)
    y = torch.randint(0, 4, (args.batch,), device=device)
    times = pgd_times(model, x, y, args.steps, args.eps, args.repeats)
    fb = times.pop("fwd+bwd")

    print(f"device {device} ({torch.get_num_threads()} CPU threads), torch {torch.__version__}; "
          f"cnn4 width {args.width}, batch {args.batch} x (1, {args.mels}, {args.frames}), "
          f"PGD-Linf {args.steps} steps, median of {args.repeats}")
    print(f"  forward+backward          {fb * 1e3:9.2f} ms")
    print(f"  {args.steps} x forward+backward    {args.steps * fb * 1e3:9.2f} ms")
    for name, t in times.items():
        print(f"  {name:<24}  {t * 1e3:9.2f} ms")
    native = times["pgd"]
    r_ta, r_art, r_floor = native / times["torchattacks.pgd"], native / times["art.pgd"], native / (args.steps * fb)
    print(f"native / torchattacks          {r_ta:6.3f}   (goal <= 1.00: {'met' if r_ta <= 1.0 else 'NOT met'})")
    print(f"native / art                   {r_art:6.3f}")
    print(f"native PGD-k / (k x fwd+bwd)   {r_floor:6.3f}   (goal <= 1.00: {'met' if r_floor <= 1.0 else 'NOT met'})")


if __name__ == "__main__":
    main()
