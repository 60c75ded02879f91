"""CLI: the component registries — list, inspect, diagnose and validate models, attacks, noises, defenses."""

from __future__ import annotations

import fnmatch
import json
from typing import Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

import serbench
from serbench.cli.app import app, console, err_console
from serbench.registry import DISABLE_ENV, KINDS, disabled_packages, normalize_package, registry


def _parse_params(items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` options -> a mapping, each value read as YAML (numbers, booleans, lists stay typed)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{item!r}: expected KEY=VALUE, e.g. root=/data/IEMOCAP", param_hint="--param")
        try:
            out[key.strip()] = yaml.safe_load(value) if value.strip() else value
        except yaml.YAMLError:
            out[key.strip()] = value
    return out


def _check_kind(kind: str) -> str:
    registry(kind)  # raises with a did-you-mean
    return kind


@app.command("list")
def list_cmd(
    kind: Optional[str] = typer.Argument(None, help=f"One of: {', '.join(KINDS)}. Omit for all."),
    pattern: str = typer.Option("*", "--filter", "-f", help="Shell-style wildcard, e.g. 'cnn*'."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List components, plugins' summaries and variants included, without importing torch or any plugin.

    Reads a component index cached per environment and rebuilt (in a separate process) when the installed
    distributions change. Broken plugins are listed with their one-line reason; the exit code stays 0.

    Example: serbench list models --filter 'cnn*'
    """
    from serbench import component_index

    kinds = [_check_kind(kind)] if kind else list(KINDS)
    _warn_unknown_disabled()
    try:
        index = component_index.load()
    except component_index.IndexUnavailable as exc:
        err_console.print(f"[yellow]warning:[/yellow] {escape(str(exc))}; listing plugins by name only",
                          highlight=False, soft_wrap=True)
        index = component_index.build(load_plugins=False)
    rows = [r for k in kinds for r in index["kinds"].get(k, []) if fnmatch.fnmatchcase(r["name"], pattern)]
    if as_json:
        print(json.dumps(rows, indent=1))
        return
    table = Table(show_lines=False)
    for col in ("kind", "name", "source", "summary"):
        table.add_column(col, overflow="fold")
    for r in rows:
        summary = escape(r["summary"])
        if r["status"] == "broken":
            summary = f"[red]{summary}[/red]"
        elif r["status"] == "disabled":
            summary = f"[dim]{summary}[/dim]"
        table.add_row(r["kind"], escape(r["name"]), escape(r["source"]), summary)
    console.print(table)


def _warn_unknown_disabled() -> None:
    """A name in SERBENCH_DISABLE_PLUGINS that provides no plugin is most likely a typo: say so (one line)."""
    off = disabled_packages()
    if not off:
        return
    have = {normalize_package(e.package) for k in KINDS for e in registry(k).entries()}
    unknown = sorted(off - have)
    if unknown:
        err_console.print(f"[yellow]warning:[/yellow] {DISABLE_ENV} names {', '.join(unknown)}, which provide(s) "
                          f"no serbench plugin here (installed plugin packages: {', '.join(sorted(have)) or 'none'})",
                          highlight=False, soft_wrap=True)


@app.command()
def info(
    kind: str = typer.Argument(..., help=f"One of: {', '.join(KINDS)}."),
    name: str = typer.Argument(..., help="Component name, e.g. cnn4, cnn4.small or art.pgd."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show a component's metadata (loads it if it is a plugin); a variant shows its resolved defaults.

    Example: serbench info models cnn4.small
    """
    resolved = registry(_check_kind(kind)).resolve(name)
    data = resolved.info.as_dict()
    if name != resolved.info.name:  # a variant: its own name, and the base's defaults with its parameters applied
        data = {"name": name, "variant_of": resolved.info.name, **{k: v for k, v in data.items() if k != "name"},
                "defaults": resolved.params}
    if as_json:
        print(json.dumps(data, indent=1, default=str))
        return
    for key, value in data.items():
        console.print(f"[bold]{key}[/bold]: {escape(str(value))}")


@app.command()
def doctor(as_json: bool = typer.Option(False, "--json")) -> None:
    """Versions, device, and every plugin with its status (loads all plugins).

    Example: serbench doctor
    """
    import platform

    import torch

    report: dict[str, Any] = {
        "serbench": serbench.__version__, "python": platform.python_version(), "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "components": [], "broken": [],
    }
    try:
        import torchaudio

        report["torchaudio"] = torchaudio.__version__
    except Exception as exc:  # reported, not fatal: doctor exists to show such problems
        report["torchaudio"] = f"broken: {exc}"
    report["codecs"] = _codecs()
    for kind in KINDS:
        ok, broken = registry(kind).check_all()
        report["components"] += [{"kind": kind, "name": i.name, "source": i.source, "version": i.version}
                                 for i in ok]
        report["broken"] += [b.__dict__ for b in broken]
    if as_json:
        print(json.dumps(report, indent=1))
    else:
        for key in ("serbench", "python", "torch", "torchaudio", "cuda_available", "device", "codecs"):
            console.print(f"[bold]{key}[/bold]: {escape(str(report[key]))}")
        table = Table(title="components")
        for col in ("kind", "name", "source", "version", "status"):
            table.add_column(col)
        for c in report["components"]:
            table.add_row(c["kind"], escape(c["name"]), escape(c["source"]), escape(str(c["version"])),
                          "[green]ok[/green]")
        for b in report["broken"]:
            table.add_row(b["kind"], escape(b["name"]), escape(b["package"]), "",
                          f"[red]broken: {escape(b['error'])}[/red]")
        console.print(table)
    if report["broken"]:
        raise typer.Exit(1)


def _codecs() -> str:
    """The lossy codecs the SER-C codec corruptions can use here, through libsndfile (which has them or not)."""
    try:
        import soundfile

        from serbench.corruptions.codec import CODECS, available_codecs

        have = available_codecs()
        missing = [c for c in CODECS if c not in have]
        return (f"{', '.join(have) or 'none'} (libsndfile {soundfile.__libsndfile_version__}"
                + (f"; missing: {', '.join(missing)}" if missing else "") + ")")
    except Exception as exc:  # reported, not fatal: doctor exists to show such problems
        return f"broken: {type(exc).__name__}: {exc}"


@app.command()
def validate(
    kind: str = typer.Argument(..., help="models, attacks, noises, defenses, corruptions or datasets."),
    name: str = typer.Argument(..., help="Component name, e.g. densenet-lstm, art.pgd or iemocap."),
    params: list[str] = typer.Option([], "--param", "-p", metavar="KEY=VALUE",
                                     help="A parameter for the component (repeatable; VALUE is read as YAML), "
                                          "e.g. --param root=/data/IEMOCAP for a corpus's local copy."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Run a component's conformance checks on tiny inputs (exit 1 if any fails).

    Examples: serbench validate models cnn4.small; serbench validate datasets iemocap -p root=/data/IEMOCAP
    """
    from serbench.validation import validate as run_checks

    report = run_checks(_check_kind(kind), name, **_parse_params(params))
    if as_json:
        print(json.dumps({"kind": kind, "name": name, "ok": report.ok,
                          "checks": [{"check": c, "passed": p, "message": m} for c, p, m in report.rows()]}, indent=1))
    else:
        table = Table(title=escape(f"{kind} {name}"))
        for col in ("check", "result", "message"):
            table.add_column(col)
        for check, passed, msg in report.rows():
            table.add_row(check, "[green]pass[/green]" if passed else "[red]FAIL[/red]", escape(msg))
        console.print(table)
    if not report.ok:
        raise typer.Exit(1)
