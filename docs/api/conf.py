"""Sphinx configuration of serbench's API reference: what ``import serbench`` offers plugin authors and users.

Built by ``tests/test_docs_build.py`` with warnings as errors (so a docstring that does not render fails the
suite); by hand: ``python -m sphinx -W -b html docs/api build/api``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the source tree's serbench, installed or not

import serbench  # noqa: E402

project = "serbench"
release = version = serbench.__version__
extensions = ["sphinx.ext.autodoc"]
exclude_patterns = ["_build"]
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"show-inheritance": True}
html_theme = "alabaster"
html_static_path: list[str] = []
