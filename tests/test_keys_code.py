"""Cell keys cover the code: component and package versions apart, source-hash versions for development,
and editable installs stated in every record and warned about by `serbench run`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
import yaml

import serbench
from serbench.bench.runner import LocalRunner, environment
from serbench.bench.spec import parse_spec
from serbench.bench.store import Store
from serbench.errors import SerbenchError
from serbench.registry import editable_installs, editable_warning

NOISE = """
import numpy as np
import serbench

@serbench.component(summary="A dummy hum", {version})
class Hum(serbench.Noise):
    def __init__(self, freq: float = 50.0):
        self.freq = freq

    def sample(self, num_samples, sample_rate, rng):
        return np.sin(2 * np.pi * self.freq * np.arange(num_samples) / sample_rate).astype("float32")
"""


def install_hum(installed, version: str = "", source: str = NOISE, dist_version: str = "0.3.0"):
    arg = f"version={version!r}" if version else ""
    return installed("serbench-dummy-hum", "dummy_hum", source.replace("{version}", arg),
                     {"serbench.noises": {"dummy.hum": "dummy_hum:Hum"}}, version=dist_version)


def noise_keys(tmp_path) -> list[str]:
    """Eval keys of the dummy noise in a tiny synthetic spec (the corpus is listed, not generated)."""
    spec = parse_spec({"dataset": {"name": "synthetic", "params": {"sessions": 3, "utterances_per_class": 1},
                                   "folds": [0]},
                       "models": ["cnn4.tiny"], "noises": [{"name": "dummy.hum", "snr": [10]}]})
    trains = LocalRunner(spec, Store(tmp_path / "results"), device="cpu").train_cells()
    return [e.key for e in spec.eval_cells(trains[0]) if e.condition.identity["type"] == "noise"]


def reload_plugins() -> None:
    for name in list(sys.modules):
        if name.startswith("dummy_"):
            del sys.modules[name]
    for kind in serbench.KINDS:
        serbench.registry(kind).refresh()


def test_identity_records_the_component_and_the_package_version(installed):
    ident = serbench.resolve("models", "cnn4.small").identity()
    assert ident["version"] == "1.0"
    assert (ident["package"], ident["package_version"]) == ("serbench", serbench.__version__)
    install_hum(installed, version="2.0")
    hum = serbench.resolve("noises", "dummy.hum").identity()
    assert (hum["version"], hum["package"], hum["package_version"]) == ("2.0", "serbench-dummy-hum", "0.3.0")


def test_a_new_package_release_makes_new_cells_even_when_the_component_keeps_its_version(tmp_path, installed):
    install_hum(installed, version="2.0", dist_version="0.3.0")
    before = noise_keys(tmp_path)
    install_hum(installed, version="2.0", dist_version="0.4.0")  # a newer release installed in front
    reload_plugins()
    assert serbench.resolve("noises", "dummy.hum").identity()["package_version"] == "0.4.0"
    assert not set(noise_keys(tmp_path)) & set(before)


def test_version_auto_is_the_source_hash_and_editing_the_source_makes_new_cells(tmp_path, installed):
    root = install_hum(installed, version="auto")
    first = serbench.resolve("noises", "dummy.hum").identity()["version"]
    assert first.startswith("src-") and len(first) == 16
    before = noise_keys(tmp_path)
    assert noise_keys(tmp_path) == before  # stable while the code is
    module = root / "dummy_hum.py"
    module.write_text(module.read_text().replace("self.freq * np.arange", "self.freq * 1.0 * np.arange"))
    reload_plugins()
    assert serbench.resolve("noises", "dummy.hum").identity()["version"] not in (first, "0.3.0")
    assert not set(noise_keys(tmp_path)) & set(before)


def test_source_versions_setting_versions_components_without_one(tmp_path, installed, monkeypatch):
    install_hum(installed)  # no version: the package's
    assert serbench.resolve("noises", "dummy.hum").identity()["version"] == "0.3.0"
    monkeypatch.setenv("SERBENCH_SOURCE_VERSIONS", "1")
    reload_plugins()
    assert serbench.resolve("noises", "dummy.hum").identity()["version"].startswith("src-")
    assert serbench.resolve("models", "cnn4").identity()["version"] == "1.0"  # an explicit version stays


def test_version_auto_without_source_is_refused():
    from serbench.registry import source_version

    fake = type("Fake", (), {"__module__": "no_such_module_anywhere"})
    with pytest.raises(SerbenchError, match="version 'auto' needs the source of module no_such_module_anywhere"):
        source_version(fake)


def test_editable_installs_are_stated_in_records_and_warned_about(installed):
    root = install_hum(installed, version="2.0")
    assert "serbench-dummy-hum" not in editable_installs()
    info = next(root.glob("serbench_dummy_hum-*.dist-info"))
    (info / "direct_url.json").write_text(json.dumps({"url": root.as_uri(), "dir_info": {"editable": True}}))
    assert "serbench-dummy-hum" in editable_installs()
    assert "serbench-dummy-hum" in environment(torch.device("cpu"))["editable"]
    warning = editable_warning()
    assert warning and "serbench-dummy-hum" in warning and "SERBENCH_SOURCE_VERSIONS=1" in warning
    assert "\n" not in warning


@pytest.mark.skipif("serbench" not in editable_installs(), reason="serbench is not an editable install here")
def test_a_run_from_an_editable_install_warns_once(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump({
        "dataset": {"name": "synthetic", "params": {"sessions": 3, "utterances_per_class": 1, "max_seconds": 0.5},
                    "folds": [0]},
        "frontend": {"seconds": 0.5}, "training": {"iterations": 1, "eval_every": 1, "batch_size": 4},
        "models": ["cnn4.tiny"],
    }))
    env = {**os.environ, "SERBENCH_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-m", "serbench", "run", str(spec), "--results", str(tmp_path / "r"),
                           "-q", "--device", "cpu"], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("editable install of") == 1
    line = next(x for x in proc.stderr.splitlines() if "editable install of" in x)
    assert "serbench" in line and "version" in line
    record = json.loads(next((tmp_path / "r" / "records").glob("*.json")).read_text())
    assert "serbench" in record["env"]["editable"]
    assert line.startswith("warning") and "SERBENCH_SOURCE_VERSIONS=1" in line
