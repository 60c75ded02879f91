"""What a stored cell is, read from its identity: the fields rules select on, and the parts a key leaves out.

Readers of records (the leaderboard, ``serbench compare``) and the spec's ``exclude`` rules answer the same
questions about a cell; this module answers them without the spec parser, from the identity dicts a record holds.
"""

from __future__ import annotations

import fnmatch
from typing import Any

# Fields an ``exclude`` rule (or a ``compare --where`` filter) may name, and how a cell answers them.
EXCLUDE_FIELDS = ("dataset", "protocol", "fold", "model", "defense", "seed", "partition", "type", "attack",
                  "noise", "eps", "snr", "domain", "norm", "corruption", "severity")
LOCATION_PARAMS = frozenset({"root"})
DEFAULT_PROTOCOL = "default"


def without_location(value: Any) -> Any:
    """``value`` without the params that say where a local copy lives (``root``, at any depth)."""
    if isinstance(value, dict):
        return {k: without_location(v) for k, v in value.items() if k not in LOCATION_PARAMS}
    return value


def protocol_name(dataset: dict[str, Any]) -> str:
    """The protocol a dataset identity names; a corpus without one is read under its ``default`` protocol."""
    return str(dataset.get("protocol") or DEFAULT_PROTOCOL)


def eval_fields(t: dict[str, Any], partition: str, c: dict[str, Any]) -> dict[str, Any]:
    """What an ``exclude`` rule can match, from an eval cell's parts as a stored record holds them (``train``,
    ``partition``, ``condition``)."""
    threat = c.get("threat", {})
    return {
        "dataset": t["dataset"]["name"], "protocol": t["dataset"]["protocol"], "fold": t["dataset"]["fold"],
        "model": t["model"]["name"], "defense": t["defense"]["name"], "seed": t["seed"],
        "partition": partition, "type": c["type"], "attack": c.get("attack", {}).get("name"),
        "noise": c.get("noise", {}).get("name"), "eps": threat.get("eps"), "snr": c.get("snr_db"),
        "domain": threat.get("domain"), "norm": threat.get("norm"),
        "corruption": c.get("corruption", {}).get("name"), "severity": c.get("severity"),
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
