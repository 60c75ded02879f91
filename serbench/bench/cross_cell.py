"""Warnings that compare cells: success not rising with eps, iterative attacks weaker than FGSM, black-box
attacks stronger than white-box ones at the same budget.

They need several attack records of one trained model, so they run after its eval cells and add
their warnings to the records they concern (AutoAttack's sanity checks; :mod:`serbench.attacks.masking`).
"""

from __future__ import annotations

import numpy as np

from serbench.attacks import masking
from serbench.attacks.ensemble import attack_labels
from serbench.bench.cells import EvalCell
from serbench.bench.conditions import Attack
from serbench.bench.store import Store
from serbench.canonical import canonical_json
from serbench.errors import SerbenchError
from serbench.registry import info


def cross_cell_warnings(store: Store, evals: list[EvalCell]) -> None:
    """Flags that compare cells: success not rising with eps, iterative attacks weaker than FGSM, black-box
    stronger than white-box."""
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
    for key, w in black_box_warnings(recs, label):
        added.setdefault(key, []).append(w)
    for r in recs:
        new = [w for w in added.get(r["key"], []) if w not in r["warnings"]]
        if new:
            store.write({**r, "warnings": r["warnings"] + new})


def _roles(rec: dict, label: str) -> list[tuple[str, str, np.ndarray]]:
    """(role, input label, per-utterance correct) of an attack record: ``white`` and/or ``black``.

    A pure black-box attack (tagged black-box, not white-box: ``square``) is ``black``; a white-box attack
    ``white``; an ensemble whose report says which member flipped each utterance (``autoattack``) is both:
    its gradient members' result (what Square did not flip) and its Square part. Unknown attacks take no part.
    """
    m = rec["metrics"]
    if "predictions" not in m or "targets" not in m:
        return []
    correct = np.asarray(m["predictions"]) == np.asarray(m["targets"])
    flipped_by = ((m.get("attack_report") or {}).get("per_utterance") or {}).get("flipped_by")
    if flipped_by is not None and "square" in ((m["attack_report"].get("info") or {}).get("order") or ()):
        by = np.asarray([f if f is not None else "" for f in flipped_by], dtype=object)
        return [("white", f"{label} (gradient members)", correct | (by == "square")),
                ("black", f"{label}'s square", (by != "square") & (by != "clean"))]
    try:
        tags = set(info("attacks", rec["condition"]["attack"]["name"]).tags)
    except SerbenchError:
        return []
    if "black-box" in tags and "white-box" not in tags:
        return [("black", label, correct)]
    return [("white", label, correct)] if "white-box" in tags else []


def black_box_warnings(recs: list[dict], label: dict[str, str]) -> list[tuple[str, str]]:
    """(record key, warning) where a black-box attack flips utterances every white-box attack of the same
    partition and threat (domain, norm, eps) left correct (:func:`masking.black_box_stronger`); the warning goes
    to every attack record of that threat, since the white-box numbers are the ones it puts in doubt."""
    groups: dict[tuple, list[dict]] = {}
    for r in recs:
        t = r["condition"]["threat"]
        groups.setdefault((r["partition"], t["domain"], t["norm"], t["eps"]), []).append(r)
    out = []
    for (_, _, _, eps), group in groups.items():
        roles = [(role, name, correct) for r in group
                 for role, name, correct in _roles(r, label[canonical_json(r["condition"]["attack"])])]
        whites = {name: c for role, name, c in roles if role == "white"}
        for role, name, correct in roles:
            if role != "black" or len({c.size for c in whites.values()} | {correct.size}) != 1:
                continue
            w = masking.black_box_stronger(correct, whites, eps, black=name)
            if w:
                out += [(r["key"], w) for r in group]
    return out
