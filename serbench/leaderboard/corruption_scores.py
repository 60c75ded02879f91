"""SER-C summary columns of a corruption board, as Hendrycks and Dietterich score ImageNet-C.

Per row (model + defense) and corruption c, from the row's mean UAR at each severity s:

- ``c``: the mean UAR over the severities (the corruption's column);
- ``mean corruption``: the mean of those over the corruptions (mCA, the ranking column);
- ``mCE``: the mean over c of CE_c = sum_s E(s, c) / sum_s E_ref(s, c), with E = 1 - UAR: the error under
  corruption relative to a reference row's (100 % = as robust as the reference);
- ``rel. mCE``: the mean over c of sum_s (E(s, c) - E_clean) / sum_s (E_ref(s, c) - E_ref,clean): how much
  of the drop from clean the row suffers relative to the reference.

The reference of a row is the row named by ``--ce-reference`` or, by default, the same model trained with
the ``standard`` defense (what a defense buys against the undefended model). Severities count where both
rows have a value; a corruption the reference does not degrade (a zero denominator) has no CE.
"""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

from serbench.bench.conditions import Column

if TYPE_CHECKING:
    from serbench.leaderboard.aggregate import Row, Scores

MEAN_TITLE, MCE_TITLE, REL_MCE_TITLE = "mean corruption", "mCE", "rel. mCE"


def severity_means(columns: list[Column], cells: dict[str, "Scores"]) -> dict[str, dict[int, float]]:
    """Corruption -> severity -> the row's mean, for the severities it has a value at."""
    out: dict[str, dict[int, float]] = {}
    for c in columns:
        scores = cells.get(c.title)
        if c.kind == "corruption" and scores is not None and scores.mean is not None:
            out.setdefault(c.name, {})[int(c.severity)] = scores.mean
    return out


def reference_of(row: "Row", rows: set["Row"], explicit: "Row | None") -> "Row | None":
    """The row ``row``'s corruption errors are relative to: ``explicit`` when given, else its model's
    ``standard`` row; None where that row is not on the board."""
    ref = explicit if explicit is not None else (row[0], "standard")
    return ref if ref in rows else None


def _ce(mine: dict[int, float], ref: dict[int, float], clean: tuple[float, float] | None) -> float | None:
    """CE (``clean`` None) or relative CE (``clean`` = (row's clean UAR, reference's clean UAR))."""
    common = sorted(set(mine) & set(ref))
    if not common:
        return None
    if clean is None:
        num, den = sum(1 - mine[s] for s in common), sum(1 - ref[s] for s in common)
    else:
        num, den = sum(clean[0] - mine[s] for s in common), sum(clean[1] - ref[s] for s in common)
    return num / den if den > 1e-12 else None


def derive_corruption_columns(columns: dict[str, Column], rows: dict["Row", dict[str, "Scores"]],
                              reference: "Row | None" = None) -> None:
    """Add the per-corruption means, the mean corruption UAR, mCE and relative mCE to a corruption board."""
    from serbench.leaderboard.aggregate import Scores

    per_severity = [c for c in columns.values() if c.kind == "corruption"]
    if not per_severity:
        return
    means = {row: severity_means(per_severity, cells) for row, cells in rows.items()}
    names = sorted({c.name for c in per_severity})
    ladders = {name: {int(c.severity) for c in per_severity if c.name == name} for name in names}
    for name in names:
        columns[name] = Column(name, "corruption_mean", name, derived=True)
        for row, cells in rows.items():
            if set(means[row].get(name, {})) == ladders[name]:  # every severity of the board, or no mean
                cells[name] = Scores(values=[statistics.fmean(means[row][name].values())])
    summary = [Column(MEAN_TITLE, "corruption_summary", "0-mean", derived=True),
               Column(MCE_TITLE, "corruption_summary", "1-mce", derived=True, lower_is_better=True),
               Column(REL_MCE_TITLE, "corruption_summary", "2-rel-mce", derived=True, lower_is_better=True)]
    columns.update({c.title: c for c in summary})
    for row, cells in rows.items():
        if all(name in cells for name in names):
            cells[MEAN_TITLE] = Scores(values=[statistics.fmean(cells[n].mean for n in names)])
        ref = reference_of(row, set(rows), reference)
        if ref is None:
            continue
        clean = (rows[row].get("clean"), rows[ref].get("clean"))
        for title, with_clean in ((MCE_TITLE, False), (REL_MCE_TITLE, True)):
            if with_clean and not all(c is not None and c.mean is not None for c in clean):
                continue
            ces = [_ce(means[row].get(n, {}), means[ref].get(n, {}),
                       (clean[0].mean, clean[1].mean) if with_clean else None) for n in names]
            if ces and all(ce is not None for ce in ces):
                cells[title] = Scores(values=[statistics.fmean(ces)])
