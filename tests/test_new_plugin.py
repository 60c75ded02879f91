"""`serbench new-plugin`: one package of each kind, generated, installed into a throwaway site folder (the venv is
left alone), its own tests run, and a one-cell spec run using all of them beside serbench's built-ins."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pytest

from serbench.cli.scaffold import KIND_TEMPLATES, scaffold
from serbench.errors import SerbenchError, UsageError

REPO = Path(__file__).resolve().parents[1]
PLUGINS = {  # kind as a user types it -> component name
    "model": "acme.tinycnn", "attack": "acme.step", "defense": "acme.smooth", "noise": "acme.hiss",
    "dataset": "acme.tones", "corruption": "acme.clip",
}
SPEC = """
name: plugins
dataset: {name: acme.tones, protocol: leave-one-session-out, folds: [0]}
frontend: {preset: ren2020, seconds: 1.0}
training: {schedule: ren2020, iterations: 30, eval_every: 10, batch_size: 16}
models: [acme.tinycnn]
defenses: [{name: acme.smooth, params: {smoothing: 0.1}}]
seeds: [0]
attacks:
  - {name: acme.step, domain: feature, norm: linf, eps: [0.05]}
  - {name: fgsm, eps: [0.05]}
noises:
  - {name: acme.hiss, snr: [10]}
  - {name: white, snr: [10]}
corruptions:
  - {name: acme.clip, severity: [3]}
"""


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The six packages generated (one through the command line) and installed with pip into a site folder;
    the environment that puts that folder first on the path (and a private corpus cache)."""
    root = tmp_path_factory.mktemp("new-plugin")
    out = root / "packages"
    made = []
    for kind, name in PLUGINS.items():
        if kind == "dataset":  # the command itself, once
            proc = run(sys.executable, "-m", "serbench", "new-plugin", kind, name, "--dir", str(out))
            assert proc.returncode == 0, proc.stderr
            made.append(out / "serbench-acme-tones")
            assert proc.stdout.startswith(f"wrote {made[-1]}: dataset 'acme.tones'")
        else:
            made.append(scaffold(kind, name, out))
    proc = run(sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
               str(root / "site"), *map(str, made))
    assert proc.returncode == 0, proc.stderr
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "site"), os.environ.get("PYTHONPATH", "")]),
           "SERBENCH_CACHE": str(root / "cache")}
    return root, made, env


@pytest.mark.slow
def test_each_generated_package_passes_its_own_tests(site):
    """One pytest process over the six packages' tests (serbench's fixtures are built once for all)."""
    root, made, env = site
    report = root / "junit.xml"
    proc = run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
               *(str(p / "tests") for p in made), env=env, cwd=root)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    passed: dict[str, int] = {}
    for case in ElementTree.parse(report).iter("testcase"):
        assert not list(case), f"{case.get('classname')}::{case.get('name')} did not pass"
        module = case.get("classname").rsplit(".", 1)[-1]  # tests.test_tinycnn
        passed[module] = passed.get(module, 0) + 1
    assert passed == {"test_tinycnn": 3, "test_step": 2, "test_smooth": 2, "test_hiss": 3, "test_tones": 3,
                      "test_clip": 2}


@pytest.mark.slow
def test_a_spec_runs_them_all_beside_the_builtins(site):
    root, _, env = site
    (root / "spec.yaml").write_text(SPEC)
    proc = run(sys.executable, "-m", "serbench", "run", "spec.yaml", "--results", "results", "--quiet",
               env=env, cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in sorted((root / "results" / "records").glob("*.json"))]
    assert len(records) == 7 and all(r["status"] == "ok" for r in records)
    (train,) = [r for r in records if r["kind"] == "train"]
    used = {part: {train["train"][part]["package"]} for part in ("dataset", "model", "defense")}
    for r in records:
        for part in ("attack", "noise", "corruption"):
            if part in r.get("condition", {}):
                used.setdefault(part, set()).add(r["condition"][part]["package"])
    assert used == {"dataset": {"serbench-acme-tones"}, "model": {"serbench-acme-tinycnn"},
                    "defense": {"serbench-acme-smooth"}, "attack": {"serbench", "serbench-acme-step"},
                    "noise": {"serbench", "serbench-acme-hiss"}, "corruption": {"serbench-acme-clip"}}


