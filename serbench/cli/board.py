"""CLI: leaderboards — print, write a publishable folder, or check a committed one."""

from __future__ import annotations

from pathlib import Path

import typer

from serbench.cli.main import RESULTS_OPT, app, console, err_console
from serbench.errors import SerbenchError

FORMATS = ("terminal", "markdown", "json", "csv", "html")
METRICS = ("uar", "wa", "macro_f1")


@app.command()
def leaderboard(
    results: Path = RESULTS_OPT,
    metric: str = typer.Option("uar", "--metric", help="uar, wa or macro_f1."),
    fmt: str = typer.Option("terminal", "--format", "-f", help="terminal, markdown, json, csv or html (stdout)."),
    out: Path = typer.Option(None, "--out", help="Write the whole leaderboard (md, json, csv, html, plots) here."),
    check: Path = typer.Option(None, "--check", help="Exit 1 if the leaderboard in this folder differs from "
                               "what the results give (CI)."),
) -> None:
    """Leaderboards of every result in the store: one board per corpus, protocol, partition and threat model.

    Example: serbench leaderboard --results results --out leaderboard
    """
    from serbench.bench.store import Store
    from serbench.leaderboard import build_boards
    from serbench.leaderboard.aggregate import defense_costs

    if not results.is_dir():
        raise SerbenchError(f"{results}: no results directory; run `serbench run SPEC --results {results}` first")
    if metric not in METRICS:
        raise SerbenchError(f"--metric: unknown metric {metric!r}; use {', '.join(METRICS)}")
    if fmt not in FORMATS:
        raise SerbenchError(f"--format: unknown format {fmt!r}; use {', '.join(FORMATS)}")
    if out is not None and check is not None:
        raise SerbenchError("--out and --check: give one (write the folder, or check it)")
    records = list(Store(results).records())
    boards = build_boards(records, metric=metric)
    if not boards:
        raise SerbenchError(f"{results}: no evaluation records; run a spec first")

    from serbench.leaderboard import publish

    if check is not None:
        problems = publish.check(check, records, metric)
        for p in problems:
            err_console.print(f"[red]stale[/red] {p}", highlight=False, soft_wrap=True)
        if problems:
            err_console.print(f"{check}: out of date; regenerate with "
                              f"serbench leaderboard --results {results} --out {check}", highlight=False,
                              soft_wrap=True)
            raise typer.Exit(1)
        console.print(f"{check}: up to date with {results}", highlight=False, soft_wrap=True)
        return
    if out is not None:
        files, _ = publish.build(records, metric)
        stale = publish.write(out, files)
        console.print(f"{len(files)} files -> {out}" + (f" ({len(stale)} stale removed)" if stale else ""),
                      highlight=False, soft_wrap=True)
        return
    if fmt != "terminal":
        files, _ = publish.build(records, metric, render=fmt == "html")
        typer.echo(files[f"leaderboard.{ {'markdown': 'md'}.get(fmt, fmt) }"].decode(), nl=False)
        return
    from serbench.leaderboard.terminal import rich_table

    for board in boards:
        console.print(rich_table(board))
        for i, w in enumerate(board.warnings(), 1):
            console.print(f"  ⚠{i} {w}", style="yellow", highlight=False)
    costs = {k: v for k, v in defense_costs(records).items() if k[1] != "standard"}
    if costs:
        console.print("training time per iteration relative to standard: " + ", ".join(
            f"{m} + {d} x{c['relative_time_per_iteration']:.2f}" for (m, d), c in costs.items()))
