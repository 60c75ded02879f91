"""`serbench submit`: a spec's results checked (cells complete and ok, digests, environment, component versions)
and packed into a bundle that `serbench leaderboard --verify` accepts; a generated plugin submitted end to end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from serbench.bench.store import record_digest
from serbench.cli.scaffold import scaffold

SPEC = {
    "name": "tiny-submission",
    "dataset": {"name": "synthetic", "params": {"utterances_per_class": 4}, "folds": [0]},
    "frontend": {"seconds": 1.0},
    "training": {"iterations": 10, "eval_every": 5, "batch_size": 16},
    "models": ["cnn4.tiny"],
    "attacks": [{"name": "fgsm", "eps": [0.05]}],
    "noises": [{"name": "white", "snr": [10]}],
}


def serbench(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "serbench", *args], capture_output=True, text=True,
                          env=env or dict(os.environ), cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    """The tiny spec run once: (spec path, results directory); tests copy the results before changing them."""
    root = tmp_path_factory.mktemp("submission")
    spec = root / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    run = serbench("run", str(spec), "--results", str(root / "results"), "-q")
    assert run.returncode == 0, run.stderr
    return spec, root / "results"


def rewrite(path: Path, change) -> None:
    """Change a record with ``change(record)`` and digest it again, as a store would accept it."""
    record = json.loads(path.read_text())
    change(record)
    record["digest"] = record_digest(record)
    path.write_text(json.dumps(record))


def eval_record(results: Path, condition: str) -> Path:
    (path,) = [p for p in (results / "records").glob("*.json")
               if json.loads(p.read_text()).get("condition", {}).get("type") == condition]
    return path


def test_the_bundle_holds_the_spec_records_checkpoints_and_manifest(computed, tmp_path):
    spec, results = computed
    out = tmp_path / "bundle.tar.gz"
    done = serbench("submit", str(spec), "--results", str(results), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "1 train and 3 eval records of tiny-submission, 1 checkpoints" in done.stdout
    with tarfile.open(out) as tar:
        names = sorted(tar.getnames())
        manifest = json.load(tar.extractfile("manifest.json"))
        bundled = {n: tar.extractfile(n).read() for n in names if n.startswith("records/")}
    records = sorted(p.name for p in (results / "records").glob("*.json"))
    assert names == sorted(["manifest.json", "spec.yaml"] + [f"records/{n}" for n in records]
                           + [f"checkpoints/{c.name}" for c in (results / "checkpoints").iterdir()])
    assert bundled == {f"records/{n}": (results / "records" / n).read_bytes() for n in records}  # byte for byte
    assert manifest["records"] == {"total": 4, "train": 1, "eval": 3} and manifest["checkpoints"] == 1
    assert manifest["spec"]["sha256"] == manifest["files"]["spec.yaml"]
    assert {(c["kind"], c["name"]) for c in manifest["components"]} == {
        ("dataset", "synthetic"), ("model", "cnn4.tiny"), ("defense", "standard"), ("attack", "fgsm"),
        ("noise", "white")}
    assert [e["records"] for e in manifest["environment"]] == [4]

    again = serbench("submit", str(spec), "--results", str(results), "--out", str(out))
    assert again.returncode == 1 and "exists; a bundle is never overwritten" in again.stderr
    folder = tmp_path / "bundle"  # no suffix: a folder with the same files
    assert serbench("submit", str(spec), "--results", str(results), "--out", str(folder)).returncode == 0
    assert json.loads((folder / "manifest.json").read_text())["files"] == manifest["files"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind


def test_an_incomplete_results_folder_is_refused_naming_the_cell(computed, tmp_path):
    spec, results = computed
    partial = tmp_path / "results"
    shutil.copytree(results, partial)
    eval_record(partial, "noise").unlink()
    out = tmp_path / "bundle.tar.gz"
    refused = serbench("submit", str(spec), "--results", str(partial), "--out", str(out))
    assert refused.returncode == 1
    assert "1 of its cells have no record" in refused.stderr
    assert "cnn4.tiny + standard seed 0: noise white @ 10 dB/test" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and not out.exists()
    assert not list(tmp_path.glob(".*"))


@pytest.mark.parametrize("change, expected", [
    (lambda r: r["train"]["model"].update(package_version="9.9"),
     "model 'cnn4.tiny' was computed with serbench 9.9 and 0.1.0 is installed"),
    (lambda r: r.pop("env"), "no environment (env) recorded"),
    (lambda r: r["train"]["model"].pop("package_version"), "model 'cnn4.tiny' has no package_version recorded"),
])
def test_a_record_without_its_environment_or_versions_is_refused(computed, tmp_path, change, expected):
    spec, results = computed
    changed = tmp_path / "results"
    shutil.copytree(results, changed)
    path = eval_record(changed, "clean")
    rewrite(path, change)
    refused = serbench("submit", str(spec), "--results", str(changed), "--out", str(tmp_path / "b.tar.gz"))
    assert refused.returncode == 1
    assert path.name in refused.stderr and expected in refused.stderr, refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_an_edited_record_is_refused_by_its_digest(computed, tmp_path):
    spec, results = computed
    changed = tmp_path / "results"
    shutil.copytree(results, changed)
    path = eval_record(changed, "attack")
    record = json.loads(path.read_text())
    record["metrics"]["uar"] = 0.99
    path.write_text(json.dumps(record))  # not digested again
    refused = serbench("submit", str(spec), "--results", str(changed), "--out", str(tmp_path / "b.tar.gz"))
    assert refused.returncode == 1 and "its digest does not match its content" in refused.stderr


def test_a_bundle_changed_after_submission_is_rejected(computed, tmp_path):
    spec, results = computed
    folder = tmp_path / "bundle"
    assert serbench("submit", str(spec), "--results", str(results), "--out", str(folder)).returncode == 0
    (folder / "records" / "extra.json").write_text("{}")
    added = serbench("leaderboard", "--verify", str(folder), "--sample", "1", "--seed", "0")
    assert added.returncode == 1 and "records/extra.json is not listed in its manifest" in added.stderr
    (folder / "records" / "extra.json").unlink()
    spec_file = folder / "spec.yaml"
    spec_file.write_text(spec_file.read_text().replace("iterations: 10", "iterations: 11"))
    edited = serbench("leaderboard", "--verify", str(folder), "--sample", "1", "--seed", "0")
    assert edited.returncode == 1 and "spec.yaml does not match its manifest sha256" in edited.stderr


@pytest.mark.slow
def test_a_generated_plugin_is_submitted_and_verified_end_to_end(tmp_path):
    """`serbench new-plugin model`, installed into a throwaway site folder; a spec using it run, submitted, and a
    sampled cell re-evaluated from the bundle's checkpoint: accepted, with the plugin's version in the manifest."""
    package = scaffold("models", "acme.subnet", tmp_path / "packages")
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                          "--target", str(tmp_path / "site"), str(package)], capture_output=True, text=True,
                         timeout=600)
    assert pip.returncode == 0, pip.stderr
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), os.environ.get("PYTHONPATH", "")])}
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({**SPEC, "name": "acme", "models": ["acme.subnet"]}))
    run = serbench("run", str(spec), "--results", "results", "-q", env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    done = serbench("submit", str(spec), "--results", "results", "--out", "acme.tar.gz", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with tarfile.open(tmp_path / "acme.tar.gz") as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    assert {"kind": "model", "name": "acme.subnet", "version": "1", "package": "serbench-acme-subnet",
            "package_version": "0.1.0"} in manifest["components"]
    verified = serbench("leaderboard", "--verify", "acme.tar.gz", "--sample", "1", "--seed", "3", env=env,
                        cwd=tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    (line,) = [x for x in verified.stdout.splitlines() if x.startswith(("ok", "FAIL"))]
    assert line.startswith("ok   synthetic/fold 0 acme.subnet + standard seed 0: ") and "(diff 0.0000)" in line
    assert "accepted: 1 of 1 sampled cells (re-evaluated from its checkpoints, seed 3) within tolerance 0.01" \
        in verified.stdout
    without = serbench("submit", str(spec), "--results", "results", "--out", "again.tar.gz", cwd=tmp_path)
    assert without.returncode == 1 and "acme.subnet" in without.stderr  # the plugin is not installed there
