"""CLI: the component registries — list, inspect, diagnose and validate models, attacks, noises, defenses."""

from __future__ import annotations

import json
from typing import Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

import serbench
from serbench.cli.app import app, console
from serbench.registry import KINDS, registry


def _check_kind(kind: str) -> str:
    registry(kind)  # raises with a did-you-mean
    return kind


@app.command("list")
def list_cmd(
    kind: Optional[str] = typer.Argument(None, help=f"One of: {', '.join(KINDS)}. Omit for all."),
    pattern: str = typer.Option("*", "--filter", "-f", help="Shell-style wildcard, e.g. 'cnn*'."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List components without importing any plugin.

    Example: serbench list models --filter 'cnn*'
    """
    kinds = [_check_kind(kind)] if kind else list(KINDS)
    rows: list[dict[str, Any]] = []
    for k in kinds:
        reg = registry(k)
        for name in reg.names(pattern, variants=True):
            origin = reg.plugin_origin(name)
            if origin is None:
                base = name.rsplit(".", 1)[0] if name not in reg.names() else name
                inf = reg.info(base)  # built-ins are already imported: no plugin is loaded here
                rows.append({"kind": k, "name": name, "source": "serbench", "version": inf.version,
                             "summary": inf.summary if base == name else
                             f"variant of {base} ({inf.variants[name.rsplit('.', 1)[1]]}); not a paper's configuration",
                             "loaded": True})
            else:
                rows.append({"kind": k, "name": name, "source": origin, "version": None,
                             "summary": "(plugin; `serbench info` loads it)", "loaded": False})
    if as_json:
        print(json.dumps(rows, indent=1))
        return
    table = Table(show_lines=False)
    for col in ("kind", "name", "source", "summary"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["kind"], escape(r["name"]), escape(r["source"]), escape(r["summary"]))
    console.print(table)


@app.command()
def info(
    kind: str = typer.Argument(..., help=f"One of: {', '.join(KINDS)}."),
    name: str = typer.Argument(..., help="Component name, e.g. cnn4 or art.pgd."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show a component's metadata (loads it if it is a plugin).

    Example: serbench info attacks fgsm
    """
    inf = registry(_check_kind(kind)).info(name)
    data = inf.as_dict()
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
    kind: str = typer.Argument(..., help="models, attacks, noises, defenses or corruptions."),
    name: str = typer.Argument(..., help="Component name, e.g. densenet-lstm or art.pgd."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Run a component's conformance checks on tiny inputs (exit 1 if any fails).

    Example: serbench validate models cnn4.small
    """
    from serbench.validation import validate as run_checks

    report = run_checks(_check_kind(kind), name)
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
