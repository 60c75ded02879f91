"""CLI: leaderboards — print, write a publishable folder, or check a committed one."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer
from rich.markup import escape

from serbench.cli.app import RESULTS_OPT, app, console, err_console
from serbench.cli.paths import check_output_dir
from serbench.errors import SerbenchError

if TYPE_CHECKING:
    from serbench.leaderboard.table import Table


class Metric(StrEnum):
    """The metric the boards rank by."""

    uar = "uar"
    wa = "wa"
    macro_f1 = "macro_f1"


class Format(StrEnum):
    """What ``leaderboard`` prints to stdout."""

    terminal = "terminal"
    markdown = "markdown"
    json = "json"
    csv = "csv"
    html = "html"


class Layout(StrEnum):
    """The papers' table layouts (``serbench.leaderboard.layouts.LAYOUTS``; a test keeps the two equal).

    Listed here, not read from there, so that starting the CLI does not import the leaderboard (seconds).
    """

    ren2020 = "ren2020"
    latif2020 = "latif2020"


@app.command()
def leaderboard(
    results: Path = RESULTS_OPT,
    metric_choice: Metric = typer.Option(Metric.uar, "--metric", help="The metric the boards rank by."),
    fmt_choice: Format = typer.Option(Format.terminal, "--format", "-f", help="What to print to stdout."),
    out: Path = typer.Option(None, "--out", help="Write the whole leaderboard (md, json, csv, html, plots) here."),
    check: Path = typer.Option(None, "--check", help="Exit 1 if the leaderboard in this folder differs from "
                               "what the results give (CI)."),
    layout: Optional[Layout] = typer.Option(None, "--layout", help="A paper's table layout instead of boards: "
                                            "ren2020 (Ren et al. Table 2) or latif2020 (Latif et al. Tables 1-3); "
                                            "terminal, markdown or json."),
    ce_reference: str = typer.Option(None, "--ce-reference", metavar="MODEL[+DEFENSE]",
                                     help="The row corruption errors (mCE) are relative to, e.g. cnn4.small+standard "
                                          "(default: each model's standard-trained row). Give the same to --check."),
) -> None:
    """Leaderboards of every result in the store: one board per corpus, protocol, partition and threat model.

    Example: serbench leaderboard --results results --out leaderboard
    Example: serbench leaderboard --results results/ren2020 --layout ren2020 --format markdown
    """
    from serbench.leaderboard import build_boards
    from serbench.leaderboard.aggregate import defense_costs
    from serbench.leaderboard.verify import load_records

    if not results.is_dir():
        raise SerbenchError(f"{results}: no results directory; run `serbench run SPEC --results {results}` first")
    metric, fmt = metric_choice.value, fmt_choice.value  # plain strings from here on, as before the choices
    if out is not None and check is not None:
        raise SerbenchError("--out and --check: give one (write the folder, or check it)")
    if out is not None:
        check_output_dir(out, "--out")
        from serbench.leaderboard.publish import owned

        owned(out)  # refuse a folder that is not a leaderboard's before any work (publish.write checks again)
    records = load_records(results)  # verified: digests, and metrics recomputed from predictions (RecordError)
    if layout is not None:
        _print_layout(layout.value, records, metric, fmt, out is not None or check is not None)
        return
    reference = _reference_row(ce_reference)
    boards = build_boards(records, metric=metric, ce_reference=reference)
    if not boards:
        raise SerbenchError(f"{results}: no evaluation records; run a spec first")
    _check_reference(reference, boards)

    if check is not None:
        from serbench.leaderboard import publish  # the page and its plots: numpy and matplotlib, only when needed

        problems = publish.check(check, records, metric, reference, examples_root=results)
        for p in problems:
            err_console.print(f"[red]stale[/red] {escape(p)}", highlight=False, soft_wrap=True)
        if problems:
            err_console.print(escape(f"{check}: out of date; regenerate with "
                                     f"serbench leaderboard --results {results} --out {check}"), highlight=False,
                              soft_wrap=True)
            raise typer.Exit(1)
        console.print(escape(f"{check}: up to date with {results}"), highlight=False, soft_wrap=True)
        return
    if out is not None:
        from serbench.leaderboard import publish

        files, _ = publish.build(records, metric, ce_reference=reference,
                                 listen=(out / publish.LISTEN_PAGE).is_file(), examples_root=results)
        stale = publish.write(out, files)
        console.print(escape(f"{len(files)} files -> {out}" + (f" ({len(stale)} stale removed)" if stale else "")),
                      highlight=False, soft_wrap=True)
        return
    if fmt != "terminal":
        from serbench.leaderboard import publish

        files, _ = publish.build(records, metric, render=fmt == "html", ce_reference=reference)
        typer.echo(files[f"leaderboard.{ {'markdown': 'md'}.get(fmt, fmt) }"].decode(), nl=False)
        return
    from serbench.leaderboard.board_table import board_table

    _print_tables([board_table(b) for b in boards])
    costs = {k: v for k, v in defense_costs(records).items() if k[1] != "standard"}
    if costs:
        console.print(escape("training time per iteration relative to standard: " + ", ".join(
            f"{m} + {d} x{c['relative_time_per_iteration']:.2f}" for (m, d), c in costs.items())))


def _reference_row(text: str | None) -> tuple[str, str] | None:
    """``MODEL+DEFENSE`` (``MODEL`` alone: its standard row) as a board row."""
    if text is None:
        return None
    model, _, defense = text.rpartition("+") if "+" in text else (text, "", "standard")
    if not model.strip() or not defense.strip():
        raise SerbenchError(f"--ce-reference {text!r}: give MODEL or MODEL+DEFENSE as the boards name them, "
                            "e.g. cnn4.small+standard")
    return model.strip(), defense.strip()


def _check_reference(reference: tuple[str, str] | None, boards: list[Any]) -> None:
    """Refuse a reference row that no corruption board has: every mCE would be silently empty."""
    from serbench.leaderboard.aggregate import CORRUPTIONS

    corrupted = [b for b in boards if b.threat == CORRUPTIONS]
    if reference is None or any(reference in b.rows for b in corrupted):
        return
    rows = sorted({f"{m}+{d}" for b in corrupted for m, d in b.rows})
    raise SerbenchError(f"--ce-reference {'+'.join(reference)}: no such row on a corruption board; rows: "
                        f"{', '.join(rows) or 'none (the results have no corruption records)'}")


def _print_tables(tables: list[Table]) -> None:
    """Tables in the terminal, each followed by its footnotes."""
    from serbench.leaderboard.terminal import footnotes, rich_table

    for table in tables:
        console.print(rich_table(table))
        for line in footnotes(table):
            console.print(line, highlight=False, soft_wrap=True)


def _print_layout(layout: str, records: list, metric: str, fmt: str, folder: bool) -> None:
    from serbench.leaderboard import layouts
    from serbench.leaderboard.markdown import markdown

    if folder:
        raise SerbenchError("--layout prints to stdout; drop --out and --check")
    if fmt not in ("terminal", "markdown", "json"):
        raise SerbenchError(f"--layout with --format {fmt}: use terminal, markdown or json")
    tables = layouts.layout_tables(layout, records, metric)
    if not any(t.rows for t in tables):
        raise SerbenchError(f"--layout {layout}: no record fits the layout; see `serbench leaderboard --help`")
    if fmt == "markdown":
        typer.echo(markdown(tables), nl=False)
    elif fmt == "json":
        typer.echo(layouts.to_json(tables, layout, metric), nl=False)
    else:
        _print_tables(tables)
