"""One generic registry for the five component kinds.

Built-ins register with a decorator when their module is imported; third-party
packages declare entry points in the ``serbench.<kind>`` groups. Entry points
are *found* without importing them (listing stays fast and safe) and *loaded*
on first use. A plugin that fails to load is remembered as broken and reported,
never raised while listing or while running something that does not need it.

Names, and why they cannot be confused:

- a built-in is one word without a dot: ``cnn4``, ``fgsm``;
- a plugin (an entry point) is ``<namespace>.<name>``, exactly one dot, each part letters,
  digits, ``_`` or ``-``, and the namespace is not the name of a built-in of the same kind:
  ``art.pgd``. ``cnn4.evil`` is refused (it reads as a variant of ``cnn4``), and so are
  ``white`` (no namespace) and ``a.b.c``;
- a variant adds one more dot: ``cnn4.small`` (built-in ``cnn4`` with its ``small``
  parameters), ``art.pgd.strong`` (plugin ``art.pgd`` with its ``strong`` parameters).

So a plugin never shadows a built-in or a built-in's variant. A refused entry point is
reported as broken (one line: package, entry point, what to rename it to) and never
loaded; the built-in of that name keeps working. Two distributions declaring the same
plugin name is a clash: both are marked broken with one line naming the two packages,
and everything that does not use that name keeps working. ``SERBENCH_DISABLE_PLUGINS=
pkg1,pkg2`` (distribution names; the CLI's ``--disable-plugins`` sets it) switches every
entry point of those distributions off, as if they were not installed.
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib
import inspect
import json
import os
import re
import threading
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterable, TypedDict, Unpack

from serbench.errors import (
    DuplicateComponentError,
    PluginLoadError,
    SerbenchError,
    UnknownComponentError,
)
from serbench.suggest import did_you_mean

KINDS: tuple[str, ...] = ("datasets", "models", "attacks", "defenses", "noises", "corruptions")
ENTRY_POINT_GROUP = "serbench.{kind}"
# Modules whose import registers the built-ins of each kind.
_BUILTIN_MODULES = {
    "datasets": "serbench.data",
    "models": "serbench.models",
    "attacks": "serbench.attacks",
    "defenses": "serbench.defenses",
    "noises": "serbench.noises",
    "corruptions": "serbench.corruptions",
}
_ATTR = "__serbench_component__"
# The class every component of a kind must be (checked on classes when a component loads; a factory
# function is trusted, since checking what it returns would mean building a corpus or a model to list it).
_BASES = {
    "datasets": ("serbench.data.corpus", "Corpus"),
    "models": ("torch.nn", "Module"),
    "attacks": ("serbench.attacks.base", "Attack"),
    "defenses": ("serbench.defenses.base", "Defense"),
    "noises": ("serbench.noises.base", "Noise"),
    "corruptions": ("serbench.corruptions.base", "Corruption"),
}


@dataclass(frozen=True)
class ComponentInfo:
    """What serbench knows about a component: enough for listings, keys and docs."""

    kind: str
    name: str
    version: str
    summary: str
    paper: str = ""
    defaults: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str = "serbench"  # distribution that provides it
    factory: Callable[..., Any] | None = field(default=None, repr=False, compare=False)
    package_version: str = ""  # the version of the distribution ``source``, recorded beside ``version``

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "version": self.version,
            "summary": self.summary,
            "paper": self.paper,
            "defaults": self.defaults,
            "tags": list(self.tags),
            "variants": self.variants,
            "source": self.source,
            "package_version": self.package_version,
        }


@dataclass(frozen=True)
class BrokenPlugin:
    """An entry point that could not be loaded, with the reason."""

    kind: str
    name: str
    package: str
    entry_point: str
    error: str


@dataclass(frozen=True)
class Resolved:
    """A component name resolved to its info and complete parameters (defaults applied)."""

    info: ComponentInfo
    params: dict[str, Any]
    requested: str  # the name as asked for, variant tag included

    def create(self) -> Any:
        assert self.info.factory is not None
        return self.info.factory(**self.params)

    def identity(self) -> dict[str, Any]:
        """The part of a cell key this component contributes: the name as requested (variant tag included),
        the component's version, the distribution that provides it and that distribution's version (a
        new release of a plugin makes new cells even when a component keeps its version), and the
        resolved parameters. A factory with a ``content_fingerprint(params)`` classmethod (a digest of the files it
        reads) adds it as ``content`` and leaves out its ``location_params`` (paths), so a copy of the same weights
        elsewhere keeps the key and other weights at the same path do not."""
        factory = self.info.factory
        fingerprint = getattr(factory, "content_fingerprint", None)
        if fingerprint is None:
            return {"name": self.requested, "version": self.info.version, "package": self.info.source,
                    "package_version": self.info.package_version, "params": self.params}
        # A component reading files (a model's pretrained weights) keys their content, not where they lie.
        located = set(getattr(factory, "location_params", ()))
        return {"name": self.requested, "version": self.info.version, "package": self.info.source,
                "package_version": self.info.package_version,
                "params": {k: v for k, v in self.params.items() if k not in located},
                "content": fingerprint(dict(self.params))}


class ComponentMeta(TypedDict, total=False):
    """The metadata keywords of :func:`component`, :meth:`Registry.register` and :func:`register`, all optional.

    One definition for all three, documented here only.
    """

    version: str | None
    """Goes into every cell key. None: the distribution's version for a plugin, ``1.0`` for a built-in;
    ``"auto"``: the sha256 of the source of the module defining the component, so editing it makes new
    cells (also what ``SERBENCH_SOURCE_VERSIONS=1`` gives every component without a version)."""
    summary: str | None
    """One line for listings; None: the first line of the docstring."""
    paper: str
    """The publication the component follows."""
    tags: Iterable[str]
    """Labels for listings and globbing."""
    variants: dict[str, dict[str, Any]] | None
    """Tag -> the parameters it sets: ``cnn4.small`` is ``cnn4`` with ``variants["small"]`` applied."""
    defaults: dict[str, Any] | None
    """The parameters and their defaults; None: read from the signature."""


def _stored_meta(name: str | None, meta: ComponentMeta) -> dict[str, Any]:
    """The dict kept on the component under ``__serbench_component__``; an unknown keyword is a TypeError,
    as it was when each keyword was spelled out in the signatures."""
    unknown = sorted(set(meta) - ComponentMeta.__optional_keys__)
    if unknown:
        raise TypeError(f"unexpected component metadata {', '.join(map(repr, unknown))}; "
                        f"known: {', '.join(ComponentMeta.__annotations__)}")
    defaults = meta.get("defaults")
    return {
        "name": name,
        "version": meta.get("version"),
        "summary": meta.get("summary"),
        "paper": meta.get("paper", ""),
        "tags": tuple(meta.get("tags", ())),
        "variants": dict(meta.get("variants") or {}),
        "defaults": dict(defaults) if defaults is not None else None,
    }


def component(*, name: str | None = None, **meta: Unpack[ComponentMeta]) -> Callable[[Any], Any]:
    """Attach component metadata (:class:`ComponentMeta`) to a class or factory without registering it.

    This is what a plugin's entry point target uses; the entry point's name is the component's name.
    """
    stored = _stored_meta(name, meta)

    def wrap(obj: Any) -> Any:
        setattr(obj, _ATTR, dict(stored))
        return obj

    return wrap


def signature_defaults(factory: Callable[..., Any]) -> dict[str, Any]:
    """Keyword parameters with defaults: the component's tunable parameters."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    out: dict[str, Any] = {}
    for p in list(inspect.signature(target).parameters.values()):
        if p.name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is not inspect.Parameter.empty:
            out[p.name] = p.default
    return out


