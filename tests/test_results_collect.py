"""`serbench results collect`: exactly one spec's current records, never another spec's or an older version's."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml

SPEC = {
    "name": "collected",
    "dataset": {"name": "synthetic", "params": {"utterances_per_class": 4}, "folds": [0]},
    "frontend": {"seconds": 1.0},
    "training": {"iterations": 10, "eval_every": 5, "batch_size": 16},
    "models": ["cnn4.tiny"],
    "noises": [{"name": "white", "snr": [10]}],
}


def serbench(*args):
    return subprocess.run([sys.executable, "-m", "serbench", *args], capture_output=True, text=True,
                          env=dict(os.environ), timeout=600)


def test_collect_copies_one_spec_and_refuses_a_partial_one(tmp_path):
    spec, other = tmp_path / "spec.yaml", tmp_path / "other.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    other.write_text(yaml.safe_dump({**SPEC, "name": "other", "noises": [{"name": "white", "snr": [0, 20]}]}))
    results = tmp_path / "results"
    for path in (spec, other):
        run = serbench("run", str(path), "--results", str(results), "-q")
        assert run.returncode == 0, run.stderr
    everything = sorted(p.name for p in (results / "records").glob("*.json"))
    assert len(everything) == 5  # one train, clean, and white at 10, 0 and 20 dB

    out = tmp_path / "board"
    done = serbench("results", "collect", str(spec), "--results", str(results), "--out", str(out))
    assert done.returncode == 0, done.stderr
    copied = sorted(p.name for p in (out / "records").glob("*.json"))
    conditions = sorted(json.loads((out / "records" / name).read_text()).get("condition", {}).get("snr_db", -1)
                        for name in copied)
    assert conditions == [-1, -1, 10]  # the train record, clean and white 10 dB: not the other spec's 0 and 20 dB
    assert all((out / "records" / n).read_bytes() == (results / "records" / n).read_bytes() for n in copied)

    wider = tmp_path / "wider.yaml"
    wider.write_text(yaml.safe_dump({**SPEC, "noises": [{"name": "white", "snr": [10, 5]}]}))
    refused = serbench("results", "collect", str(wider), "--results", str(results), "--out", str(tmp_path / "none"))
    assert refused.returncode == 1
    assert "1 cells have no record" in refused.stderr and "white" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "none").exists()
