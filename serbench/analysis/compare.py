"""Pair the eval records of two runs and test each pair of systems for a significant UAR difference.

Records of run A and run B are paired when they agree on every coordinate of
the cell (corpus, fold, seed, model and defense with their params, front end,
schedule, partition, condition) except the fields the user selects on with
``where`` filters: ``--a-where defense=standard --b-where defense=vanilla-adv``
on one results directory compares two defenses under every condition; no
filters compare two runs of the same matrix (two serbench versions, two
machines). Pairs that differ only in fold and seed pool into one comparison,
as the leaderboard pools them; seeds of one fold share its test utterances, so
they are averaged per utterance and never counted as more samples (see
``serbench.analysis.significance``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import yaml

from serbench.suggest import did_you_mean
from serbench.analysis.significance import TESTS, Bootstrap, Fold, paired_bootstrap, z_test
from serbench.bench.identity import EXCLUDE_FIELDS, eval_fields, matches, protocol_name
from serbench.errors import SerbenchError
from serbench.leaderboard.aggregate import column_of, dataset_params

FIELDS = EXCLUDE_FIELDS
_POOLED = ("fold", "seed")


def parse_where(items: Iterable[str], option: str) -> dict[str, Any]:
    """``["model=cnn4*", "eps=0.01"]`` -> ``{"model": "cnn4*", "eps": 0.01}``; values are YAML (lists, numbers)."""
    rules: dict[str, Any] = {}
    for item in items:
        field, sep, value = item.partition("=")
        field = field.strip()
        if not sep or not field:
            raise SerbenchError(f"{option} {item!r}: write FIELD=VALUE, e.g. {option} defense=vanilla-adv")
        if field not in FIELDS:
            hint = did_you_mean(field, FIELDS).removeprefix("; ")
            raise SerbenchError(f"{option} {item!r}: unknown field {field!r}; {hint + ' ' if hint else ''}fields: "
                                f"{', '.join(FIELDS)}")
        try:
            rules[field] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise SerbenchError(f"{option} {item!r}: the value is not valid YAML ({exc.problem})") from None
    return rules


def _fields(rec: dict[str, Any]) -> dict[str, Any]:
    return eval_fields(rec["train"], rec["partition"], rec["condition"])


def _identity(rec: dict[str, Any], drop: set[str]) -> dict[str, Any]:
    """Everything that makes the cell what it is, less the selected fields (and their params)."""
    fields = {k: v for k, v in _fields(rec).items() if k not in drop}
    train, cond = rec["train"], rec["condition"]
    params = {  # the params of what a field names go with the field
        "dataset": dataset_params(rec),
        "model": train["model"].get("params"), "defense": train["defense"].get("params"),
        "attack": (cond.get("attack") or {}).get("params"), "noise": (cond.get("noise") or {}).get("params"),
    }
    return fields | {f"{k} params": v for k, v in params.items() if k not in drop} | {
        "frontend": train.get("frontend"), "training": train.get("training"),
        "source": cond.get("source"), "attacks": cond.get("attacks"), "transfers": cond.get("transfers"),
    }


def _selected(records: Iterable[dict[str, Any]], rules: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for rec in records:
        if rec.get("kind") != "eval" or rec.get("status") != "ok":
            continue
        fields = _fields(rec)
        if all(matches(fields.get(k), want) for k, want in rules.items()):
            out.append(rec)
    return out


@dataclass(frozen=True)
class Comparison:
    """One condition: A against B, pooled over the matched folds and seeds."""

    corpus: str
    partition: str
    condition: str
    a: str  # model / defense of A
    b: str
    cells: int  # matched (fold, seed) pairs
    n: int  # distinct utterances: summed over folds, counted once however many seeds scored them
    uar_a: float
    uar_b: float
    z: float
    p_z: float
    bootstrap: Bootstrap
    folds: int = 1  # distinct folds (test sets) among the pairs

    def p(self, test: str = "bootstrap") -> float:
        """The p-value of ``test`` (a key of ``TESTS``): the paired bootstrap's by default."""
        if test not in TESTS:
            raise ValueError(f"unknown test {test!r}; tests: {', '.join(TESTS)}")
        return self.bootstrap.p if test == "bootstrap" else self.p_z

    def as_dict(self, test: str = "bootstrap") -> dict[str, Any]:
        return {"corpus": self.corpus, "partition": self.partition, "condition": self.condition, "a": self.a,
                "b": self.b, "cells": self.cells, "folds": self.folds, "utterances": self.n, "uar_a": self.uar_a,
                "uar_b": self.uar_b, "delta": self.uar_b - self.uar_a, "test": test, "p": self.p(test),
                "z": self.z, "p_z": self.p_z,
                "z_test": {"name": TESTS["ztest"], "z": self.z, "p": self.p_z, "n": self.n},
                "bootstrap": {"name": TESTS["bootstrap"], "delta": self.bootstrap.delta,
                              "ci95": [self.bootstrap.low, self.bootstrap.high], "p": self.bootstrap.p,
                              "replicates": self.bootstrap.replicates}}


@dataclass
class Pairing:
    comparisons: list[Comparison]
    unmatched_a: int
    unmatched_b: int
    no_predictions: int  # matched pairs without per-utterance predictions (worst-case cells, old records)


