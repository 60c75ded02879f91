"""The JSON Schema of spec files and the spec reference page, generated from :mod:`serbench.bench.spec_fields`.

The reader's checks take their field names, defaults and choices from the same table, so a field the
reader accepts is in the schema and a misspelt one fails both. The schema ships in the package
(``serbench/schema/spec.schema.json``); point an editor at it with a first line::

    # yaml-language-server: $schema=../serbench/schema/spec.schema.json

Regenerate both files after changing the table (a test compares them with what this module generates)::

    python -m serbench.bench.spec_schema --write     # or --check: exit 1 when a committed file is stale

Component names list serbench's built-ins for completion; any other name (a plugin's, a glob) stays allowed,
since only the registry knows what is installed (``serbench run SPEC --dry-run`` checks them).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import yaml

from serbench.bench import spec_fields as table
from serbench.bench.spec_fields import MISSING, Field, Section

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schema" / "spec.schema.json"
# Only in a source checkout: the page lives in the repository's docs/, not in the package.
REFERENCE_PATH = Path(__file__).resolve().parents[2] / "docs" / "spec-reference.md"
DRAFT = "http://json-schema.org/draft-07/schema#"
COMPONENT_KINDS = ("datasets", "models", "defenses", "attacks", "noises", "corruptions")
COMMAND = "python -m serbench.bench.spec_schema --write"


def builtin_names(kind: str) -> list[str]:
    """serbench's own components of ``kind`` with their variants: no installed plugin changes the schema."""
    from serbench.registry import list_components, registry

    reg = registry(kind)

    def plugin(name: str) -> bool:
        parts = name.split(".")
        return any(reg.plugin_origin(".".join(parts[:i])) is not None for i in range(1, len(parts) + 1))

    return [n for n in list_components(kind, variants=True) if not plugin(n)]


def load_schema() -> dict[str, Any]:
    """The schema shipped with the package."""
    return json.loads(SCHEMA_PATH.read_text())


# -- the schema ---------------------------------------------------------------------------------------------------
def _json_value(value: Any) -> Any:
    """A default or example as JSON: tuples become lists, non-finite floats are left out (None)."""
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _expand(fragment: Any) -> Any:
    """A type's schema with its section markers (``$section``, ``$required``) replaced by the sections' schemas."""
    if isinstance(fragment, list):
        return [_expand(f) for f in fragment]
    if not isinstance(fragment, dict):
        return fragment
    if "$section" in fragment:
        section = table.BY_PATH[fragment["$section"]]
        return section_schema(section, fragment.get("$required"))
    return {k: _expand(v) for k, v in fragment.items()}


def field_schema(f: Field) -> dict[str, Any]:
    schema = dict(_expand(f.type.schema))
    if "$ref" in schema:  # draft-07 ignores the keywords beside a $ref
        schema = {"allOf": [{"$ref": schema.pop("$ref")}], **schema}
    schema["description"] = f.doc + (f" Default: {f.default_text}." if f.default_text else "")
    if f.default is not MISSING:
        schema["default"] = _json_value(f.default)
    if f.example is not MISSING:
        schema["examples"] = [_json_value(f.example)]
    return schema


def section_schema(section: Section, required: list[str] | None = None) -> dict[str, Any]:
    """A mapping of exactly the section's fields; with ``variants``, one alternative per ``name`` value, each
    allowing only that value's own fields."""
    properties = {f.name: field_schema(f) for f in section.fields}
    need = list(section.required if required is None else required)
    if section.variants is None:
        out: dict[str, Any] = {"type": "object", "description": section.doc, "properties": properties,
                               "additionalProperties": False}
        if need:
            out["required"] = need
        return out
    unknown = sorted({k for keys in section.variants.values() for k in keys} - section.names())
    if unknown:
        raise KeyError(f"{section.path}: parameter {unknown[0]!r} has no field in serbench.bench.spec_fields")
    alternatives = []
    for value, keys in section.variants.items():
        props = {"name": {**properties["name"], "const": value}, **{k: properties[k] for k in keys}}
        props["name"].pop("enum", None)
        alternatives.append({"type": "object", "properties": props, "additionalProperties": False,
                             "required": need})
    return {"description": section.doc, "anyOf": alternatives}


def build_schema() -> dict[str, Any]:
    """The JSON Schema (draft-07, what editors' YAML support reads) of a spec file."""
    top = section_schema(table.SPEC)
    definitions = {}
    for kind in COMPONENT_KINDS:
        definitions[kind] = {
            "description": f"A {kind[:-1]}: a built-in (listed), a plugin's `ns.name`, a variant `name.tag` or a glob; "
                           f"`serbench list {kind}` shows what is installed.",
            "anyOf": [{"enum": builtin_names(kind)}, {"type": "string"}],
        }
    return {
        "$schema": DRAFT,
        "title": "serbench benchmark spec",
        "description": f"{table.SPEC.doc} Generated by `{COMMAND}` from serbench/bench/spec_fields.py.",
        **{k: v for k, v in top.items() if k != "description"},
        # dataset or datasets, and models, unless a base spec (include) gives them
        "not": {"required": ["dataset", "datasets"]},
        "if": {"not": {"required": ["include"]}},
        "then": {"required": ["models"], "anyOf": [{"required": ["dataset"]}, {"required": ["datasets"]}]},
        "definitions": definitions,
    }


