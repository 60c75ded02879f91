"""Shared fixtures: a private cache dir, and tiny dummy plugin distributions on sys.path."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

import serbench


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Keep generated corpora out of the user's ~/.cache during tests (shared across the session)."""
    import os

    path = tmp_path_factory.mktemp("serbench-cache")
    old = os.environ.get("SERBENCH_CACHE")
    os.environ["SERBENCH_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("SERBENCH_CACHE", None)
    else:
        os.environ["SERBENCH_CACHE"] = old


def make_distribution(root: Path, dist: str, module: str, source: str, entry_points: dict[str, dict[str, str]],
                      version: str = "0.1.0") -> Path:
    """Write an installed distribution (module + .dist-info with entry_points.txt) into ``root``.

    This is exactly what pip leaves in site-packages; putting ``root`` on sys.path installs it.
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = []
    for group, eps in entry_points.items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {target}" for name, target in eps.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    (info / "RECORD").write_text("")
    return root


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """Install dummy distributions for one test; registries forget them afterwards."""
    roots = []

    def install(*args, **kwargs) -> Path:
        root = make_distribution(tmp_path / f"site{len(roots)}", *args, **kwargs)
        monkeypatch.syspath_prepend(str(root))
        roots.append(root)
        for kind in serbench.KINDS:
            serbench.registry(kind).refresh()
        return root

    yield install
    for root in roots:
        if str(root) in sys.path:
            sys.path.remove(str(root))
    for name in list(sys.modules):
        if name.startswith("dummy_"):
            del sys.modules[name]
    for kind in serbench.KINDS:
        serbench.registry(kind).refresh()
