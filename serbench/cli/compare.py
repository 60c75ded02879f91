"""CLI: ``serbench compare`` — is one run's (or system's) UAR significantly higher than another's?"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import typer
from rich.markup import escape
from rich.table import Table

from serbench.cli.app import app, console
from serbench.errors import SerbenchError, UsageError


@app.command()
def compare(
    run_a: Path = typer.Argument(..., help="Results directory of A (the baseline)."),
    run_b: Path = typer.Argument(None, help="Results directory of B (default: the same as A)."),
    a_where: list[str] = typer.Option([], "--a-where", help="Select A's records: FIELD=VALUE (glob or YAML list); "
                                      "repeatable. Fields: those of a spec's exclude rules."),
    b_where: list[str] = typer.Option([], "--b-where", help="Select B's records, as --a-where."),
    replicates: int = typer.Option(2000, "--replicates", min=100, help="Bootstrap replicates."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap draws."),
    test: str = typer.Option("bootstrap", "--test", help="Test behind p and the marks: bootstrap (paired, over "
                             "utterances; default) or ztest (Ren et al.'s z-test, unpaired, as in the paper)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Pair the cells of A and B and test whether B's UAR beats A's, one-tailed: by default with a paired
    bootstrap over utterances (seeds averaged per utterance, never counted as samples); --test ztest uses
    Ren et al.'s z-test (unpaired, as in the paper). Marks: * p<.05, ** p<.01, *** p<.001.

    Example: serbench compare results --a-where defense=standard --b-where defense=vanilla-adv
    """
    from serbench.bench.store import Store
    from serbench.analysis.compare import pair_runs, parse_where
    from serbench.analysis.significance import TESTS, mark

    if test not in TESTS:
        raise typer.BadParameter(f"unknown test {test!r}; use {' or '.join(TESTS)}", param_hint="'--test'")
    where_a, where_b = _where(parse_where, a_where, "--a-where"), _where(parse_where, b_where, "--b-where")
    run_b = run_a if run_b is None else run_b
    for option, path in (("RUN_A", run_a), ("RUN_B", run_b)):
        if not path.is_dir():
            raise SerbenchError(f"{option} {path}: no results directory; run `serbench run SPEC --results {path}`")
    pairing = pair_runs(Store(run_a).records(), Store(run_b).records(), where_a, where_b,
                        replicates=replicates, seed=seed)
    if not pairing.comparisons:
        raise SerbenchError(
            f"{run_a} vs {run_b}: no cell of A has a partner in B with predictions to compare "
            f"(unmatched: {pairing.unmatched_a} of A, {pairing.unmatched_b} of B; without predictions: "
            f"{pairing.no_predictions}); select the two sides with --a-where and --b-where")
    if as_json:
        typer.echo(json.dumps({"a": str(run_a), "b": str(run_b), "test": test, "test_name": TESTS[test],
                               "comparisons": [c.as_dict(test) for c in pairing.comparisons],
                               "unmatched_a": pairing.unmatched_a,
                               "unmatched_b": pairing.unmatched_b, "no_predictions": pairing.no_predictions},
                              indent=2))
        return
    table = Table(title=escape(f"UAR of B vs A (A: {run_a}, B: {run_b})"), title_justify="left")
    for name, justify in (("corpus", "left"), ("partition", "left"), ("condition", "left"), ("A", "left"),
                          ("B", "left"), ("cells", "right"), ("n", "right"), ("A %", "right"), ("B %", "right"),
                          ("Δ [95% CI]", "right"), ("p", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for c in pairing.comparisons:
        b = c.bootstrap
        table.add_row(*(escape(str(v)) for v in (c.corpus, c.partition, c.condition, c.a, c.b)), str(c.cells), str(c.n),
                      f"{100 * c.uar_a:.1f}", f"{100 * c.uar_b:.1f}",
                      f"{100 * b.delta:+.1f} [{100 * b.low:+.1f}, {100 * b.high:+.1f}]",
                      f"{c.p(test):.3g}{mark(c.p(test))}")
    console.print(table)
    console.print(f"p, marks (* p<.05, ** p<.01, *** p<.001): {TESTS[test]}, one-tailed (H1: B > A)"
                  + (f", {replicates} replicates" if test == "bootstrap" else "")
                  + "; n: distinct test utterances; Δ [95% CI]: paired bootstrap", highlight=False)
    skipped = [f"{n} {what}" for n, what in ((pairing.unmatched_a, "cells of A without a partner"),
                                             (pairing.unmatched_b, "cells of B without a partner"),
                                             (pairing.no_predictions, "pairs without per-utterance predictions"))
               if n]
    if skipped:
        console.print("not compared: " + "; ".join(skipped), style="yellow", highlight=False)


def _where(parse: Callable[[list[str], str], dict[str, Any]], items: list[str], option: str) -> dict[str, Any]:
    """``--a-where``/``--b-where`` items as rules; a malformed one is a usage error (exit 2) naming the option."""
    for item in items:
        field, sep, value = item.partition("=")
        if not sep or not field.strip() or not value.strip():
            raise UsageError(f"{option} {item!r}: expected FIELD=VALUE, e.g. {option} defense=vanilla-adv")
    try:
        return parse(items, option)
    except SerbenchError as exc:  # an unknown field or a value that is not YAML: still the option's usage
        raise UsageError(str(exc)) from None
