"""APGD speed: native APGD-k against k x (forward + backward), and against torchattacks' and ART's APGD.

Goal: native APGD-k within 1.10 of k times one forward + backward pass to the input (the floor: every
step needs one; APGD adds one forward on the clean batch and the last iterate's forward, about 2/3 of a
fwd+bwd in all, i.e. 1.07 at k = 10 and 1.007 at k = 100, plus its bookkeeping). Printed side by side
for a CNN (``cnn4``) and a recurrent model (``cnn-lstm``), Linf, CE loss, one restart. Labels are the
model's own predictions, so every utterance is attacked for all k steps (APGD skips utterances already
wrong, which would flatter it). Times are medians over ``--repeats`` round-robin runs after a warm-up.

    .venv/bin/python benchmarks/apgd_speed.py --threads 1               # CPU, small models, 20 steps
    .venv/bin/python benchmarks/apgd_speed.py --device cuda --width 1 --batch 64 --steps 100
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

import serbench
from serbench.bench.environment import resolve_device

sys.path.insert(0, str(Path(__file__).resolve().parent))
from attack_speed import add_batch_arguments, interleaved_medians  # noqa: E402  (a sibling script, reused)

GOAL = 1.10


def library_attacks() -> dict[str, type]:
    """The library APGD adapters that are installed (a missing library is left out, not an error)."""
    found: dict[str, type] = {}
    try:
        from serbench_torchattacks.attacks import TorchattacksAPGD

        found["torchattacks.apgd"] = TorchattacksAPGD
    except ImportError:
        pass
    try:
        from serbench_art.attacks import ArtAPGD

        found["art.apgd"] = ArtAPGD
    except ImportError:
        pass
    return found


def apgd_times(model: nn.Module, x: torch.Tensor, steps: int, eps: float, repeats: int) -> dict[str, float]:
    """Median seconds of one fwd+bwd and of native and library APGD-``steps`` on ``x``, labelled as predicted."""
    with torch.no_grad():
        y = model(x).argmax(1)

    def forward_backward() -> torch.Tensor:
        xr = x.detach().requires_grad_(True)
        loss = nn.functional.cross_entropy(model(xr), y, reduction="sum")
        return torch.autograd.grad(loss, xr)[0]

    params = {"eps": eps, "steps": steps}
    attacks = {"apgd": serbench.get("attacks", "apgd", **params)}
    attacks.update({name: cls(**params) for name, cls in library_attacks().items()})
    fns: dict[str, Callable[[], object]] = {"fwd+bwd": forward_backward}
    fns.update({name: (lambda a=a: a.generate(model, x, y)) for name, a in attacks.items()})
    return interleaved_medians(fns, repeats, x.device)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_batch_arguments(p, steps=20, repeats=3, width_help="channel scale of both models (1.0 = full)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: torch's default); 1 is "
                   "steadiest on a shared machine")
    args = p.parse_args()
    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    x = torch.rand(args.batch, 1, args.mels, args.frames, device=device)
    models = {"cnn4": serbench.get("models", "cnn4", num_classes=4, width=args.width),
              "cnn-lstm": serbench.get("models", "cnn-lstm", num_classes=4, width=args.width)}
    results = {name: apgd_times(m.to(device).eval(), x, args.steps, args.eps, args.repeats)
               for name, m in models.items()}

    print(f"device {device} ({torch.get_num_threads()} CPU threads), torch {torch.__version__}; width {args.width}, "
          f"batch {args.batch} x (1, {args.mels}, {args.frames}), APGD-CE Linf {args.steps} steps, "
          f"median of {args.repeats}")
    names = list(models)
    print(f"  {'':<30}" + "".join(f"{n:>14}" for n in names))
    rows = [("forward+backward", "fwd+bwd", 1), (f"{args.steps} x forward+backward", "fwd+bwd", args.steps)]
    rows += [(a, a, 1) for a in results[names[0]] if a != "fwd+bwd"]
    for label, key, mult in rows:
        print(f"  {label:<30}" + "".join(f"{results[n][key] * mult * 1e3:11.2f} ms" for n in names))
    floor = {n: results[n]["apgd"] / (args.steps * results[n]["fwd+bwd"]) for n in names}
    print(f"  {'native APGD-k / (k x fwd+bwd)':<30}" + "".join(f"{floor[n]:14.3f}" for n in names)
          + f"   (goal <= {GOAL:.2f}: {'met' if max(floor.values()) <= GOAL else 'NOT met'})")
    for lib in (a for a in results[names[0]] if a not in ("fwd+bwd", "apgd")):
        print(f"  {'native / ' + lib:<30}" + "".join(f"{results[n]['apgd'] / results[n][lib]:14.3f}" for n in names))


if __name__ == "__main__":
    main()
