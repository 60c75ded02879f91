"""Aggregate eval records into boards: one per (corpus, protocol, partition, threat model); rows model x defense.

Columns: clean UAR; UAR under each attack of the board's threat model at each
eps; the worst case over those attacks at each eps; UAR under each noise at each
SNR. Each value is the mean +- std over folds and seeds.

An attack (or noise) is its name *and* its parameters: two ``fgsm`` with
different ``eta`` are two attacks, two columns, two candidates for the worst
case, named by the parameters that differ on the board (``fgsm(eta=0.001) 0.01``);
a lone variant keeps its bare name (``fgsm 0.01``). Corpora are told apart the
same way, and by the data fingerprint train cells carry: runs on different data
are different experiments, on separate boards (labelled with the fingerprint's
first 8 hex digits where their titles would otherwise be the same).

The worst case at an eps is over every attack of the threat model, white-box and
transfer alike. It comes from the run's ``worst_case`` cells (per utterance: an
utterance counts as robust only if every attack fails on it) where the spec asked
for them; otherwise it is the minimum over the attacks' mean UARs (an upper bound
on the per-utterance worst case), and the column says so.

Ranking (as RobustBench ranks by robust accuracy): by **robust UAR**, the worst
case at the largest budget every row was attacked at (the largest eps; for an SNR budget, the lowest SNR),
best first; ties by clean UAR,
then by name. Where the board has ``autoattack`` columns, robust UAR is the
``autoattack`` UAR at the largest budget every row was attacked at by it instead
(its per-utterance worst case over APGD-CE, APGD-T, APGD-T-CE and Square, the evaluation
RobustBench ranks by); each of its cells keeps the ensemble's per-attack
breakdown (how many utterances each member flipped, summed over folds and seeds).
Boards without attacks rank by clean UAR. A row with a
gradient-masking warning (``gradient masking? ...``) is *unreliable*: its robust
UAR likely overstates it, so it is marked and ranked below every reliable row
(then by robust UAR among the unreliable ones), as RobustBench treats
defenses that evaluate with obfuscated gradients.

Deterministic: boards, rows and columns are sorted; failed cells and
gradient-masking warnings are kept and shown, never dropped.
"""

from __future__ import annotations

import json
import re
import statistics
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Iterable

from serbench.bench.conditions import Clean, Column, Corrupted, Noise, WorstCase, condition_from
from serbench.bench.records import condition_of
from serbench.bench.identity import protocol_name, without_location
from serbench.inputs import SPECTROGRAM
from serbench.leaderboard.corruption_scores import MEAN_TITLE, derive_corruption_columns
from serbench.leaderboard.redact import redact_paths
from serbench.leaderboard.verify import check_records

NO_THREAT = "none"
CORRUPTIONS = "corruptions"  # the board of a group's corruption conditions (SER-C)
MASKING_PREFIX = "gradient masking?"  # how every warning of serbench.attacks.masking starts
AUTOATTACK = "autoattack"  # the ensemble whose worst case ranks a board that has it (serbench.attacks.autoattack)


def is_masking_warning(warning: str) -> bool:
    """Does a record's warning say the attacks' gradients may be masked (:mod:`serbench.attacks.masking`)?"""
    return warning.startswith(MASKING_PREFIX)


def is_autoattack(column: Column) -> bool:
    """Is ``column`` the native ``autoattack`` ensemble (any of its variants) at one eps?"""
    return column.kind == "attack" and column.name.split("(")[0] == AUTOATTACK




def threat_of(condition: dict[str, Any], record: dict[str, Any] | None = None) -> str:
    """``domain/norm``; for the feature domain with ``record`` also the model's feature normalisation
    (``feature/linf · natural-log``), since it decides what an eps means: boards never mix two."""
    threat = condition.get("threat")
    if not threat:
        return CORRUPTIONS if isinstance(condition_from(condition), Corrupted) else NO_THREAT
    label = f"{threat['domain']}/{threat['norm']}"
    return f"{label} · {normalization_of(record)}" if threat["domain"] == "feature" and record else label


