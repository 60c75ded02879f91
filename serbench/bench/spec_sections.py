"""Reading a spec's sections: each validated with errors naming ``file: field.path``.

:class:`SpecReader` holds the checks every section uses (mappings, lists, finite numbers,
duplicates, components resolved by the registry, globs expanded); one function per section
turns the raw YAML mapping into the typed axes of :mod:`serbench.bench.axes`.
:func:`serbench.bench.spec.parse_spec` calls them in order.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from serbench.attacks.base import ThreatModel
from serbench.bench.axes import (
    AttackAxis,
    CorruptionAxis,
    DatasetAxis,
    NoiseAxis,
    TransferAxis,
    attack_identity,
    unknown_protocol,
)
from serbench.bench.cells import PRECISIONS, EvalSettings
from serbench.bench.identity import EXCLUDE_FIELDS
from serbench.bench.spec_fields import (
    ATTACK,
    DATASET,
    EVALUATION,
    FRONTEND,
    MAX_SECONDS,
    MIN_SECONDS,
    PARTITIONS,
    SEGMENTS,
    SPEC,
    TRANSFER_SOURCE,
)
from serbench.data.corpus import declared_protocols
from serbench.engine.layout import check_memory_format
from serbench.engine.schedules import Schedule, schedule
from serbench.errors import PluginLoadError, SerbenchError, SpecError
from serbench.features import WAVEFORM_KIND, FrontendConfig, frontend_config
from serbench.normalization import NORMALIZATIONS, normalization
from serbench.registry import Resolved, list_components, resolve
from serbench.suggest import did_you_mean

# Field names, defaults and choices come from the table in :mod:`serbench.bench.spec_fields`, which the JSON
# Schema and docs/spec-reference.md are generated from (:mod:`serbench.bench.spec_schema`).
TOP_LEVEL = SPEC.names()
GLOB_CHARS = set("*?[")


class PluginSpecError(SpecError):
    """A spec item names a plugin that failed to load: skipped with a note when a glob matched it."""


# A number PyYAML (YAML 1.1) reads as text: an exponent without a dot in the mantissa or a sign (``1e9``).
_EXPONENT_TEXT = re.compile(r"([-+]?)(\d*)(?:\.(\d*))?[eE]([-+]?)(\d+)")


def number_hint(value: Any) -> str:
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


class SpecReader:
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
            raise self.fail(where, f"expected a number, got {value!r}{number_hint(value)}")
        if not math.isfinite(value):
            raise self.fail(where, f"expected a finite number, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.fail(where, f"must be >= {minimum}, got {value}")
        return float(value)

    def with_list(self, item: Any, where: str, key: str, needs: str, example: str) -> tuple[dict[str, Any], list[Any]]:
        """An axis entry that needs a list (an attack's ``eps``, a noise's ``snr``): the entry without it, and
        the list. ``needs`` says so for a bare name; ``example`` shows the missing list."""
        if isinstance(item, str):
            raise self.fail(where, needs)
        item = dict(self.mapping(item, where))
        raw = item.pop(key, None)
        if raw is None:
            raise self.fail(f"{where}.{key}", f"missing: {example}")
        return item, self.listing(raw, f"{where}.{key}")

    def integer(self, value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(where, f"expected an integer, got {value!r}{number_hint(value)}")
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
            raise self.fail(f"{where}.{unknown[0]}", self.unknown_key(unknown[0], {"name", "params"} | set(extra)))
        params = self.mapping(item.get("params", {}) or {}, f"{where}.params")
        try:
            return resolve(kind, item["name"], params), item
        except PluginLoadError as exc:
            raise PluginSpecError(str(self.fail(where, str(exc)))) from None
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
            hint = did_you_mean(name.replace("*", ""), every, n=3, cutoff=0.4)
            raise self.fail(where, f"{kind} pattern {name!r} matches nothing{hint} (see `serbench list {kind}`)")
        return [m if isinstance(item, str) else {**item, "name": m} for m in matches]

    @staticmethod
    def unknown_key(key: str, allowed: set[str]) -> str:
        return f"unknown field {key!r}{did_you_mean(key, sorted(allowed))} (allowed: {', '.join(sorted(allowed))})"


def read_normalization(r: SpecReader, raw: Any) -> dict[str, Any]:
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



def read_top_level(r: SpecReader, data: Any) -> dict[str, Any]:
    """The spec mapping, its top-level fields known (``include`` is resolved by the file reader)."""
    data = r.mapping(data, "")
    unknown = sorted(set(data) - TOP_LEVEL)
    if unknown:
        raise r.fail(unknown[0], r.unknown_key(unknown[0], TOP_LEVEL))
    if "include" in data:
        raise r.fail("include", "include is resolved when a spec file is read: use load_spec(path)")
    return data


def read_datasets(r: SpecReader, data: dict[str, Any]) -> list[DatasetAxis]:
    """``dataset`` or ``datasets``: each a corpus with its protocol (the declared default when unnamed) and folds."""
    if "dataset" in data and "datasets" in data:
        raise r.fail("datasets", "give either 'dataset' or 'datasets', not both")
    ds_key = "datasets" if "datasets" in data else "dataset"
    if ds_key not in data:
        raise r.fail("dataset", "missing: name the corpus, e.g. 'dataset: synthetic'")
    datasets = []
    for i, item in enumerate(r.listing(data[ds_key], ds_key)):
        where = f"{ds_key}[{i}]" if ds_key == "datasets" else ds_key
        res, raw = r.component("datasets", item, where, extra=set(DATASET.names() - {"name", "params"}))
        folds = raw.get("folds", DATASET.default("folds"))
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
    return datasets


def read_frontend(r: SpecReader, data: dict[str, Any]
                  ) -> tuple[FrontendConfig, float, dict[str, int] | None, dict[str, Any]]:
    """``frontend``: the features (a preset with overrides), the length policy and the normalisation."""
    fe = dict(r.mapping(data.get("frontend", {}) or {}, "frontend"))
    preset = fe.pop("preset", FRONTEND.default("preset"))
    seconds = r.number(fe.pop("seconds", FRONTEND.default("seconds")), "frontend.seconds", minimum=MIN_SECONDS)
    if seconds > MAX_SECONDS:
        raise r.fail("frontend.seconds", f"{seconds:g} s per utterance cannot fit in memory (a batch holds "
                                         f"batch_size x seconds x sample_rate samples); use at most {MAX_SECONDS:g}")
    segments = read_segments(r, fe.pop("segments")) if "segments" in fe else None
    norm = read_normalization(r, fe.pop("normalization", FRONTEND.default("normalization")))
    for key, value in fe.items():
        if isinstance(value, str) and number_hint(value):
            r.number(value, f"frontend.{key}")  # YAML read a number as text: say how to write it
    if fe.get("kind") == WAVEFORM_KIND:
        raise r.fail("frontend.kind", "waveform is not a front end to choose: a waveform model (ssl.*, any "
                                      "WaveformModel) takes raw audio by itself; keep log-mel or stft for the others")
    try:
        frontend = frontend_config(preset, **fe)
    except SerbenchError as exc:
        raise r.fail("frontend", str(exc).removeprefix("front end: ")) from None
    return frontend, seconds, segments, norm


def read_segments(r: SpecReader, raw_seg: Any) -> dict[str, int]:
    """``frontend.segments``: Latif et al.'s windows of frames (``true``: the defaults)."""
    raw_seg = {} if raw_seg is True else dict(r.mapping(raw_seg, "frontend.segments"))
    unknown_seg = sorted(set(raw_seg) - SEGMENTS.names())
    if unknown_seg:
        raise r.fail(f"frontend.segments.{unknown_seg[0]}", r.unknown_key(unknown_seg[0], SEGMENTS.names()))
    window = r.integer(raw_seg.get("window", SEGMENTS.default("window")), "frontend.segments.window")
    hop = r.integer(raw_seg.get("hop", window), "frontend.segments.hop")
    for key, value in (("window", window), ("hop", hop)):
        if value < 1:
            raise r.fail(f"frontend.segments.{key}", f"must be a positive number of frames, got {value}")
    if hop > window:
        raise r.fail("frontend.segments.hop", f"hop {hop} > window {window} would skip frames")
    return {"window": window, "hop": hop}


