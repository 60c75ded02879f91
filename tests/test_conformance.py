"""Every registered attack, noise and defense (plugins included) passes its conformance check."""

from __future__ import annotations

import pytest

import serbench
from serbench.errors import DataError
from serbench.validation import validate

PARAMS = {("defenses", "compose"): {"parts": [{"name": "mixup"}, {"name": "speed"}]},
          ("attacks", "square"): {"n_queries": 200},
          ("attacks", "autoattack"): {"steps": 10, "n_queries": 200},
          ("attacks", "art.hopskipjump"): {"max_queries": 200},
          ("attacks", "art.boundary"): {"max_queries": 200},
          ("attacks", "psychoacoustic"): {"stage2_steps": 20},
          ("attacks", "universal"): {"steps": 5},
          ("attacks", "cw"): {"steps": 10, "binary_search_steps": 3},
          ("attacks", "art.cw"): {"steps": 10, "binary_search_steps": 3}}


def _cases():
    for kind in ("attacks", "noises", "defenses"):
        for name in serbench.list_components(kind):
            yield pytest.param(kind, name, id=f"{kind}-{name}")


@pytest.mark.parametrize("kind,name", list(_cases()))
def test_component_conforms(kind, name):
    try:
        report = validate(kind, name, **PARAMS.get((kind, name), {}))
    except DataError as exc:  # noises read from a local corpus copy (DEMAND, MUSAN)
        pytest.skip(f"needs a local corpus copy: {exc}")
    failures = report.failures()
    if failures and all("local copy" in f or "SERBENCH_DATA" in f for f in failures):
        pytest.skip(f"needs a local corpus copy: {failures[0]}")
    assert report.ok, failures