def test_the_package_layout(tmp_path):
    target = scaffold("models", "my-org.tiny-cnn", tmp_path)
    assert target == tmp_path / "serbench-my-org-tiny-cnn"
    files = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    assert files == ["README.md", "pyproject.toml", "src/serbench_my_org_tiny_cnn/__init__.py",
                     "src/serbench_my_org_tiny_cnn/model.py", "tests/test_tiny_cnn.py"]
    pyproject = (target / "pyproject.toml").read_text()
    assert '[project.entry-points."serbench.models"]\n"my-org.tiny-cnn" = "serbench_my_org_tiny_cnn.model:TinyCnn"' \
        in pyproject
    assert "class TinyCnn(serbench.SERModel):" in (target / "src/serbench_my_org_tiny_cnn/model.py").read_text()
    assert 'serbench_validate("models", "my-org.tiny-cnn")' in (target / "tests/test_tiny_cnn.py").read_text()


@pytest.mark.parametrize("kind,name,needle", [
    ("widget", "acme.x", "unknown kind 'widget'; choose one of model, attack, defense, noise, dataset, corruption"),
    ("model", "tinycnn", "the name 'tinycnn' has no namespace"),
    ("model", "cnn4.evil", "the name 'cnn4.evil' uses the built-in model 'cnn4' as its namespace"),
    ("attack", "a.b.c", "the name 'a.b.c' is not '<namespace>.<name>'"),
])
def test_bad_kind_or_name_is_a_usage_error(tmp_path, kind, name, needle):
    with pytest.raises(UsageError, match="new-plugin: ") as refused:
        scaffold(kind, name, tmp_path)
    assert needle in str(refused.value)
    assert not any(tmp_path.iterdir())  # refused before anything is written


def test_command_line_errors_are_one_line(tmp_path):
    usage = run(sys.executable, "-m", "serbench", "new-plugin", "model", "tinycnn", "--dir", str(tmp_path))
    assert usage.returncode == 2 and usage.stderr.count("\n") == 1 and "has no namespace" in usage.stderr
    (tmp_path / "serbench-acme-hiss").mkdir()
    (tmp_path / "serbench-acme-hiss" / "mine.txt").write_text("keep me")
    taken = run(sys.executable, "-m", "serbench", "new-plugin", "noise", "acme.hiss", "--dir", str(tmp_path))
    assert taken.returncode == 1 and taken.stderr.count("\n") == 1
    assert f"{tmp_path / 'serbench-acme-hiss'} exists and is not empty" in taken.stderr


def test_an_existing_folder_is_never_overwritten(tmp_path):
    scaffold("noise", "acme.hiss", tmp_path)
    with pytest.raises(SerbenchError, match="exists and is not empty"):
        scaffold("noises", "acme.hiss", tmp_path)


def test_templates_ship_in_the_wheel(tmp_path):
    """setuptools packs every template (package data), so an installed serbench can scaffold."""
    src = tmp_path / "src"
    shutil.copytree(REPO / "serbench", src / "serbench", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    proc = run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
               str(tmp_path / "dist"), str(src))
    assert proc.returncode == 0, proc.stderr
    (wheel,) = (tmp_path / "dist").glob("serbench-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = {p.relative_to(REPO).as_posix() for p in (REPO / "serbench" / "templates").rglob("*") if p.is_file()}
    assert templates and templates <= names
    for kind in KIND_TEMPLATES:
        assert {f"serbench/templates/plugin/{kind}/{f}.py.tmpl" for f in ("component", "test")} <= names