def read_training(r: SpecReader, data: dict[str, Any]) -> Schedule:
    """``training``: a named schedule with overrides, the memory format (``auto``, ``channels_last`` or
    ``contiguous``; :mod:`serbench.engine.layout`) and the CPU thread count (``auto`` or a number)."""
    tr = dict(r.mapping(data.get("training", {}) or {}, "training"))
    sched_name = tr.pop("schedule", "ren2020")
    if "memory_format" in tr:
        try:
            check_memory_format(tr["memory_format"])
        except SerbenchError as exc:  # the message names training.memory_format and the choices
            raise r.fail("", str(exc)) from None
    for k, v in tr.items():
        if k not in ("fit_on", "memory_format", "threads") and isinstance(v, str):
            r.number(v, f"training.{k}")  # every other field is a number: say how to write one YAML read as text
    try:
        return schedule(sched_name, **tr)
    except SerbenchError as exc:  # the message names training.<field>
        raise r.fail("", str(exc)) from None


def read_axis(r: SpecReader, data: dict[str, Any], kind: str, default: list[str] | None,
              notes: list[str]) -> list[Resolved]:
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
        out += [(where, res) for res in resolved_items(r, kind, it, where, notes)]
    r.unique([(where, res.identity()) for where, res in out], kind[:-1])
    return [res for _, res in out]


