"""CLI: running benchmark specs (and, later, inspecting the results store)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rich.markup import escape

from serbench.cli.app import RESULTS_OPT, app, console, err_console
from serbench.cli.paths import check_output_dir
from serbench.errors import SerbenchError


class _RunProgress:
    """Rich progress bars for a run: the matrix of eval cells, and the current training."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=err_console,
                            disable=quiet)
        self.cells = None
        self.training = None

    def __enter__(self) -> "_RunProgress":
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bar.__exit__(*exc)

    def __call__(self, event: str, payload: dict[str, Any]) -> None:
        if event == "start":
            self.cells = self.bar.add_task("cells", total=payload["cells"], info="")
        elif event == "cached":
            self.bar.advance(self.cells, payload["n"])
        elif event == "train_start":
            self.training = self.bar.add_task(payload["label"], total=None, info="")
        elif event == "train_step" and self.training is not None:
            info = f"valid UAR {payload['valid_uar']:.3f}" if "valid_uar" in payload else None
            kwargs = {"info": info} if info else {}
            self.bar.update(self.training, completed=payload["it"], total=payload["total"], **kwargs)
        elif event == "train_end" and self.training is not None:
            self.bar.remove_task(self.training)
            self.training = None
        elif event == "cell":
            self.bar.advance(self.cells, 1)
            self.bar.update(self.cells, info=payload["label"][-60:])
        elif event == "train_cell_done":  # the Ray executor reports whole train cells
            self.bar.advance(self.cells, payload["n"])
            self.bar.update(self.cells, info=payload["label"][-60:])


class Executor(StrEnum):
    """Where ``run`` computes the cells; a Typer choice, so a bad value is a usage error (exit 2)."""

    local = "local"
    ray = "ray"