def _system(rec: dict[str, Any]) -> str:
    t = rec["train"]

    def name(part: dict[str, Any]) -> str:
        params = part.get("params") or {}
        return part["name"] + (f"({', '.join(f'{k}={v}' for k, v in sorted(params.items()))})" if params else "")

    return f"{name(t['model'])} / {name(t['defense'])}"


def _aligned(a: dict[str, Any], b: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(targets, predictions of A, predictions of B) over the utterances both records scored, by id."""
    ma, mb = a["metrics"], b["metrics"]
    ids_a, ids_b = list(ma["ids"]), list(mb["ids"])
    if ids_a != ids_b:
        if sorted(ids_a) != sorted(ids_b):
            raise SerbenchError(f"records {a['key']} and {b['key']}: scored different utterances "
                                f"({len(set(ids_a) ^ set(ids_b))} differ); pair cells on the same data")
        order = {u: i for i, u in enumerate(ids_b)}
        perm = [order[u] for u in ids_a]
        mb = {**mb, "predictions": [mb["predictions"][i] for i in perm],
              "targets": [mb["targets"][i] for i in perm]}
    if ma["targets"] != mb["targets"]:
        raise SerbenchError(f"records {a['key']} and {b['key']}: the same utterances carry different labels")
    return (np.asarray(ma["targets"], dtype=np.int64), np.asarray(ma["predictions"], dtype=np.int64),
            np.asarray(mb["predictions"], dtype=np.int64))


def _folds(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[Fold]:
    """The pairs of one comparison grouped by A's fold (sorted, so the bootstrap's draws do not depend on the
    order of the records), each fold's seeds averaged per utterance."""
    by_fold: dict[str, list[tuple[dict, dict]]] = {}
    for a, b in pairs:
        by_fold.setdefault(json.dumps(a["train"]["dataset"]["fold"], sort_keys=True, default=str), []).append((a, b))
    folds = []
    for _, members in sorted(by_fold.items()):
        try:
            folds.append(Fold.of_seeds([(a["metrics"]["ids"], *_aligned(a, b)) for a, b in members]))
        except ValueError as exc:
            raise SerbenchError(f"record {members[0][0]['key']} and the {len(members) - 1} other seed(s) of its "
                                f"fold: {exc}; rerun these cells on the same data") from None
    return folds


def pair_runs(records_a: Iterable[dict[str, Any]], records_b: Iterable[dict[str, Any]],
              where_a: dict[str, Any] | None = None, where_b: dict[str, Any] | None = None,
              replicates: int = 2000, seed: int = 0) -> Pairing:
    """Match A's records to B's (see the module docstring) and test every matched condition."""
    where_a, where_b = where_a or {}, where_b or {}
    drop = set(where_a) | set(where_b) | {"spec"}
    a_recs, b_recs = _selected(records_a, where_a), _selected(records_b, where_b)
    b_by_key: dict[str, list[dict[str, Any]]] = {}
    for rec in b_recs:
        b_by_key.setdefault(json.dumps(_identity(rec, drop), sort_keys=True, default=str), []).append(rec)
    groups: dict[str, list[tuple[dict, dict]]] = {}
    matched_b: set[str] = set()
    unmatched_a = no_predictions = 0
    for rec in a_recs:
        key = json.dumps(_identity(rec, drop), sort_keys=True, default=str)
        partners = b_by_key.get(key, [])
        if not partners:
            unmatched_a += 1
            continue
        if len(partners) > 1:
            raise SerbenchError(f"record {rec['key']} of A matches {len(partners)} records of B; "
                                "narrow --b-where so each cell has one partner")
        partner = partners[0]
        matched_b.add(partner["key"])
        if not all({"predictions", "targets", "ids"} <= set(r["metrics"]) for r in (rec, partner)):
            no_predictions += 1
            continue
        pooled = json.dumps(_identity(rec, drop | set(_POOLED)), sort_keys=True, default=str)
        groups.setdefault(pooled, []).append((rec, partner))
    comparisons: list[tuple[tuple, Comparison]] = []
    for pairs in groups.values():
        first_a, first_b = pairs[0]
        folds = _folds(pairs)
        n_classes = len(first_a["metrics"].get("labels") or []) or 1 + max(int(f.labels.max()) for f in folds)
        uar_a = float(np.mean([a["metrics"]["uar"] for a, _ in pairs]))
        uar_b = float(np.mean([b["metrics"]["uar"] for _, b in pairs]))
        n = sum(len(f) for f in folds)  # distinct utterances: seeds share their fold's test set
        z, p = z_test(uar_a, uar_b, n, n)
        boot = paired_bootstrap(folds, n_classes, replicates=replicates, seed=seed)
        ds = first_a["train"]["dataset"]
        order = column_of(first_a["condition"]).order
        comparisons.append(((ds["name"], first_a["partition"], _system(first_a), _system(first_b), order), Comparison(
            corpus=f"{ds['name']} · {protocol_name(ds)}", partition=first_a["partition"],
            condition=column_of(first_a["condition"]).title, a=_system(first_a), b=_system(first_b),
            cells=len(pairs), n=n, uar_a=uar_a, uar_b=uar_b, z=z, p_z=p, bootstrap=boot, folds=len(folds))))
    comparisons.sort(key=lambda item: item[0])
    unmatched_b = sum(1 for r in b_recs if r["key"] not in matched_b)
    return Pairing([c for _, c in comparisons], unmatched_a, unmatched_b, no_predictions)
