"""The Typer app every subcommand module registers on, its consoles, and how errors become exit codes.

Subcommand modules import this module, never ``serbench.cli.main``: ``main`` imports them to register their
commands, so nothing imports back into it. Errors a user can cause print one line and exit 1; usage errors
exit 2; ``SERBENCH_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations

import os
import sys

import typer

try:  # typer >= 0.2x vendors its own click; older typer uses the click package
    from typer._click import exceptions as _click_exc
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as _click_exc
from rich.console import Console
from rich.markup import escape

from serbench.errors import SerbenchError, UsageError

app = typer.Typer(
    name="serbench",
    help="How robust are speech emotion recognition models, really? Train once, attack every way, rank.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Piped output (CI logs, files) gets a wide console so leaderboard tables keep full component names, unless
# COLUMNS says how wide the reader is (`COLUMNS=80 serbench leaderboard | less` shows what an 80-column terminal does).
_COLUMNS = os.environ.get("COLUMNS", "")
console = Console() if Console().is_terminal else Console(width=int(_COLUMNS) if _COLUMNS.isdigit() else 160)
err_console = Console(stderr=True)
RESULTS_OPT = typer.Option("results", "--results", "-r", help="Results directory (the store).")

# `serbench new-plugin` (serbench.cli.scaffold imports nothing from this module), registered where the app is made.
from serbench.cli.scaffold import new_plugin  # noqa: E402

app.command("new-plugin")(new_plugin)


@app.callback()
def _global_options(
    disable_plugins: str = typer.Option(
        "", "--disable-plugins", metavar="PKG1,PKG2",
        help="Switch off every plugin of these distributions (comma-separated), as SERBENCH_DISABLE_PLUGINS does; "
             "added to it, so workers and subprocesses inherit it. Example: serbench --disable-plugins "
             "serbench-art list"),
) -> None:
    """Options for every command (given before the command's name)."""
    if disable_plugins.strip():
        from serbench.registry import disable_plugins as switch_off

        switch_off(disable_plugins)


def run_app(argv: list[str] | None = None) -> None:
    """Run ``app`` as a command: one-line errors, exit 1 for user errors and 2 for usage errors."""
    try:
        code = app(args=argv, standalone_mode=False)
    except SerbenchError as exc:
        if os.environ.get("SERBENCH_DEBUG"):
            raise
        # escape: messages quote user text (file names like [draft]x.yaml, values like [nan, nan])
        err_console.print(f"[red]error:[/red] {escape(' '.join(str(exc).split()))}", highlight=False,
                          soft_wrap=True)
        sys.exit(2 if isinstance(exc, UsageError) else 1)
    except _click_exc.UsageError as exc:
        exc.show()
        sys.exit(2)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except _click_exc.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