def _required_params(factory: Callable[..., Any]) -> list[str]:
    target = factory.__init__ if inspect.isclass(factory) else factory
    return [
        p.name
        for p in inspect.signature(target).parameters.values()
        if p.name != "self"
        and p.default is inspect.Parameter.empty
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def _accepts_kwargs(factory: Callable[..., Any]) -> bool:
    target = factory.__init__ if inspect.isclass(factory) else factory
    return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(target).parameters.values())


def _check_type(owner: str, key: str, default: Any, value: Any) -> None:
    """Catch the common spec mistake (``sessions: three``) before the component sees it."""
    if default is None or value is None:
        return
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif isinstance(default, str):
        ok = isinstance(value, str)
    else:
        return
    if not ok:
        raise SerbenchError(
            f"{owner} parameter {key!r} expects {type(default).__name__} (default {default!r}), got {value!r}"
        )


def _summary_of(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


AUTO_VERSION = "auto"
SOURCE_VERSIONS_ENV = "SERBENCH_SOURCE_VERSIONS"


def source_versions_enabled() -> bool:
    """``SERBENCH_SOURCE_VERSIONS=1``: components without an explicit version are versioned by their source."""
    return os.environ.get(SOURCE_VERSIONS_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def source_version(obj: Any) -> str:
    """``src-<12 hex>``: the sha256 of the source file of the module that defines ``obj``.

    Editing that module gives a new version, so cells keyed by it are recomputed: the version of
    a component under development (``version="auto"``, or ``SERBENCH_SOURCE_VERSIONS=1``).
    """
    module = inspect.getmodule(obj)
    try:
        path = inspect.getsourcefile(module) if module is not None else None
        data = Path(path).read_bytes() if path else None
    except (OSError, TypeError):
        data = None
    if data is None:
        where = getattr(obj, "__module__", None) or repr(obj)
        raise SerbenchError(f"component {getattr(obj, '__qualname__', obj)!r}: version 'auto' needs the source of "
                            f"module {where}, which is not available; give an explicit version")
    return "src-" + hashlib.sha256(data).hexdigest()[:12]


def _component_version(obj: Any, declared: str | None, fallback: str) -> str:
    """The declared version; ``"auto"`` (or none under ``SERBENCH_SOURCE_VERSIONS=1``): the source hash;
    else ``fallback`` (the package version for plugins, ``1.0`` for built-ins)."""
    if declared == AUTO_VERSION or (not declared and source_versions_enabled()):
        return source_version(obj)
    return declared or fallback


def _package_version(dist: str) -> str:
    if dist == "serbench":
        from serbench import __version__

        return __version__
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "0"


def _info_from(kind: str, name: str, obj: Any, source: str, version: str,
               package_version: str | None = None) -> ComponentInfo:
    meta = getattr(obj, _ATTR, None) or {}
    defaults = meta.get("defaults")
    if defaults is None:
        defaults = signature_defaults(obj)
    return ComponentInfo(
        kind=kind,
        name=name,
        version=_component_version(obj, meta.get("version"), version),
        summary=meta.get("summary") or _summary_of(obj),
        paper=meta.get("paper", ""),
        defaults=defaults,
        tags=tuple(meta.get("tags", ())),
        variants=dict(meta.get("variants", {})),
        source=source,
        factory=obj,
        package_version=package_version if package_version is not None else _package_version(source),
    )


def check_base(kind: str, obj: Any) -> None:
    """Raise TypeError when class ``obj`` is not a subclass of ``kind``'s base (a plugin is then broken)."""
    if not inspect.isclass(obj):
        return
    module, attr = _BASES[kind]
    base = getattr(importlib.import_module(module), attr)
    if not issubclass(obj, base):
        raise TypeError(f"{obj.__module__}.{obj.__qualname__} is not a subclass of {module}.{attr}, "
                        f"the base class of {kind}")


def check_contract(kind: str, obj: Any) -> None:
    """:func:`check_base`, and a TypeError when class ``obj`` leaves an abstract method of its base unimplemented.

    Run when a component loads, so ``serbench doctor`` reports such a plugin broken instead of the first
    cell that builds it failing.
    """
    check_base(kind, obj)
    if inspect.isclass(obj) and inspect.isabstract(obj):
        missing = ", ".join(sorted(obj.__abstractmethods__))
        raise TypeError(f"{obj.__module__}.{obj.__qualname__} does not implement abstract method(s) {missing}")


DISABLE_ENV = "SERBENCH_DISABLE_PLUGINS"
# One part of a plugin name: ``art``, ``pgd``, ``my_org``, ``noise-2``. No glob characters (specs glob names).
_NAME_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def normalize_package(name: str) -> str:
    """A distribution name as packaging compares them (PEP 503): ``Serbench_Art`` is ``serbench-art``."""
    return re.sub(r"[-_.]+", "-", name).lower().strip()


def disabled_packages(value: str | None = None) -> frozenset[str]:
    """The distributions ``SERBENCH_DISABLE_PLUGINS`` (or ``value``, same comma-separated form) switches off."""
    raw = os.environ.get(DISABLE_ENV, "") if value is None else value
    return frozenset(normalize_package(p) for p in raw.split(",") if p.strip())


def disable_plugins(packages: str) -> None:
    """Switch the comma-separated distributions ``packages`` off for this process and every process it starts
    (it adds them to ``SERBENCH_DISABLE_PLUGINS``, which workers inherit), and forget what was discovered."""
    merged = sorted(disabled_packages() | disabled_packages(packages))
    os.environ[DISABLE_ENV] = ",".join(merged)
    for reg in REGISTRIES.values():
        reg.refresh()


def naming_problem(kind: str, name: str, builtins: Iterable[str]) -> str | None:
    """Why a plugin may not be called ``name`` among ``kind``'s ``builtins`` (see the module docstring), or None."""
    builtins = set(builtins)
    noun = kind[:-1]
    if name in builtins:
        return f"is named like the built-in {noun} {name!r}, which a plugin never replaces"
    parts = name.split(".")
    if len(parts) == 1:
        return "has no namespace"
    if len(parts) != 2 or not all(_NAME_PART.fullmatch(p) for p in parts):
        return "is not '<namespace>.<name>' (one dot; letters, digits, '_' and '-')"
    if parts[0] in builtins:
        return f"uses the built-in {noun} {parts[0]!r} as its namespace, so it would read as a variant of it"
    return None


def suggested_name(name: str, package: str, builtins: Iterable[str]) -> str:
    """A name obeying the rule for a refused plugin ``name`` of ``package``: its own namespace kept when it is
    one, else the package name (without a ``serbench-`` prefix) as namespace."""
    builtins = set(builtins)
    words = [w for w in re.split(r"[^A-Za-z0-9_-]+", name) if w and _NAME_PART.fullmatch(w)]
    if len(words) >= 2 and words[0] not in builtins:
        return f"{words[0]}.{'-'.join(words[1:])}"
    ns = re.sub(r"[^a-z0-9_-]+", "-", normalize_package(package)).strip("-_")
    ns = ns.removeprefix("serbench-") or ns or "myplugin"
    if ns in builtins or not _NAME_PART.fullmatch(ns):
        ns = f"x{ns}-plugin"
    return f"{ns}.{'-'.join(words) or 'component'}"


class PluginClashError(PluginLoadError, DuplicateComponentError):
    """Two distributions declare the same plugin name: neither is used."""


@dataclass
class _PluginEntry:
    entry_point: metadata.EntryPoint
    package: str
    package_version: str


class Registry:
    """Components of one kind: built-ins by decorator, plugins by entry point."""

    def __init__(self, kind: str) -> None:
        if kind not in KINDS:
            raise SerbenchError(f"unknown component kind {kind!r}; choose one of {', '.join(KINDS)}")
        self.kind = kind
        self.group = ENTRY_POINT_GROUP.format(kind=kind)
        self._builtins: dict[str, ComponentInfo] = {}
        self._entries: list[_PluginEntry] | None = None  # every entry point of the group, no policy applied
        self._plugins: dict[str, list[_PluginEntry]] | None = None  # usable: named by the rule, no clash
        self._refused: dict[str, list[BrokenPlugin]] = {}  # misnamed or clashing: never loaded
        self._disabled: dict[str, list[_PluginEntry]] = {}  # switched off by SERBENCH_DISABLE_PLUGINS
        self._loaded: dict[str, ComponentInfo] = {}
        self._broken: dict[str, BrokenPlugin] = {}
        self._builtins_imported = False
        self._lock = threading.RLock()

    # -- registration -------------------------------------------------------------
    def register(self, name: str, **meta: Unpack[ComponentMeta]) -> Callable[[Any], Any]:
        """Decorator registering a built-in component under ``name`` with :class:`ComponentMeta` keywords."""
        attach = component(name=name, **meta)

        def wrap(obj: Any) -> Any:
            with self._lock:
                if name in self._builtins:  # first: a second registration is wrong whatever the class is
                    raise DuplicateComponentError(
                        f"{self.kind} component {name!r} is registered twice "
                        f"({self._builtins[name].factory!r} and {obj!r}); rename one"
                    )
                attach(obj)
                check_contract(self.kind, obj)
                self._builtins[name] = _info_from(self.kind, name, obj, "serbench", "1.0")
            return obj

        return wrap

    def unregister(self, name: str) -> None:
        """Remove a built-in (tests and interactive use)."""
        with self._lock:
            self._builtins.pop(name, None)

    # -- discovery ----------------------------------------------------------------
    def _ensure_builtins(self) -> None:
        if not self._builtins_imported:
            self._builtins_imported = True
            importlib.import_module(_BUILTIN_MODULES[self.kind])

    def entries(self) -> list[_PluginEntry]:
        """Every entry point of this kind's group as installed, disabled and misnamed ones included.

        Reads distribution metadata only: no plugin and no built-in (so not torch) is imported.
        """
        with self._lock:
            if self._entries is None:
                found: list[_PluginEntry] = []
                for ep in metadata.entry_points(group=self.group):
                    dist = getattr(ep, "dist", None)
                    pkg = dist.metadata["Name"] if dist is not None else "?"
                    ver = dist.version if dist is not None else "0"
                    found.append(_PluginEntry(ep, pkg, ver))
                self._entries = found
            return self._entries

    def _discover(self) -> dict[str, list[_PluginEntry]]:
        """The usable plugins by name (one entry each), after switching off disabled packages and refusing
        misnamed and clashing entry points (kept in ``_refused`` with their one-line reason)."""
        self._ensure_builtins()
        with self._lock:
            if self._plugins is None:
                off = disabled_packages()
                by_name: dict[str, list[_PluginEntry]] = {}
                disabled: dict[str, list[_PluginEntry]] = {}
                for entry in self.entries():
                    target = disabled if normalize_package(entry.package) in off else by_name
                    same = target.setdefault(entry.entry_point.name, [])
                    if all(normalize_package(e.package) != normalize_package(entry.package) for e in same):
                        same.append(entry)  # one distribution found twice on sys.path is one provider
                usable: dict[str, list[_PluginEntry]] = {}
                refused: dict[str, list[BrokenPlugin]] = {}
                for name, same in by_name.items():
                    reasons = self._refusals(name, same)
                    if reasons:
                        refused[name] = reasons
                    else:
                        usable[name] = same
                self._plugins, self._refused, self._disabled = usable, refused, disabled
            return self._plugins

    def _refusals(self, name: str, same: list[_PluginEntry]) -> list[BrokenPlugin]:
        """The broken records of a misnamed or clashing plugin name (one per entry point), else []."""
        why = naming_problem(self.kind, name, self._builtins)
        if why is not None:
            return [BrokenPlugin(self.kind, name, e.package, e.entry_point.value,
                                 f"refused: it {why}; rename the entry point to "
                                 f"{suggested_name(name, e.package, self._builtins)!r} (plugin names are "
                                 "'<namespace>.<name>' with a namespace of their own)") for e in same]
        if len(same) > 1:
            pkgs = [e.package for e in same]
            listed = " and ".join(pkgs) if len(pkgs) == 2 else ", ".join(pkgs[:-1]) + f" and {pkgs[-1]}"
            others = ",".join(pkgs[1:])
            error = (f"clashes: {'both' if len(pkgs) == 2 else 'all of'} {listed} provide it, so none is used; "
                     f"uninstall all but one, or switch the others off with {DISABLE_ENV}={others} "
                     f"(or --disable-plugins {others})")
            return [BrokenPlugin(self.kind, name, e.package, e.entry_point.value, error) for e in same]
        return []

    def refresh(self) -> None:
        """Forget discovered plugins, e.g. after installing a package at run time."""
        with self._lock:
            self._entries = None
            self._plugins = None
            self._refused = {}
            self._disabled = {}
            self._loaded.clear()
            self._broken.clear()
            importlib.invalidate_caches()

    def names(self, pattern: str = "*", *, variants: bool = False) -> list[str]:
        """Every usable name (built-in and plugin, loaded or not), sorted; refused and disabled plugins are not
        among them (``refused()`` and ``disabled()`` list those). ``variants`` adds every variant tag: a plugin's
        are in its code, so asking for them loads the plugins the pattern's base names match (one that fails to
        load lists no variant; using it reports why)."""
        self._ensure_builtins()
        plugins = self._discover()
        names = set(self._builtins) | set(plugins)
        if variants:
            for info in self._builtins.values():
                names.update(f"{info.name}.{tag}" for tag in info.variants)
            for name in plugins:
                try:
                    tags = self.info(name).variants
                except SerbenchError:
                    continue
                names.update(f"{name}.{tag}" for tag in tags)
        return sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))

    def plugin_origin(self, name: str) -> str | None:
        """The distribution that provides usable plugin ``name`` (without loading it)."""
        entries = self._discover().get(name)
        return entries[0].package if entries else None

    def refused(self) -> list[BrokenPlugin]:
        """Misnamed and clashing plugin entry points (never loaded), one record per entry point."""
        self._discover()
        return [b for records in self._refused.values() for b in records]

    def disabled(self) -> dict[str, str]:
        """Plugin name -> the distribution providing it, for those ``SERBENCH_DISABLE_PLUGINS`` switches off."""
        self._discover()
        return {name: same[0].package for name, same in self._disabled.items()}

    def _refusal(self, name: str) -> SerbenchError | None:
        """The one-line error for using refused or disabled plugin ``name``, else None."""
        if name in self._refused:
            first = self._refused[name][0]
            if first.error.startswith("clashes:"):
                return PluginClashError(f"{self.kind[:-1]} plugin {name!r} {first.error}")
            return PluginLoadError(f"plugin {name!r} ({first.package}, entry point {first.entry_point}) is "
                                   f"{first.error}")
        if name in self._disabled:
            pkg = self._disabled[name][0].package
            return PluginLoadError(f"plugin {name!r} ({pkg}) is switched off by {DISABLE_ENV} or --disable-plugins "
                                   f"(now {os.environ.get(DISABLE_ENV, '')!r}); take {pkg} out of it to use it")
        return None

    # -- loading ------------------------------------------------------------------
    def _load_plugin(self, name: str) -> ComponentInfo:
        entry = self._discover()[name][0]
        if name in self._broken:
            b = self._broken[name]
            raise PluginLoadError(
                f"plugin {name!r} ({b.package}, entry point {b.entry_point}) failed to load: {b.error}"
            )
        try:
            obj = entry.entry_point.load()
            if not callable(obj):
                raise TypeError(f"entry point target {obj!r} is not a class or factory")
            check_contract(self.kind, obj)
            info = _info_from(self.kind, name, obj, entry.package, entry.package_version, entry.package_version)
            declared = (getattr(obj, _ATTR, None) or {}).get("name")
            if declared and declared != name:
                raise ValueError(f"target declares name {declared!r} but the entry point is {name!r}")
        except (Exception, SystemExit) as exc:  # a plugin may fail in any way (even exit); report it, don't crash
            if isinstance(exc, SystemExit):  # KeyboardInterrupt is no plugin's failure: it still propagates
                code = "" if exc.code is None else repr(exc.code)
                err = f"called sys.exit({code}) on import"
            else:
                err = (f"{type(exc).__name__}: {exc}".splitlines() or [type(exc).__name__])[0]
            self._broken[name] = BrokenPlugin(self.kind, name, entry.package, entry.entry_point.value, err)
            raise PluginLoadError(
                f"plugin {name!r} ({entry.package}, entry point {entry.entry_point.value}) failed to load: "
                f"{err}. Fix or uninstall {entry.package}; `serbench doctor` lists all plugins"
            ) from exc
        self._loaded[name] = info
        return info

    def info(self, name: str) -> ComponentInfo:
        """Metadata of ``name`` (loads a plugin on first use). Variant tags resolve to the base."""
        return self._lookup(name)[0]

    def _lookup(self, name: str) -> tuple[ComponentInfo, dict[str, Any]]:
        self._ensure_builtins()
        with self._lock:
            plugins = self._discover()
            if name in self._builtins:
                return self._builtins[name], {}
            if name in plugins:
                return self._loaded.get(name) or self._load_plugin(name), {}
            base = name.rsplit(".", 1)[0] if "." in name else None
            if base is not None and (base in self._builtins or base in plugins):
                info = self._lookup(base)[0]
                tag = name.rsplit(".", 1)[1]
                if tag in info.variants:
                    return info, dict(info.variants[tag])
                if self._refusal(name) is None:
                    raise UnknownComponentError(
                        f"{self.kind} component {base!r} has no variant {tag!r}; "
                        f"variants: {', '.join(sorted(info.variants)) or 'none'}"
                    )
            refusal = self._refusal(name) or (self._refusal(base) if base is not None else None)
            if refusal is not None:
                raise refusal
        raise UnknownComponentError(self._unknown_message(name))

    def _unknown_message(self, name: str) -> str:
        candidates = self.names(variants=True)
        hint = did_you_mean(name, candidates, n=3, cutoff=0.5)
        return (
            f"unknown {self.kind[:-1]} {name!r}{hint} "
            f"(`serbench list {self.kind}` shows all {len(candidates)})"
        )

    def resolve(self, name: str, params: dict[str, Any] | None = None) -> Resolved:
        """Name + user parameters -> info and the complete parameter dict."""
        info, variant_params = self._lookup(name)
        params = dict(params or {})
        factory = info.factory
        assert factory is not None
        allowed = set(info.defaults) | set(_required_params(factory))
        unknown = sorted(set(params) - allowed)
        if unknown and not _accepts_kwargs(factory):
            raise SerbenchError(
                f"{self.kind[:-1]} {name!r} has no parameter {unknown[0]!r}; "
                f"its parameters: {', '.join(sorted(allowed)) or 'none'}"
            )
        for key, value in params.items():
            _check_type(f"{self.kind[:-1]} {name!r}", key, info.defaults.get(key), value)
        resolved = {**info.defaults, **variant_params, **params}
        return Resolved(info=info, params=resolved, requested=name)

    def create(self, name: str, **params: Any) -> Any:
        return self.resolve(name, params).create()

    # -- health -------------------------------------------------------------------
    def check_all(self) -> tuple[list[ComponentInfo], list[BrokenPlugin]]:
        """Load every plugin; return healthy infos and broken plugins, refused ones included (for `doctor`)."""
        ok: list[ComponentInfo] = []
        for name in self.names():
            try:
                ok.append(self.info(name))
            except PluginLoadError:
                pass  # recorded in self._broken by _load_plugin
        return ok, self.broken()

    def broken(self) -> list[BrokenPlugin]:
        """Plugins that failed to load so far, and every refused (misnamed or clashing) entry point."""
        return list(self._broken.values()) + self.refused()

    def loaded_plugins(self) -> list[str]:
        return sorted(self._loaded)


