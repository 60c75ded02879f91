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
    latex = "latex"


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
                                            "terminal, markdown, json or latex."),
    ce_reference: str = typer.Option(None, "--ce-reference", metavar="MODEL[+DEFENSE]",
                                     help="The row corruption errors (mCE) are relative to, e.g. cnn4.small+standard "
                                          "(default: each model's standard-trained row). Give the same to --check."),
    board_slug: Optional[str] = typer.Option(None, "--board", metavar="SLUG", help="Print only this board, in any "
                                             "--format (its slug: boards[].slug in the JSON export)."),
    verify: Path = typer.Option(None, "--verify", metavar="BUNDLE", help="Re-run a seeded sample of a submission "
                                "bundle's (or a records folder's) eval cells and accept (exit 0) or reject (exit 1)."),
    sample: int = typer.Option(2, "--sample", min=1, help="With --verify: how many eval cells to re-run."),
    seed: Optional[int] = typer.Option(None, "--seed", help="With --verify: the sample's seed (default: drawn, "
                                       "and printed)."),
    tolerance: Optional[float] = typer.Option(None, "--tolerance", help="With --verify: the largest UAR or "
                                              "accuracy difference accepted (default 0.01)."),
    retrain: bool = typer.Option(False, "--retrain", help="With --verify: train the sampled cells' models again "
                                 "instead of evaluating the bundle's checkpoints."),
    verify_specs: Optional[list[Path]] = typer.Option(None, "--spec", help="With --verify of a records folder: "
                                                      "the spec(s) its records were computed for."),
    device: Optional[str] = typer.Option(None, "--device", help="With --verify: the device to re-run on "
                                         "(default: the records' device type)."),
) -> None:
    """Leaderboards of every result in the store: one board per corpus, protocol, partition and threat model.

    Example: serbench leaderboard --results results --out leaderboard
    Example: serbench leaderboard --results results/ren2020 --layout ren2020 --format markdown
    Example: serbench leaderboard --results leaderboard --format latex --board SLUG
    Example: serbench leaderboard --verify submission.tar.gz --sample 2 --seed 7
    Example: serbench leaderboard --verify leaderboard --spec benchmarks/quickstart.yaml --spec
    benchmarks/corruptions.yaml --retrain --sample 2
    """
    if verify is not None:  # a submission's sample re-run (serbench.bench.verify_sample), not a board
        from serbench.cli.submit import verify_command

        return verify_command(verify, sample, seed, tolerance, retrain, verify_specs, device)
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
        if board_slug is not None:
            raise SerbenchError("--board picks a board; a --layout prints the paper's tables: give one")
        _print_layout(layout.value, records, metric, fmt, out is not None or check is not None)
        return
    reference = _reference_row(ce_reference)
    boards = build_boards(records, metric=metric, ce_reference=reference)
    if not boards:
        raise SerbenchError(f"{results}: no evaluation records; run a spec first")
    _check_reference(reference, boards)
    if board_slug is not None:
        if out is not None or check is not None:
            raise SerbenchError("--board prints one board to stdout; drop --out and --check")
        boards = _one_board(board_slug, boards)

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
    if fmt == "latex" or (board_slug is not None and fmt != "terminal"):
        typer.echo(_board_text(boards, records, metric, fmt), nl=False)
        return
    if fmt != "terminal":
        from serbench.leaderboard import publish

        files, _ = publish.build(records, metric, render=fmt == "html", ce_reference=reference)
        typer.echo(files[f"leaderboard.{ {'markdown': 'md'}.get(fmt, fmt) }"].decode(), nl=False)
        return
    from serbench.leaderboard.board_table import board_table

    _print_tables([board_table(b) for b in boards])
    costs = {k: v for k, v in defense_costs(records).items()
             if k[1] != "standard" and (board_slug is None or any(k in b.rows for b in boards))}
    if costs:
        console.print(escape("training time per iteration relative to standard: " + ", ".join(
            f"{m} + {d} x{c['relative_time_per_iteration']:.2f}" for (m, d), c in costs.items())))


def _one_board(slug: str, boards: list[Any]) -> list[Any]:
    """The board ``--board`` names, or an error listing the slugs (with the closest one)."""
    from serbench.suggest import did_you_mean

    slugs = [b.slug for b in boards]
    if slug not in slugs:
        raise SerbenchError(f"--board {slug!r}: no such board{did_you_mean(slug, slugs)}; boards: {', '.join(slugs)}")
    return [b for b in boards if b.slug == slug]


def _board_text(boards: list[Any], records: list, metric: str, fmt: str) -> str:
    """``boards`` in ``fmt`` straight from their tables: LaTeX always, the other formats with ``--board`` (one
    board's table, its caption and footnotes, without the plots a published folder links)."""
    from serbench.leaderboard.board_table import board_table

    tables = [board_table(b) for b in boards]
    if fmt == "latex":
        from serbench.leaderboard.latex import latex_document

        return latex_document(tables, "serbench leaderboard")
    if fmt == "markdown":
        from serbench.leaderboard.markdown import markdown

        return markdown(tables)
    from serbench.leaderboard.export import to_csv, to_json

    if fmt == "json":
        return to_json(boards, records, metric)
    if fmt == "csv":
        return to_csv(boards)
    import hashlib

    from serbench.leaderboard.html import page

    return page(tables, {}, {}, hashlib.sha256(to_json(boards, records, metric).encode()).hexdigest())


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
    if fmt not in ("terminal", "markdown", "json", "latex"):
        raise SerbenchError(f"--layout with --format {fmt}: use terminal, markdown, json or latex")
    tables = layouts.layout_tables(layout, records, metric)
    if not any(t.rows for t in tables):
        raise SerbenchError(f"--layout {layout}: no record fits the layout; see `serbench leaderboard --help`")
    if fmt == "markdown":
        typer.echo(markdown(tables), nl=False)
    elif fmt == "json":
        typer.echo(layouts.to_json(tables, layout, metric), nl=False)
    elif fmt == "latex":
        from serbench.leaderboard.latex import latex_document

        typer.echo(latex_document(tables), nl=False)
    else:
        _print_tables(tables)
