"""The CLI's shape: choice options are usage errors (exit 2) that name the choices, and nothing imports main."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from typer.testing import CliRunner

from serbench.cli.main import app, main

CLI_DIR = Path(__file__).resolve().parents[1] / "serbench" / "cli"

# command, option, a bad value, the choices the usage error and --help must name
CHOICE_OPTIONS = [
    (["run", "spec.yaml"], "--executor", "dask", ["local", "ray"]),
    (["leaderboard"], "--metric", "f1", ["uar", "wa", "macro_f1"]),
    (["leaderboard"], "--format", "xml", ["terminal", "markdown", "json", "csv", "html"]),
    (["leaderboard"], "--layout", "ren2021", ["ren2020", "latif2020"]),
    (["results", "ls"], "--status", "done", ["ok", "failed"]),
    (["results", "export", "--csv"], "--status", "done", ["ok", "failed"]),
]


@pytest.mark.parametrize("command, option, bad, choices", CHOICE_OPTIONS)
def test_a_bad_choice_is_a_usage_error_naming_the_choices(tmp_path, capsys, command, option, bad, choices):
    # The results folder does not exist: the usage error must come first, before any other check.
    with pytest.raises(SystemExit) as exc:
        main([*command, "--results", str(tmp_path / "none"), option, bad])
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    assert option in err and repr(bad) in err
    assert all(repr(c) in err for c in choices), err


@pytest.mark.parametrize("command, option, bad, choices", CHOICE_OPTIONS)
def test_help_lists_the_choices(command, option, bad, choices):
    words = [w for w in command if not w.startswith("-") and not w.endswith(".yaml")]
    res = CliRunner().invoke(app, [*words, "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "|".join(choices) in res.output


@pytest.mark.parametrize("status", ["ok", "failed"])
def test_a_good_choice_reaches_the_command_as_its_value(tmp_path, status):
    from leaderboard_store import write_store

    write_store(tmp_path / "r")
    res = CliRunner().invoke(app, ["results", "export", "--json", "--status", status, "-r", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    assert '"status": "' + status + '"' in res.output and "Status." not in res.output


def test_the_layout_choices_are_the_layouts():
    from serbench.cli.board import Layout
    from serbench.leaderboard.layouts import LAYOUTS

    assert [layout.value for layout in Layout] == list(LAYOUTS)


def _imported_modules(path: Path) -> set[str]:
    """Every module an ``import`` or ``from ... import`` in ``path`` names, relative ones resolved."""
    package = "serbench.cli"
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0]
                base = f"{parent}.{base}" if base else parent
            names.add(base)
            names |= {f"{base}.{alias.name}" for alias in node.names}
    return names


def test_no_cli_module_imports_main():
    """``main`` registers the command modules; one importing it back would make the circle this shape removes."""
    offenders = [p.name for p in sorted(CLI_DIR.glob("*.py"))
                 if p.name != "main.py" and "serbench.cli.main" in _imported_modules(p)]
    assert offenders == []
    assert "serbench.cli.main" not in _imported_modules(CLI_DIR / "app.py")
    assert (CLI_DIR / "bench.py").is_file()  # the check looks at the real modules, not an empty folder
