"""Eps scale: what a feature-domain eps means under each feature normalisation, and what it does.

The quickstart setting (embedded ``synthetic`` corpus, leave-one-session-out fold 0, ren2020
log-Mel front end, 2.0 s pad/crop, ``cnn4.small``, the ren2020 schedule with the quickstart's
batch size and validation interval, 200 iterations by default instead of 400 to keep the run
short) is trained once per normalisation of
:mod:`serbench.normalization`. Each model is attacked on the test partition with FGSM and
PGD (Linf, 10 steps, random start) over the papers' eps grid and below it, and the table
gives the UAR together with what the eps is in dB per frequency bin.

``minmax`` is the legacy scaler (padding and log floor inside its range) attacked as serbench
did before (padding included); with ``--legacy-masked``, ``minmax+mask`` is the same model
attacked with the padding kept out; every other normalisation is fitted on active, above-floor frames and attacked with
the padding kept out (:func:`serbench.attacks.padding.masked_generate`).

Attacks run in the [0, 1] domain serbench's native attacks clip to: the model sees
``low + u * (high - low)`` for the normalisation's bounds, and eps is divided by
``high - low``, which for FGSM and Linf PGD is exactly the attack in scaled units.

    .venv/bin/python benchmarks/eps_scale.py                  # CPU, 200 iterations (half the quickstart's)
    .venv/bin/python benchmarks/eps_scale.py --iterations 400 --json out.json --verbose
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from serbench.attacks.budget import check_budget
from serbench.attacks.fgsm import FGSM
from serbench.attacks.padding import masked_generate
from serbench.attacks.pgd import PGD
from serbench.engine import data as fold_data
from serbench.engine.evaluate import predict
from serbench.engine.lengths import PadOrCrop, group_waves
from serbench.engine.metrics import confusion, uar
from serbench.engine.schedules import schedule
from serbench.engine.train import train
from serbench.features import LogSpectrogram, frontend_config
from serbench.normalization import FLOOR_TOLERANCE_DB, floor_fraction, normalization
from serbench.registry import registry

EPS = (0.002, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.10)
OPTIONS = ("minmax", "minmax-active", "standardize", "natural-log")


class UnitDomain(nn.Module):
    """``model`` behind the affine map [0, 1] -> [low, high], so native attacks' [0, 1] clip is the bounds."""

    def __init__(self, model: nn.Module, low: float, high: float) -> None:
        super().__init__()
        self.model, self.low, self.span = model, low, high - low

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return self.model(self.low + u * self.span)


def load(corpus, fold, part: str, samples: int, frontend: LogSpectrogram, device: torch.device):
    ids = list(fold.partition(part))
    waves, labels = fold_data.load_waves(corpus, ids)
    (g,) = group_waves(PadOrCrop(samples), waves)
    raw = fold_data.compute_features(frontend, g.waves, device)
    return raw, g.frame_mask(frontend.config.hop_length, raw.shape[-1]).to(device), torch.tensor(labels, device=device)


def attack_uar(attack, model: nn.Module, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None,
               n_classes: int, batch: int = 64) -> float:
    preds = []
    for i in range(0, len(x), batch):
        xb, yb = x[i : i + batch], y[i : i + batch]
        mb = None if mask is None else mask[i : i + batch]
        adv = masked_generate(attack, model, xb, yb, mb)
        check_budget(attack.name, attack.threat, xb, adv)
        with torch.no_grad():
            preds.append(model(adv).argmax(1).cpu())
    return uar(confusion(y.cpu().numpy(), torch.cat(preds).numpy(), n_classes))


