"""``serbench new-plugin KIND NAME``: write a ready plugin package from the templates in ``serbench/templates``.

The package has a pyproject.toml declaring the entry point, a working skeleton of the component whose
comments state its contract, tests that use serbench's pytest plugin (``serbench_validate`` and the
fixtures), and a README. :func:`scaffold` does the work; :func:`new_plugin` is the command, registered on the
app by :mod:`serbench.cli.app` (this module imports no command module, so nothing imports in a circle).
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

import typer

from serbench.errors import SerbenchError, UsageError

TEMPLATES = ("serbench", "templates/plugin")


@dataclass(frozen=True)
class KindTemplate:
    """What differs between kinds: the module's name, the skeleton's summary and a spec snippet using it."""

    noun: str
    module: str
    summary: str
    spec: str


KIND_TEMPLATES: dict[str, KindTemplate] = {
    "models": KindTemplate("model", "model", "Tiny CNN: two 3x3 conv blocks, global max pooling, linear head",
                           "models: [$name]"),
    "attacks": KindTemplate("attack", "attack", "One signed-gradient step (Linf) or gradient-direction step (L2)",
                            "attacks:\n  - {name: $name, domain: feature, norm: linf, eps: [0.05, 0.1]}"),
    "defenses": KindTemplate("defense", "defense", "Standard training with label smoothing",
                             "defenses: [standard, {name: $name, params: {smoothing: 0.1}}]"),
    "noises": KindTemplate("noise", "noise", "White noise, optionally low-passed",
                           "noises:\n  - {name: $name, snr: [20, 10, 0]}"),
    "datasets": KindTemplate("dataset", "corpus", "Tiny generated corpus: 4 classes, 3 sessions x 2 voices",
                             "dataset: {name: $name, protocol: leave-one-session-out, folds: [0]}"),
    "corruptions": KindTemplate("corruption", "corruption", "Peak clipping at five severities",
                                "corruptions:\n  - {name: $name, severity: [1, 3, 5]}"),
}
KIND_ALIASES = {t.noun: kind for kind, t in KIND_TEMPLATES.items()}


def kind_of(text: str) -> str:
    """``model`` or ``models`` -> ``models``; anything else is a usage error listing the kinds."""
    from serbench.registry import KINDS

    kind = KIND_ALIASES.get(text, text)
    if kind not in KIND_TEMPLATES or kind not in KINDS:
        choices = ", ".join(t.noun for k, t in KIND_TEMPLATES.items() if k in KINDS)
        raise UsageError(f"new-plugin: unknown kind {text!r}; choose one of {choices}")
    return kind


def check_name(kind: str, name: str) -> None:
    """The registry's naming rule for plugins (``<namespace>.<name>``, a namespace of its own), and no installed
    plugin of that name: a one-line usage error naming what to change."""
    from serbench.registry import naming_problem, registry

    reg = registry(kind)
    builtins = [n for n in reg.names() if reg.plugin_origin(n) is None]
    problem = naming_problem(kind, name, builtins)
    if problem:
        raise UsageError(f"new-plugin: the name {name!r} {problem}; plugin names are '<namespace>.<name>', "
                         "e.g. acme.tinycnn")
    origin = reg.plugin_origin(name)
    if origin is not None:
        raise UsageError(f"new-plugin: {kind[:-1]} {name!r} is already provided by the installed package {origin}; "
                         "choose another name")


def identifier(text: str) -> str:
    """A Python identifier from a name part: ``tiny-cnn`` -> ``tiny_cnn``, ``2d`` -> ``p2d``."""
    ident = re.sub(r"\W", "_", text).lower()
    if ident[0].isdigit():
        ident = "p" + ident
    return ident + "_" if keyword.iskeyword(ident) else ident


def class_name(text: str) -> str:
    """A class name from a name part: ``tiny-cnn`` -> ``TinyCnn``."""
    name = "".join(w[:1].upper() + w[1:] for w in re.split(r"[^A-Za-z0-9]+", text) if w)
    return "P" + name if name[:1].isdigit() else name


def variables(kind: str, name: str) -> dict[str, str]:
    """What the templates substitute for ``$name``, ``$cls`` and the rest."""
    import serbench

    namespace, short = name.split(".")
    tpl = KIND_TEMPLATES[kind]
    package = f"serbench_{identifier(namespace)}_{identifier(short)}"
    cls = class_name(short)
    func = identifier(short)
    target = f"{package}.{tpl.module}:{func if kind == 'datasets' else cls}"
    return {
        "name": name, "kind": kind, "noun": tpl.noun, "group": f"serbench.{kind}", "summary": tpl.summary,
        "dist": re.sub(r"[^a-z0-9]+", "-", f"serbench-{namespace}-{short}".lower()), "package": package,
        "module": tpl.module, "cls": cls, "func": func, "corpus_cls": cls if cls.endswith("Corpus") else cls + "Corpus",
        "target": target, "ident": identifier(short), "serbench_version": serbench.__version__,
        "spec": Template(tpl.spec).substitute(name=name),
    }


def render(template: str, values: dict[str, str]) -> str:
    source = resources.files(TEMPLATES[0]).joinpath(TEMPLATES[1], template).read_text(encoding="utf-8")
    return Template(source).substitute(values)


def scaffold(kind: str, name: str, directory: Path) -> Path:
    """Write the plugin package for component ``name`` of ``kind`` under ``directory``; return its folder.

    ``kind`` may be singular (``model``); a name that breaks the naming rule, or a folder that exists and is
    not empty, is refused before anything is written.
    """
    kind = kind_of(kind)
    check_name(kind, name)
    values = variables(kind, name)
    target = Path(directory) / values["dist"]
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise SerbenchError(f"new-plugin: {target} exists and is not empty; choose another --dir or remove it")
    files = {
        "pyproject.toml": render("pyproject.toml.tmpl", values),
        "README.md": render("README.md.tmpl", values),
        f"src/{values['package']}/__init__.py": render("__init__.py.tmpl", values),
        f"src/{values['package']}/{values['module']}.py": render(f"{kind}/component.py.tmpl", values),
        f"tests/test_{values['ident']}.py": render(f"{kind}/test.py.tmpl", values),
    }
    for rel, text in files.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return target


def new_plugin(
    kind: str = typer.Argument(..., help="model, attack, defense, noise, dataset or corruption."),
    name: str = typer.Argument(..., help="The component's name, '<namespace>.<name>', e.g. acme.tinycnn."),
    directory: Path = typer.Option(Path("."), "--dir", "-d", help="Folder to write the package folder into."),
) -> None:
    """Write a ready plugin package: pyproject with the entry point, a working skeleton with its contract in
    comments, tests using serbench's pytest plugin, and a README.

    Example: serbench new-plugin model acme.tinycnn --dir plugins
    """
    target = scaffold(kind, name, directory)
    values = variables(kind_of(kind), name)
    typer.echo(f"wrote {target}: {kind_of(kind)[:-1]} {name!r} in src/{values['package']}/{values['module']}.py")
    typer.echo(f"next: pip install -e {target} && pytest {target} && serbench validate {kind_of(kind)} {name}")
