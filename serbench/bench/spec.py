"""Benchmark specs: YAML -> validated axes -> train and eval cells.

Example (``benchmarks/quickstart.yaml``)::

    name: quickstart
    dataset: {name: synthetic, protocol: leave-one-session-out, folds: [0]}
    frontend: {preset: ren2020, seconds: 2.0}
    training: {schedule: ren2020, iterations: 400, eval_every: 100}
    models: [cnn4.small]
    defenses: [standard]
    seeds: [0]
    attacks:
      - {name: fgsm, domain: feature, norm: linf, eps: [0.01, 0.04, 0.1]}
    noises:
      - {name: white, snr: [20, 10, 0]}

Front end: ``preset`` (``ren2020`` log-Mel, ``latif2020`` STFT spectrogram) with
overrides; ``seconds`` pads/crops every utterance (Ren et al.), or, with
``segments: {window: 256, hop: 256}``, caps the audio kept and the model is
trained on windows of frames whose posteriors are averaged per utterance
(Latif et al.). ``normalization`` (default ``natural-log``; or ``standardize``,
``minmax-active``, legacy ``minmax``; a name or ``{name, <params>}``) scales the
features and so decides what a feature-domain eps means in dB
(:mod:`serbench.normalization`). ``training.fit_on: train+valid`` fits Ren et
al.'s final models.

An axis item is a name or ``{name, params}``. Every component is resolved
(plugins loaded) while the spec is read, so a bad name fails before any
compute, with the file and field path in the message.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from serbench.attacks.base import ThreatModel
from serbench.bench.cells import EvalCell, TrainCell
from serbench.data.corpus import declared_protocols
from serbench.data.segments import WINDOW as SEGMENT_WINDOW
from serbench.engine.schedules import Schedule, schedule
from serbench.errors import PluginLoadError, SerbenchError, SpecError
from serbench.features import FrontendConfig, frontend_config
from serbench.normalization import DEFAULT_NORMALIZATION, NORMALIZATIONS, normalization
from serbench.registry import Resolved, list_components, resolve

if TYPE_CHECKING:
    from serbench.data.corpus import Corpus

TOP_LEVEL = {
    "name", "description", "dataset", "datasets", "frontend", "training", "models", "defenses", "seeds",
    "attacks", "noises", "partitions", "worst_case", "transfer", "exclude", "include",
}
# Fields an ``exclude`` rule may name, and how a cell answers them.
EXCLUDE_FIELDS = ("dataset", "protocol", "fold", "model", "defense", "seed", "partition", "type", "attack",
                  "noise", "eps", "snr", "domain", "norm")
GLOB_CHARS = set("*?[")
PARTITIONS = ("valid", "test")
# Longest utterance (pad/crop or segment cap) a spec may ask for: every batch holds batch_size x seconds x
# sample_rate samples and their features, so ``seconds: 1e9`` cannot fit in memory.
MAX_SECONDS = 600.0


@dataclass(frozen=True)
class DatasetAxis:
    """A corpus of the spec, its protocol and folds. ``protocol`` is the name cells are keyed by: the
    corpus's default when the spec names none (None only until the runner loads a corpus whose
    factory does not declare its protocols, see :func:`serbench.data.corpus.declare_protocols`)."""

    resolved: Resolved
    protocol: str | None
    folds: tuple[int | str, ...] | None  # None = every fold
    where: str = field(default="dataset", compare=False)  # its field path in the spec, for messages

    def resolved_for(self, corpus: Corpus, path: str) -> DatasetAxis:
        """This axis checked against its loaded corpus (its listing; no audio is read): the protocol named
        (the corpus's default when the spec names none) and known, every fold asked for present."""
        protocol = self.protocol if self.protocol is not None else corpus.default_protocol
        if protocol not in corpus.protocols:
            raise SpecError(f"{path}: {self.where}.protocol: "
                            f"{unknown_protocol(protocol, self.resolved.requested, sorted(corpus.protocols))}")
        if self.folds is not None:
            folds = corpus.folds(protocol)
            names = [f.name for f in folds]
            for j, f in enumerate(self.folds):
                if (f not in names) if isinstance(f, str) else not 0 <= f < len(folds):
                    raise SpecError(
                        f"{path}: {self.where}.folds[{j}]: protocol {protocol!r} of dataset "
                        f"{self.resolved.requested!r} has no fold {f!r}; its {len(folds)} folds are 0..{len(folds) - 1}"
                        f" or by name {', '.join(names)}")
        return replace(self, protocol=protocol)


@dataclass(frozen=True)
class AttackAxis:
    resolved: Resolved
    domain: str
    norm: str
    eps: tuple[float, ...]


@dataclass(frozen=True)
class NoiseAxis:
    resolved: Resolved
    snr: tuple[float, ...]


@dataclass(frozen=True)
class TransferAxis:
    """Craft ``attack`` on the (source model, source defense) trained on the same data, fold and seed."""

    source_model: Resolved
    source_defense: Resolved
    attack: AttackAxis


@dataclass
class Spec:
    name: str
    path: str
    datasets: list[DatasetAxis]
    frontend: FrontendConfig
    seconds: float
    training: Schedule
    models: list[Resolved]
    defenses: list[Resolved]
    seeds: list[int]
    partitions: list[str]
    attacks: list[AttackAxis] = field(default_factory=list)
    noises: list[NoiseAxis] = field(default_factory=list)
    description: str = ""
    worst_case: bool = False
    transfer: list[TransferAxis] = field(default_factory=list)
    segments: dict[str, int] | None = None  # Latif et al.'s windows; None = Ren et al.'s pad/crop
    normalization: dict[str, Any] = field(default_factory=lambda: {"name": DEFAULT_NORMALIZATION})
    exclude: list[dict[str, Any]] = field(default_factory=list)
    source: dict[str, Any] = field(default_factory=dict)  # the mapping it was parsed from (includes merged)
    notes: list[str] = field(default_factory=list)  # what the reader skipped, e.g. glob matches

    @classmethod
    def reparse(cls, source: dict[str, Any], path: str) -> "Spec":
        """The same spec in another process (Ray workers): parse the mapping it was read from."""
        return parse_spec(source, path)

    # -- expansion ----------------------------------------------------------------
    def train_cells(self, fold_counts: dict[int, int] | None = None,
                    fingerprints: dict[int, str] | None = None) -> list[TrainCell]:
        """Every train cell with an eval cell left after ``exclude``; ``fold_counts`` gives the number
        of folds of datasets asking for all, ``fingerprints`` each dataset's content fingerprint
        (``Corpus.fingerprint()``; :meth:`LocalRunner.train_cells` loads the corpora and passes both).
        Without a fingerprint a cell can be listed and matched but has no key."""
        return [tc for tc in self.all_train_cells(fold_counts, fingerprints) if self.eval_cells(tc)]

    def all_train_cells(self, fold_counts: dict[int, int] | None,
                        fingerprints: dict[int, str] | None = None) -> list[TrainCell]:
        cells = []
        for d_index, d in enumerate(self.datasets):
            folds = d.folds
            if folds is None:
                if fold_counts is None or d_index not in fold_counts:
                    raise SerbenchError(f"{self.path}: datasets[{d_index}]: fold count unknown; load the corpus")
                folds = tuple(range(fold_counts[d_index]))
            for fold in folds:
                for m in self.models:
                    for df in self.defenses:
                        for seed in self.seeds:
                            cells.append(TrainCell({
                                "dataset": {**dataset_identity(d.resolved),
                                            "fingerprint": (fingerprints or {}).get(d_index),
                                            "protocol": d.protocol, "fold": fold},
                                "model": m.identity(),
                                "defense": df.identity(),
                                "frontend": self.frontend_spec(),
                                "training": self.training.as_dict(),
                                "seed": seed,
                            }))
        return cells

    def frontend_spec(self) -> dict[str, Any]:
        """The front end as a train cell records it: features, length policy (``seconds``, ``segments``) and
        feature normalisation (``normalization``: it decides what a feature-domain eps means)."""
        spec = {**self.frontend.as_dict(), "seconds": self.seconds, "normalization": dict(self.normalization)}
        return spec if self.segments is None else {**spec, "segments": dict(self.segments)}

    def eval_cells(self, train: TrainCell, *, apply_exclude: bool = True) -> list[EvalCell]:
        """The train cell's eval cells, ``exclude`` rules applied.

        The worst case of a threat model (domain, norm, eps) is over every attack evaluated on this train cell
        under it, white-box and transfer alike (a gradient-masked model survives white-box attacks that a
        transfer breaks): ``attacks`` lists the white-box identities, ``transfers`` (present only where some
        transfer applies) the ``{source, attack}`` of each transfer cell. It comes after all its inputs: it
        is computed from their records."""
        def kept(cell: EvalCell) -> bool:
            return not apply_exclude or self.excluded_by(cell) is None

        cells = []
        for part in self.partitions:
            cells.append(EvalCell(train, part, {"type": "clean"}))
            for n in self.noises:
                for snr in n.snr:
                    cells.append(EvalCell(train, part, {"type": "noise", "noise": n.resolved.identity(),
                                                        "snr_db": snr}))
            by_threat: dict[str, tuple[dict, list[dict], list[dict]]] = {}
            for a in self.attacks:
                for eps in a.eps:
                    threat = ThreatModel(domain=a.domain, norm=a.norm, eps=eps).as_dict()
                    attack = _attack_identity(a)
                    cell = EvalCell(train, part, {"type": "attack", "attack": attack, "threat": threat})
                    if kept(cell):
                        cells.append(cell)
                        by_threat.setdefault(repr(sorted(threat.items())), (threat, [], []))[1].append(attack)
            for t in self.transfer:
                source = {"model": t.source_model.identity(), "defense": t.source_defense.identity()}
                if source == {"model": train.spec["model"], "defense": train.spec["defense"]}:
                    continue  # crafting on oneself is the white-box attack, already covered
                for eps in t.attack.eps:
                    threat = ThreatModel(domain=t.attack.domain, norm=t.attack.norm, eps=eps).as_dict()
                    attack = _attack_identity(t.attack)
                    cell = EvalCell(train, part, {"type": "transfer", "source": source, "attack": attack,
                                                  "threat": threat})
                    if kept(cell):
                        cells.append(cell)
                        by_threat.setdefault(repr(sorted(threat.items())), (threat, [], []))[2].append(
                            {"source": source, "attack": attack})
            if self.worst_case:
                for threat, attacks, transfers in by_threat.values():
                    if len(attacks) + len(transfers) > 1:
                        cond = {"type": "worst_case", "threat": threat, "attacks": attacks}
                        cells.append(EvalCell(train, part, cond | ({"transfers": transfers} if transfers else {})))
        return [c for c in cells if kept(c)]

    def excluded_by(self, cell: EvalCell) -> int | None:
        """The index of the first ``exclude`` rule that matches ``cell``, or None."""
        if not self.exclude:
            return None
        fields = cell_fields(cell)
        for i, rule in enumerate(self.exclude):
            if all(matches(fields.get(k), want) for k, want in rule.items()):
                return i
        return None

    def unused_excludes(self, trains: list[TrainCell]) -> list[int]:
        """Rules that match no cell of the full matrix (likely a typo in a value)."""
        used = set()
        for tc in trains:
            every = self.eval_cells(tc, apply_exclude=False)
            used.update(i for i in (self.excluded_by(c) for c in every) if i is not None)
        return [i for i in range(len(self.exclude)) if i not in used]


def unknown_protocol(protocol: str, dataset: str, known: list[str] | tuple[str, ...]) -> str:
    """The message for a protocol the dataset does not have, read from its declaration or its loaded corpus."""
    close = difflib.get_close_matches(protocol, list(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown protocol {protocol!r} for dataset {dataset!r}{hint} (protocols: {', '.join(known)})"


LOCATION_PARAMS = frozenset({"root"})


def without_location(value: Any) -> Any:
    """``value`` without the params that say where a local copy lives (``root``, at any depth)."""
    if isinstance(value, dict):
        return {k: without_location(v) for k, v in value.items() if k not in LOCATION_PARAMS}
    return value


def dataset_identity(resolved: Resolved) -> dict[str, Any]:
    """A dataset's part of a cell key: where the local copy lives (``root``, at any depth) is left out,
    so the same corpus read from another folder or machine gives the same cells. What the data is
    enters beside it, as the corpus's content fingerprint (see :meth:`Spec.all_train_cells`)."""
    ident = resolved.identity()
    return {**ident, "params": without_location(ident["params"])}


def cell_fields(cell: EvalCell) -> dict[str, Any]:
    """What an ``exclude`` rule can match: names, fold, seed, partition and the condition's fields."""
    return eval_fields(cell.train.spec, cell.partition, cell.condition)


def eval_fields(t: dict[str, Any], partition: str, c: dict[str, Any]) -> dict[str, Any]:
    """``cell_fields`` from an eval cell's parts, as a stored record holds them (``train``, ``partition``,
    ``condition``)."""
    threat = c.get("threat", {})
    return {
        "dataset": t["dataset"]["name"], "protocol": t["dataset"]["protocol"], "fold": t["dataset"]["fold"],
        "model": t["model"]["name"], "defense": t["defense"]["name"], "seed": t["seed"],
        "partition": partition, "type": c["type"], "attack": c.get("attack", {}).get("name"),
        "noise": c.get("noise", {}).get("name"), "eps": threat.get("eps"), "snr": c.get("snr_db"),
        "domain": threat.get("domain"), "norm": threat.get("norm"),
    }


def matches(value: Any, want: Any) -> bool:
    """Does a cell's field value match a rule's value (a glob for strings, a list of alternatives)?"""
    if isinstance(want, list):
        return any(matches(value, w) for w in want)
    if isinstance(want, str) and isinstance(value, str):
        return fnmatch.fnmatchcase(value, want)
    if isinstance(want, (int, float)) and isinstance(value, (int, float)) and not isinstance(want, bool):
        return abs(float(value) - float(want)) <= 1e-12 * max(1.0, abs(float(want)))
    return value == want


def _attack_identity(a: AttackAxis) -> dict[str, Any]:
    params = {k: v for k, v in a.resolved.params.items() if k not in ("eps", "norm", "domain")}
    return {**a.resolved.identity(), "params": params}


class _PluginSpecError(SpecError):
    """A spec item names a plugin that failed to load: skipped with a note when a glob matched it."""


# A number PyYAML (YAML 1.1) reads as text: an exponent without a dot in the mantissa or a sign (``1e9``).
_EXPONENT_TEXT = re.compile(r"([-+]?)(\d*)(?:\.(\d*))?[eE]([-+]?)(\d+)")


def _number_hint(value: Any) -> str:
    """`` (write 1.0e+9 or 1000000000)`` for text YAML did not read as a number, else ``""``."""
    if not isinstance(value, str):
        return ""
    m = _EXPONENT_TEXT.fullmatch(value.strip())
    if not m or not (m.group(2) or m.group(3)):
        return ""
    sign, whole, frac, esign, exp = m.groups()
    number = float(value)
    plain = str(int(number)) if number.is_integer() and abs(number) < 1e16 else repr(number)
    return f" (write {sign}{whole or '0'}.{frac or '0'}e{esign or '+'}{exp} or {plain})"


class _Reader:
    """Validates a parsed YAML mapping, naming ``file: field.path`` in every error."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, where: str, msg: str) -> SpecError:
        return SpecError(f"{self.path}: {where}: {msg}" if where else f"{self.path}: {msg}")

    def mapping(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a mapping, got {type(value).__name__}")
        return value

    def listing(self, value: Any, where: str) -> list[Any]:
        if isinstance(value, (str, dict)):
            return [value]
        if not isinstance(value, list) or not value:
            raise self.fail(where, "expected a non-empty list")
        return value

    def number(self, value: Any, where: str, *, minimum: float | None = None) -> float:
        """A finite number (``.inf`` and ``.nan`` are refused: no budget, SNR or length is infinite)."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(where, f"expected a number, got {value!r}{_number_hint(value)}")
        if not math.isfinite(value):
            raise self.fail(where, f"expected a finite number, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.fail(where, f"must be >= {minimum}, got {value}")
        return float(value)

    def integer(self, value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(where, f"expected an integer, got {value!r}{_number_hint(value)}")
        return value

    def unique(self, items: list[tuple[str, Any]], what: str) -> None:
        """Refuse the second of two entries with the same identity: it would be computed and counted twice.
        ``items`` are (field path, identity) in spec order."""
        seen: dict[str, str] = {}
        for where, ident in items:
            key = json.dumps(ident, sort_keys=True, default=repr)  # params in any order are one identity
            if key in seen:
                raise self.fail(where, f"duplicate {what}: same as {seen[key]}; it would be computed and counted "
                                       "twice, remove one")
            seen[key] = where

    def component(self, kind: str, item: Any, where: str, extra: set[str] = frozenset()) -> tuple[Resolved, dict]:
        """``name`` or ``{name, params, ...}`` -> resolved component and the item's other keys."""
        if isinstance(item, str):
            item = {"name": item}
        item = self.mapping(item, where)
        if "name" not in item or not isinstance(item["name"], str):
            raise self.fail(where, "missing component 'name'")
        unknown = sorted(set(item) - {"name", "params"} - set(extra))
        if unknown:
            raise self.fail(f"{where}.{unknown[0]}", self._unknown_key(unknown[0], {"name", "params"} | set(extra)))
        params = self.mapping(item.get("params", {}) or {}, f"{where}.params")
        try:
            return resolve(kind, item["name"], params), item
        except PluginLoadError as exc:
            raise _PluginSpecError(str(self.fail(where, str(exc)))) from None
        except SerbenchError as exc:
            raise self.fail(where, str(exc)) from None

    def model(self, item: Any, where: str) -> Resolved:
        """A model, its sizes checked without building it (``width: -3`` fails here, not mid-run)."""
        res = self.component("models", item, where)[0]
        check = getattr(res.info.factory, "check_params", None)
        if callable(check):
            try:
                check(res.params)
            except SerbenchError as exc:
                raise self.fail(where, str(exc)) from None
        return res

    def expand(self, kind: str, item: Any, where: str) -> list[Any]:
        """An axis item whose name is a glob (``cnn4*``, ``torchattacks.*``) -> one item per matching name."""
        name = item if isinstance(item, str) else item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not GLOB_CHARS & set(name):
            return [item]
        matches = list_components(kind, name, variants=True)
        if not matches:
            every = list_components(kind, variants=True)
            close = difflib.get_close_matches(name.replace("*", ""), every, n=3, cutoff=0.4)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise self.fail(where, f"{kind} pattern {name!r} matches nothing{hint} (see `serbench list {kind}`)")
        return [m if isinstance(item, str) else {**item, "name": m} for m in matches]

    @staticmethod
    def _unknown_key(key: str, allowed: set[str]) -> str:
        close = difflib.get_close_matches(key, sorted(allowed), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown field {key!r}{hint} (allowed: {', '.join(sorted(allowed))})"


def load_spec(path: str | Path) -> Spec:
    """Read, merge ``include``s, validate. Errors name the file and the field path."""
    path = Path(path)
    return parse_spec(read_spec_mapping(path), str(path))


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


def _normalization(r: "_Reader", raw: Any) -> dict[str, Any]:
    """``frontend.normalization``: a name, or ``{name, <params>}``; checked by building it."""
    if isinstance(raw, str):
        raw = {"name": raw}
    raw = dict(r.mapping(raw, "frontend.normalization"))
    if "name" not in raw:
        raise r.fail("frontend.normalization", f"missing name; one of {', '.join(NORMALIZATIONS)}")
    name, params = raw.pop("name"), raw
    if "floor_db" in params:
        raise r.fail("frontend.normalization.floor_db", "follows the front end's log floor; set frontend.log_floor")
    if isinstance(params.get("percentiles"), tuple):
        params["percentiles"] = list(params["percentiles"])
    try:
        normalization(str(name), **params)
    except (SerbenchError, TypeError, ValueError) as exc:
        raise r.fail("frontend.normalization", str(exc).removeprefix("normalization: ")) from None
    return {"name": str(name), **params}


def parse_spec(data: Any, path: str = "<spec>") -> Spec:
    r = _Reader(path)
    data = r.mapping(data, "")
    unknown = sorted(set(data) - TOP_LEVEL)
    if unknown:
        raise r.fail(unknown[0], r._unknown_key(unknown[0], TOP_LEVEL))

    if "include" in data:
        raise r.fail("include", "include is resolved when a spec file is read: use load_spec(path)")
    if "dataset" in data and "datasets" in data:
        raise r.fail("datasets", "give either 'dataset' or 'datasets', not both")
    ds_key = "datasets" if "datasets" in data else "dataset"
    if ds_key not in data:
        raise r.fail("dataset", "missing: name the corpus, e.g. 'dataset: synthetic'")
    datasets = []
    for i, item in enumerate(r.listing(data[ds_key], ds_key)):
        where = f"{ds_key}[{i}]" if ds_key == "datasets" else ds_key
        res, raw = r.component("datasets", item, where, extra={"protocol", "folds"})
        folds = raw.get("folds", "all")
        if folds != "all":
            folds = tuple(r.listing(folds, f"{where}.folds"))
            for j, f in enumerate(folds):
                if isinstance(f, bool) or not isinstance(f, (int, str)):
                    raise r.fail(f"{where}.folds[{j}]", f"expected a fold index or name, got {f!r}")
        protocol = raw.get("protocol")
        if protocol is not None and not isinstance(protocol, str):
            raise r.fail(f"{where}.protocol", f"expected a protocol name, got {protocol!r}")
        declared = declared_protocols(res.info.factory)
        if declared is not None:  # keyed by the default's name, never by null; a typo fails before any compute
            default, known = declared
            if protocol is None:
                protocol = default
            elif protocol not in known:
                raise r.fail(f"{where}.protocol", unknown_protocol(protocol, res.requested, known))
        datasets.append(DatasetAxis(res, protocol, None if folds == "all" else folds, where))

    fe = dict(r.mapping(data.get("frontend", {}) or {}, "frontend"))
    preset = fe.pop("preset", "ren2020")
    seconds = r.number(fe.pop("seconds", 3.0), "frontend.seconds", minimum=0.1)
    if seconds > MAX_SECONDS:
        raise r.fail("frontend.seconds", f"{seconds:g} s per utterance cannot fit in memory (a batch holds "
                                         f"batch_size x seconds x sample_rate samples); use at most {MAX_SECONDS:g}")
    segments = None
    if "segments" in fe:
        raw_seg = fe.pop("segments")
        raw_seg = {} if raw_seg is True else dict(r.mapping(raw_seg, "frontend.segments"))
        unknown_seg = sorted(set(raw_seg) - {"window", "hop"})
        if unknown_seg:
            raise r.fail(f"frontend.segments.{unknown_seg[0]}", r._unknown_key(unknown_seg[0], {"window", "hop"}))
        window = r.integer(raw_seg.get("window", SEGMENT_WINDOW), "frontend.segments.window")
        hop = r.integer(raw_seg.get("hop", window), "frontend.segments.hop")
        for key, value in (("window", window), ("hop", hop)):
            if value < 1:
                raise r.fail(f"frontend.segments.{key}", f"must be a positive number of frames, got {value}")
        if hop > window:
            raise r.fail("frontend.segments.hop", f"hop {hop} > window {window} would skip frames")
        segments = {"window": window, "hop": hop}
    norm = _normalization(r, fe.pop("normalization", DEFAULT_NORMALIZATION))
    for key, value in fe.items():
        if isinstance(value, str) and _number_hint(value):
            r.number(value, f"frontend.{key}")  # YAML read a number as text: say how to write it
    try:
        frontend = frontend_config(preset, **fe)
    except SerbenchError as exc:
        raise r.fail("frontend", str(exc).removeprefix("front end: ")) from None

    tr = dict(r.mapping(data.get("training", {}) or {}, "training"))
    sched_name = tr.pop("schedule", "ren2020")
    for k, v in tr.items():
        if k != "fit_on" and isinstance(v, str):
            r.number(v, f"training.{k}")  # every other field is a number: say how to write one YAML read as text
    try:
        training = schedule(sched_name, **tr)
    except SerbenchError as exc:  # the message names training.<field>
        raise r.fail("", str(exc)) from None

    notes: list[str] = []

    def axis(kind: str, default: list[str] | None) -> list[Resolved]:
        """Names, globs and ``{name, params}``; a broken plugin a glob matched is skipped with a note."""
        if kind not in data:
            if default is None:
                raise r.fail(kind, f"missing: list at least one of `serbench list {kind}`")
            items = default
        else:
            items = r.listing(data[kind], kind)
        out: list[tuple[str, Resolved]] = []
        for i, it in enumerate(items):
            where = f"{kind}[{i}]"
            out += [(where, res) for res in resolved_items(kind, it, where)]
        r.unique([(where, res.identity()) for where, res in out], kind[:-1])
        return [res for _, res in out]

    def resolved_items(kind: str, item: Any, where: str) -> list[Resolved]:
        expanded = r.expand(kind, item, where)
        globbed = not (len(expanded) == 1 and expanded[0] is item)
        kept = []
        for one in expanded:
            try:
                kept.append(r.model(one, where) if kind == "models" else r.component(kind, one, where)[0])
            except _PluginSpecError as exc:
                if not globbed:  # a plugin named outright must load
                    raise
                notes.append(f"{where}: skipped {one if isinstance(one, str) else one['name']!r}: "
                             f"{str(exc).split(': ', 2)[-1]}")
        if not kept:
            raise r.fail(where, f"no {kind[:-1]} matching {item if isinstance(item, str) else item['name']!r} "
                                f"could be loaded: {notes[-1]}")
        return kept

    models = axis("models", None)
    defenses = axis("defenses", ["standard"])
    for d in defenses:  # never active in a fixed budget: standard training under the defense's name (issue 21)
        start = d.params.get("start_iteration")
        if isinstance(start, int) and 0 < training.iterations <= start:
            raise r.fail("training.iterations", f"{training.iterations} iterations end before defense "
                         f"{d.requested!r} starts (start_iteration {start}); lower its start_iteration or raise "
                         "training.iterations")
    seeds = [r.integer(s, f"seeds[{i}]") for i, s in enumerate(r.listing(data.get("seeds", [0]), "seeds"))]
    r.unique([(f"seeds[{i}]", s) for i, s in enumerate(seeds)], "seed")
    partitions = r.listing(data.get("partitions", ["test"]), "partitions")
    r.unique([(f"partitions[{i}]", p) for i, p in enumerate(partitions)], "partition")
    for i, p in enumerate(partitions):
        if p not in PARTITIONS:
            raise r.fail(f"partitions[{i}]", f"unknown partition {p!r}; use {' or '.join(PARTITIONS)}")
        if p == "valid" and not training.selects_on_valid:
            raise r.fail(f"partitions[{i}]", "valid is training data under training.fit_on: train+valid; "
                                             "evaluate valid in a spec that fits on train")

    def attack_axis(item: Any, where: str) -> AttackAxis:
        if isinstance(item, str):
            raise r.fail(where, "an attack needs an eps list: {name: fgsm, eps: [0.01, 0.04]}")
        item = dict(r.mapping(item, where))
        eps_raw = item.pop("eps", None)
        if eps_raw is None:
            raise r.fail(f"{where}.eps", "missing: give the budgets, e.g. eps: [0.01, 0.04, 0.1]")
        eps = tuple(r.number(e, f"{where}.eps[{j}]", minimum=0) if item.get("norm", "linf") != "snr"
                    else r.number(e, f"{where}.eps[{j}]") for j, e in enumerate(r.listing(eps_raw, f"{where}.eps")))
        r.unique([(f"{where}.eps[{j}]", e) for j, e in enumerate(eps)], "eps")
        domain, norm = item.pop("domain", "feature"), item.pop("norm", "linf")
        try:
            ThreatModel(domain=domain, norm=norm, eps=eps[0])
        except SerbenchError as exc:
            raise r.fail(where, str(exc)) from None
        params = dict(r.mapping(item.get("params", {}) or {}, f"{where}.params"))
        item["params"] = {**params, "domain": domain, "norm": norm, "eps": eps[0]}
        res, _ = r.component("attacks", item, where)
        for j, e in enumerate(eps):  # the attack checks its norm, domain and params (eta <= eps) at every budget
            try:
                (res if j == 0 else resolve("attacks", res.requested, {**res.params, "eps": e})).create()
            except SerbenchError as exc:
                raise r.fail(where if j == 0 else f"{where}.eps[{j}]", str(exc)) from None
        return AttackAxis(res, domain, norm, eps)

    attacks = []
    attack_where: list[str] = []
    for i, item in enumerate(r.listing(data["attacks"], "attacks") if "attacks" in data else []):
        where = f"attacks[{i}]"
        expanded = r.expand("attacks", item, where)
        if len(expanded) == 1 and expanded[0] is item:
            attacks.append(attack_axis(item, where))
            attack_where.append(where)
            continue
        kept = []
        for one in expanded:  # a glob keeps the attacks that support the threat model, and says so
            try:
                kept.append(attack_axis(one, where))
            except SpecError as exc:
                notes.append(f"{where}: skipped {one['name']!r}: {str(exc).split(': ', 2)[-1]}")
        if not kept:
            raise r.fail(where, f"no attack matching {item['name']!r} supports this threat model: {notes[-1]}")
        attacks.extend(kept)
        attack_where += [where] * len(kept)
    r.unique([(f"{where}.eps[{j}]", (_attack_identity(a), a.domain, a.norm, e))
              for where, a in zip(attack_where, attacks) for j, e in enumerate(a.eps)], "attack")

    worst_case = data.get("worst_case", False)
    if not isinstance(worst_case, bool):
        raise r.fail("worst_case", f"expected true or false, got {worst_case!r}")

    transfer = []
    for i, item in enumerate(r.listing(data["transfer"], "transfer") if "transfer" in data else []):
        where = f"transfer[{i}]"
        item = dict(r.mapping(item, where))
        source = r.mapping(item.pop("source", None), f"{where}.source")
        unknown_src = sorted(set(source) - {"model", "defense"})
        if unknown_src:
            raise r.fail(f"{where}.source.{unknown_src[0]}", r._unknown_key(unknown_src[0], {"model", "defense"}))
        if "model" not in source:
            raise r.fail(f"{where}.source.model", "missing: the model the attack is crafted on")
        src_model = r.model(source["model"], f"{where}.source.model")
        src_defense = r.component("defenses", source.get("defense", "standard"), f"{where}.source.defense")[0]
        attack = item.pop("attack", None)
        if attack is None:
            raise r.fail(f"{where}.attack", "missing: e.g. attack: fgsm")
        if isinstance(attack, str):
            attack = {"name": attack}
        attack = {**r.mapping(attack, f"{where}.attack"), **item}
        transfer.append(TransferAxis(src_model, src_defense, attack_axis(attack, where)))
    r.unique([(f"transfer[{i}].eps[{j}]", (t.source_model.identity(), t.source_defense.identity(),
                                            _attack_identity(t.attack), t.attack.domain, t.attack.norm, e))
              for i, t in enumerate(transfer) for j, e in enumerate(t.attack.eps)], "transfer")

    noise_items: list[tuple[str, NoiseAxis]] = []
    for i, item in enumerate(r.listing(data["noises"], "noises") if "noises" in data else []):
        where = f"noises[{i}]"
        if isinstance(item, str):
            raise r.fail(where, "a noise needs an SNR list: {name: white, snr: [20, 10, 0]}")
        item = dict(r.mapping(item, where))
        snr_raw = item.pop("snr", None)
        if snr_raw is None:
            raise r.fail(f"{where}.snr", "missing: give the SNRs in dB, e.g. snr: [20, 10, 0]")
        snr = tuple(r.number(s, f"{where}.snr[{j}]") for j, s in enumerate(r.listing(snr_raw, f"{where}.snr")))
        r.unique([(f"{where}.snr[{j}]", v) for j, v in enumerate(snr)], "SNR")
        noise_items += [(where, NoiseAxis(res, snr)) for res in resolved_items("noises", item, where)]
    r.unique([(f"{where}.snr[{j}]", (n.resolved.identity(), v)) for where, n in noise_items
              for j, v in enumerate(n.snr)], "noise")
    noises = [n for _, n in noise_items]

    exclude = []
    for i, rule in enumerate(r.listing(data["exclude"], "exclude") if "exclude" in data else []):
        rule = r.mapping(rule, f"exclude[{i}]")
        if not rule:
            raise r.fail(f"exclude[{i}]", "an empty rule would exclude every cell")
        for key, value in rule.items():
            if key not in EXCLUDE_FIELDS:
                raise r.fail(f"exclude[{i}].{key}", r._unknown_key(key, set(EXCLUDE_FIELDS)))
            for v in value if isinstance(value, list) else [value]:
                if not isinstance(v, (str, int, float)) or isinstance(v, bool):
                    raise r.fail(f"exclude[{i}].{key}", f"expected a name, number or list of them, got {v!r}")
        exclude.append(dict(rule))

    for d in datasets:  # a fold listed twice would be trained and counted twice
        r.unique([(f"{d.where}.folds[{j}]", f) for j, f in enumerate(d.folds or ())], "fold")
    r.unique([(d.where, (dataset_identity(d.resolved), d.protocol)) for d in datasets], "dataset")

    name = data.get("name") or Path(path).stem
    return Spec(
        name=str(name), path=path, datasets=datasets, frontend=frontend, seconds=seconds, training=training,
        models=models, defenses=defenses, seeds=seeds, partitions=list(partitions), attacks=attacks,
        noises=noises, description=str(data.get("description", "")), worst_case=worst_case, transfer=transfer,
        segments=segments, exclude=exclude, source=data, notes=notes, normalization=norm,
    )
