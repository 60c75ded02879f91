"""Plugin naming and clash policy, switching plugins off, and a `serbench list` that imports neither torch nor
any plugin (issue #18).

Plugins are real distributions: a module and a ``.dist-info`` directory with ``entry_points.txt`` put on
``sys.path`` (tests/conftest.py), which is what pip leaves in site-packages; the shared venv is never touched.
CLI checks run ``python -m serbench`` in a fresh interpreter with those directories on ``PYTHONPATH`` and a private
``SERBENCH_CACHE`` (the component index lives there).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import serbench
from conftest import make_distribution
from serbench.errors import DuplicateComponentError, PluginLoadError, UnknownComponentError
from serbench.registry import DISABLE_ENV, PluginClashError, naming_problem, suggested_name

REPO = Path(__file__).resolve().parents[1]

# A noise plugin with a variant; {summary} is filled in; each import appends a line to $HUM_IMPORT_LOG.
HUM = '''
import os

import numpy as np

import serbench

if os.environ.get("HUM_IMPORT_LOG"):
    with open(os.environ["HUM_IMPORT_LOG"], "a") as log:
        log.write(__name__ + "\\n")


@serbench.component(summary="{summary}", version="2.0", variants={{"loud": {{"gain": 4.0}}}})
class Hum(serbench.Noise):
    def __init__(self, freq: float = 50.0, gain: float = 1.0):
        self.freq, self.gain = freq, gain

    def sample(self, num_samples, sample_rate, rng):
        t = np.arange(num_samples) / sample_rate
        return (self.gain * np.sin(2 * np.pi * self.freq * t + rng.uniform(0, 6.28))).astype("float32")
'''

BUILTIN_SPEC = """
name: builtin-only
dataset: {name: synthetic, params: {utterances_per_class: 6}, protocol: leave-one-session-out, folds: [0]}
frontend: {preset: ren2020, seconds: 1.0}
training: {schedule: ren2020, iterations: 10, eval_every: 10, batch_size: 16}
models: [cnn4.tiny]
defenses: [standard]
seeds: [0]
noises:
  - {name: white, snr: [10]}
"""

RUN_IN_PROCESS = """
import json, sys
from serbench.cli.main import app
code = 0
try:
    app(args=sys.argv[1:], standalone_mode=False)
except SystemExit as exc:
    code = exc.code or 0
print("\\nMODULES=" + json.dumps(sorted(sys.modules)))
sys.exit(code)
"""


def _hum(root: Path, dist: str, module: str, names: list[str], summary: str = "A hum for tests") -> Path:
    return make_distribution(root, dist, module, HUM.format(summary=summary),
                             {"serbench.noises": {n: f"{module}:Hum" for n in names}})


def _env(paths: list[Path], cache: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*map(str, paths), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["SERBENCH_CACHE"] = str(cache)
    env.pop(DISABLE_ENV, None)
    env.update(extra)
    return env


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "serbench", *args], capture_output=True, text=True, env=env,
                          timeout=600)


def _rows(proc: subprocess.CompletedProcess) -> dict[tuple[str, str], dict]:
    assert proc.returncode == 0, proc.stderr
    return {(r["name"], r["source"]): r for r in json.loads(proc.stdout)}


def _one_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


# -- the rule -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,problem", [
    ("art.pgd", None),
    ("my_org.noise-2", None),
    ("white", "is named like the built-in noise 'white'"),
    ("hum", "has no namespace"),
    ("white.evil", "uses the built-in noise 'white' as its namespace"),
    ("white.small", "uses the built-in noise 'white' as its namespace"),
    ("a.b.c", "is not '<namespace>.<name>'"),
    ("art.pg*", "is not '<namespace>.<name>'"),
    (".pgd", "is not '<namespace>.<name>'"),
])
def test_naming_rule(name, problem):
    found = naming_problem("noises", name, ["white", "pink"])
    assert (found is None) if problem is None else (found is not None and found.startswith(problem)), found


def test_suggested_names_obey_the_rule():
    builtins = ["white", "cnn4"]
    for name, package, want in [("hum", "serbench-hums", "hums.hum"), ("white", "Acme_Noises", "acme-noises.white"),
                                ("white.evil", "evil", "evil.white-evil"), ("a.b.c", "x", "a.b-c")]:
        got = suggested_name(name, package, builtins)
        assert got == want and naming_problem("noises", got, builtins) is None


def test_first_party_plugins_obey_the_rule():
    """Every entry point the repository's plugins declare is a valid plugin name among the built-ins."""
    checked = 0
    for pyproject in sorted((REPO / "plugins").glob("*/pyproject.toml")):
        groups = tomllib.loads(pyproject.read_text())["project"].get("entry-points", {})
        for group, eps in groups.items():
            if not group.startswith("serbench."):
                continue
            kind = group.removeprefix("serbench.")
            reg = serbench.registry(kind)
            builtins = [n for n in reg.names() if reg.plugin_origin(n) is None]
            for name in eps:
                assert naming_problem(kind, name, builtins) is None, (pyproject, name)
                checked += 1
    assert checked >= 9  # art (4), torchattacks (4), espeak (1)
    assert [b for kind in serbench.KINDS for b in serbench.registry(kind).refused()] == []  # as installed here