def db_per_eps(records: Iterable[dict[str, Any]]) -> tuple[float, float, float] | None:
    """dB per frequency bin of one eps unit (mean, min and max over bins, averaged over records), from the
    ok attack records' ``eps_units``; None where no record states it (legacy records)."""
    per_unit = [(u["db_per_bin_mean"] / u["eps_scaled"], u["db_per_bin_min"] / u["eps_scaled"],
                 u["db_per_bin_max"] / u["eps_scaled"])
                for rec in records if rec.get("status") == "ok"
                for u in [(rec.get("metrics") or {}).get("eps_units")] if u and u.get("eps_scaled")]
    if not per_unit:
        return None
    mean, low, high = (statistics.fmean(v) for v in zip(*per_unit))
    return mean, low, high


def normalization_of(record: dict[str, Any]) -> str:
    """The feature normalisation a record's model was trained behind (``minmax``: records from before the
    option existed, whose scaler was the legacy min-max)."""
    return ((record["train"].get("frontend") or {}).get("normalization") or {"name": "minmax"})["name"]


def identity_key(component: dict[str, Any]) -> str:
    """What tells same-named components apart: their params, and their version where it is recorded."""
    ident = dict(component.get("params") or {})
    if component.get("version") is not None:
        ident["version"] = component["version"]
    return json.dumps(ident, sort_keys=True, default=str)


class ConditionLabels:
    """Names of the attacks, noises and transfer sources among some conditions (one board's): each is its
    name plus the parameters that differ from its same-named siblings there (``fgsm(eta=0.001)``)."""

    def __init__(self, conditions: Iterable[dict[str, Any]]) -> None:
        conditions = list(conditions)
        self._seen: dict[tuple[str, str], set[str]] = {}
        typed = [condition_from(c) for c in conditions]
        for c in typed:
            for role, comp in c.components():
                self._seen.setdefault((role, comp["name"]), set()).add(identity_key(comp))
        sets: dict[float, set[tuple[str, ...]]] = {}
        for c in typed:
            if isinstance(c, WorstCase):
                sets.setdefault(float(c.threat["eps"]), set()).add(self.worst_case_set(c.identity))
        # the worst case names its attacks only where two different sets of attacks meet at one eps
        self.name_worst_case_sets = any(len(s) > 1 for s in sets.values())

    def __call__(self, role: str, component: dict[str, Any]) -> str:
        key = identity_key(component)
        return variant_label(component["name"], key, self._seen.get((role, component["name"]), {key}))

    def source(self, source: dict[str, Any]) -> str:
        """``model`` or ``model+defense`` (the defense shown unless it is the one plain ``standard``)."""
        label = self("source-model", source["model"])
        defense = source.get("defense")
        if defense and (defense["name"] != "standard" or len(self._seen[("source-defense", "standard")]) > 1):
            label += "+" + self("source-defense", defense)
        return label

    def worst_case_set(self, condition: dict[str, Any]) -> tuple[str, ...]:
        """The labels of a worst case's inputs: its white-box attacks and its transfers (``fgsm←cnn4``)."""
        return tuple(sorted([self("attack", a) for a in condition.get("attacks") or ()]
                            + [self.transfer(t) for t in condition.get("transfers") or ()]))

    def transfer(self, condition: dict[str, Any]) -> str:
        """``attack←source`` of a transfer condition (or a worst case's ``{source, attack}`` input)."""
        return f"{self('attack', condition['attack'])}←{self.source(condition['source'])}"


def column_of(condition: dict[str, Any], labels: ConditionLabels | None = None) -> Column:
    """The board column an eval condition belongs to; ``labels`` (the board's) tell same-named attacks and
    noises apart by their parameters (without it, the condition alone: bare names)."""
    return condition_from(condition).column(labels if labels is not None else ConditionLabels([condition]))


