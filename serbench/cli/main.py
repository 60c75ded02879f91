"""The ``serbench`` command line (Typer + rich): the console entry point.

Importing the command modules registers their commands on the app; the import order is the command order
``--help`` shows. They import ``serbench.cli.app``, never this module, so no import goes in a circle.
"""

from __future__ import annotations

from serbench.cli import components, bench, board, compare, data, results  # noqa: F401  (registers commands)
from serbench.cli.app import app, run_app

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one-line errors, exit 1 for user errors and 2 for usage errors."""
    run_app(argv)
