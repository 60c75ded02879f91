"""What ``serbench list`` shows, read without importing torch or any plugin: a cached component index.

A listing needs every component's summary, version and variants. Built-ins register when their modules are
imported (which imports torch), and a plugin's metadata sits on its class (reading it imports the plugin). So
a fresh interpreter (``python -m serbench.component_index OUT``) imports the built-ins and loads every plugin
once, and the result is cached as JSON under ``$SERBENCH_CACHE/index/`` (default ``~/.cache/serbench``), one
file per Python environment and fingerprint, rebuilt when the fingerprint changes. The fingerprint covers the Python
version, serbench's version, every installed distribution (the ``*.dist-info``/``*.egg-info`` directories on
``sys.path``, names and modification times), every ``serbench.*`` entry point, the size and modification time
of serbench's own source files and of every plugin package's (so editing an editable install is seen), and
``SERBENCH_SOURCE_VERSIONS`` and ``SERBENCH_DISABLE_PLUGINS``. Computing it reads directories and metadata only.

A plugin whose import kills the builder (or a builder that cannot run) leaves ``list`` with names only and a
warning. Refused (misnamed or clashing) and disabled plugins are in the index with their one-line reason; a
plugin that fails to load is marked so, its reason left to ``serbench doctor``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from serbench.errors import PluginLoadError
from serbench.registry import KINDS, disabled_packages, registry, source_versions_enabled

FORMAT = 1
# The builder loads every plugin; one that hangs must not hang `serbench list` for ever.
BUILD_TIMEOUT_S = 600
_META_SUFFIXES = (".dist-info", ".egg-info", ".egg-link")
_MAX_FILES = 5000  # per source tree: a plugin living inside a huge package still fingerprints quickly
_KEEP = 8  # index files kept per environment


class IndexUnavailable(Exception):
    """The index could not be built; the message says why in one line."""


def cache_dir() -> Path:
    """``$SERBENCH_CACHE`` or ``~/.cache/serbench`` (as :func:`serbench.data.generated.cache_dir`, which
    cannot be imported here: importing :mod:`serbench.data` registers the corpora, and that imports torch)."""
    return Path(os.environ.get("SERBENCH_CACHE", Path.home() / ".cache" / "serbench"))


def index_file(fp: str) -> Path:
    """The index file of fingerprint ``fp`` in this Python environment. Several are kept (``_KEEP``, the most
    recently used), so alternating between two set-ups (``serbench`` and ``python -m serbench`` in a source tree
    see different ``sys.path``) does not rebuild at every call."""
    return cache_dir() / "index" / f"components-{_environment()}-{fp[:24]}.json"


def _environment() -> str:
    return hashlib.sha256(f"{sys.prefix}|{sys.executable}".encode()).hexdigest()[:12]


def _prune(keep: int) -> None:
    """Delete all but the ``keep`` most recently used index files of this environment."""
    try:
        files = sorted(cache_dir().joinpath("index").glob(f"components-{_environment()}-*.json"),
                       key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for old in files[keep:]:
            old.unlink(missing_ok=True)
    except OSError:
        pass  # another process pruned first, or the cache is read-only: either way nothing to do


def _stat(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (-1, -1)
    return (st.st_size, st.st_mtime_ns)


def _tree(root: Path) -> list[Any]:
    """(relative path, size, mtime) of the Python files under ``root``, at most ``_MAX_FILES``."""
    out: list[Any] = []
    for path in sorted(root.rglob("*.py")):
        if len(out) >= _MAX_FILES:
            break
        out.append((str(path.relative_to(root)), *_stat(path)))
    return out


def _module_files(top: str) -> list[Any]:
    """The source files of top-level module ``top``, found without importing it (``find_spec`` of a
    top-level name only asks the path finders)."""
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return ["missing"]
    if spec is None:
        return ["missing"]
    if spec.submodule_search_locations:
        return [(loc, _tree(Path(loc))) for loc in spec.submodule_search_locations]
    if spec.origin and os.path.isfile(spec.origin):
        return [(spec.origin, *_stat(Path(spec.origin)))]
    return [str(spec.origin)]


def fingerprint() -> str:
    """sha256 of everything the index depends on (see the module docstring); imports nothing heavy."""
    from serbench import __version__

    parts: list[Any] = [FORMAT, sys.version, sys.executable, __version__, source_versions_enabled(),
                        sorted(disabled_packages())]
    for entry in sys.path:
        try:
            metas = sorted(n for n in os.listdir(entry or ".") if n.endswith(_META_SUFFIXES))
        except OSError:
            continue
        if metas:
            parts.append((entry, [(n, *_stat(Path(entry or ".") / n)) for n in metas]))
    tops: set[str] = set()
    for kind in KINDS:
        for e in registry(kind).entries():
            parts.append((kind, e.entry_point.name, e.entry_point.value, e.package, e.package_version))
            tops.add(e.entry_point.value.split(":")[0].split(".")[0].strip())
    parts.append(_tree(Path(__file__).resolve().parent))
    for top in sorted(tops - {"serbench"}):
        parts.append((top, _module_files(top)))
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def _row(kind: str, name: str, source: str, version: str | None, summary: str, status: str = "ok",
         variant_of: str | None = None) -> dict[str, Any]:
    return {"kind": kind, "name": name, "source": source, "version": version, "summary": summary,
            "status": status, "variant_of": variant_of}


def _plain(params: dict[str, Any]) -> str:
    """Variant parameters as the listing prints them (JSON-safe whatever the values are)."""
    return str(json.loads(json.dumps(params, default=repr)))


def build(load_plugins: bool = True) -> dict[str, Any]:
    """The index of this process's registries: every built-in and plugin with its variants and status.

    ``load_plugins=False`` lists plugins by name only (the in-process fallback of ``list``).
    """
    kinds: dict[str, list[dict[str, Any]]] = {}
    for kind in KINDS:
        reg = registry(kind)
        rows: list[dict[str, Any]] = []
        for name in reg.names():
            origin = reg.plugin_origin(name)
            if origin is not None and not load_plugins:
                rows.append(_row(kind, name, origin, None, "(plugin; `serbench info` loads it)"))
                continue
            try:
                inf = reg.info(name)
            except PluginLoadError:
                rows.append(_row(kind, name, origin or "?", None,
                                 "broken: fails to load (`serbench doctor` shows why)", "broken"))
                continue
            rows.append(_row(kind, name, inf.source, inf.version, inf.summary))
            for tag, params in inf.variants.items():
                note = "; not a paper's configuration" if origin is None else ""
                rows.append(_row(kind, f"{name}.{tag}", inf.source, inf.version,
                                 f"variant of {name} ({_plain(params)}){note}", variant_of=name))
        for b in reg.refused():
            rows.append(_row(kind, b.name, b.package, None, b.error, "broken"))  # "refused: ..." or "clashes: ..."
        for name, pkg in reg.disabled().items():
            rows.append(_row(kind, name, pkg, None, "disabled (SERBENCH_DISABLE_PLUGINS or --disable-plugins)",
                             "disabled"))
        kinds[kind] = sorted(rows, key=lambda r: (r["name"], r["source"]))
    return {"format": FORMAT, "kinds": kinds}


def _build_elsewhere(timeout: float) -> dict[str, Any]:
    """:func:`build` in a fresh interpreter with this one's ``sys.path``, so this process imports nothing."""
    fd, tmp = tempfile.mkstemp(prefix="serbench-index-", suffix=".json")
    os.close(fd)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)  # what this process sees, tests' additions too
    try:
        try:
            proc = subprocess.run([sys.executable, "-m", "serbench.component_index", tmp], capture_output=True,
                                  text=True, env=env, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise IndexUnavailable(f"building the component index took over {timeout:.0f} s (a plugin hangs "
                                   "on import?)") from None
        except OSError as exc:
            raise IndexUnavailable(f"cannot start the component index builder: {exc}") from None
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
            raise IndexUnavailable(f"building the component index failed (a plugin crashed it?): {last}")
        try:
            return json.loads(Path(tmp).read_text())
        except (OSError, ValueError) as exc:
            raise IndexUnavailable(f"the component index builder wrote no index: {exc}") from None
    finally:
        Path(tmp).unlink(missing_ok=True)


def load(timeout: float = BUILD_TIMEOUT_S) -> dict[str, Any]:
    """The index for this environment: the cached one when its fingerprint matches, else built and cached.

    Raises :class:`IndexUnavailable` when it cannot be built. An unwritable cache only costs the next call
    another build.
    """
    fp = fingerprint()
    path = index_file(fp)
    try:
        data = json.loads(path.read_text())
        if isinstance(data, dict) and data.get("format") == FORMAT and data.get("fingerprint") == fp:
            os.utime(path)  # recently used: kept by _prune
            return data
    except (OSError, ValueError):
        pass
    data = _build_elsewhere(timeout)
    data["fingerprint"] = fp
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)
    except OSError:
        pass
    _prune(_KEEP)
    return data


def main(argv: list[str] | None = None) -> None:
    """``python -m serbench.component_index OUT``: build the index of this environment into OUT."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python -m serbench.component_index OUT.json")
    data = build()
    Path(args[0]).write_text(json.dumps(data, default=str))


if __name__ == "__main__":
    main()