def run(args: argparse.Namespace) -> dict[str, Any]:
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    corpus = registry("datasets").create("synthetic")
    fold = corpus.fold("leave-one-session-out", 0)
    frontend = LogSpectrogram(frontend_config("ren2020")).to(device)
    samples = int(round(2.0 * corpus.sample_rate))
    parts = {p: load(corpus, fold, p, samples, frontend, device) for p in ("train", "valid", "test")}
    n_classes = len(corpus.labels)
    out: dict[str, Any] = {"iterations": args.iterations, "eps": list(EPS), "rows": []}
    raw_train, mask_train, _ = parts["train"]
    raw_test, mask_test, _ = parts["test"]
    out["padding"] = {"train": floor_fraction(raw_train, mask_train), "test": floor_fraction(raw_test, mask_test)}
    print(f"train: {100 * out['padding']['train']['padding']:.1f} % of feature values in padded frames, "
          f"{100 * out['padding']['train']['floor']:.1f} % at the log floor; test: "
          f"{100 * out['padding']['test']['padding']:.1f} % / {100 * out['padding']['test']['floor']:.1f} %")
    for name in args.options:
        start = time.perf_counter()
        norm = normalization(name).fit(raw_train, mask_train).to(device)
        x = {p: norm(raw, mask) for p, (raw, mask, _) in parts.items()}
        torch.manual_seed(0)
        np.random.seed(0)
        model = registry("models").create("cnn4.small", num_classes=n_classes).to(device)
        sched = schedule("ren2020", iterations=args.iterations, eval_every=50, batch_size=32)
        result = train(model, registry("defenses").create("standard"), x["train"], parts["train"][2],
                       x["valid"], parts["valid"][2], sched, 0, n_classes)
        if args.verbose:
            print(f"  {name}: trained in {result.seconds:.0f} s", flush=True)
        model.eval()
        y_test = parts["test"][2]
        clean = uar(confusion(y_test.cpu().numpy(), predict(model, x["test"]).argmax(1).cpu().numpy(), n_classes))
        low, high = norm.bounds
        unit = UnitDomain(model, low, high).eval()
        u_test = ((x["test"] - low) / (high - low)).clamp(0, 1)
        active = norm.scale(raw_test)[mask_test[:, None, None, :].expand_as(raw_test)
                                      & (raw_test > norm.floor_db + FLOOR_TOLERANCE_DB)]
        clipped = float(((active <= low) | (active >= high)).float().mean())
        variants = [(name, mask_test)]
        if name == "minmax":
            variants = [("minmax", None)] + ([("minmax+mask", mask_test)] if args.legacy_masked else [])
        for label, mask in variants:
            row: dict[str, Any] = {"normalization": label, "clean_uar": clean, "bounds": [low, high],
                                   "best_valid_uar": result.best_valid_uar,
                                   "active_values_clipped": clipped, "fgsm": [], "pgd": [], "db": []}
            for eps in EPS:
                e = eps / (high - low)
                row["fgsm"].append(attack_uar(FGSM(eps=e), unit, u_test, y_test, mask, n_classes))
                row["pgd"].append(attack_uar(PGD(eps=e, steps=10, seed=0), unit, u_test, y_test, mask, n_classes))
                row["db"].append(norm.eps_units(eps))
                if args.verbose:
                    print(f"  {label} eps {eps}: FGSM {row['fgsm'][-1]:.3f} PGD {row['pgd'][-1]:.3f} "
                          f"({time.perf_counter() - start:.0f} s)", flush=True)
            row["seconds"] = time.perf_counter() - start
            out["rows"].append(row)
            print_row(row)
    return out


def print_row(row: dict[str, Any]) -> None:
    low, high = row["bounds"]
    print(f"\n== {row['normalization']}: clean UAR {100 * row['clean_uar']:.1f} % "
          f"(valid {100 * row['best_valid_uar']:.1f} %), bounds [{low:.3g}, {high:.3g}], "
          f"active values clipped {100 * row['active_values_clipped']:.2f} %, {row['seconds']:.0f} s")
    print(f"{'eps':>6} {'dB/bin mean':>11} {'dB/bin min-max':>15} {'FGSM UAR':>9} {'PGD-10 UAR':>10}")
    for eps, db, f, p in zip(EPS, row["db"], row["fgsm"], row["pgd"]):
        span = f"{db['db_per_bin_min']:.3g}-{db['db_per_bin_max']:.3g}"
        print(f"{eps:>6} {db['db_per_bin_mean']:>11.3g} {span:>15} {100 * f:>8.1f}% {100 * p:>9.1f}%")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=200,
                   help="training iterations per model (quickstart: 400; 200 keeps the run to minutes)")
    p.add_argument("--options", nargs="+", default=list(OPTIONS), choices=OPTIONS)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default=None, help="also write the numbers to this file")
    p.add_argument("--verbose", action="store_true", help="print timings as it goes")
    p.add_argument("--legacy-masked", action="store_true",
                   help="also attack the minmax model with the padding kept out (row minmax+mask)")
    args = p.parse_args()
    out = run(args)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