@dataclass
class Scores:
    """One row's aggregated values in one board column (folds and seeds pooled), its failures and warnings."""

    values: list[float] = field(default_factory=list)
    failed: int = 0
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # an ensemble's per-attack totals (``flipped.apgd-ce``, ``robust``, ``queries.square``) summed over records
    breakdown: dict[str, float] = field(default_factory=dict)

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
    rows: dict[Row, dict[str, Scores]]  # row -> column title -> its scores
    metric: str = "uar"
    entries: list[tuple[Row, dict[str, Any]]] = field(default_factory=list, repr=False)  # (row, eval record)

    @property
    def title(self) -> str:
        threat = {NO_THREAT: "clean and noise", CORRUPTIONS: "corruptions (SER-C)"}.get(self.threat, self.threat)
        unit = self.eps_unit
        return f"{self.corpus} · {self.protocol} · {self.partition} · {threat}" + (f" ({unit})" if unit else "")

    @cached_property
    def eps_unit(self) -> str | None:
        """What one unit of eps is in dB per frequency bin (``1 eps = 4.34 dB per bin``; a range where the
        normalisation's unit differs between bins). Read once: every title and plot caption shows it."""
        unit = db_per_eps(rec for _, rec in self.entries)
        if unit is None:
            return None
        mean, low, high = unit
        if high - low < 1e-6 * max(abs(mean), 1.0):
            return f"1 eps = {mean:.3g} dB per bin"
        return f"1 eps = {mean:.3g} dB per bin on average, {low:.3g}-{high:.3g}"

    @property
    def slug(self) -> str:
        raw = f"{self.corpus}-{self.protocol}-{self.partition}-{self.threat}"
        return re.sub("-+", "-", "".join(c if c.isalnum() else "-" for c in raw)).strip("-").lower()

    @cached_property
    def _inputs(self) -> dict[Row, str]:
        """Each row's input kind, read once from its first record (every renderer asks per row)."""
        found: dict[Row, str] = {}
        for row, rec in self.entries:
            found.setdefault(row, rec.get("train", {}).get("model", {}).get("input", SPECTROGRAM))
        return found

    def input_of(self, row: Row) -> str:
        """What the row's model takes: ``waveform`` where its records say so, else ``spectrogram``."""
        return self._inputs.get(row, SPECTROGRAM)

    def column(self, title: str) -> Column:
        return next(c for c in self.columns if c.title == title)

    @property
    def shown_columns(self) -> list[Column]:
        """The columns tables show: a corruption board shows each corruption's mean over its severities, not
        every severity (those are in the heat map and the JSON and CSV exports)."""
        return [c for c in self.columns if c.kind != "corruption"]

    @property
    def robust_column(self) -> str | None:
        """The ranking column: the ``autoattack`` column at the largest budget (:meth:`strength`) every row has a
        value for, where the
        board has one; else the worst-case column at the largest such eps (None without attacks); on a
        corruption board, the mean corruption UAR where every row has one."""
        if self.threat == CORRUPTIONS:
            has = all((cells.get(MEAN_TITLE) or Scores()).mean is not None for cells in self.rows.values())
            return MEAN_TITLE if has else None
        for col in sorted((c for c in self.columns if is_autoattack(c)), key=lambda c: (self.strength(c), c.title)):
            if all((cells.get(col.title) or Scores()).mean is not None for cells in self.rows.values()):
                return col.title
        worst = [c for c in self.columns if c.kind == "worst_case"]
        if not worst:
            singles = [c for c in self.columns if c.kind == "attack"]
            worst = singles if len({c.name for c in singles}) == 1 else []
        for col in sorted(worst, key=self.strength):
            if all((cells.get(col.title) or Scores()).mean is not None for cells in self.rows.values()):
                return col.title
        return None

    def strength(self, col: Column) -> float:
        """Sort key putting the largest perturbation first: the largest eps, or for an SNR budget (dB of speech over
        perturbation) the lowest SNR."""
        eps = col.eps or 0.0
        return eps if self.threat.endswith("/snr") else -eps

    @property
    def ranked_by_autoattack(self) -> bool:
        """Is the ranking column an ``autoattack`` one (see :attr:`robust_column`)?"""
        robust = self.robust_column
        return robust is not None and is_autoattack(self.column(robust))

    def masking_warnings(self, row: Row) -> list[str]:
        """The gradient-masking warnings of ``row``'s cells on this board, distinct, in column order."""
        seen: dict[str, None] = {}
        for col in self.columns:
            for w in (self.rows[row].get(col.title) or Scores()).warnings:
                if is_masking_warning(w):
                    seen.setdefault(w, None)
        return list(seen)

    @property
    def unreliable(self) -> set[Row]:
        """Rows with a gradient-masking warning in any of their cells on this board: their robust UAR is
        likely an overestimate (the attacks' gradients were useless), so they rank below every other row."""
        return {row for row, cells in self.rows.items()
                if any(is_masking_warning(w) for cell in cells.values() for w in cell.warnings)}

    def ranked_rows(self) -> list[Row]:
        """Best first: reliable rows before unreliable ones (see :attr:`unreliable`), then robust UAR, then
        clean UAR, then name."""
        robust = self.robust_column
        unreliable = self.unreliable

        def mean(row: Row, title: str | None) -> float:
            cell = self.rows[row].get(title) if title else None
            return cell.mean if cell is not None and cell.mean is not None else -1.0

        return sorted(self.rows, key=lambda row: (row in unreliable, -mean(row, robust), -mean(row, "clean"), row))

    def best(self, title: str) -> set[Row]:
        """Rows holding the best mean of a column (highest; lowest for an error column), none when fewer than
        two rows compete."""
        means = {row: cells[title].mean for row, cells in self.rows.items()
                 if title in cells and cells[title].mean is not None}
        if len(means) < 2:
            return set()
        top = min(means.values()) if self.column(title).lower_is_better else max(means.values())
        return {row for row, m in means.items() if abs(m - top) < 1e-12}

    def warnings(self) -> list[str]:
        """Every distinct warning on the board, in first-seen order (for footnotes)."""
        return self._distinct("warnings")

    def errors(self) -> list[str]:
        """Every distinct failure reason on the board, in first-seen order (for footnotes)."""
        return self._distinct("errors")

    def _distinct(self, attr: str) -> list[str]:
        seen: dict[str, None] = {}
        for row in self.ranked_rows():
            for col in self.columns:
                cell = self.rows[row].get(col.title)
                for text in getattr(cell, attr) if cell else ():
                    seen.setdefault(text, None)
        return list(seen)


