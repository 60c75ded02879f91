"""Aggregate eval records into boards: one per (corpus, protocol, partition); rows model x defense.

Deterministic: rows and columns are sorted, values are mean +- std over folds
and seeds. Failed cells are kept and shown, never silently dropped.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from typing import Any, Iterable


def column_of(condition: dict[str, Any]) -> tuple[tuple, str]:
    """(sort key, column title) for an eval condition."""
    t = condition["type"]
    if t == "clean":
        return (0,), "clean"
    if t == "noise":
        name = condition["noise"]["name"]
        return (2, name, -condition["snr_db"]), f"{name} {condition['snr_db']:g} dB"
    threat = condition["threat"]
    if t == "worst_case":
        name = "worst-case"
    elif t == "transfer":
        name = f"{condition['attack']['name']}←{condition['source']['model']['name']}"
    else:
        name = condition["attack"]["name"]
    default = (threat["domain"], threat["norm"]) == ("feature", "linf")
    suffix = "" if default else f" {threat['domain']}/{threat['norm']}"
    return (1, name, threat["domain"], threat["norm"], threat["eps"]), f"{name}{suffix} {threat['eps']:g}"


@dataclass
class Cell:
    values: list[float] = field(default_factory=list)
    failed: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.values) if self.values else None

    @property
    def std(self) -> float | None:
        return statistics.pstdev(self.values) if len(self.values) > 1 else (0.0 if self.values else None)


@dataclass
class Board:
    corpus: str
    protocol: str
    partition: str
    columns: list[str]
    rows: dict[tuple[str, str], dict[str, Cell]]

    @property
    def title(self) -> str:
        return f"{self.corpus} · {self.protocol} · {self.partition}"

    def ranked_rows(self) -> list[tuple[str, str]]:
        """Rows sorted by clean UAR, best first (ties by name, for stable output)."""
        def key(row: tuple[str, str]) -> tuple:
            clean = self.rows[row].get("clean")
            m = clean.mean if clean else None
            return (-(m if m is not None else -1.0), row)
        return sorted(self.rows, key=key)


def build_boards(records: Iterable[dict[str, Any]], metric: str = "uar") -> list[Board]:
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for rec in records:
        if rec.get("kind") != "eval":
            continue
        ds = rec["train"]["dataset"]
        params = json.dumps({k: v for k, v in ds.get("params", {}).items() if k != "root"}, sort_keys=True)
        gkey = (ds["name"], params, str(ds.get("protocol") or "default"), rec["partition"])
        g = groups.setdefault(gkey, {"columns": {}, "rows": {}})
        order, title = column_of(rec["condition"])
        g["columns"][title] = order
        row = (rec["train"]["model"]["name"], rec["train"]["defense"]["name"])
        cell = g["rows"].setdefault(row, {}).setdefault(title, Cell())
        if rec["status"] == "ok":
            cell.values.append(float(rec["metrics"][metric]))
        else:
            cell.failed += 1
        cell.warnings.extend(rec.get("warnings", []))
    boards = []
    for (corpus, params, protocol, partition), g in sorted(groups.items()):
        columns = [t for t, _ in sorted(g["columns"].items(), key=lambda kv: kv[1])]
        boards.append(Board(_corpus_label(corpus, params, groups), protocol, partition, columns, g["rows"]))
    return boards


def _corpus_label(name: str, params: str, groups: dict) -> str:
    """The corpus name, plus the parameters that tell it apart from same-named corpora in the store."""
    siblings = [json.loads(p) for (n, p, _, _) in groups if n == name]
    mine = json.loads(params)
    differ = {k: v for k, v in mine.items() if any(s.get(k) != v for s in siblings)}
    return f"{name}({', '.join(f'{k}={v}' for k, v in sorted(differ.items()))})" if differ else name


def defense_costs(records: Iterable[dict[str, Any]]) -> dict[tuple[str, str], dict[str, float]]:
    """Training time per iteration of each (model, defense) relative to ``standard`` on the same
    data, fold, seed, front end and schedule (Ren et al.'s adversarial training costs extra passes)."""
    trains = [r for r in records if r.get("kind") == "train" and r.get("status") == "ok"]

    def context(r: dict[str, Any]) -> str:
        t = r["train"]
        return json.dumps({k: t[k] for k in ("dataset", "frontend", "training", "seed")}
                          | {"model": t["model"]["name"]}, sort_keys=True)

    base = {context(r): r["timings"]["seconds_per_iteration"] for r in trains
            if r["train"]["defense"]["name"] == "standard"}
    ratios: dict[tuple[str, str], list[float]] = {}
    for r in trains:
        ref = base.get(context(r))
        if ref:
            key = (r["train"]["model"]["name"], r["train"]["defense"]["name"])
            ratios.setdefault(key, []).append(r["timings"]["seconds_per_iteration"] / ref)
    return {k: {"relative_time_per_iteration": statistics.fmean(v), "n": len(v)} for k, v in sorted(ratios.items())}
