"""The registry: built-ins, lazy entry points, broken plugins, duplicates, unknown names, variants."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import serbench
from serbench.errors import DuplicateComponentError, PluginLoadError, SerbenchError, UnknownComponentError

GOOD = """
import serbench

LOADED = True

@serbench.component(summary="A dummy noise for tests", version="9.9", tags=("test",))
class Hum(serbench.Noise):
    def __init__(self, freq: float = 50.0):
        self.freq = freq

    def sample(self, num_samples, sample_rate, rng):
        import numpy as np
        t = np.arange(num_samples) / sample_rate
        return np.sin(2 * np.pi * self.freq * t).astype("float32")
"""

BROKEN = """
raise ImportError("this plugin needs a library that is not installed")
"""


def test_builtins_are_listed_with_metadata():
    assert "cnn4" in serbench.list_components("models")
    assert "cnn4.small" in serbench.list_components("models", variants=True)
    assert "cnn4.small" not in serbench.list_components("models")
    info = serbench.info("attacks", "fgsm")
    assert info.version and info.summary and info.paper
    assert info.defaults["eps"] == 0.0 and "eta" in info.defaults
    assert serbench.list_components("models", "cnn*") == [n for n in serbench.list_components("models")
                                                         if n.startswith("cnn")]


def test_get_applies_defaults_params_and_variants():
    small = serbench.get("models", "cnn4.small", num_classes=3)
    full = serbench.get("models", "cnn4", num_classes=3)
    assert small.fc.out_features == 3
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in full.parameters()) / 10
    r = serbench.resolve("models", "cnn4.small")
    assert r.params["width"] == 0.25 and r.identity()["name"] == "cnn4.small"


def test_unknown_names_suggest_close_matches():
    with pytest.raises(UnknownComponentError, match="did you mean 'cnn4'"):
        serbench.get("models", "cnn44")
    with pytest.raises(UnknownComponentError, match="did you mean 'fgsm'"):
        serbench.get("attacks", "fgms")
    with pytest.raises(UnknownComponentError, match="no variant 'huge'"):
        serbench.get("models", "cnn4.huge")
    with pytest.raises(UnknownComponentError, match="did you mean 'models'"):
        serbench.list_components("modles")


def test_unknown_parameter_names_the_component():
    with pytest.raises(SerbenchError, match="model 'cnn4' has no parameter 'widht'"):
        serbench.get("models", "cnn4", widht=2)


def test_duplicate_builtin_registration_is_an_error():
    reg = serbench.registry("noises")

    class Another(serbench.Noise):
        """dup"""

    with pytest.raises(DuplicateComponentError, match="'white' is registered twice"):
        reg.register("white")(Another)


def test_entry_point_is_found_without_import_and_loaded_on_first_use(installed):
    installed("dummy-hum", "dummy_hum", GOOD, {"serbench.noises": {"test.hum": "dummy_hum:Hum"}})
    assert "test.hum" in serbench.list_components("noises")
    assert "dummy_hum" not in sys.modules  # found, not imported
    reg = serbench.registry("noises")
    assert reg.plugin_origin("test.hum") == "dummy-hum"
    hum = serbench.get("noises", "test.hum", freq=100.0)
    assert "dummy_hum" in sys.modules and hum.freq == 100.0
    info = serbench.info("noises", "test.hum")
    assert (info.version, info.source, info.summary) == ("9.9", "dummy-hum", "A dummy noise for tests")
    assert info.defaults == {"freq": 50.0}


def test_broken_plugin_is_reported_and_never_breaks_others(installed):
    installed("dummy-broken", "dummy_broken", BROKEN, {"serbench.attacks": {"test.broken": "dummy_broken:X"}})
    names = serbench.list_components("attacks")
    assert "test.broken" in names and "fgsm" in names
    assert serbench.get("attacks", "fgsm", eps=0.1).eps == 0.1  # unaffected
    with pytest.raises(PluginLoadError) as exc:
        serbench.get("attacks", "test.broken")
    msg = str(exc.value)
    assert "dummy-broken" in msg and "dummy_broken:X" in msg and "not installed" in msg and "\n" not in msg
    ok, broken = serbench.registry("attacks").check_all()
    assert [b.name for b in broken] == ["test.broken"] and broken[0].package == "dummy-broken"
    assert "fgsm" in [i.name for i in ok]


def test_plugin_shadowing_a_builtin_is_refused_and_the_builtin_kept(installed):
    from serbench.noises.colored import WhiteNoise
    installed("dummy-dup", "dummy_dup", GOOD, {"serbench.noises": {"white": "dummy_dup:Hum"}})
    assert type(serbench.get("noises", "white")) is WhiteNoise and "dummy_dup" not in sys.modules
    assert [b.package for b in serbench.registry("noises").refused()] == ["dummy-dup"]


def _cli(args, extra_path=None):
    env = dict(os.environ)
    if extra_path:
        env["PYTHONPATH"] = os.pathsep.join([str(extra_path), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "serbench", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_cli_list_imports_no_plugin_and_doctor_reports_broken(tmp_path):
    from conftest import make_distribution

    root = make_distribution(tmp_path / "site", "dummy-broken", "dummy_broken", BROKEN,
                             {"serbench.attacks": {"test.broken": "dummy_broken:X"}})
    listing = _cli(["list", "attacks", "--json"], root)
    assert listing.returncode == 0, listing.stderr
    assert "test.broken" in listing.stdout and "not installed" not in listing.stdout
    doctor = _cli(["doctor", "--json"], root)
    assert doctor.returncode == 1
    assert "dummy-broken" in doctor.stdout and "not installed" in doctor.stdout