def resolved_items(r: SpecReader, kind: str, item: Any, where: str, notes: list[str]) -> list[Resolved]:
    """One axis item (a name, a glob or ``{name, params}``) resolved: one component per glob match."""
    expanded = r.expand(kind, item, where)
    globbed = not (len(expanded) == 1 and expanded[0] is item)
    kept = []
    for one in expanded:
        try:
            kept.append(r.model(one, where) if kind == "models" else r.component(kind, one, where)[0])
        except PluginSpecError as exc:
            if not globbed:  # a plugin named outright must load
                raise
            notes.append(f"{where}: skipped {one if isinstance(one, str) else one['name']!r}: "
                         f"{str(exc).split(': ', 2)[-1]}")
        except SpecError as exc:
            if not (globbed and kind == "models"):
                raise
            # A glob match that cannot be built as it stands (pretrained weights or a path it needs): the user
            # did not name it; skip it with the reason, as a broken plugin.
            notes.append(f"{where}: skipped {one if isinstance(one, str) else one['name']!r}: "
                         f"{str(exc).split(': ', 2)[-1]}")
    if not kept:
        raise r.fail(where, f"no {kind[:-1]} matching {item if isinstance(item, str) else item['name']!r} "
                            f"could be loaded: {notes[-1]}")
    return kept


def check_defenses_start(r: SpecReader, defenses: list[Resolved], training: Schedule) -> None:
    """A defense never active in a fixed budget is standard training under its name (issue 21): refused."""
    for d in defenses:
        start = d.params.get("start_iteration")
        if isinstance(start, int) and 0 < training.iterations <= start:
            raise r.fail("training.iterations", f"{training.iterations} iterations end before defense "
                         f"{d.requested!r} starts (start_iteration {start}); lower its start_iteration or raise "
                         "training.iterations")


def read_seeds(r: SpecReader, data: dict[str, Any]) -> list[int]:
    seeds = [r.integer(s, f"seeds[{i}]") for i, s in enumerate(r.listing(data.get("seeds", SPEC.default("seeds")),
                                                                         "seeds"))]
    r.unique([(f"seeds[{i}]", s) for i, s in enumerate(seeds)], "seed")
    return seeds


def read_partitions(r: SpecReader, data: dict[str, Any], training: Schedule) -> list[str]:
    """``partitions``: valid and/or test; valid only where it is not training data."""
    partitions = r.listing(data.get("partitions", SPEC.default("partitions")), "partitions")
    r.unique([(f"partitions[{i}]", p) for i, p in enumerate(partitions)], "partition")
    for i, p in enumerate(partitions):
        if p not in PARTITIONS:
            raise r.fail(f"partitions[{i}]", f"unknown partition {p!r}; use {' or '.join(PARTITIONS)}")
        if p == "valid" and not training.selects_on_valid:
            raise r.fail(f"partitions[{i}]", "valid is training data under training.fit_on: train+valid; "
                                             "evaluate valid in a spec that fits on train")
    return list(partitions)


def read_attack_axis(r: SpecReader, item: Any, where: str) -> AttackAxis:
    """One attack with its threat model and eps list; the attack is built at every eps (it checks its params)."""
    item, eps_raw = r.with_list(item, where, "eps", "an attack needs an eps list: {name: fgsm, eps: [0.01, 0.04]}",
                                "give the budgets, e.g. eps: [0.01, 0.04, 0.1]")
    eps = tuple(r.number(e, f"{where}.eps[{j}]", minimum=0) if item.get("norm", ATTACK.default("norm")) != "snr"
                else r.number(e, f"{where}.eps[{j}]") for j, e in enumerate(eps_raw))
    r.unique([(f"{where}.eps[{j}]", e) for j, e in enumerate(eps)], "eps")
    domain, norm = item.pop("domain", ATTACK.default("domain")), item.pop("norm", ATTACK.default("norm"))
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


