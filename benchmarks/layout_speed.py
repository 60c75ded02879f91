"""channels_last vs contiguous for every model of the zoo, side by side in one process: the figures behind
``serbench.engine.layout.CHANNELS_LAST_MODELS``.

Per model, two copies with the same weights (one converted to channels_last) run, interleaved and in
alternating order, a training step (forward, cross-entropy, backward, Adam step), an inference forward
(eval mode, no autograd) and an input gradient (eval mode, what an attack step costs). Each row gives the
median time of channels_last over contiguous (below 1: channels_last is faster) and the largest logit
difference of the two copies on one batch; the closing lines give the rule the ratios imply (channels_last
where the geometric mean of the three ratios is below ``--margin``).

    python benchmarks/layout_speed.py [--device cpu] [--models cnn4 cnn] [--variants] [--batch 16]
                                      [--frames 128] [--repeats 5] [--threads N]
"""

from __future__ import annotations

import argparse
import copy
import math
import statistics
import time
from collections.abc import Callable

import torch

import serbench
from serbench.bench.environment import resolve_device
from serbench.engine.layout import CHANNELS_LAST, CONTIGUOUS, apply_to_model, as_input

MODES = ("train", "infer", "grad")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def steps(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, Callable[[], None]]:
    """One callable per mode, on ``model`` and its own copy of the batch."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def train() -> None:
        model.train()
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    def infer() -> None:
        model.eval()
        with torch.inference_mode():
            model(x)

    def grad() -> None:
        model.eval()
        xg = x.detach().requires_grad_(True)
        torch.autograd.grad(torch.nn.functional.cross_entropy(model(xg), y), xg)

    return {"train": train, "infer": infer, "grad": grad}


def measure(name: str, device: torch.device, batch: int, frames: int, repeats: int) -> dict[str, float]:
    """channels_last / contiguous median time per mode, and the largest logit difference."""
    torch.manual_seed(0)
    base = serbench.get("models", name, num_classes=4).to(device)
    models = {CONTIGUOUS: base, CHANNELS_LAST: apply_to_model(copy.deepcopy(base), CHANNELS_LAST)}
    x = torch.rand(batch, 1, 64, frames, device=device)
    y = torch.randint(0, 4, (batch,), device=device)
    with torch.no_grad():  # before any step changes the weights: the same model in two layouts
        logits = {f: m.eval()(as_input(x, f)) for f, m in models.items()}
    diff = float((logits[CONTIGUOUS] - logits[CHANNELS_LAST]).abs().max())
    runs = {f: steps(m, as_input(x, f), y) for f, m in models.items()}
    times: dict[tuple[str, str], list[float]] = {(f, mode): [] for f in models for mode in MODES}
    for r in range(repeats + 1):
        order = list(models) if r % 2 else list(reversed(models))
        for mode in MODES:
            for f in order:
                _sync(device)
                start = time.perf_counter()
                runs[f][mode]()
                _sync(device)
                if r:  # the first round warms up allocators and kernels
                    times[(f, mode)].append(time.perf_counter() - start)
    ratios = {mode: statistics.median(times[(CHANNELS_LAST, mode)]) / statistics.median(times[(CONTIGUOUS, mode)])
              for mode in MODES}
    return {**ratios, "contiguous_train_s": statistics.median(times[(CONTIGUOUS, "train")]), "max_logit_diff": diff}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", help="auto, cpu or cuda[:N]")
    ap.add_argument("--models", nargs="*", help="model names (default: every base model of the zoo)")
    ap.add_argument("--variants", action="store_true", help="also every variant (cnn4.small, ...)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--frames", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    ap.add_argument("--margin", type=float, default=0.95, help="geometric-mean ratio below which to prefer "
                                                                 "channels_last")
    args = ap.parse_args()
    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    names = args.models or serbench.list_components("models", variants=args.variants)
    print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads, batch {args.batch} x 1 x "
          f"64 x {args.frames}, median of {args.repeats} interleaved repetitions; channels_last / contiguous\n")
    print("| model | train step | inference | input gradient | geo. mean | contiguous train s | max logit diff |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    faster, slower = [], []
    for name in names:
        m = measure(name, device, args.batch, args.frames, args.repeats)
        geo = math.prod(m[mode] for mode in MODES) ** (1 / len(MODES))
        (faster if geo < args.margin else slower).append(name)
        print(f"| {name} | {m['train']:.2f} | {m['infer']:.2f} | {m['grad']:.2f} | {geo:.2f} | "
              f"{m['contiguous_train_s']:.3f} | {m['max_logit_diff']:.1e} |", flush=True)
    print(f"\nimplied rule on {device.type}: channels_last for {', '.join(faster) or 'none'}; "
          f"contiguous for {', '.join(slower) or 'none'}")


if __name__ == "__main__":
    main()
