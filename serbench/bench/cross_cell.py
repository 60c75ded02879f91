"""Warnings that compare cells: success not rising with eps, iterative attacks weaker than FGSM.

They need several attack records of one trained model, so they run after its eval cells and add
their warnings to the records they concern (AutoAttack's sanity checks; :mod:`serbench.attacks.masking`).
"""

from __future__ import annotations

from serbench.attacks import masking
from serbench.attacks.ensemble import attack_labels
from serbench.bench.cells import EvalCell
from serbench.bench.conditions import Attack
from serbench.bench.store import Store
from serbench.canonical import canonical_json


def cross_cell_warnings(store: Store, evals: list[EvalCell]) -> None:
    """Flags that compare cells: success not rising with eps, iterative attacks weaker than FGSM."""
    recs = [r for r in (store.read(e.key) for e in evals if isinstance(e.condition, Attack))
            if r and r["status"] == "ok"]
    added: dict[str, list[str]] = {}
    series: dict[tuple, list[dict]] = {}
    identities = list({canonical_json(r["condition"]["attack"]): r["condition"]["attack"] for r in recs}.values())
    label = {canonical_json(a): lab for a, lab in zip(identities, attack_labels(identities))}
    for r in recs:
        c = r["condition"]
        t = c["threat"]
        series.setdefault((r["partition"], repr(c["attack"]), t["domain"], t["norm"]), []).append(r)
    for group in series.values():
        norm = group[0]["condition"]["threat"]["norm"]
        # Increasing budget: increasing eps, but decreasing dB for an SNR budget.
        group.sort(key=lambda r: -r["condition"]["threat"]["eps"] if norm == "snr"
                   else r["condition"]["threat"]["eps"])
        w = masking.success_not_rising([r["condition"]["threat"]["eps"] for r in group],
                                       [r["metrics"]["success_rate"] for r in group],
                                       attack=label[canonical_json(group[0]["condition"]["attack"])], norm=norm)
        if w and len(group) > 1:
            for r in group:
                added.setdefault(r["key"], []).append(w)
    # The single-step reference: FGSM taking its full step (eta unset or >= eps), the strongest if several.
    fgsm: dict[tuple, dict] = {}
    for r in recs:
        a, t = r["condition"]["attack"], r["condition"]["threat"]
        eta = (a.get("params") or {}).get("eta")
        if a["name"] != "fgsm" or not (eta is None or eta >= t["eps"]):
            continue
        k = (r["partition"], t["domain"], t["norm"], t["eps"])
        if k not in fgsm or r["metrics"]["wa"] < fgsm[k]["metrics"]["wa"]:
            fgsm[k] = r
    for r in recs:
        t = r["condition"]["threat"]
        ref = fgsm.get((r["partition"], t["domain"], t["norm"], t["eps"]))
        if ref is None or r["condition"]["attack"]["name"] == "fgsm":  # FGSM variants are no iterative attack
            continue
        w = masking.iterative_weaker_than_single_step(r["metrics"]["wa"], ref["metrics"]["wa"], t["eps"],
                                                      iterative=label[canonical_json(r["condition"]["attack"])])
        if w:
            added.setdefault(r["key"], []).append(w)
    for r in recs:
        new = [w for w in added.get(r["key"], []) if w not in r["warnings"]]
        if new:
            store.write({**r, "warnings": r["warnings"] + new})