def read_attacks(r: SpecReader, data: dict[str, Any], notes: list[str]) -> list[AttackAxis]:
    """``attacks``; a glob keeps the attacks that support the threat model, and says which it skipped."""
    attacks = []
    attack_where: list[str] = []
    for i, item in enumerate(r.listing(data["attacks"], "attacks") if "attacks" in data else []):
        where = f"attacks[{i}]"
        expanded = r.expand("attacks", item, where)
        if len(expanded) == 1 and expanded[0] is item:
            attacks.append(read_attack_axis(r, item, where))
            attack_where.append(where)
            continue
        kept = []
        for one in expanded:
            try:
                kept.append(read_attack_axis(r, one, where))
            except SpecError as exc:
                notes.append(f"{where}: skipped {one['name']!r}: {str(exc).split(': ', 2)[-1]}")
        if not kept:
            raise r.fail(where, f"no attack matching {item['name']!r} supports this threat model: {notes[-1]}")
        attacks.extend(kept)
        attack_where += [where] * len(kept)
    r.unique([(f"{where}.eps[{j}]", (attack_identity(a), a.domain, a.norm, e))
              for where, a in zip(attack_where, attacks) for j, e in enumerate(a.eps)], "attack")
    return attacks


def read_worst_case(r: SpecReader, data: dict[str, Any]) -> bool:
    worst_case = data.get("worst_case", SPEC.default("worst_case"))
    if not isinstance(worst_case, bool):
        raise r.fail("worst_case", f"expected true or false, got {worst_case!r}")
    return worst_case


def read_transfer(r: SpecReader, data: dict[str, Any]) -> list[TransferAxis]:
    """``transfer``: attacks crafted on a source model (and defense) of the same data, fold and seed."""
    transfer = []
    for i, item in enumerate(r.listing(data["transfer"], "transfer") if "transfer" in data else []):
        where = f"transfer[{i}]"
        item = dict(r.mapping(item, where))
        source = r.mapping(item.pop("source", None), f"{where}.source")
        unknown_src = sorted(set(source) - TRANSFER_SOURCE.names())
        if unknown_src:
            raise r.fail(f"{where}.source.{unknown_src[0]}", r.unknown_key(unknown_src[0], TRANSFER_SOURCE.names()))
        if "model" not in source:
            raise r.fail(f"{where}.source.model", "missing: the model the attack is crafted on")
        src_model = r.model(source["model"], f"{where}.source.model")
        src_defense = r.component("defenses", source.get("defense", TRANSFER_SOURCE.default("defense")),
                                  f"{where}.source.defense")[0]
        attack = item.pop("attack", None)
        if attack is None:
            raise r.fail(f"{where}.attack", "missing: e.g. attack: fgsm")
        if isinstance(attack, str):
            attack = {"name": attack}
        attack = {**r.mapping(attack, f"{where}.attack"), **item}
        transfer.append(TransferAxis(src_model, src_defense, read_attack_axis(r, attack, where)))
    r.unique([(f"transfer[{i}].eps[{j}]", (t.source_model.identity(), t.source_defense.identity(),
                                            attack_identity(t.attack), t.attack.domain, t.attack.norm, e))
              for i, t in enumerate(transfer) for j, e in enumerate(t.attack.eps)], "transfer")
    return transfer


def read_noises(r: SpecReader, data: dict[str, Any], notes: list[str]) -> list[NoiseAxis]:
    """``noises``: each a noise (or a glob of them) with its SNR list in dB."""
    noise_items: list[tuple[str, NoiseAxis]] = []
    for i, item in enumerate(r.listing(data["noises"], "noises") if "noises" in data else []):
        where = f"noises[{i}]"
        item, snr_raw = r.with_list(item, where, "snr", "a noise needs an SNR list: {name: white, snr: [20, 10, 0]}",
                                    "give the SNRs in dB, e.g. snr: [20, 10, 0]")
        snr = tuple(r.number(s, f"{where}.snr[{j}]") for j, s in enumerate(snr_raw))
        r.unique([(f"{where}.snr[{j}]", v) for j, v in enumerate(snr)], "SNR")
        noise_items += [(where, NoiseAxis(res, snr)) for res in resolved_items(r, "noises", item, where, notes)]
    r.unique([(f"{where}.snr[{j}]", (n.resolved.identity(), v)) for where, n in noise_items
              for j, v in enumerate(n.snr)], "noise")
    return [n for _, n in noise_items]


