"""The ``serbench`` command line (Typer + rich): the console entry point.

Importing the command modules registers their commands on the app; the import order is the command order
``--help`` shows. They import ``serbench.cli.app``, never this module, so no import goes in a circle.
"""

from __future__ import annotations

import sys

from rich.markup import escape

from serbench.bench.environment import configure_allocator, configure_cpu_kernels
from serbench.cli import components, bench, board, compare, data, results  # noqa: F401  (registers commands)
from serbench.cli import submit  # noqa: F401  (registers `serbench submit`)
from serbench.cli.app import app, err_console, run_app
from serbench.errors import SerbenchError

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one-line errors, exit 1 for user errors and 2 for usage errors.

    The C allocator is set first (``SERBENCH_MALLOC``, :func:`serbench.bench.environment.configure_allocator`),
    before any command makes its large allocations, and the CPU kernels before torch loads
    (``SERBENCH_CPU_KERNELS``, :func:`serbench.bench.environment.configure_cpu_kernels`); a bad value is a
    one-line error like any other.
    """
    try:
        configure_cpu_kernels()
        configure_allocator()
    except SerbenchError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(1)
    run_app(argv)
