"""The spec's JSON Schema and reference page come from the reader's own field table (issue 18).

The committed files equal what the table generates; every shipped spec validates and carries the editor
modeline; a misspelt field fails both the reader and the schema; and the table agrees with the reader: every
documented example parses, every documented default is what the reader fills in, every choice is accepted, and
every value outside a documented bound is refused by both.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import jsonschema
import pytest
import yaml

from serbench.bench import spec_fields as table
from serbench.bench import spec_schema
from serbench.bench.spec import load_spec, parse_spec
from serbench.bench.spec_fields import MISSING
from serbench.errors import SpecError

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "benchmarks").glob("*.yaml"))
MODELINE = "# yaml-language-server: $schema=../serbench/schema/spec.schema.json"

BASE = {
    "dataset": {"name": "synthetic", "params": {"utterances_per_class": 4}, "folds": [0]},
    "frontend": {"seconds": 1.0},
    "training": {"iterations": 2000},
    "models": ["cnn4.tiny"],
    "attacks": [{"name": "fgsm", "eps": [0.01]}],
    "noises": [{"name": "white", "snr": [10]}],
}


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = spec_schema.load_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def schema_errors(validator, data) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(data)]


def test_committed_schema_and_reference_are_generated():
    assert spec_schema.stale() == [], "run `python -m serbench.bench.spec_schema --write`"
    assert spec_schema.main(["--check"]) == 0


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_every_shipped_spec_validates_and_points_at_the_schema(path, validator):
    first = path.read_text().splitlines()[0]
    assert first == MODELINE, f"{path.name}: first line must be the yaml-language-server modeline"
    assert (path.parent / first.split("$schema=", 1)[1]).resolve() == spec_schema.SCHEMA_PATH
    assert schema_errors(validator, yaml.safe_load(path.read_text())) == []


def test_the_shipped_specs_parse(tmp_path, monkeypatch):
    """What the schema accepts above is also what the reader accepts (includes resolved). The checkpoint spec is
    read with stand-in weight files where it looks for them (test_paper_specs.ssl_weights_folder)."""
    from test_paper_specs import ssl_weights_folder

    for key, value in ssl_weights_folder(tmp_path / "ssl").items():
        monkeypatch.setenv(key, value)
    for path in SPECS:
        load_spec(path)


MISSPELT = [
    ({"evaluaton": {"precision": "bf16"}}, "evaluaton"),
    ({"training": {"iteratons": 5}}, "training"),
    ({"frontend": {"secnds": 2.0}}, "frontend"),
    ({"frontend": {"segments": {"windw": 128}}}, "frontend.segments.windw"),
    ({"frontend": {"normalization": {"name": "standardize", "clp": 3}}}, "frontend.normalization"),
    ({"evaluation": {"batchsize": 8}}, "evaluation.batchsize"),
    ({"attacks": [{"name": "fgsm", "epss": [0.01], "eps": [0.01]}]}, "attacks[0].epss"),
    ({"noises": [{"name": "white", "snr": [10], "snrs": [0]}]}, "noises[0].snrs"),
    ({"dataset": {"name": "synthetic", "protcol": "leave-one-session-out"}}, "dataset.protcol"),
    ({"transfer": [{"source": {"modle": "cnn4.tiny"}, "attack": "fgsm", "eps": [0.01]}]}, "transfer[0].source.modle"),
    ({"exclude": [{"modle": "cnn4*"}]}, "exclude[0].modle"),
    ({"corruptions": [{"name": "gain", "severty": [1]}]}, "corruptions[0].severty"),
    ({"models": [{"name": "cnn4.tiny", "parms": {"width": 0.5}}]}, "models[0].parms"),
]


@pytest.mark.parametrize("patch, where", MISSPELT, ids=[w for _, w in MISSPELT])
def test_a_misspelt_field_fails_the_reader_and_the_schema(patch, where, validator):
    data = {**copy.deepcopy(BASE), **patch}
    with pytest.raises(SpecError) as exc:
        parse_spec(data, "s.yaml")
    assert str(exc.value).startswith(f"s.yaml: {where}"), str(exc.value)
    assert schema_errors(validator, data), f"the schema accepts {patch}"


# -- the table agrees with the reader -----------------------------------------------------------------------------
def _example_name(section: table.Section) -> str:
    return section["name"].example


def embed(section: table.Section, name: str, value):
    """BASE with field ``name`` of ``section`` set to ``value`` (its siblings as the reader needs them)."""
    data = copy.deepcopy(BASE)
    path = section.path
    if path == "":
        data[name] = value
    elif path in ("frontend", "training", "evaluation"):
        data.setdefault(path, {})[name] = value
    elif path == "frontend.segments":
        data["frontend"]["segments"] = {name: value}
    elif path == "frontend.normalization":
        option = value if name == "name" else next(o for o, keys in section.variants.items() if name in keys)
        data["frontend"]["normalization"] = {"name": option, **({} if name == "name" else {name: value})}
    elif path == "dataset":
        data["dataset"] = {"name": _example_name(section), **({} if name == "name" else {name: value})}
    elif path in ("models[]", "defenses[]", "corruptions[]"):
        data[path[:-2]] = [{"name": _example_name(section), name: value}]
    elif path == "attacks[]":
        data["attacks"] = [{"name": _example_name(section), "eps": [0.01], name: value}]
    elif path == "noises[]":
        data["noises"] = [{"name": _example_name(section), "snr": [10], name: value}]
    elif path == "transfer[]":
        data["transfer"] = [{"source": {"model": "cnn4.tiny"}, "attack": "pgd", "eps": [0.01], name: value}]
    elif path == "transfer[].source":
        data["transfer"] = [{"source": {"model": "cnn4.tiny", name: value}, "attack": "fgsm", "eps": [0.01]}]
    elif path == "exclude[]":
        data["exclude"] = [{name: value}]
    else:
        raise AssertionError(f"no way to embed section {path!r}: extend embed()")
    return data


FIELDS = [(s, f) for s in table.SECTIONS for f in s.fields]


def test_every_section_can_be_embedded():
    for section in table.SECTIONS:
        embed(section, section.fields[0].name, section.fields[0].example)


@pytest.mark.parametrize("section, f", FIELDS, ids=[f"{s.path or 'spec'}.{f.name}" for s, f in FIELDS])
def test_every_documented_example_is_accepted_by_both(section, f, validator):
    assert f.example is not MISSING, f"{section.path}.{f.name} has no example"
    if section is table.SPEC and f.name == "include":
        return  # resolved by the file reader: test_the_shipped_specs_parse reads eps_curve.yaml
    data = embed(section, f.name, copy.deepcopy(f.example))
    if section is table.SPEC and f.name == "datasets":
        del data["dataset"]
    assert schema_errors(validator, data) == []
    parse_spec(data, "s.yaml")


def test_documented_defaults_are_the_readers():
    spec = parse_spec(copy.deepcopy(BASE) | {"frontend": {}, "training": {}}, "s.yaml")
    fe, tr = table.FRONTEND, table.TRAINING
    assert spec.seconds == fe.default("seconds") and spec.segments is None
    assert spec.normalization == {"name": fe.default("normalization")}
    for f in fe.fields:
        if hasattr(spec.frontend, f.name):
            assert getattr(spec.frontend, f.name) == f.default, f.name
    assert spec.training.name == tr.default("schedule")
    for f in tr.fields:
        if hasattr(spec.training, f.name):
            assert getattr(spec.training, f.name) == f.default, f.name
    assert [d.requested for d in spec.defenses] == table.SPEC.default("defenses")
    assert spec.seeds == table.SPEC.default("seeds") and spec.partitions == table.SPEC.default("partitions")
    assert spec.worst_case is table.SPEC.default("worst_case")
    assert spec.evaluation.precision == table.EVALUATION.default("precision")
    assert spec.evaluation.batch_size is None and spec.evaluation.attack_batch_size is None
    assert spec.datasets[0].folds == (0,)
    assert parse_spec({**BASE, "dataset": "synthetic"}, "s.yaml").datasets[0].folds is None  # "all"
    attack = spec.attacks[0]
    assert (attack.domain, attack.norm) == (table.ATTACK.default("domain"), table.ATTACK.default("norm"))
    seg = parse_spec({**BASE, "frontend": {"segments": True}}, "s.yaml").segments
    assert seg == {"window": table.SEGMENTS.default("window"), "hop": table.SEGMENTS.default("window")}
    transfer = parse_spec({**BASE, "transfer": [{"source": {"model": "cnn4.tiny"}, "attack": "fgsm",
                                                  "eps": [0.01]}]}, "s.yaml").transfer[0]
    assert transfer.source_defense.requested == table.TRANSFER_SOURCE.default("defense")


def test_latif_preset_defaults_are_documented():
    """Where a default depends on the preset the page says so, with the preset's real value."""
    spec = parse_spec(copy.deepcopy(BASE) | {"frontend": {"preset": "latif2020"},
                                              "training": {"schedule": "latif2020"}}, "s.yaml")
    for section, obj in ((table.FRONTEND, spec.frontend), (table.TRAINING, spec.training)):
        for f in section.fields:
            if hasattr(obj, f.name) and f.name != "name" and getattr(obj, f.name) != f.default:
                assert f.default_text, f"{section.path}.{f.name}: default depends on the preset, page does not say so"