def read_corruptions(r: SpecReader, data: dict[str, Any], notes: list[str]) -> list[CorruptionAxis]:
    """``corruptions``: each a corruption (or a glob of them) with its ``severity`` list (default: all five)."""
    items: list[tuple[str, CorruptionAxis]] = []
    for i, item in enumerate(r.listing(data["corruptions"], "corruptions") if "corruptions" in data else []):
        where = f"corruptions[{i}]"
        item = item if isinstance(item, str) else dict(r.mapping(item, where))
        raw = item.pop("severity", None) if isinstance(item, dict) else None
        for res in resolved_items(r, "corruptions", item, where, notes):
            items.append((where, CorruptionAxis(res, _severities(r, res, raw, f"{where}.severity"))))
    r.unique([(f"{where}.severity[{j}]", (c.resolved.identity(), s)) for where, c in items
              for j, s in enumerate(c.severity)], "corruption")
    return [c for _, c in items]


def _severities(r: SpecReader, res: Resolved, raw: Any, where: str) -> tuple[int, ...]:
    top = len(getattr(res.info.factory, "levels", ()))
    if top == 0:
        raise r.fail(where, f"corruption {res.requested!r} declares no severity levels; its author must set "
                            "Corruption.levels")
    if raw is None:
        return tuple(range(1, top + 1))
    values = tuple(r.integer(v, f"{where}[{j}]") for j, v in enumerate(r.listing(raw, where)))
    for j, v in enumerate(values):
        if not 1 <= v <= top:
            raise r.fail(f"{where}[{j}]", f"severity must be in 1..{top}, got {v}")
    r.unique([(f"{where}[{j}]", v) for j, v in enumerate(values)], "severity")
    return values


def read_exclude(r: SpecReader, data: dict[str, Any]) -> list[dict[str, Any]]:
    """``exclude``: rules of field -> value (a glob, number or list of them); see :mod:`serbench.bench.matrix`."""
    exclude = []
    for i, rule in enumerate(r.listing(data["exclude"], "exclude") if "exclude" in data else []):
        rule = r.mapping(rule, f"exclude[{i}]")
        if not rule:
            raise r.fail(f"exclude[{i}]", "an empty rule would exclude every cell")
        for key, value in rule.items():
            if key not in EXCLUDE_FIELDS:
                raise r.fail(f"exclude[{i}].{key}", r.unknown_key(key, set(EXCLUDE_FIELDS)))
            for v in value if isinstance(value, list) else [value]:
                if not isinstance(v, (str, int, float)) or isinstance(v, bool):
                    raise r.fail(f"exclude[{i}].{key}", f"expected a name, number or list of them, got {v!r}")
        exclude.append(dict(rule))
    return exclude


def read_evaluation(r: SpecReader, data: dict[str, Any]) -> EvalSettings:
    """``evaluation``: ``batch_size`` and ``attack_batch_size`` (positive integers; default chosen for the
    device), ``precision`` (fp32, bf16 or fp16 autocast; default fp32) and ``perceptual_utterances`` (>= 0)."""
    raw = dict(r.mapping(data.get("evaluation", {}) or {}, "evaluation"))
    allowed = EVALUATION.names()
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise r.fail(f"evaluation.{unknown[0]}", r.unknown_key(unknown[0], allowed))
    sizes = {}
    for key in ("batch_size", "attack_batch_size"):
        if raw.get(key) is not None:
            sizes[key] = r.integer(raw[key], f"evaluation.{key}")
            if sizes[key] < 1:
                raise r.fail(f"evaluation.{key}", f"must be a positive number of rows, got {sizes[key]}")
    precision = raw.get("precision", EVALUATION.default("precision"))
    if precision not in PRECISIONS:
        raise r.fail("evaluation.precision", f"unknown precision {precision!r}"
                                             f"{did_you_mean(str(precision), PRECISIONS)} (use one of "
                                             f"{', '.join(PRECISIONS)})")
    perceptual = raw.get("perceptual_utterances", EVALUATION.default("perceptual_utterances"))
    perceptual = r.integer(perceptual, "evaluation.perceptual_utterances")
    if perceptual < 0:
        raise r.fail("evaluation.perceptual_utterances", f"must be 0 (off) or a number of utterances, got {perceptual}")
    return EvalSettings(**sizes, precision=precision, perceptual_utterances=perceptual)
