"""Aggregate eval records into boards: one per (corpus, protocol, partition, threat model); rows model x defense.

Columns: clean UAR; UAR under each attack of the board's threat model at each
eps; the worst case over those attacks at each eps; UAR under each noise at each
SNR. Each value is the mean +- std over folds and seeds.

The worst case at an eps comes from the run's ``worst_case`` cells (per
utterance: an utterance counts as robust only if every attack fails on it) where
the spec asked for them; otherwise it is the minimum over the attacks' mean UARs
(an upper bound on the per-utterance worst case), and the column says so.

Ranking (as RobustBench ranks by robust accuracy): by **robust UAR**, the worst
case at the largest eps every row was attacked at, best first; ties by clean UAR,
then by name. Boards without attacks rank by clean UAR.

Deterministic: boards, rows and columns are sorted; failed cells and
gradient-masking warnings are kept and shown, never dropped.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from serbench.bench.spec import without_location

NO_THREAT = "none"


@dataclass(frozen=True)
class Column:
    """A board column: its kind (clean | attack | worst_case | noise | transfer) and its coordinates."""

    title: str
    kind: str
    name: str = ""
    eps: float | None = None
    snr_db: float | None = None
    derived: bool = False  # worst case as the minimum of attack means (no worst_case cells)

    @property
    def order(self) -> tuple:
        rank = {"clean": 0, "attack": 1, "transfer": 2, "worst_case": 3, "noise": 4}[self.kind]
        return (rank, self.name, self.eps if self.eps is not None else 0.0,
                -(self.snr_db if self.snr_db is not None else 0.0))


def threat_of(condition: dict[str, Any]) -> str:
    threat = condition.get("threat")
    return f"{threat['domain']}/{threat['norm']}" if threat else NO_THREAT


def column_of(condition: dict[str, Any]) -> Column:
    """The board column an eval condition belongs to."""
    t = condition["type"]
    if t == "clean":
        return Column("clean", "clean")
    if t == "noise":
        name, snr = condition["noise"]["name"], float(condition["snr_db"])
        return Column(f"{name} {snr:g} dB", "noise", name, snr_db=snr)
    eps = float(condition["threat"]["eps"])
    if t == "worst_case":
        return Column(f"worst-case {eps:g}", "worst_case", "worst-case", eps=eps)
    if t == "transfer":
        name = f"{condition['attack']['name']}←{condition['source']['model']['name']}"
        return Column(f"{name} {eps:g}", "transfer", name, eps=eps)
    name = condition["attack"]["name"]
    return Column(f"{name} {eps:g}", "attack", name, eps=eps)


@dataclass
class Cell:
    values: list[float] = field(default_factory=list)
    failed: int = 0
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.values) if self.values else None

    @property
    def std(self) -> float | None:
        return statistics.pstdev(self.values) if len(self.values) > 1 else (0.0 if self.values else None)


Row = tuple[str, str]  # (model, defense)


@dataclass
class Board:
    corpus: str
    protocol: str
    partition: str
    threat: str
    columns: list[Column]
    rows: dict[Row, dict[str, Cell]]
    metric: str = "uar"

    @property
    def title(self) -> str:
        threat = "clean and noise" if self.threat == NO_THREAT else self.threat
        return f"{self.corpus} · {self.protocol} · {self.partition} · {threat}"

    @property
    def slug(self) -> str:
        raw = f"{self.corpus}-{self.protocol}-{self.partition}-{self.threat}"
        return "".join(c if c.isalnum() else "-" for c in raw).strip("-").lower()

    def column(self, title: str) -> Column:
        return next(c for c in self.columns if c.title == title)

    @property
    def robust_column(self) -> str | None:
        """The worst-case column at the largest eps every row has a value for (None without attacks)."""
        worst = [c for c in self.columns if c.kind == "worst_case"]
        if not worst:
            singles = [c for c in self.columns if c.kind == "attack"]
            worst = singles if len({c.name for c in singles}) == 1 else []
        for col in sorted(worst, key=lambda c: -(c.eps or 0.0)):
            if all((cells.get(col.title) or Cell()).mean is not None for cells in self.rows.values()):
                return col.title
        return None

    def ranked_rows(self) -> list[Row]:
        """Best first: robust UAR, then clean UAR, then name."""
        robust = self.robust_column

        def mean(row: Row, title: str | None) -> float:
            cell = self.rows[row].get(title) if title else None
            return cell.mean if cell is not None and cell.mean is not None else -1.0

        return sorted(self.rows, key=lambda row: (-mean(row, robust), -mean(row, "clean"), row))

    def best(self, title: str) -> set[Row]:
        """Rows holding the best (highest) mean of a column (none when fewer than two rows compete)."""
        means = {row: cells[title].mean for row, cells in self.rows.items()
                 if title in cells and cells[title].mean is not None}
        if len(means) < 2:
            return set()
        top = max(means.values())
        return {row for row, m in means.items() if abs(m - top) < 1e-12}

    def warnings(self) -> list[str]:
        """Every distinct warning on the board, in first-seen order (for footnotes)."""
        seen: dict[str, None] = {}
        for row in self.ranked_rows():
            for col in self.columns:
                cell = self.rows[row].get(col.title)
                for w in cell.warnings if cell else ():
                    seen.setdefault(w, None)
        return list(seen)


def build_boards(records: Iterable[dict[str, Any]], metric: str = "uar") -> list[Board]:
    """Boards from eval records; see the module docstring for columns and ranking."""
    groups: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    evals = [r for r in records if r.get("kind") == "eval"]
    threats: dict[tuple[str, str, str], set[str]] = {}
    for rec in evals:
        threats.setdefault(_group(rec), set()).add(threat_of(rec["condition"]))
    model_of, defense_of = variant_labeller(evals, "model"), variant_labeller(evals, "defense")
    for rec in evals:
        base = _group(rec)
        threat = threat_of(rec["condition"])
        attacked = sorted(threats[base] - {NO_THREAT})
        # clean and noise columns appear on every threat model's board of their corpus
        targets = [threat] if threat != NO_THREAT else (attacked or [NO_THREAT])
        for target in targets:
            g = groups.setdefault((*base, target), {"columns": {}, "rows": {}})
            col = column_of(rec["condition"])
            g["columns"][col.title] = col
            row = (model_of(rec), defense_of(rec))
            cell = g["rows"].setdefault(row, {}).setdefault(col.title, Cell())
            if rec["status"] == "ok":
                cell.values.append(float(rec["metrics"][metric]))
            else:
                cell.failed += 1
                cell.errors.append(rec.get("error") or "failed")
            cell.warnings.extend(w for w in rec.get("warnings", []) if w not in cell.warnings)
    boards = []
    for (corpus, params, protocol, partition, threat), g in sorted(groups.items()):
        _derive_worst_case(g)
        columns = sorted(g["columns"].values(), key=lambda c: c.order)
        label = _corpus_label(corpus, params, {k[:4] for k in groups})
        boards.append(Board(label, protocol, partition, threat, columns, g["rows"], metric))
    return boards


def dataset_params(rec: dict[str, Any]) -> dict[str, Any]:
    """The record's dataset params without where the local copy lives (records older than the keys that
    leave ``root`` out still carry it)."""
    return without_location(rec["train"]["dataset"].get("params") or {})


def _group(rec: dict[str, Any]) -> tuple[str, str, str, str]:
    ds = rec["train"]["dataset"]
    params = json.dumps(dataset_params(rec), sort_keys=True)
    return ds["name"], params, str(ds.get("protocol") or "default"), rec["partition"]


def _derive_worst_case(g: dict[str, Any]) -> None:
    """Minimum over attack means at each eps with >= 2 attacks, where no worst_case cells exist."""
    cols = list(g["columns"].values())
    have = {c.eps for c in cols if c.kind == "worst_case"}
    by_eps: dict[float, list[Column]] = {}
    for c in cols:
        if c.kind == "attack" and c.eps not in have:
            by_eps.setdefault(c.eps, []).append(c)
    for eps, attacks in by_eps.items():
        if len(attacks) < 2:
            continue
        col = Column(f"worst-case {eps:g} (min)", "worst_case", "worst-case", eps=eps, derived=True)
        for cells in g["rows"].values():
            means = [cells[a.title].mean for a in attacks if a.title in cells]
            if len(means) == len(attacks) and all(m is not None for m in means):
                cells[col.title] = Cell(values=[min(means)])
        g["columns"][col.title] = col


def params_key(component: dict[str, Any]) -> str:
    """A component's params as a canonical string (to tell variants apart)."""
    return json.dumps(component.get("params") or {}, sort_keys=True)


