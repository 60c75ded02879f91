"""CLI: inspect local corpus copies before a run (``serbench data check|summary``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from serbench.cli.app import app, console, err_console

data_app = typer.Typer(help="Inspect corpora: is a local copy usable, what does it hold?", no_args_is_help=True)
app.add_typer(data_app, name="data")


def _corpus(name: str, root: Optional[Path], params: list[str]) -> Any:
    import serbench
    from serbench.errors import UsageError

    kwargs: dict[str, Any] = {}
    for item in params:
        if "=" not in item or not item.split("=", 1)[0].strip():
            raise UsageError(f"--param {item!r}: expected KEY=VALUE, e.g. --param sample_rate=16000")
        key, value = item.split("=", 1)
        try:
            kwargs[key] = json.loads(value)
        except json.JSONDecodeError:
            kwargs[key] = value
    if root is not None:
        kwargs["root"] = str(root)
    return serbench.get("datasets", name, **kwargs)


ROOT_OPT = typer.Option(None, "--root", help="Local copy of the corpus (default: $SERBENCH_DATA_<NAME>).")
PARAM_OPT = typer.Option([], "--param", "-p", help="Extra dataset parameter KEY=VALUE (repeatable).")


@data_app.command("check")
def check(
    name: str = typer.Argument(..., help="Dataset name, e.g. iemocap."),
    root: Optional[Path] = ROOT_OPT,
    params: list[str] = PARAM_OPT,
    no_decode: bool = typer.Option(False, "--no-decode", help="Read headers only (fast; misses silent files)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Decode every file and report corrupt, empty or silent audio and label/speaker/fold problems.

    Exit 1 when the corpus is unusable. Example: serbench data check iemocap --root /data/IEMOCAP_full_release
    """
    from serbench.data.checks import check_corpus, usable

    corpus = _corpus(name, root, params)
    problems = list(corpus.problems) + check_corpus(corpus, decode=not no_decode)
    ok = usable(problems)
    if as_json:
        print(json.dumps({"usable": ok, "utterances": len(corpus),
                          "problems": [p.as_dict() for p in problems]}, indent=1))
    else:
        for p in problems:
            style = "red" if p.severity == "error" else "yellow"
            err_console.print(f"[{style}]{p.severity}[/{style}]: {escape(str(p))}", highlight=False, soft_wrap=True)
        verdict = "[green]usable[/green]" if ok else "[red]unusable[/red]"
        console.print(f"{escape(name)}: {len(corpus)} utterances, {len(problems)} problems: {verdict}")
    if not ok:
        raise typer.Exit(1)


@data_app.command("summary")
def summary_cmd(
    name: str = typer.Argument(..., help="Dataset name, e.g. synthetic."),
    root: Optional[Path] = ROOT_OPT,
    params: list[str] = PARAM_OPT,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Counts per label, speaker and session; every protocol's folds with partition sizes and speakers.

    Example: serbench data summary synthetic --json
    """
    from serbench.data.checks import summary

    corpus = _corpus(name, root, params)
    data = summary(corpus)
    if as_json:
        print(json.dumps(data, indent=1))
        return
    console.print(f"[bold]{escape(str(data['name']))}[/bold]: {data['utterances']} utterances at "
                  f"{data['sample_rate']} Hz")
    for field in ("labels", "sessions", "genders"):
        console.print(escape(f"{field}: " + ", ".join(f"{k} {v}" for k, v in data[field].items())))
    console.print(escape(f"speakers ({len(data['speakers'])}): "
                         + ", ".join(f"{k} {v}" for k, v in data["speakers"].items())))
    for proto, info in data["protocols"].items():
        if "error" in info:
            console.print(f"[red]{escape(proto + ': ' + str(info['error']))}[/red]")
            continue
        table = Table(title=escape(f"protocol {proto}" + (" (default)" if proto == data["default_protocol"] else "")))
        for col in ("fold", "train", "valid", "test", "test speakers"):
            table.add_column(col)
        for f in info["folds"]:
            table.add_row(escape(str(f["name"])), str(f["train"]["utterances"]), str(f["valid"]["utterances"]),
                          str(f["test"]["utterances"]), escape(", ".join(f["test"]["speakers"])))
        console.print(table)
    for p in data["problems"]:
        console.print(escape(f"{p['severity']}: {p['path'] + ': ' if p['path'] else ''}{p['message']}"),
                      highlight=False)