def build_boards(records: Iterable[dict[str, Any]], metric: str = "uar", ce_reference: Row | None = None
                 ) -> list[Board]:
    """Boards from eval records; see the module docstring for columns and ranking. ``ce_reference``: the
    (model, defense) row that corruption errors are relative to (default: each model's ``standard`` row).

    Raises RecordError for a record whose metrics do not follow from its predictions (:mod:`.verify`).
    Error and warning texts are kept with every absolute path cut to ``<path>/basename`` (see
    :mod:`.redact`): boards get published.
    """
    evals = check_records(r for r in records if r.get("kind") == "eval")  # refuses numbers that do not add up
    members = _board_members(evals)
    model_of, defense_of = variant_labeller(evals, "model"), variant_labeller(evals, "defense")
    corpus_labels = _corpus_labels({key[:5] for key in members})
    return [_board(key, recs, corpus_labels[key[:5]], lambda r: (model_of(r), defense_of(r)), metric, ce_reference)
            for key, recs in sorted(members.items())]


def _board_members(evals: list[dict[str, Any]]) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    """Eval records by board: (corpus, params, fingerprint, protocol, partition, threat) as :func:`_group`
    gives, plus the threat model. A model's clean and noise records join the board of every threat model
    was attacked under (in any fold or seed); a model attacked under none has a board of its own for them (clean
    beside noise), except that a model with corruptions and no noise needs none: its clean records join its
    corruption board, as the corruptions' point of reference, in every case. A model never appears on a threat
    model's board it was not attacked under (a row of clean numbers would rank there as if it had been)."""
    threats: dict[tuple[Any, ...], set[str]] = {}
    noisy: set[tuple[Any, ...]] = set()
    for rec in evals:
        threats.setdefault(_system(rec), set()).add(threat_of(rec["condition"], rec))
        if isinstance(condition_of(rec), Noise):
            noisy.add(_system(rec))
    members: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for rec in evals:
        threat = threat_of(rec["condition"], rec)
        targets = [threat]
        if threat == NO_THREAT:
            mine = threats[_system(rec)]
            clean = isinstance(condition_of(rec), Clean)
            targets = sorted(mine - {NO_THREAT, CORRUPTIONS})
            if not targets and (not clean or CORRUPTIONS not in mine or _system(rec) in noisy):
                targets = [NO_THREAT]
            if clean and CORRUPTIONS in mine:
                targets.append(CORRUPTIONS)
        for target in targets:
            members.setdefault((*_group(rec), target), []).append(rec)
    return members