def variant_label(name: str, params: str, variants: Iterable[str]) -> str:
    """``name``, plus the parameters that tell it apart from same-named variants (``vanilla-adv(eps=0.02)``)."""
    siblings = [json.loads(p) for p in variants]
    mine = json.loads(params)
    keys = sorted({k for s in siblings for k in s})
    differ = [k for k in keys if any(s.get(k) != mine.get(k) for s in siblings)]
    shown = [f"{k}={json.dumps(mine[k]) if isinstance(mine[k], (dict, list)) else mine[k]}"
             for k in differ if k in mine]
    return f"{name}({', '.join(shown)})" if shown else name


def variant_labeller(records: list[dict[str, Any]], part: str) -> Callable[[dict[str, Any]], str]:
    """A labeller of a record's ``part`` (model or defense) that tells same-named variants among
    ``records`` apart by the params that differ."""
    seen: dict[str, set[str]] = {}
    for rec in records:
        comp = rec["train"][part]
        seen.setdefault(comp["name"], set()).add(params_key(comp))

    def label(rec: dict[str, Any]) -> str:
        comp = rec["train"][part]
        return variant_label(comp["name"], params_key(comp), seen[comp["name"]])

    return label


def _corpus_label(name: str, params: str, groups: set[tuple[str, str, str, str]]) -> str:
    """The corpus name, plus the parameters that tell it apart from same-named corpora in the store."""
    return variant_label(name, params, {p for (n, p, _, _) in groups if n == name})


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
