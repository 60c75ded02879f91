"""CLI: ``serbench submit`` (check a spec's results and pack a submission bundle) and the verification that
``serbench leaderboard --verify`` runs (re-run a seeded sample of a bundle's cells, accept or reject)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from serbench.cli.app import RESULTS_OPT, app, console, err_console


@app.command()
def submit(
    spec_path: Path = typer.Argument(..., metavar="SPEC", help="The benchmark spec the results were computed for."),
    results: Path = RESULTS_OPT,
    out: Path = typer.Option(..., "--out", "-o", help="The bundle to write: NAME.tar.gz, or a folder (no suffix)."),
    threads: int = typer.Option(None, "--threads", min=1, help="The --threads the spec was run with, for its "
                                "cells with training.threads: auto (default: the CPUs this process may use)."),
    device_type: str = typer.Option("cpu", "--device-type", help="The device type the spec was run on (cpu, cuda)."),
    no_checkpoints: bool = typer.Option(False, "--no-checkpoints", help="Leave the train cells' checkpoints out "
                                        "(smaller; verifiers must then retrain with --retrain)."),
) -> None:
    """Check a spec's results (every cell present and ok, digests, metrics, environment, component versions) and
    write a submission bundle: the spec, the records, the checkpoints and a manifest of sha256 digests.

    Example: serbench submit benchmarks/quickstart.yaml --results results/quickstart --out quickstart.tar.gz
    """
    from serbench.bench.submission import write_bundle

    manifest = write_bundle(spec_path, results, out, threads=threads, device_type=device_type,
                            checkpoints=not no_checkpoints)
    counts = manifest["records"]
    console.print(escape(f"{out}: {counts['train']} train and {counts['eval']} eval records of "
                         f"{manifest['spec']['name']}, {manifest['checkpoints']} checkpoints, "
                         f"{len(manifest['components'])} components"), highlight=False, soft_wrap=True)


def verify_command(bundle: Path, sample: int, seed: Optional[int], tolerance: Optional[float], retrain: bool,
                   specs: Optional[list[Path]], device: Optional[str]) -> None:
    """``serbench leaderboard --verify``: one line per re-run cell, then accepted (exit 0) or rejected (exit 1).
    Without ``--seed`` a fresh seed is drawn and printed, so a rejection can be reproduced."""
    from serbench.bench.verify_sample import DEFAULT_TOLERANCE, verify_sample

    seed = random.SystemRandom().randrange(2**31) if seed is None else seed
    tolerance = DEFAULT_TOLERANCE if tolerance is None else tolerance
    report = verify_sample(bundle, sample, seed=seed, tolerance=tolerance, retrain=retrain, specs=specs,
                           device=device, progress=lambda line: err_console.print(escape(line), highlight=False))
    for cell in report.cells:
        console.print(escape(cell.line(tolerance)), highlight=False, soft_wrap=True)
    how = "retrained" if retrain else "re-evaluated from its checkpoints"
    verdict = "accepted" if report.accepted else "rejected"
    failed = sum(not c.accepted(tolerance) for c in report.cells)
    console.print(escape(f"{bundle}: {verdict}: {len(report.cells) - failed} of {len(report.cells)} sampled cells "
                         f"({how}, seed {seed}) within tolerance {tolerance:g}"), highlight=False, soft_wrap=True)
    if not report.accepted:
        raise typer.Exit(1)
