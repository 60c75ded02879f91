"""Cost per utterance of waveform models (M5, the serbench-ssl encoders) next to cnn4.small, measured in one run.

For each model: parameters (all, and those training updates), and the median seconds per utterance of
- an attack step: eval-mode forward + the input gradient (what every PGD/APGD step costs), and
- a training step: train-mode forward + backward into every trainable parameter,
on ``--seconds`` of audio at 16 kHz in batches of ``--batch``. cnn4.small runs the same steps on the log-Mel
features of that audio (its front end included in the attack step, as a waveform-domain attack sees it), so
the last column is the attack-step cost relative to it, on this machine, in this run.

    python benchmarks/waveform_cost.py [--models m5.tiny ssl.wav2vec2.tiny ...] [--device cpu] [--repeats 3]
    python benchmarks/waveform_cost.py --models ssl.wav2vec2.base --params checkpoint=random --device cuda

Without ``--models``: every registered waveform model that builds without weights (tiny and M5 variants).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import serbench
from serbench.features import FeaturePipeline, LogSpectrogram
from serbench.inputs import WAVEFORM, input_kind
from serbench.normalization import from_state

REFERENCE = "cnn4.small"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(step, repeats: int, device: torch.device) -> float:
    times = []
    for i in range(repeats + 1):
        _sync(device)
        start = time.perf_counter()
        step()
        _sync(device)
        if i:  # the first one warms up kernels and allocators
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def costs(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, repeats: int) -> tuple[float, float]:
    """(attack step, training step) median seconds per utterance."""
    device = x.device

    def attack_step() -> None:
        model.eval()
        probe = x.detach().clone().requires_grad_(True)
        torch.nn.functional.cross_entropy(model(probe), y).backward(inputs=[probe])

    def train_step() -> None:
        model.train()
        model.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()

    return (median_seconds(attack_step, repeats, device) / len(x),
            median_seconds(train_step, repeats, device) / len(x))


def default_models() -> list[str]:
    names = []
    for name in serbench.list_components("models", variants=True):
        info = serbench.info("models", name)
        if input_kind(info.factory) == WAVEFORM and (name.startswith("m5") or name.endswith("tiny")
                                                     or ".tiny" in name):
            names.append(name)
    return names


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", default=None)
    ap.add_argument("--params", nargs="*", default=[], help="key=value given to every listed waveform model")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    device = torch.device(args.device)
    extra = dict(p.split("=", 1) for p in args.params)
    torch.manual_seed(0)
    wave = (0.1 * torch.randn(args.batch, int(16000 * args.seconds))).to(device)
    y = torch.randint(0, 4, (args.batch,), device=device)

    reference = serbench.get("models", REFERENCE, num_classes=4).to(device)
    norm = from_state({"name": "natural-log", "center_db": -40.0, "high_db": 20.0})
    pipeline = FeaturePipeline(LogSpectrogram(), norm, reference).to(device)
    ref_attack, ref_train = costs(pipeline, wave, y, args.repeats)

    print(f"torch {torch.__version__}, {args.device}, {torch.get_num_threads()} threads, {args.batch} x "
          f"{args.seconds:g} s at 16 kHz, median of {args.repeats}\n")
    print("| model | input | parameters | trainable | attack step ms/utt | train step ms/utt | attack step vs "
          f"{REFERENCE} |")
    print("|---|---|---:|---:|---:|---:|---:|")
    print(f"| {REFERENCE} | spectrogram | {sum(p.numel() for p in reference.parameters()):,} | "
          f"{sum(p.numel() for p in reference.parameters()):,} | {1e3 * ref_attack:.1f} | {1e3 * ref_train:.1f} | "
          f"1.00 |", flush=True)
    for name in args.models if args.models is not None else default_models():
        model = serbench.get("models", name, num_classes=4, **extra).to(device)
        total = sum(p.numel() for p in model.parameters())
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        attack, train = costs(model, wave, y, args.repeats)
        print(f"| {name} | {input_kind(model)} | {total:,} | {trainable:,} | {1e3 * attack:.1f} | "
              f"{1e3 * train:.1f} | {attack / ref_attack:.2f} |", flush=True)


if __name__ == "__main__":
    main()
