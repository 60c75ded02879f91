"""Reading a stored cell's identity without the spec parser: the leaderboard and compare import only this."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import serbench
from serbench.bench.identity import EXCLUDE_FIELDS, eval_fields, matches, protocol_name, without_location


def test_without_location_drops_root_at_any_depth():
    params = {"root": "/data/iemocap", "sessions": [1, 2], "nested": {"root": "/x", "rate": 16000}}
    assert without_location(params) == {"sessions": [1, 2], "nested": {"rate": 16000}}
    assert without_location("root") == "root"


@pytest.mark.parametrize("dataset,want", [({"protocol": "loso"}, "loso"), ({"protocol": None}, "default"),
                                          ({}, "default")])
def test_protocol_name_falls_back_to_default(dataset, want):
    assert protocol_name(dataset) == want


def test_eval_fields_answer_every_exclude_field():
    train = {"dataset": {"name": "iemocap", "protocol": "loso", "fold": "Ses01"}, "model": {"name": "cnn4"},
             "defense": {"name": "standard"}, "seed": 0}
    cond = {"type": "attack", "attack": {"name": "fgsm"}, "threat": {"eps": 0.01, "domain": "feature", "norm": "linf"}}
    fields = eval_fields(train, "test", cond)
    assert set(fields) == set(EXCLUDE_FIELDS)
    assert fields["attack"] == "fgsm" and fields["eps"] == 0.01 and fields["noise"] is None
    assert matches(fields["model"], "cnn*") and matches(fields["eps"], [0.02, 0.01]) and not matches(0.01, 0.02)


def test_one_definition_each():
    """The spec parser's exclude rules and the record readers share these helpers; no module keeps a copy."""
    package = Path(serbench.__file__).parent
    for name in ("without_location", "eval_fields", "matches", "protocol_name"):
        defined = [p.relative_to(package).as_posix() for p in package.rglob("*.py")
                   if f"def {name}(" in p.read_text(encoding="utf-8")]
        assert defined == ["bench/identity.py"], name


def test_record_readers_import_neither_the_spec_parser_nor_torch():
    code = ("import sys, serbench.leaderboard.aggregate, serbench.leaderboard.layouts, serbench.analysis.compare; "
            "print([m for m in ('serbench.bench.spec', 'torch', 'torchaudio', 'scipy') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