def _board(key: tuple[str, ...], recs: list[dict[str, Any]], corpus: str,
           row_of: Callable[[dict[str, Any]], Row], metric: str, ce_reference: Row | None = None) -> Board:
    """The board of one :func:`_board_members` key, its corpus labelled ``corpus``."""
    labels = ConditionLabels(r["condition"] for r in recs)
    columns: dict[str, Column] = {}
    rows: dict[Row, dict[str, Scores]] = {}
    entries = []
    for rec in recs:
        col = column_of(rec["condition"], labels)
        columns[col.title] = col
        row = row_of(rec)
        entries.append((row, rec))
        _add_record(rows.setdefault(row, {}).setdefault(col.title, Scores()), rec, metric)
    _derive_worst_case(columns, rows)
    derive_corruption_columns(columns, rows, ce_reference)
    *_, protocol, partition, threat = key
    return Board(corpus, protocol, partition, threat, sorted(columns.values(), key=lambda c: c.order), rows,
                 metric, entries)


def _add_record(scores: Scores, rec: dict[str, Any], metric: str) -> None:
    """A record's value, or its failure, and its warnings, every path redacted."""
    if rec["status"] == "ok":
        scores.values.append(float(rec["metrics"][metric]))
        for name, value in ((rec["metrics"].get("attack_report") or {}).get("totals") or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                scores.breakdown[name] = scores.breakdown.get(name, 0) + value
    else:
        scores.failed += 1
        scores.errors.append(redact_paths(rec.get("error") or "failed"))
    for w in rec.get("warnings", []):
        if redact_paths(w) not in scores.warnings:
            scores.warnings.append(redact_paths(w))


def dataset_params(rec: dict[str, Any]) -> dict[str, Any]:
    """The record's dataset params without where the local copy lives (records older than the keys that
    leave ``root`` out still carry it)."""
    return without_location(rec["train"]["dataset"].get("params") or {})


def _system(rec: dict[str, Any]) -> tuple[Any, ...]:
    """The system a record scores, as a board row sees it: its group, model and defense (over folds and seeds)."""
    t = rec["train"]
    return (*_group(rec), json.dumps([t.get("model"), t.get("defense")], sort_keys=True))


def _group(rec: dict[str, Any]) -> tuple[str, str, str, str, str]:
    """(corpus, params without location, data fingerprint, protocol, partition): what one board shares."""
    ds = rec["train"]["dataset"]
    params = json.dumps(dataset_params(rec), sort_keys=True)
    return ds["name"], params, str(ds.get("fingerprint") or ""), protocol_name(ds), \
        rec["partition"]


def _derive_worst_case(columns: dict[str, Column], rows: dict[Row, dict[str, Scores]]) -> None:
    """Minimum over the means of every attack of the threat model at each eps with >= 2 of them, where no
    worst_case cells exist: white-box attacks (each variant its own attack) and transfer attacks alike, since
    a model that masks its gradients survives the former and not the latter.

    A row needs a value in every white-box column and in every transfer column it has a cell in; it has no
    cell in a transfer crafted on itself (the spec skips that one: it is the white-box attack)."""
    cols = list(columns.values())
    have = {c.eps for c in cols if c.kind == "worst_case"}
    by_eps: dict[float, list[Column]] = {}
    for c in cols:
        if c.kind in ("attack", "transfer") and c.eps not in have:
            by_eps.setdefault(c.eps, []).append(c)
    for eps, inputs in by_eps.items():
        if len(inputs) < 2:
            continue
        col = Column(f"worst-case {eps:g} (min)", "worst_case", "worst-case", eps=eps, derived=True)
        for cells in rows.values():
            if any(c.kind == "attack" and c.title not in cells for c in inputs):
                continue
            means = [cells[c.title].mean for c in inputs if c.title in cells]
            if means and all(m is not None for m in means):
                cells[col.title] = Scores(values=[min(means)])
        columns[col.title] = col


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


def _corpus_labels(groups: set[tuple[str, str, str, str, str]]) -> dict[tuple[str, str, str, str, str], str]:
    """Each group's corpus name, plus the parameters that tell it apart from same-named corpora in the store,
    plus ``(data 1a2b3c4d)`` where only the data fingerprint tells two boards apart."""
    labels = {g: variant_label(g[0], g[1], {p for (n, p, *_) in groups if n == g[0]}) for g in groups}
    out = {}
    for g, label in labels.items():
        clash = {o[2] for o, other in labels.items() if other == label and o[3:] == g[3:]}
        out[g] = f"{label} (data {g[2][:8] or 'unrecorded'})" if len(clash) > 1 else label
    return out


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