# -- refused names: never loaded, never shadowing -----------------------------------------------------------------

def test_misnamed_plugins_are_refused_and_builtins_stay_intact(installed):
    from serbench.noises.colored import WhiteNoise

    installed("dummy-misnamed", "dummy_misnamed", HUM.format(summary="misnamed"),
              {"serbench.noises": {"white": "dummy_misnamed:Hum", "hum": "dummy_misnamed:Hum",
                                   "white.evil": "dummy_misnamed:Hum"}})
    assert type(serbench.get("noises", "white")) is WhiteNoise
    assert serbench.resolve("noises", "white").info.source == "serbench"
    names = serbench.list_components("noises", variants=True)
    assert "hum" not in names and "white.evil" not in names and "white" in names
    for name, rename in [("hum", "dummy-misnamed.hum"), ("white.evil", "dummy-misnamed.white-evil")]:
        with pytest.raises(PluginLoadError) as exc:
            serbench.get("noises", name)
        msg = str(exc.value)
        assert "dummy-misnamed" in msg and "dummy_misnamed:Hum" in msg and repr(rename) in msg and "\n" not in msg
    assert "dummy_misnamed" not in sys.modules  # refused entry points are never imported
    refused = serbench.registry("noises").refused()
    assert sorted(b.name for b in refused) == ["hum", "white", "white.evil"]
    assert {b.package for b in refused} == {"dummy-misnamed"}
    ok, broken = serbench.registry("noises").check_all()  # what `serbench doctor` reports
    assert {"hum", "white", "white.evil"} <= {b.name for b in broken} and "white" in {i.name for i in ok}


def test_clash_marks_both_broken_and_nothing_else(installed):
    installed("dummy-clash-a", "dummy_clash_a", HUM.format(summary="from a"),
              {"serbench.noises": {"test.clash": "dummy_clash_a:Hum", "test.only-a": "dummy_clash_a:Hum"}})
    installed("dummy-clash-b", "dummy_clash_b", HUM.format(summary="from b"),
              {"serbench.noises": {"test.clash": "dummy_clash_b:Hum"}})
    with pytest.raises(PluginClashError) as exc:
        serbench.get("noises", "test.clash")
    assert isinstance(exc.value, DuplicateComponentError) and isinstance(exc.value, PluginLoadError)
    msg = str(exc.value)
    assert "dummy-clash-a" in msg and "dummy-clash-b" in msg and "\n" not in msg
    with pytest.raises(PluginClashError):
        serbench.get("noises", "test.clash.loud")  # its variants too
    assert serbench.info("noises", "test.only-a").summary == "from a"  # the rest of package a works
    assert serbench.get("noises", "pink") is not None
    broken = [b for b in serbench.registry("noises").broken() if b.name == "test.clash"]
    assert sorted(b.package for b in broken) == ["dummy-clash-a", "dummy-clash-b"]
    assert "dummy_clash_b" not in sys.modules


def test_disabling_a_package_by_env(installed, monkeypatch):
    installed("dummy-clash-a", "dummy_clash_a", HUM.format(summary="from a"),
              {"serbench.noises": {"test.clash": "dummy_clash_a:Hum"}})
    installed("dummy-clash-b", "dummy_clash_b", HUM.format(summary="from b"),
              {"serbench.noises": {"test.clash": "dummy_clash_b:Hum", "test.only-b": "dummy_clash_b:Hum"}})
    monkeypatch.setenv(DISABLE_ENV, "Dummy_Clash_B")  # names compare as pip compares them
    serbench.registry("noises").refresh()
    assert serbench.info("noises", "test.clash").source == "dummy-clash-a"  # the clash is gone
    with pytest.raises(PluginLoadError, match=f"'test.only-b' \\(dummy-clash-b\\) is switched off by {DISABLE_ENV}"):
        serbench.get("noises", "test.only-b")
    assert "test.only-b" not in serbench.list_components("noises")
    assert "dummy_clash_b" not in sys.modules


