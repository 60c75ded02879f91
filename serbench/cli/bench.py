"""CLI: running benchmark specs (and, later, inspecting the results store)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from serbench.cli.main import RESULTS_OPT, app, err_console


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


@app.command()
def run(
    spec_path: Path = typer.Argument(..., metavar="SPEC", help="Benchmark spec (YAML)."),
    results: Path = RESULTS_OPT,
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda[:N]."),
    force: bool = typer.Option(False, "--force", help="Recompute every cell, cached or not."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Recompute failed cells too."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Run a benchmark spec: train each model once, evaluate every condition, write one record per cell.

    Example: serbench run benchmarks/quickstart.yaml --results results
    """
    from serbench.bench.runner import LocalRunner
    from serbench.bench.spec import load_spec
    from serbench.bench.store import Store

    spec = load_spec(spec_path)
    with _RunProgress(quiet) as progress:
        runner = LocalRunner(spec, Store(results), device=device, force=force, retry_failed=retry_failed,
                             progress=progress)
        summary = runner.run()
    err_console.print(
        f"{spec.name}: {summary.computed} computed, {summary.cached} cached, {len(summary.failed)} failed "
        f"in {summary.seconds:.1f} s -> {results}"
    )
    for label, reason in summary.failed:
        err_console.print(f"[red]failed[/red] {label}: {reason}", highlight=False)
    if not summary.ok:
        raise typer.Exit(1)
