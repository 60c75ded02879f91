"""The papers' table layouts, filled from the store: ``--layout ren2020`` and ``--layout latif2020``.

``ren2020``, Ren et al. (ICASSP 2020) Table 2: one row per training strategy and
its eps (single training at .00, then each adversarial training's eps); per
model, UAR on real (clean) and fake (FGSM at the row's eps) data, on dev
(``valid``) and test. The paper evaluates dev on models trained on train and
test on models trained on train+dev (``training.fit_on``); records of both
meet here. ``*``: better than single training of the same model in the same
column at p < .001 (one-tailed z-test, as the paper tests).

``latif2020``, Latif et al. (Interspeech 2020): Table 1, UAR % per model (rows)
and corpus (columns) without augmentation; Table 2, per model and augmentation,
clean and noisy UAR at each SNR (noises pooled: the paper draws one of five
DEMAND noises per utterance); Table 3, per model and augmentation, UAR under
each attack at each eps. Values are mean ± std over folds and seeds, in percent.

Only test-partition records enter the Latif tables; cells with no record show
``—`` and failed cells ``failed``, never a silent gap.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from serbench.analysis.significance import z_test
from serbench.bench.identity import protocol_name
from serbench.bench.conditions import Attack, Clean, Noise
from serbench.bench.records import condition_of
from serbench.leaderboard.aggregate import (
    ConditionLabels,
    dataset_params,
    db_per_eps,
    normalization_of,
    variant_labeller,
)
from serbench.leaderboard.table import Table
from serbench.leaderboard.text import FRACTION, NO_VALUE, PERCENT, mean_text

REN_ALPHA = 0.001
# What benchmarks/ren2020*.yaml and latif2020.yaml do differently from (or beyond what is stated in) their papers,
# shown under the tables so a reader comparing with the paper sees it (docs/methodology.md, "The paper specs").
REN_DEVIATIONS = [
    "as benchmarks/ren2020*.yaml run it: every utterance is zero-padded (or cut) to 5.96 s, the paper's 373 frames; "
    "the paper 'broadcasts' shorter spectrograms (padding content unstated) and a longer utterance in a local "
    "DEMoS copy would be cut",
    "dev figures are of the checkpoint selected on dev (checked every 500 of the 10 000 iterations): optimistic, "
    "as any figure selected on the data it reports; test models are fit on train+dev with no selection",
    "one run (seed 0) per cell, as the paper reports; its Table 3 (noise augmentation) is not run",
]
LATIF_DEVIATIONS = [
    "as benchmarks/latif2020.yaml runs it: 10 repetitions (seeds 0-9); mean ± std pools folds and seeds, so the "
    "std also holds the spread between held-out speakers (the paper's std is over its 10 repetitions)",
    "whole utterances are segmented up to 60 s (24 windows of 256 frames); a longer one in a local copy would be "
    "cut; the 128-bin height is the lowest 128 bins of a 400-point STFT (the paper does not say how)",
    "cross-corpus: a random 30 % of each class of MSP-IMPROV selects, 70 % tests, so speakers may be on both "
    "sides, as in the paper; the draw is fixed (cross-corpus seed 0) across repetitions",
    "training stops after 20 epochs without validation gain, and at 200 epochs at most (the paper states no cap)",
]


def eps_note(records: Iterable[dict[str, Any]]) -> str | None:
    """What the tables' eps is in dB per bin, from the attack records' ``eps_units`` (the papers state no
    feature scale, so the unit is serbench's choice and must be read off the table)."""
    by_normalization: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        if isinstance(condition_of(r), Attack) and r["condition"]["threat"]["domain"] == "feature":
            by_normalization.setdefault(normalization_of(r), []).append(r)
    if not by_normalization:
        return None
    parts = []
    for name, recs in sorted(by_normalization.items()):
        unit = db_per_eps(recs)
        parts.append(f"{name} features (legacy records: no dB per bin recorded)" if unit is None else
                     f"{name} features, 1 eps = {unit[0]:.3g} dB per bin" + (" on average" if name == "standardize"
                                                                              else ""))
    return ("eps is in the units of the models' feature normalisation: " + "; ".join(parts)
            + " (the paper states no feature scale; docs/methodology.md)")


@dataclass
class _Values:
    records: list[dict[str, Any]] = field(default_factory=list)
    failed: int = 0

    def values(self, metric: str) -> list[float]:
        return [float(r["metrics"][metric]) for r in self.records]

    def utterances(self) -> int:
        ids: set[str] = set()
        for r in self.records:
            ids.update(r["metrics"].get("ids") or [f"{r['key']}:{i}" for i in range(r["metrics"].get("n", 0))])
        return len(ids)


def _corpus(rec: dict[str, Any]) -> str:
    ds = rec["train"]["dataset"]
    params = dataset_params(rec)
    shown = f"({', '.join(f'{k}={v}' for k, v in sorted(params.items()))})" if ds["name"] == "cross-corpus" else ""
    return f"{ds['name']}{shown} · {protocol_name(ds)}"


def _index(records: Iterable[dict[str, Any]], coords: Callable[[dict[str, Any]], tuple | None]
           ) -> dict[tuple, _Values]:
    """Eval records grouped by ``coords`` (None: the record does not enter this table)."""
    out: dict[tuple, _Values] = {}
    for rec in records:
        if rec.get("kind") != "eval":
            continue
        key = coords(rec)
        if key is None:
            continue
        cell = out.setdefault(key, _Values())
        if rec["status"] == "ok":
            cell.records.append(rec)
        else:
            cell.failed += 1
    return out


def _text(cell: _Values | None, metric: str, style: str) -> str:
    """A cell as ``61.5 ± 1.5`` (``percent``, Latif et al.) or ``.836±.012`` (``fraction``, Ren et al.);
    ``—`` without records, ``failed`` when every record failed."""
    if cell is None or (not cell.records and not cell.failed):
        return NO_VALUE
    if not cell.records:
        return "failed"
    vals = cell.values(metric)
    if style == PERCENT:
        vals = [100 * v for v in vals]
    return mean_text(statistics.fmean(vals), statistics.pstdev(vals) if len(vals) > 1 else None, cell.failed, style)


# -- Ren et al. 2020, Table 2 --------------------------------------------------------------------------

_STRATEGY = {"standard": "single training", "vanilla-adv": "van. adv. training",
             "similarity-adv": "sim. adv. training"}
_STRATEGY_ORDER = {"standard": 0, "vanilla-adv": 1, "similarity-adv": 2}


def _better_than_single(base: _Values | None, cell: _Values | None, metric: str) -> bool | None:
    """Ren et al.'s z-test of a defended cell against single training (one-tailed, p < .001); None where it
    cannot be run: a side without records, or records that do not say which utterances they scored."""
    if not (cell and cell.records and base and base.records):
        return None
    n_a, n_b = base.utterances(), cell.utterances()
    if not (n_a and n_b):
        return None
    a, b = statistics.fmean(base.values(metric)), statistics.fmean(cell.values(metric))
    return z_test(a, b, n_a, n_b)[1] < REN_ALPHA


def _is_fgsm(rec: dict[str, Any]) -> bool:
    """Ren et al.'s 'fake' data: a white-box FGSM record."""
    cond = condition_of(rec)
    return isinstance(cond, Attack) and cond.attack["name"] == "fgsm"


def _training_eps(rec: dict[str, Any]) -> float:
    return float((rec["train"]["defense"].get("params") or {}).get("eps", 0.0))


def ren2020(records: list[dict[str, Any]], metric: str = "uar") -> list[Table]:
    evals = [r for r in records if r.get("kind") == "eval"]
    model_of, tables = variant_labeller(evals, "model"), []
    for corpus in sorted({_corpus(r) for r in evals}):
        mine = [r for r in evals if _corpus(r) == corpus]
        domains = sorted({r["condition"]["threat"]["domain"] for r in mine
                          if _is_fgsm(r)})
        for domain in domains or [None]:
            tables.append(_ren_table(corpus, domain, mine, model_of, metric, len(domains) > 1))
    return tables


def _ren_table(corpus: str, domain: str | None, recs: list[dict[str, Any]], model_of: Callable,
               metric: str, name_domain: bool) -> Table:
    cells = _index(recs, _ren_coords(domain, model_of))
    models = sorted({k[0] for k in cells})
    strategies = sorted({(k[1], k[2]) for k in cells},
                        key=lambda s: (_STRATEGY_ORDER.get(s[0], 3), s[0], s[1]))
    partitions = [p for p in ("valid", "test") if any(k[5] == p for k in cells)]
    columns = [(m, kind, p) for m in models for kind in ("real", "fake") for p in partitions]
    header = ["training", "eps"] + [f"{m} {kind} {_REN_PARTITION[p]}" for m, kind, p in columns]
    rows, outcomes = [], set()
    for strategy, eps in strategies:
        results = [_ren_cell(cells, strategy, eps, column, metric) for column in columns]
        rows.append([_STRATEGY.get(strategy, strategy), f"{eps:.2f}".removeprefix("0")]  # the paper's ".02"
                    + [text for text, _ in results])
        outcomes.update(test for _, test in results)
    title = f"Ren et al. 2020, Table 2 layout — {metric.upper()} — {corpus}" + (f" — {domain}" if name_domain
                                                                                  else "")
    return Table.of_texts(_slug("ren2020", corpus, domain if name_domain else ""), title, header, rows,
                          _ren_notes(domain, recs, "untested" in outcomes, "better" in outcomes))


_REN_PARTITION = {"valid": "dev", "test": "test"}


def _ren_coords(domain: str | None, model_of: Callable) -> Callable[[dict[str, Any]], tuple | None]:
    """A record's place in a Ren et al. table of ``domain``'s FGSM: (model, strategy, its eps, real | fake,
    attack eps, partition); None for a record the table does not show."""
    def coords(rec: dict[str, Any]) -> tuple | None:
        cond = rec["condition"]
        if isinstance(condition_of(rec), Clean):
            kind, eps = "real", None
        elif _is_fgsm(rec) and cond["threat"]["domain"] == domain:
            kind, eps = "fake", round(float(cond["threat"]["eps"]), 9)
        else:
            return None
        return model_of(rec), rec["train"]["defense"]["name"], round(_training_eps(rec), 9), kind, eps, rec["partition"]

    return coords


def _ren_cell(cells: dict[tuple, _Values], strategy: str, eps: float, column: tuple[str, str, str],
              metric: str) -> tuple[str, str]:
    """A cell's text (``*``: better than single training) and its z-test: ``better``, ``untested`` (records
    that do not say which utterances they scored) or ``""``."""
    model, kind, part = column
    at = None if kind == "real" else eps
    # the paper's single-training row has no fake column (its Fig. 3 does)
    cell = None if kind == "fake" and strategy == "standard" else cells.get((model, strategy, eps, kind, at, part))
    text = _text(cell, metric, FRACTION)
    if strategy == "standard":
        return text, ""
    base = cells.get((model, "standard", 0.0, kind, at, part))
    better = _better_than_single(base, cell, metric)
    if better:
        return text + "*", "better"
    return text, "untested" if better is None and cell and cell.records and base and base.records else ""


def _ren_notes(domain: str | None, recs: list[dict[str, Any]], untested: bool, marked: bool) -> list[str]:
    notes = ["real: clean data; fake: FGSM at the row's eps" + (f" ({domain} domain)" if domain else
                                                                   " (no FGSM records)"),
             "dev: the valid partition (models fit on train); test: the test partition (models fit as the spec "
             "says, train+valid in Ren et al.)", *REN_DEVIATIONS]
    if (unit := eps_note(recs)) is not None:
        notes.append(unit)
    if untested:
        notes.append("no z-test where a record does not list the utterances it scored (metrics.ids or n)")
    if marked:
        notes.append("*: better than single training of the same model in the same column at p < .001, "
                     "one-tailed, by Ren et al.'s z-test (unpaired, as in the paper; n: distinct test utterances); "
                     "`serbench compare` gives the paired bootstrap")
    return notes


# -- Latif et al. 2020, Tables 1-3 ---------------------------------------------------------------------

def latif2020(records: list[dict[str, Any]], metric: str = "uar") -> list[Table]:
    evals = [r for r in records if r.get("kind") == "eval" and r["partition"] == "test"]
    model_of, defense_of = variant_labeller(evals, "model"), variant_labeller(evals, "defense")
    tables = [_latif_table1(evals, model_of, metric)]
    for corpus in sorted({_corpus(r) for r in evals}):
        mine = [r for r in evals if _corpus(r) == corpus]
        tables += [t for t in (_latif_noise(corpus, mine, model_of, defense_of, metric),
                               _latif_attacks(corpus, mine, model_of, defense_of, metric)) if t]
    return tables


def _latif_table1(evals: list[dict[str, Any]], model_of: Callable, metric: str) -> Table:
    cells = _index(evals, lambda r: (model_of(r), _corpus(r)) if isinstance(condition_of(r), Clean)
                   and r["train"]["defense"]["name"] == "standard" else None)
    models = sorted({m for m, _ in cells})
    corpora = sorted({c for _, c in cells})
    rows = [[m] + [_text(cells.get((m, c)), metric, PERCENT) for c in corpora] for m in models]
    title = (f"Latif et al. 2020, Table 1 layout — {metric.upper()} (%) of different models (no augmentation, "
             "test partition)")
    return Table.of_texts("latif2020-table1", title, ["model"] + corpora, rows, list(LATIF_DEVIATIONS),
                          label_columns=1)


def _latif_noise(corpus: str, recs: list[dict[str, Any]], model_of: Callable, defense_of: Callable,
                 metric: str) -> Table | None:
    def coords(rec: dict[str, Any]) -> tuple | None:
        cond = condition_of(rec)
        if isinstance(cond, Clean):
            return model_of(rec), defense_of(rec), None
        if isinstance(cond, Noise):
            return model_of(rec), defense_of(rec), float(cond.snr_db)
        return None

    cells = _index(recs, coords)
    snrs = sorted({k[2] for k in cells if k[2] is not None})
    if not snrs:
        return None
    noises = sorted({c.noise["name"] for c in map(condition_of, recs) if isinstance(c, Noise)})
    systems = sorted({(m, d) for m, d, _ in cells}, key=lambda s: (s[0], s[1] != "standard", s[1]))
    header = ["model", "augmentation", "clean"] + [f"{s:g} dB" for s in snrs]
    rows = [[m, "none" if d == "standard" else d]
            + [_text(cells.get((m, d, s)), metric, PERCENT) for s in [None, *snrs]] for m, d in systems]
    title = f"Latif et al. 2020, Table 2 layout — {metric.upper()} (%) in noise (mismatched: trained clean) — {corpus}"
    return Table.of_texts(_slug("latif2020-table2", corpus), title, header, rows,
                          [f"noises pooled at each SNR: {', '.join(noises)}"])


def _latif_attacks(corpus: str, recs: list[dict[str, Any]], model_of: Callable, defense_of: Callable,
                   metric: str) -> Table | None:
    labels = ConditionLabels(r["condition"] for r in recs)  # attack variants (other params) are other columns

    def coords(rec: dict[str, Any]) -> tuple | None:
        cond = condition_of(rec)
        if not isinstance(cond, Attack):
            return None
        return model_of(rec), defense_of(rec), labels("attack", cond.attack), float(cond.threat["eps"])

    def head(label: str) -> str:
        name, paren, rest = label.partition("(")
        return (name.upper() if name in ("fgsm", "bim") else name) + paren + rest

    cells = _index(recs, coords)
    if not cells:
        return None
    columns = sorted({(k[2], k[3]) for k in cells}, key=lambda c: (c[1], c[0].partition("(")[0] != "fgsm", c[0]))
    systems = sorted({(k[0], k[1]) for k in cells}, key=lambda s: (s[0], s[1] != "standard", s[1]))
    header = ["model", "augmentation"] + [f"{head(a)} {e:g}" for a, e in columns]
    rows = [[m, "none" if d == "standard" else d]
            + [_text(cells.get((m, d, a, e)), metric, PERCENT) for a, e in columns] for m, d in systems]
    unit = eps_note(recs)
    title = f"Latif et al. 2020, Table 3 layout — {metric.upper()} (%) under adversarial attacks — {corpus}"
    return Table.of_texts(_slug("latif2020-table3", corpus), title, header, rows, [unit] if unit else [])


def _slug(*parts: str) -> str:
    words = "".join(c if c.isalnum() else " " for c in " ".join(parts).lower()).split()
    return "-".join(words)


LAYOUTS: dict[str, Callable[[list[dict[str, Any]], str], list[Table]]] = {
    "ren2020": ren2020, "latif2020": latif2020,
}


def layout_tables(name: str, records: list[dict[str, Any]], metric: str = "uar") -> list[Table]:
    return LAYOUTS[name](records, metric)


def to_json(tables: list[Table], layout: str, metric: str) -> str:
    """The layout's tables as JSON: which layout, which metric, each table's texts."""
    return json.dumps({"layout": layout, "metric": metric, "tables": [t.as_dict() for t in tables]}, indent=1) + "\n"