def test_unknown_names_stay_unknown(installed):
    installed("dummy-hum", "dummy_hum", HUM.format(summary="hum"), {"serbench.noises": {"test.hum": "dummy_hum:Hum"}})
    assert serbench.resolve("noises", "test.hum.loud").params == {"freq": 50.0, "gain": 4.0}
    with pytest.raises(UnknownComponentError, match="no variant 'quiet'"):
        serbench.get("noises", "test.hum.quiet")
    with pytest.raises(UnknownComponentError, match="unknown noise 'test.hmm'"):
        serbench.get("noises", "test.hmm")


# -- the command line ---------------------------------------------------------------------------------------------

@pytest.fixture
def clash(tmp_path) -> tuple[list[Path], Path]:
    """Two distributions that both provide ``test.clash``, and a misnamed one; their paths and a cache dir."""
    a = _hum(tmp_path / "a", "dummy-clash-a", "dummy_clash_a", ["test.clash", "test.only-a"], "hum from a")
    b = _hum(tmp_path / "b", "dummy-clash-b", "dummy_clash_b", ["test.clash"], "hum from b")
    bad = _hum(tmp_path / "bad", "dummy-bad", "dummy_bad", ["white", "hum"], "bad hum")
    return [a, b, bad], tmp_path / "cache"


def test_cli_clash_list_exits_0_and_builtin_specs_run(clash, tmp_path):
    paths, cache = clash
    env = _env(paths, cache)
    rows = _rows(_cli(["list", "noises", "--json"], env))
    for pkg in ("dummy-clash-a", "dummy-clash-b"):
        row = rows[("test.clash", pkg)]
        assert row["status"] == "broken" and "dummy-clash-a" in row["summary"] and "dummy-clash-b" in row["summary"]
    assert rows[("test.only-a", "dummy-clash-a")]["summary"] == "hum from a"
    assert rows[("white", "serbench")]["status"] == "ok"
    assert rows[("white", "dummy-bad")]["status"] == "broken" and "'dummy-bad.white'" in rows[("white", "dummy-bad")][
        "summary"]
    assert "rename the entry point to 'dummy-bad.hum'" in rows[("hum", "dummy-bad")]["summary"]

    table = _cli(["list", "noises"], env)
    assert table.returncode == 0 and "dummy-clash-b" in table.stdout

    spec = tmp_path / "builtin.yaml"
    spec.write_text(BUILTIN_SPEC)
    ok = _cli(["run", str(spec), "--results", str(tmp_path / "r"), "--dry-run"], env)
    assert ok.returncode == 0, ok.stderr

    spec_clash = tmp_path / "clash.yaml"
    spec_clash.write_text(BUILTIN_SPEC.replace("{name: white,", "{name: test.clash,"))
    failed = _cli(["run", str(spec_clash), "--results", str(tmp_path / "r"), "--dry-run"], env)
    assert failed.returncode == 1
    line = _one_line(failed.stderr)
    assert "noises[0]" in line and "dummy-clash-a" in line and "dummy-clash-b" in line

    valid = _cli(["validate", "noises", "pink", "--json"], env)
    assert valid.returncode == 0 and json.loads(valid.stdout)["ok"], valid.stderr


def test_cli_disable_by_env_and_by_option(clash):
    paths, cache = clash
    by_option = _rows(_cli(["--disable-plugins", "dummy-clash-b", "list", "noises", "--json"], _env(paths, cache)))
    by_env = _rows(_cli(["list", "noises", "--json"], _env(paths, cache, **{DISABLE_ENV: "dummy-clash-b"})))
    for rows in (by_option, by_env):
        assert rows[("test.clash", "dummy-clash-a")]["status"] == "ok"
        assert rows[("test.clash", "dummy-clash-a")]["summary"] == "hum from a"
        assert rows[("test.clash", "dummy-clash-b")]["status"] == "disabled"
    both = _cli(["--disable-plugins", "dummy-clash-a", "info", "noises", "test.only-a"],
                _env(paths, cache, **{DISABLE_ENV: "dummy-clash-b"}))  # the option adds to the variable
    assert both.returncode == 1
    assert "switched off" in _one_line(both.stderr) and "dummy-clash-a,dummy-clash-b" in both.stderr
    typo = _cli(["--disable-plugins", "dummy-clash-c", "list", "noises", "--json"], _env(paths, cache))
    assert typo.returncode == 0 and "dummy-clash-c" in typo.stderr and "no serbench plugin" in typo.stderr