CHOICES = [(s, f, v) for s, f in FIELDS for v in (f.type.schema.get("enum") or [])
           if s.path in ("frontend", "training", "evaluation", "frontend.normalization", "attacks[]")]


@pytest.mark.parametrize("section, f, value", CHOICES,
                         ids=[f"{s.path}.{f.name}={v}" for s, f, v in CHOICES])
def test_every_documented_choice_is_accepted_by_both(section, f, value, validator):
    data = embed(section, f.name, value)
    if section is table.ATTACK and f.name == "norm" and value == "snr":
        data["attacks"][0].update(domain="waveform", name="pgd")  # SNR budgets are waveform-only
    if section is table.TRAINING and value == "latif2020":
        data["training"]["iterations"] = 2000
    if section is table.FRONTEND and f.name == "kind" and value == "stft":
        data["frontend"]["n_bins"] = 128
    assert schema_errors(validator, data) == []
    parse_spec(data, "s.yaml")


def _outside(schema: dict) -> list:
    """Values just outside the bounds of a numeric schema (the first alternative of a nullable one)."""
    schema = schema.get("anyOf", [schema])[0] if "anyOf" in schema else schema
    out = []
    step = 1 if schema.get("type") == "integer" else 1e-3
    if "minimum" in schema:
        out.append(schema["minimum"] - step)
    if "exclusiveMinimum" in schema:
        out.append(schema["exclusiveMinimum"])
    if "maximum" in schema:
        out.append(schema["maximum"] + step)
    return out


