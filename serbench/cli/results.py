"""CLI: the results store — list records, export them as one flat table."""

from __future__ import annotations

import csv
import io
import json
from enum import StrEnum
from pathlib import Path
from typing import Any, Optional

import typer

from rich.markup import escape

from serbench.cli.app import RESULTS_OPT, app, console
from serbench.cli.paths import check_output_file
from serbench.errors import SerbenchError
from serbench.files import write_bytes_atomic

results_app = typer.Typer(help="Inspect and export the results store.", no_args_is_help=True)
app.add_typer(results_app, name="results")


class Status(StrEnum):
    """A record's status, to list or export only the ok or only the failed cells."""

    ok = "ok"
    failed = "failed"


COLUMNS = ("key", "spec_name", "dataset", "protocol", "fold", "model", "defense", "seed", "partition", "type",
           "attack", "noise", "corruption", "severity", "domain", "norm", "eps", "snr_db", "uar", "wa", "macro_f1",
           "status", "error", "warnings")


def flat_row(rec: dict[str, Any]) -> dict[str, Any]:
    """One eval record as flat columns (names, fold, seed, condition, metrics, status)."""
    t, c, m = rec["train"], rec["condition"], rec.get("metrics") or {}
    threat = c.get("threat", {})
    return {
        "key": rec["key"], "spec_name": rec.get("spec_name"), "dataset": t["dataset"]["name"],
        "protocol": t["dataset"].get("protocol"), "fold": t["dataset"].get("fold"), "model": t["model"]["name"],
        "defense": t["defense"]["name"], "seed": t["seed"], "partition": rec["partition"], "type": c["type"],
        "attack": c.get("attack", {}).get("name"), "noise": c.get("noise", {}).get("name"),
        "corruption": c.get("corruption", {}).get("name"), "severity": c.get("severity"),
        "domain": threat.get("domain"), "norm": threat.get("norm"), "eps": threat.get("eps"),
        "snr_db": c.get("snr_db"), "uar": m.get("uar"), "wa": m.get("wa"), "macro_f1": m.get("macro_f1"),
        "status": rec["status"], "error": rec.get("error"), "warnings": " | ".join(rec.get("warnings", [])),
    }


def _sort_key(row: dict[str, Any]) -> tuple:
    return tuple("" if row[c] is None else str(row[c]) for c in
                 ("dataset", "protocol", "fold", "model", "defense", "seed", "partition", "type", "attack",
                  "noise", "corruption", "domain", "norm")) + (row["eps"] or 0.0, row["snr_db"] or 0.0,
                                                               row["severity"] or 0, row["key"])


def _rows(results: Path, status: Status | None) -> list[dict[str, Any]]:
    from serbench.bench.store import Store

    if not results.is_dir():
        raise SerbenchError(f"{results}: no results directory; run `serbench run SPEC --results {results}` first")
    rows = [flat_row(r) for r in Store(results).records(strict=False) if r.get("kind") == "eval"]
    return sorted((r for r in rows if status is None or r["status"] == status.value), key=_sort_key)


@results_app.command("ls")
def ls(
    results: Path = RESULTS_OPT,
    status: Optional[Status] = typer.Option(None, "--status", help="Only ok or only failed cells."),
    as_json: bool = typer.Option(False, "--json", help="JSON rows instead of a table."),
) -> None:
    """List the eval records in the store, one line per cell.

    Example: serbench results ls --results results --status failed
    """
    rows = _rows(results, status)
    if as_json:
        console.print_json(data=rows)
        return
    from rich.table import Table

    table = Table(title=escape(f"{results}: {len(rows)} eval records"), title_justify="left")
    for col in ("key", "dataset", "fold", "model", "defense", "seed", "partition", "condition", "uar", "status"):
        table.add_column(col, justify="right" if col in ("fold", "seed", "uar") else "left")
    for r in rows:
        cond = " ".join(str(x) for x in (r["type"], r["attack"] or r["noise"] or r["corruption"] or "", _budget(r))
                        if x)
        uar = "" if r["uar"] is None else f"{100 * r['uar']:.1f}"
        state = "[green]ok[/]" if r["status"] == "ok" else f"[red]failed[/] {escape(r['error'] or '')}"
        table.add_row(*(escape(str(v)) for v in (r["key"][:12], r["dataset"], r["fold"], r["model"], r["defense"],
                                                 r["seed"], r["partition"], cond, uar)), state)
    console.print(table)


def _budget(r: dict[str, Any]) -> str:
    if r["eps"] is not None:
        return f"{r['domain']}/{r['norm']} eps={r['eps']:g}"
    if r["severity"] is not None:
        return f"severity {r['severity']}"
    return f"{r['snr_db']:g} dB" if r["snr_db"] is not None else ""


@results_app.command("export")
def export(
    results: Path = RESULTS_OPT,
    as_csv: bool = typer.Option(False, "--csv", help="CSV, one row per eval record."),
    as_json: bool = typer.Option(False, "--json", help="JSON, a list of rows."),
    output: Path = typer.Option(None, "--output", "-o", help="Write here (atomically) instead of stdout."),
    status: Optional[Status] = typer.Option(None, "--status", help="Only ok or only failed cells."),
) -> None:
    """Export every eval record as one flat table (CSV or JSON), sorted deterministically.

    Example: serbench results export --csv -o results.csv
    """
    if as_csv == as_json:
        raise SerbenchError("results export: choose exactly one of --csv or --json")
    if output is not None:  # before reading the store: nothing to write to is known up front
        check_output_file(output, "--output")
    rows = _rows(results, status)
    if as_csv:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        text = buf.getvalue()
    else:
        text = json.dumps(rows, indent=1, sort_keys=True) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    write_bytes_atomic(output, text.encode())
    console.print(escape(f"{len(rows)} rows -> {output}"), highlight=False)


@results_app.command("collect")
def collect(
    spec_path: Path = typer.Argument(..., metavar="SPEC", help="The benchmark spec whose cells to collect."),
    results: Path = RESULTS_OPT,
    out: Path = typer.Option(..., "--out", "-o", help="Results directory to copy the records into (records/)."),
    threads: int = typer.Option(None, "--threads", min=1, help="The --threads the spec was run with, for its "
                                "cells with training.threads: auto (default: the CPUs this process may use)."),
) -> None:
    """Copy exactly one spec's current records (train and eval) into another results directory.

    Records of other specs and of older component versions stay behind, so the copy is what a leaderboard of
    this spec should show; refused when any of its cells is missing or failed.

    Example: serbench results collect benchmarks/corruptions.yaml --results results/corruptions --out leaderboard
    """
    from serbench.bench.collect import copy_spec_records
    from serbench.bench.spec import load_spec
    from serbench.bench.store import Store

    if not results.is_dir():
        raise SerbenchError(f"{results}: no results directory; run `serbench run {spec_path} --results {results}` "
                            "first")
    copied = copy_spec_records(load_spec(spec_path), Store(results), out, threads)
    console.print(escape(f"{copied} records of {spec_path} -> {out / 'records'}"), highlight=False)
