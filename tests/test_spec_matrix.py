"""Spec matrices: globs over the registry, exclude rules, include, location-free keys, dry runs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_corpus_fakes import make_emodb

from serbench.bench.runner import LocalRunner
from serbench.bench.spec import load_spec, parse_spec
from serbench.bench.store import Store
from serbench.errors import SpecError

BASE = {
    "dataset": {"name": "synthetic", "params": {"utterances_per_class": 4}, "folds": [0, 1]},
    "frontend": {"seconds": 1.0},
    "training": {"iterations": 10},
    "models": ["cnn4.small"],
    "seeds": [0, 1],
    "attacks": [{"name": "fgsm", "eps": [0.01, 0.02]}, {"name": "pgd", "eps": [0.01]}],
    "noises": [{"name": "white", "snr": [10, 0]}],
}


def cells(spec):
    return [(tc, spec.eval_cells(tc)) for tc in spec.train_cells()]


def test_a_glob_expands_over_the_registry_variants_included():
    spec = parse_spec({**BASE, "models": ["cnn4*"]})
    assert [m.requested for m in spec.models] == ["cnn4", "cnn4.small", "cnn4.tiny"]
    assert len(spec.train_cells()) == 3 * 2 * 2


def test_an_attack_glob_keeps_the_attacks_that_support_the_threat_and_says_which_it_skipped():
    spec = parse_spec({**BASE, "attacks": [{"name": "torchattacks.*", "norm": "l2", "eps": [0.5]}]})
    names = {a.resolved.requested for a in spec.attacks}
    assert names == {"torchattacks.pgd", "torchattacks.apgd"}
    assert any("skipped 'torchattacks.fgsm'" in n and "not 'l2'" in n for n in spec.notes)


def test_a_glob_matching_nothing_names_the_field_and_suggests():
    with pytest.raises(SpecError, match=r"^<spec>: models\[0\]: models pattern 'cnn9\*' matches nothing; did you "
                                        r"mean .*cnn"):
        parse_spec({**BASE, "models": ["cnn9*"]})


def test_exclude_removes_eval_cells_and_train_cells_left_without_any():
    full = parse_spec(BASE)
    n_full = sum(len(e) for _, e in cells(full))
    spec = parse_spec({**BASE, "exclude": [{"attack": "fgsm", "eps": 0.02}, {"seed": 1, "fold": 1}]})
    trains = cells(spec)
    assert len(trains) == 3  # (fold 1, seed 1) is gone entirely
    per_train = 1 + 2 + 2  # clean, white x2, fgsm 0.01 + pgd 0.01
    assert sum(len(e) for _, e in trains) == 3 * per_train and n_full == 4 * (per_train + 1)
    assert not any(e.condition.identity.get("threat", {}).get("eps") == 0.02 for _, evals in trains for e in evals)
    assert spec.unused_excludes(spec.all_train_cells(None)) == []
    glob = parse_spec({**BASE, "exclude": [{"type": "noise"}, {"attack": "p*"}, {"model": "vgg16"}]})
    assert all(e.condition.identity["type"] in ("clean", "attack") for _, evals in cells(glob) for e in evals)
    assert glob.unused_excludes(glob.all_train_cells(None)) == [2]


@pytest.mark.parametrize("exclude, where, message", [
    ([{"modle": "cnn4"}], r"exclude\[0\]\.modle", "unknown field 'modle'; did you mean 'model'"),
    ([{}], r"exclude\[0\]", "an empty rule would exclude every cell"),
    ([{"eps": {"a": 1}}], r"exclude\[0\]\.eps", "expected a name, number or list"),
])
def test_bad_exclude_rules(exclude, where, message):
    with pytest.raises(SpecError, match=f"^<spec>: {where}: {message}"):
        parse_spec({**BASE, "exclude": exclude})


@pytest.mark.parametrize("patch, where, message", [
    ({"models": ["resnet5"]}, r"models\[0\]", "did you mean 'resnet50'"),
    ({"seeds": ["zero"]}, r"seeds\[0\]", "expected an integer"),
    ({"attacks": [{"name": "fgsm", "eps": [-0.1]}]}, r"attacks\[0\]\.eps\[0\]", "must be >= 0"),
    ({"attacks": [{"name": "fgsm", "eps": ["big"]}]}, r"attacks\[0\]\.eps\[0\]", "expected a number"),
])
def test_spec_errors_are_one_line_with_the_field_path(patch, where, message):
    with pytest.raises(SpecError) as info:
        parse_spec({**BASE, **patch})
    assert "\n" not in str(info.value)
    assert re.match(f"^<spec>: {where}: .*{message}", str(info.value)), str(info.value)


def test_include_merges_the_base_and_overrides_top_level_fields(tmp_path):
    import yaml

    (tmp_path / "base.yaml").write_text(yaml.safe_dump({**BASE, "name": "base"}))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "more.yaml").write_text("include: ../base.yaml\nname: more\nseeds: [7]\n")
    spec = load_spec(tmp_path / "sub" / "more.yaml")
    assert spec.name == "more" and spec.seeds == [7] and len(spec.attacks) == 2
    assert spec.source["seeds"] == [7] and "include" not in spec.source
    (tmp_path / "a.yaml").write_text("include: b.yaml\n")
    (tmp_path / "b.yaml").write_text("include: a.yaml\n")
    with pytest.raises(SpecError, match=r"b.yaml: include: 'a.yaml' closes an include cycle"):
        load_spec(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("include: nope.yaml\n")
    with pytest.raises(SpecError, match=r"c.yaml: include: .*nope.yaml: cannot read spec"):
        load_spec(tmp_path / "c.yaml")


def test_where_the_corpus_lives_is_not_part_of_a_key(tmp_path):
    make_emodb(tmp_path / "data" / "emodb")
    shutil.copytree(tmp_path / "data" / "emodb", tmp_path / "mnt" / "other" / "copy")  # sizes and mtimes kept

    def keys(root: Path):
        spec = parse_spec({**BASE, "dataset": {"name": "emodb", "params": {"root": str(root)}, "folds": [0]}})
        trains = LocalRunner(spec, Store(tmp_path / "results"), device="cpu").train_cells()
        return [tc.key for tc in trains], trains[0].identity["dataset"]["params"]

    a, params = keys(tmp_path / "data" / "emodb")
    b, _ = keys(tmp_path / "mnt" / "other" / "copy")
    assert a == b and "root" not in params


def test_dry_run_lists_every_cell_and_writes_nothing(tmp_path):
    import yaml

    spec_path = tmp_path / "m.yaml"
    spec_path.write_text(yaml.safe_dump({**BASE, "exclude": [{"seed": 1}]}))
    results = tmp_path / "results"
    proc = subprocess.run([sys.executable, "-m", "serbench", "run", str(spec_path), "--results", str(results),
                           "--dry-run", "--json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    spec = load_spec(spec_path)
    expected = [(tc, spec.eval_cells(tc)) for tc in LocalRunner(spec, Store(results), device="cpu").train_cells()]
    assert out["totals"] == {"train_cells": 2, "eval_cells": sum(len(e) for _, e in expected), "done": 0,
                             "failed": 0, "missing": sum(len(e) for _, e in expected)}
    assert [c["key"] for c in out["cells"] if c["kind"] == "train"] == [tc.key for tc, _ in expected]
    assert not results.exists()
    table = subprocess.run([sys.executable, "-m", "serbench", "run", str(spec_path), "--results", str(results),
                            "--dry-run"], capture_output=True, text=True, timeout=300)
    assert table.returncode == 0 and "2 train cells" in table.stdout and not results.exists()
