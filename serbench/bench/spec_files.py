"""Reading spec files: YAML, with ``include`` resolved (a base spec whose top-level fields the including
file overrides), every error naming the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from serbench.errors import SpecError


def read_spec_mapping(path: Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The YAML mapping of ``path`` with its ``include`` resolved: each included file (relative to
    the including one) is the base, and this file's top-level fields override it."""
    try:
        text = path.read_text()
    except OSError as exc:
        where = f"{chain[-1]}: include: " if chain else ""
        raise SpecError(f"{where}{path}: cannot read spec ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "YAML"
        raise SpecError(f"{path}: {where}: invalid YAML ({getattr(exc, 'problem', exc)})") from None
    if chain and not isinstance(data, dict):  # an included file is a base spec: a mapping of top-level fields
        what = "is empty" if data is None else f"holds a {type(data).__name__}, not a mapping of spec fields"
        raise SpecError(f"{chain[-1]}: include: {path} {what}; include a spec file (name: ..., dataset: ...)")
    if data is None:
        raise SpecError(f"{path}: the spec is empty; see benchmarks/quickstart.yaml for an example")
    if not isinstance(data, dict) or "include" not in data:
        return data
    data = dict(data)
    includes = data.pop("include")
    includes = [includes] if isinstance(includes, str) else includes
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise SpecError(f"{path}: include: expected a spec path or a list of them, got {includes!r}")
    merged: dict[str, Any] = {}
    for inc in includes:
        target = (path.parent / inc).resolve()
        if target in chain + (path.resolve(),):
            cycle = " -> ".join(str(p) for p in chain + (path.resolve(), target))
            raise SpecError(f"{path}: include: {inc!r} closes an include cycle ({cycle})")
        merged.update(read_spec_mapping(target, chain + (path.resolve(),)))
    return {**merged, **data}