def test_list_shows_plugin_summaries_and_variants_without_importing_them_or_torch(tmp_path):
    """`list` reads the cached index: no torch, no plugin in its process; the index is rebuilt (in another
    process) only when the installed distributions or their sources change."""
    site = _hum(tmp_path / "site", "dummy-hum", "dummy_hum", ["test.hum"], "first summary")
    log = tmp_path / "imports.log"
    env = _env([site], tmp_path / "cache", HUM_IMPORT_LOG=str(log))

    def listing() -> tuple[dict, set[str]]:
        proc = subprocess.run([sys.executable, "-c", RUN_IN_PROCESS, "list", "--json"], capture_output=True,
                              text=True, env=env, timeout=600)
        assert proc.returncode == 0, proc.stderr
        out, modules = proc.stdout.split("MODULES=")
        heavy = {m.split(".")[0] for m in json.loads(modules)} & {
            "torch", "torchaudio", "torchvision", "numpy", "dummy_hum", "serbench_art", "serbench_torchattacks",
            "serbench_espeak", "art", "torchattacks"}
        assert heavy == set()
        return {r["name"]: r for r in json.loads(out)}, heavy

    rows, _ = listing()
    assert rows["test.hum"]["summary"] == "first summary" and rows["test.hum"]["version"] == "2.0"
    assert rows["test.hum.loud"]["variant_of"] == "test.hum" and "'gain': 4.0" in rows["test.hum.loud"]["summary"]
    assert rows["cnn4.small"]["variant_of"] == "cnn4" and "not a paper's configuration" in rows["cnn4.small"][
        "summary"]
    if serbench.registry("attacks").plugin_origin("art.pgd"):  # the first-party plugins are installed here
        assert rows["art.pgd"]["source"] == "serbench-art" and rows["art.pgd"]["summary"].startswith("ART")
    assert log.read_text().splitlines() == ["dummy_hum"]  # imported once, by the index builder
    for _ in range(3):  # served from the cache (retried: an edit of serbench's own sources meanwhile rebuilds)
        before = log.read_text()
        listing()
        if log.read_text() == before:
            break
    else:
        pytest.fail("every `serbench list` rebuilt the index")

    module = site / "dummy_hum.py"  # an edit of an (editable) plugin's source rebuilds the index
    module.write_text(module.read_text().replace("first summary", "second summary"))
    os.utime(module, ns=(module.stat().st_atime_ns, module.stat().st_mtime_ns + 10**9))
    imports = len(log.read_text().splitlines())
    rows, _ = listing()
    assert rows["test.hum"]["summary"] == "second summary" and len(log.read_text().splitlines()) == imports + 1

    other = _hum(tmp_path / "other", "dummy-other", "dummy_other", ["test.other"], "another package")
    env["PYTHONPATH"] = os.pathsep.join([str(other), env["PYTHONPATH"]])  # installing a package rebuilds it
    rows, _ = listing()
    assert rows["test.other"]["summary"] == "another package"


def test_info_of_a_variant_shows_its_resolved_defaults(tmp_path):
    site = _hum(tmp_path / "site", "dummy-hum", "dummy_hum", ["test.hum"])
    env = _env([site], tmp_path / "cache")
    for name, kind in [("cnn4.small", "models"), ("test.hum.loud", "noises")]:
        proc = _cli(["info", kind, name, "--json"], env)
        assert proc.returncode == 0, proc.stderr
        data = json.loads(proc.stdout)
        base = name.rsplit(".", 1)[0]
        assert data["name"] == name and data["variant_of"] == base
        if kind == "models":
            assert data["defaults"] == json.loads(json.dumps(serbench.resolve(kind, name).params))
            assert data["defaults"]["width"] == 0.25 != serbench.info(kind, base).defaults["width"]
        else:
            assert data["defaults"] == {"freq": 50.0, "gain": 4.0}
    plain = json.loads(_cli(["info", "models", "cnn4", "--json"], env).stdout)
    assert plain["name"] == "cnn4" and "variant_of" not in plain and plain["defaults"]["width"] == 1.0