BOUNDS = [(s, f, v) for s, f in FIELDS if s.path in ("frontend", "training", "evaluation", "frontend.segments",
                                                          "frontend.normalization")
          for v in _outside(f.type.schema)]


@pytest.mark.parametrize("section, f, value", BOUNDS, ids=[f"{s.path}.{f.name}={v}" for s, f, v in BOUNDS])
def test_a_value_outside_a_documented_bound_fails_both(section, f, value, validator):
    if f.name == "percentiles":
        value = [value, 99] if value < 0 else [1, value]
    data = embed(section, f.name, value)
    assert schema_errors(validator, data), f"schema accepts {section.path}.{f.name} = {value}"
    with pytest.raises(SpecError) as exc:
        parse_spec(data, "s.yaml")
    assert f.name in str(exc.value) or section.path in str(exc.value), str(exc.value)


def test_bounds_were_found():
    """The bound test above really covers the numeric fields (a table change that drops them fails here)."""
    names = {f"{s.path}.{f.name}" for s, f, _ in BOUNDS}
    assert {"frontend.seconds", "frontend.n_fft", "training.lr", "training.batch_size", "training.lr_decay",
            "evaluation.batch_size", "frontend.segments.window", "frontend.normalization.clip"} <= names
    assert all(math.isfinite(v) if not isinstance(v, list) else True for _, _, v in BOUNDS)


def test_the_local_corpus_error_names_the_spec_form_the_reader_accepts(monkeypatch, tmp_path, validator):
    """serbench.data.local once told users to write a spec field ``root``, which the reader refuses; the
    message now names ``params: {root: PATH}``, and that form is what the reader and the schema accept."""
    from serbench.data.local import env_var, resolve_root
    from serbench.errors import DataError

    monkeypatch.delenv(env_var("iemocap"), raising=False)
    with pytest.raises(DataError, match=r"in a spec params: \{root: PATH\}"):
        resolve_root("iemocap", None)
    accepted = {**copy.deepcopy(BASE), "dataset": {"name": "iemocap", "params": {"root": str(tmp_path)}}}
    assert schema_errors(validator, accepted) == []
    parse_spec(accepted, "s.yaml")
    refused = {**copy.deepcopy(BASE), "dataset": {"name": "iemocap", "root": str(tmp_path)}}
    assert schema_errors(validator, refused)
    with pytest.raises(SpecError, match="dataset.root: unknown field"):
        parse_spec(refused, "s.yaml")