REGISTRIES: dict[str, Registry] = {kind: Registry(kind) for kind in KINDS}


def registry(kind: str) -> Registry:
    try:
        return REGISTRIES[kind]
    except KeyError:
        hint = did_you_mean(kind, KINDS)
        raise UnknownComponentError(
            f"unknown component kind {kind!r}{hint} (kinds: {', '.join(KINDS)})"
        ) from None


def register(kind: str, name: str, **meta: Unpack[ComponentMeta]) -> Callable[[Any], Any]:
    """Decorator: ``@register("models", "cnn4", summary=...)`` (keywords: :class:`ComponentMeta`)."""
    return registry(kind).register(name, **meta)


def list_components(kind: str, pattern: str = "*", *, variants: bool = False) -> list[str]:
    """Names of every component of ``kind`` matching a shell-style ``pattern``; imports no plugin."""
    return registry(kind).names(pattern, variants=variants)


def get(kind: str, name: str, **params: Any) -> Any:
    """Instantiate component ``name`` of ``kind`` with ``params`` over its defaults."""
    return registry(kind).create(name, **params)


def resolve(kind: str, name: str, params: dict[str, Any] | None = None) -> Resolved:
    return registry(kind).resolve(name, params)


def info(kind: str, name: str) -> ComponentInfo:
    return registry(kind).info(name)


