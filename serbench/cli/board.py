"""CLI: leaderboards."""

from __future__ import annotations

from pathlib import Path

import typer

from serbench.cli.main import RESULTS_OPT, app, console
from serbench.errors import SerbenchError


@app.command()
def leaderboard(
    results: Path = RESULTS_OPT,
    metric: str = typer.Option("uar", "--metric", help="uar, wa or macro_f1."),
) -> None:
    """Print the leaderboard of every result in the store.

    Example: serbench leaderboard --results results
    """
    from serbench.bench.store import Store
    from serbench.leaderboard import build_boards
    from serbench.leaderboard.aggregate import defense_costs
    from serbench.leaderboard.terminal import rich_table

    if not results.is_dir():
        raise SerbenchError(f"{results}: no results directory; run `serbench run SPEC --results {results}` first")
    if metric not in ("uar", "wa", "macro_f1"):
        raise SerbenchError(f"--metric: unknown metric {metric!r}; use uar, wa or macro_f1")
    records = list(Store(results).records())
    boards = build_boards(records, metric=metric)
    if not boards:
        raise SerbenchError(f"{results}: no evaluation records; run a spec first")
    for board in boards:
        console.print(rich_table(board))
    costs = {k: v for k, v in defense_costs(records).items() if k[1] != "standard"}
    if costs:
        console.print("training time per iteration relative to standard: " + ", ".join(
            f"{m} + {d} x{c['relative_time_per_iteration']:.2f}" for (m, d), c in costs.items()))
