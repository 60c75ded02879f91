"""A small fixed store of hand-written records for leaderboard tests (goldens, --check, Chromium)."""

from __future__ import annotations

from pathlib import Path

from serbench.bench.store import Store

LABELS = ["angry", "happy", "neutral", "sad"]


def _rec(key, model, defense, seed, cond, uar, status="ok", warnings=(), fold=0, confusion=None):
    rec = {
        "key": key, "kind": "eval", "status": status, "error": None if status == "ok" else "RuntimeError: boom",
        "spec_name": "golden", "partition": "test", "warnings": list(warnings), "created": "fixed",
        "env": {"serbench": "0.1.0"},
        "train": {"dataset": {"name": "synthetic", "version": "1", "params": {}, "protocol": "loso", "fold": fold},
                  "model": {"name": model}, "defense": {"name": defense}, "seed": seed},
        "condition": cond, "metrics": {},
    }
    if status == "ok":
        rec["metrics"] = {"uar": uar, "wa": uar, "macro_f1": uar, "labels": LABELS,
                          "confusion": confusion or [[5, 1, 0, 0], [1, 4, 1, 0], [0, 1, 4, 1], [0, 0, 1, 5]]}
    return rec


def fgsm(eps):
    return {"type": "attack", "attack": {"name": "fgsm"}, "threat": {"domain": "feature", "norm": "linf", "eps": eps}}


def pgd(eps):
    return {"type": "attack", "attack": {"name": "pgd"}, "threat": {"domain": "feature", "norm": "linf", "eps": eps}}


def white(snr):
    return {"type": "noise", "noise": {"name": "white"}, "snr_db": snr}


def records() -> list[dict]:
    out, n = [], 0
    table = {  # (model, defense): clean, fgsm .01, fgsm .02, pgd .02, white 10 per seed
        ("cnn4", "standard"): [(0.70, 0.30, 0.10, 0.05, 0.50), (0.72, 0.32, 0.12, 0.06, 0.52)],
        ("cnn4", "vanilla-adv"): [(0.64, 0.55, 0.45, 0.40, 0.48), (0.66, 0.57, 0.47, 0.42, 0.50)],
        ("vgg16", "standard"): [(0.75, 0.20, 0.08, 0.02, 0.55), (0.73, 0.22, 0.06, 0.04, 0.53)],
    }
    for (model, defense), seeds in table.items():
        for seed, (clean, f1, f2, p2, w10) in enumerate(seeds):
            for cond, uar in ((({"type": "clean"}), clean), (fgsm(0.01), f1), (fgsm(0.02), f2), (pgd(0.02), p2),
                              (white(10), w10)):
                n += 1
                warnings = ["pgd weaker than fgsm at eps 0.02"] if (model, cond["type"]) == ("vgg16", "attack") \
                    and cond.get("attack", {}).get("name") == "pgd" and seed == 0 else []
                out.append(_rec(f"{n:064x}", model, defense, seed, cond, uar, warnings=warnings))
    n += 1
    out.append(_rec(f"{n:064x}", "vgg16", "standard", 2, white(10), None, status="failed"))
    return out


def write_store(root: Path) -> Store:
    store = Store(root)
    for rec in records():
        store.write(rec)
    return store
