"""Parameters and CPU forward+backward time of every registered spectrogram model on a 32 x 1 x 64 x 256 batch.

Prints a Markdown table (the one in docs/models.md). Timing: one warm-up
step, then the median of ``--repeats`` steps, all models measured in this one
run on this machine's threads, so rows compare with each other.

    python benchmarks/model_zoo.py [--repeats 3] [--batch 32] [--frames 256]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import serbench
from serbench.inputs import WAVEFORM, input_kind


def step_seconds(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, repeats: int) -> float:
    model.train()
    times = []
    for i in range(repeats + 1):
        model.zero_grad(set_to_none=True)
        start = time.perf_counter()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        if i:  # the first step warms up allocators and kernels
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--frames", type=int, default=256)
    args = ap.parse_args()
    torch.manual_seed(0)
    x = torch.rand(args.batch, 1, 64, args.frames)
    y = torch.randint(0, 4, (args.batch,))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch} x 1 x 64 x "
          f"{args.frames}, median of {args.repeats}\n")
    print("| model | paper | parameters | fwd+bwd s / batch |")
    print("|---|---|---:|---:|")
    for name in serbench.list_components("models", variants=True):
        info = serbench.info("models", name)
        if input_kind(info.factory) == WAVEFORM:
            continue  # raw-audio models: benchmarks/waveform_cost.py
        model = serbench.get("models", name, num_classes=4)
        params = sum(p.numel() for p in model.parameters())
        seconds = step_seconds(model, x, y, args.repeats)
        paper = "variant, not the paper's" if "." in name and name != info.name else (info.paper or "")
        print(f"| {name} | {paper} | {params:,} | {seconds:.3f} |", flush=True)


if __name__ == "__main__":
    main()