def editable_installs() -> list[str]:
    """Distributions installed in editable mode (``pip install -e``): serbench and every plugin package.

    Their code changes without their version changing, so cells keyed by versions alone are reused
    after an edit; runs say so (``env.editable`` in every record, a warning from ``serbench run``).
    """
    names = {"serbench"}
    for kind in KINDS:
        for entries in registry(kind)._discover().values():
            names.update(e.package for e in entries)
    return [name for name in sorted(names) if any(_is_editable(d) for d in metadata.distributions(name=name))]


def _is_editable(dist: metadata.Distribution) -> bool:
    """pip's record of an editable install: ``direct_url.json`` with ``dir_info.editable`` (PEP 610).

    Every copy of the metadata is asked (a source tree's own ``*.egg-info`` may shadow the installed one).
    """
    try:
        return bool(json.loads(dist.read_text("direct_url.json") or "{}").get("dir_info", {}).get("editable"))
    except (ValueError, AttributeError):
        return False  # a malformed record is pip's business, not a reason to stop a run


def editable_warning() -> str | None:
    """The one-line warning ``serbench run`` prints when code it runs is an editable install, else None."""
    found = editable_installs()
    if not found:
        return None
    mode = ("SERBENCH_SOURCE_VERSIONS=1 keys components without a version by their source" if
            source_versions_enabled() else "set SERBENCH_SOURCE_VERSIONS=1 to key components without a version "
            "by their source")
    return (f"editable install of {', '.join(found)}: editing a component's code does not change its cells' keys, "
            f"so cached results are reused; bump its version or declare version=\"auto\" ({mode})")