def schema_text() -> str:
    return json.dumps(build_schema(), indent=1, ensure_ascii=False) + "\n"


# -- the reference page -------------------------------------------------------------------------------------------
def flow(value: Any) -> str:
    """``value`` as YAML flow text, as a spec would write it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):  # plain where YAML reads it back as this string inside a flow collection
        try:
            plain = not set(value) & set(",[]{}") and yaml.safe_load(value) == value
        except yaml.YAMLError:
            plain = False
        return value if plain else json.dumps(value)
    return repr(value) if isinstance(value, float) else str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _title(section: Section) -> str:
    return "Top level" if not section.path else f"`{section.path}`"


def _anchor(section: Section) -> str:
    """GitHub's heading anchor of :func:`_title`."""
    title = _title(section).lower()
    return "".join(c for c in title.replace(" ", "-") if c.isalnum() or c in "-_")


def _type_text(f: Field) -> str:
    text = f.type.text
    for section in table.SECTIONS:  # link the sections a type names
        text = text.replace(f"(`{section.path}`)", f"([`{section.path}`](#{_anchor(section)}))")
    return text


def _default_text(f: Field) -> str:
    if f.default_text:
        return f.default_text
    if f.default is MISSING or f.default == {}:  # required, none, or a section's own defaults
        return ""
    return f"`{flow(f.default)}`"


def reference_text() -> str:
    """docs/spec-reference.md: every field of every section with its type, default, meaning and an example."""
    lines = [
        "# Spec reference",
        "",
        f"<!-- Generated by `{COMMAND}` from serbench/bench/spec_fields.py: edit the table, not this page. -->",
        "",
        "A spec is a YAML file (examples under `benchmarks/`) that names the axes of a benchmark; `serbench run "
        "SPEC --dry-run` lists its cells without computing anything. Every field below is checked when the spec is "
        "read, and an unknown or misspelt field is refused with a line naming the file and the field path.",
        "",
        "The same fields are a JSON Schema shipped with serbench, `serbench/schema/spec.schema.json`. Editors with "
        "YAML language support (the YAML extension of VS Code, or any yaml-language-server client) complete and check "
        "a spec that starts with",
        "",
        "```yaml",
        "# yaml-language-server: $schema=../serbench/schema/spec.schema.json",
        "```",
        "",
        "(the path is relative to the spec; the specs under `benchmarks/` carry this line). The schema checks names, "
        "types, choices and bounds; `serbench run --dry-run` also checks what only the registry and the data know "
        "(component names and parameters, protocols, folds, budgets against each attack).",
        "",
        "Sections: " + ", ".join(f"[{_title(s)}](#{_anchor(s)})" for s in table.SECTIONS) + ".",
        "",
    ]
    for section in table.SECTIONS:
        lines += [f"## {_title(section)}", "", section.doc, ""]
        if section.required:
            lines += ["Required: " + ", ".join(f"`{n}`" for n in section.required) + ".", ""]
        if section.variants:
            allowed = "; ".join(f"`{v}`: " + (", ".join(f"`{k}`" for k in keys) or "no parameters")
                                for v, keys in section.variants.items())
            lines += [f"Parameters by option: {allowed}.", ""]
        if section is table.SPEC:
            lines += ["Required: `dataset` (or `datasets`) and `models`, unless an `include`d spec gives them.", ""]
        lines += ["| field | type | default | description | example |", "|---|---|---|---|---|"]
        for f in section.fields:
            example = f"`{flow(f.example)}`" if f.example is not MISSING else ""
            lines.append(f"| `{f.name}` | {_cell(_type_text(f))} | {_cell(_default_text(f))} | {_cell(f.doc)} | "
                         f"{_cell(example)} |")
        lines.append("")
    lines += ["## Built-in component names", "",
              "What the schema offers for completion (`serbench list KIND` shows these and the installed plugins; "
              "variants are `name.tag`).", ""]
    for kind in COMPONENT_KINDS:
        lines += [f"- **{kind}**: " + ", ".join(f"`{n}`" for n in builtin_names(kind))]
    lines.append("")
    return "\n".join(lines)


# -- command line -------------------------------------------------------------------------------------------------
def generated() -> dict[Path, str]:
    return {SCHEMA_PATH: schema_text(), REFERENCE_PATH: reference_text()}


def stale() -> list[Path]:
    """The committed files that differ from what the table gives."""
    return [path for path, text in generated().items() if not path.is_file() or path.read_text() != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serbench.bench.spec_schema", description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help="write the schema and docs/spec-reference.md")
    group.add_argument("--check", action="store_true", help="exit 1 when either committed file is stale")
    args = parser.parse_args(argv)
    if args.write:
        if not REFERENCE_PATH.parent.is_dir():
            print(f"{REFERENCE_PATH.parent}: no docs folder (run from a source checkout)", file=sys.stderr)
            return 1
        for path, text in generated().items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path}")
        return 0
    if args.check:
        old = stale()
        for path in old:
            print(f"{path}: stale; run `{COMMAND}`", file=sys.stderr)
        return 1 if old else 0
    sys.stdout.write(schema_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
