"""The documentation cannot rot (issue 18): the API reference builds from the docstrings with warnings as
errors and covers all of ``import serbench``; every serbench name the plugin guide cites exists."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import serbench

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "writing-plugins.md"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    pytest.importorskip("sphinx", reason="Sphinx is in the dev extra: pip install -e '.[dev]'")
    out = tmp_path_factory.mktemp("api-html")
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                           str(ROOT / "docs" / "api"), str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"sphinx-build failed:\n{proc.stdout}\n{proc.stderr}"
    assert "WARNING" not in proc.stderr + proc.stdout, proc.stderr
    return out


def test_api_reference_builds_without_warnings(built):
    assert (built / "index.html").is_file()


def test_api_reference_documents_every_public_name(built):
    html = "".join(p.read_text() for p in built.glob("*.html"))
    documented = set(re.findall(r'id="serbench\.(\w+)"', html))
    missing = sorted(set(serbench.__all__) - {"__version__"} - documented)
    assert not missing, f"names of serbench.__all__ without an entry in docs/api: {missing}"


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


def test_every_serbench_name_the_plugin_guide_cites_exists():
    text = GUIDE.read_text()
    names = sorted(set(re.findall(r"`(serbench(?:\.\w+)+)", text)))
    assert len(names) > 20, "the guide should cite the API it describes"
    broken = [n for n in names if not _resolves(n)]
    assert not broken, f"docs/writing-plugins.md cites names that do not exist: {broken}"


def test_every_fixture_the_plugin_guide_names_exists():
    from serbench.testing import pytest_plugin

    named = set(re.findall(r"`(serbench_[a-z_]+)`", GUIDE.read_text()))
    fixtures = {n for n in dir(pytest_plugin) if n.startswith("serbench_")}
    assert {"serbench_validate", "serbench_trained_model", "serbench_corpus_tree", "serbench_generator"} <= named
    assert named <= fixtures, f"unknown fixtures in the guide: {sorted(named - fixtures)}"


def test_the_guides_example_specs_follow_the_schema():
    """A spec shown in the guide is one the shipped schema accepts (and so do the field names it teaches)."""
    import jsonschema
    import yaml

    from serbench.bench.spec_schema import load_schema

    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", GUIDE.read_text(), re.S)]
    specs = [b for b in blocks if isinstance(b, dict) and "models" in b]
    assert specs, "the guide shows no spec"
    for spec in specs:
        jsonschema.validate(spec, load_schema(), cls=jsonschema.Draft7Validator)