@app.command()
def run(
    spec_path: Path = typer.Argument(..., metavar="SPEC", help="Benchmark spec (YAML)."),
    results: Path = RESULTS_OPT,
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda[:N]."),
    force: bool = typer.Option(False, "--force", help="Recompute every cell, cached or not."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Recompute failed cells too."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List every cell, its key and whether it is done; "
                                 "compute nothing, write nothing (corpora are listed and fingerprinted, "
                                 "no audio is decoded)."),
    as_json: bool = typer.Option(False, "--json", help="With --dry-run: the cell list as JSON."),
    executor: Executor = typer.Option(Executor.local, "--executor", help="local (in-process) or ray."),
    address: str = typer.Option(None, "--address", help="Ray cluster address (default: start a local Ray)."),
    num_cpus: int = typer.Option(None, "--num-cpus", help="CPUs of the local Ray instance (default: all)."),
    cpus_per_task: float = typer.Option(1.0, "--cpus-per-task", help="Ray CPUs per train-cell task."),
    gpus_per_task: float = typer.Option(0.0, "--gpus-per-task", help="Ray GPUs per train-cell task."),
    threads_per_task: int = typer.Option(None, "--threads-per-task", min=1,
                                         help="torch threads in each Ray task (default: its --cpus-per-task)."),
    threads: int = typer.Option(None, "--threads", min=1,
                                help="torch threads of the local executor (default: the CPUs this process may "
                                     "use). On a shared host give the cores that are free."),
    save_examples: int = typer.Option(0, "--save-examples", min=0, metavar="K",
                                      help="Keep K clean/changed audio pairs (first K test utterances by id) of "
                                           "every attack, noise and corruption cell computed in this run, as FLAC "
                                           "beside the records (<results>/examples/<key>/); feature-domain attacks "
                                           "rendered with Griffin-Lim. Cached cells: add --force."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Run a benchmark spec: train each model once, evaluate every condition, write one record per cell.

    Example: serbench run benchmarks/quickstart.yaml --results results
    """
    from serbench.bench.runner import LocalRunner
    from serbench.bench.spec import load_spec
    from serbench.bench.store import Store
    from serbench.registry import editable_warning

    if as_json and not dry_run:
        raise SerbenchError("--json goes with --dry-run (the results are in the store: serbench results ls --json)")
    if results.exists() and not results.is_dir():
        raise SerbenchError(f"--results {results}: is a file, not a directory; give the results folder")
    if not dry_run:  # before any compute: a run must be able to write its records
        check_output_dir(results, "--results")
    spec = load_spec(spec_path)
    store = Store(results)
    for note in spec.notes:
        err_console.print(f"[yellow]note[/yellow] {escape(f'{spec_path}: {note}')}", highlight=False)
    _check_cells_left(spec, store)
    if dry_run:
        _dry_run(spec, store, as_json, device, threads)
        return
    if warning := editable_warning():  # code may have changed under the same versions: cached cells reused
        err_console.print(f"[yellow]warning[/yellow] {escape(warning)}", highlight=False, soft_wrap=True)
    if save_examples and executor is Executor.ray:
        raise SerbenchError("--save-examples runs with the local executor; drop --executor ray for that run")
    with _RunProgress(quiet) as progress:
        if executor is Executor.ray:
            from serbench.bench.ray_executor import run_with_ray

            summary = run_with_ray(spec, store, address=address, device=device, force=force,
                                   retry_failed=retry_failed, num_cpus=num_cpus, cpus_per_task=cpus_per_task,
                                   gpus_per_task=gpus_per_task, threads_per_task=threads_per_task,
                                   progress=progress)
        else:
            from serbench.bench.environment import set_threads

            runner = LocalRunner(spec, store, device=device, force=force, retry_failed=retry_failed,
                                 progress=progress, threads=set_threads(threads), save_examples=save_examples)
            summary = runner.run()
    # Every failed cell of the spec counts, the ones a previous run left failed too: a retry stays red.
    earlier = f" ({len(summary.failed_cached)} from earlier runs)" if summary.failed_cached else ""
    err_console.print(
        escape(f"{spec.name}: {summary.computed} computed, {summary.cached} cached, {summary.failed_total} failed"
               f"{earlier} in {summary.seconds:.1f} s -> {results}"), highlight=False,
    )
    for label, reason in summary.failed:
        err_console.print(f"[red]failed[/red] {escape(f'{label}: {reason}')}", highlight=False)
    for label, reason in summary.failed_cached:
        err_console.print(f"[red]failed[/red] (earlier run) {escape(f'{label}: {reason}')}", highlight=False)
    if summary.failed_cached:
        err_console.print("recompute the failed cells with --retry-failed", highlight=False)
    if not summary.ok:
        raise typer.Exit(1)


def _check_cells_left(spec: Any, store: Any) -> None:
    """Refuse a spec whose ``exclude`` rules drop every cell: it would exit 0 having computed nothing."""
    from serbench.bench.runner import LocalRunner

    if not spec.exclude:
        return
    every_fold_named = all(d.folds is not None for d in spec.datasets)  # then no corpus needs loading
    if not (spec.train_cells() if every_fold_named else LocalRunner(spec, store, device="cpu").train_cells()):
        raise SerbenchError(f"{spec.path}: exclude: the rules exclude every cell, so nothing would run; "
                            "remove or narrow a rule (`serbench run SPEC --dry-run` lists the cells)")


def _dry_run(spec: Any, store: Any, as_json: bool, device: str = "cpu", threads: int | None = None) -> None:
    """Every cell of the matrix with its key and its state in the store; nothing computed or written. Keys are
    those a local run with the same ``--device`` and ``--threads`` computes (a CUDA plan needs no GPU here)."""
    from serbench.bench.environment import resolve_device
    from serbench.bench.runner import LocalRunner

    device_type = "cuda" if device.startswith("cuda") else resolve_device(device).type
    runner = LocalRunner(spec, store, device="cpu", threads=threads, device_type=device_type)
    counts = {i: len(runner.corpus(i).folds(d.protocol)) for i, d in enumerate(spec.datasets) if d.folds is None}
    plan = runner.plan()
    unused = spec.unused_excludes(spec.all_train_cells(counts))
    rows = []

    def state(key: str) -> str:  # a dry run moves nothing; an invalid record is missing, as the runner sees it
        return {"ok": "done", "failed": "failed"}.get(store.status(key, quarantine=False) or "", "missing")

    for tc, evals in plan:
        # The runner's rule (LocalRunner.needs_work): a train cell is done when its train record is, not when
        # a checkpoint exists (a run killed between the two writes leaves a checkpoint without its record).
        rows.append({"kind": "train", "key": tc.key, "label": runner.describe_train(tc), "state": state(tc.key),
                     "checkpoint": store.checkpoint_path(tc.key).exists()})
        for e in evals:
            rows.append({"kind": "eval", "key": e.key, "train_key": tc.key, "partition": e.partition,
                         "label": runner.describe(e), "state": state(e.key)})
    evals = [r for r in rows if r["kind"] == "eval"]
    trains_left = sum(r["state"] != "done" for r in rows if r["kind"] == "train")
    totals = {"train_cells": len(plan), "eval_cells": len(evals),
              **{s: sum(r["state"] == s for r in evals) for s in ("done", "failed", "missing")}}
    warnings = [f"exclude[{i}] matches no cell" for i in unused]
    if as_json:
        console.print_json(data={"spec": spec.name, "path": spec.path, "results": str(store.root),
                                 "cells": rows, "totals": totals, "notes": spec.notes, "warnings": warnings})
        return
    from rich.table import Table

    table = Table(title=escape(f"{spec.name}: dry run against {store.root}"), title_justify="left")
    for col in ("kind", "key", "cell", "state"):
        table.add_column(col)
    style = {"done": "green", "failed": "red", "missing": "yellow"}
    for r in rows:
        table.add_row(r["kind"], r["key"][:12], escape(r["label"]), f"[{style[r['state']]}]{r['state']}[/]")
    console.print(table)
    left = f" ({trains_left} without an ok train record)" if trains_left else ""
    console.print(f"{totals['train_cells']} train cells{left}, {totals['eval_cells']} eval cells: {totals['done']} "
                  f"done, {totals['failed']} failed, {totals['missing']} missing", highlight=False)
    for w in warnings:
        err_console.print(f"[yellow]warning[/yellow] {escape(f'{spec.path}: {w}')}", highlight=False)


@app.command()
def listen(
    spec_path: Path = typer.Argument(..., metavar="SPEC", help="A spec with a corruptions section."),
    out: Path = typer.Option(..., "--out", help="Folder for the WAV files and index.html (leaderboard/ser-c/listen)."),
    utterances: int = typer.Option(2, "--utterances", min=1, max=10, help="Utterances to play (of different labels)."),
    seconds: float = typer.Option(3.0, "--seconds", min=0.5, max=30.0, help="Keep at most this much of each."),
) -> None:
    """Write a listening page: the spec's first corpus under every corruption and severity it evaluates.

    Example: serbench listen benchmarks/corruptions.yaml --out leaderboard/ser-c/listen
    """
    from serbench.bench.runner import LocalRunner
    from serbench.bench.spec import load_spec
    from serbench.bench.store import Store
    from serbench.corruptions import listening
    from serbench.leaderboard.aggregate import params_key, variant_label

    spec = load_spec(spec_path)
    if not spec.corruptions:
        raise SerbenchError(f"{spec_path}: no corruptions section; nothing to listen to")
    check_output_dir(out, "--out")
    siblings: dict[str, set[str]] = {}
    for axis in spec.corruptions:
        siblings.setdefault(axis.resolved.requested, set()).add(params_key(axis.resolved.identity()))
    listed = [listening.Listed(variant_label(a.resolved.requested, params_key(a.resolved.identity()),
                                             siblings[a.resolved.requested]),
                               a.resolved.requested, a.resolved.create(), a.severity) for a in spec.corruptions]
    corpus = LocalRunner(spec, Store(out / ".unused"), device="cpu").corpus(0)
    files = listening.examples(corpus, listed, count=utterances, seconds=seconds)
    listening.write(out, files)
    console.print(escape(f"{len(files)} files -> {out}/index.html"), highlight=False, soft_wrap=True)
