"""The serbench-torchattacks plugin: the [0, 1] contract is proven, the requests pin stays out, adapters work."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import torch
from test_attacks_setup import feature_batch, feature_model, waveform_batch, waveform_model
from test_plugin_art import _public_api_only

import serbench

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "plugins" / "serbench-torchattacks"


def _deps(pyproject: Path) -> list[str]:
    meta = tomllib.loads(pyproject.read_text())["project"]
    deps = list(meta.get("dependencies", []))
    for extra in meta.get("optional-dependencies", {}).values():
        deps += extra
    return [d.replace(" ", "").lower() for d in deps]


def test_entry_points_and_metadata() -> None:
    names = serbench.list_components("attacks", "torchattacks.*")
    assert names == ["torchattacks.apgd", "torchattacks.autoattack", "torchattacks.bim", "torchattacks.fgsm",
                     "torchattacks.generic", "torchattacks.pgd"]
    for name in names:
        info = serbench.info("attacks", name)
        assert info.source == "serbench-torchattacks" and "+torchattacks3.5" in info.version


def test_uses_public_api_only() -> None:
    _public_api_only(PLUGIN / "src")


def test_requests_pin_stays_out() -> None:
    """Neither serbench nor the plugin makes pip install torchattacks (and with it requests~=2.25.1)."""
    for pyproject in (ROOT / "pyproject.toml", PLUGIN / "pyproject.toml"):
        deps = _deps(pyproject)
        assert not any(d.startswith(("torchattacks", "requests")) for d in deps), (pyproject, deps)
    readme = (PLUGIN / "README.md").read_text()
    assert "pip install --no-deps torchattacks==3.5.1" in readme and "requests~=2.25.1" in readme


@pytest.mark.parametrize("domain, name, norm, eps", [
    ("feature", "torchattacks.pgd", "linf", 0.1),
    ("feature", "torchattacks.pgd", "l2", 2.0),
    ("waveform", "torchattacks.bim", "linf", 0.05),
    ("waveform", "torchattacks.pgd", "l2", 1.0),
])
def test_model_only_ever_sees_unit_range(domain: str, name: str, norm: str, eps: float) -> None:
    """Every input torchattacks gave the model was inside [0, 1] (the model checks each call), and it was used."""
    model, (x, y) = (feature_model(), feature_batch()) if domain == "feature" else (waveform_model(), waveform_batch())
    attack = serbench.get("attacks", name, eps=eps, norm=norm, domain=domain, steps=4)
    x_adv = attack.generate(model, x, y)
    lo, hi = attack.last_unit_range
    assert 0.0 <= lo and hi <= 1.0 and attack.last_model_calls == 4
    if domain == "waveform":  # the waveform itself is signed: the map really happened
        assert float(x.min()) < -0.1 and lo > 0.2
    else:  # feature batch touches both bounds and the attack pushes into them
        assert lo == 0.0 and hi == 1.0
    serbench.check_budget(name, attack.threat, x, x_adv)


def test_unit_box_refuses_out_of_range_inputs() -> None:
    """What makes the proof: torchattacks cannot feed the model anything outside [0, 1] unnoticed."""
    from serbench_torchattacks.unitbox import UnitBoxModel

    x, _ = waveform_batch()
    box = UnitBoxModel(waveform_model(), (-1.0, 1.0), x)
    assert torch.allclose(box.from_unit(box.u0), x) and box.u0.shape == (len(x), 1, 1, x.shape[1])
    box(box.u0)
    with pytest.raises(serbench.SerbenchError, match="outside \\[0, 1\\]"):
        box(box.u0 * 2)


def test_out_of_range_clean_input_refused() -> None:
    model = feature_model()
    x, y = feature_batch()
    with pytest.raises(serbench.SerbenchError, match="outside"):
        serbench.get("attacks", "torchattacks.fgsm", eps=0.05).generate(model, x * 1.5, y)


def test_no_snr_budget() -> None:
    with pytest.raises(serbench.SerbenchError, match="supports norms"):
        serbench.get("attacks", "torchattacks.pgd", eps=20, norm="snr", domain="waveform")


def test_generic_adapter_maps_eps_and_alpha() -> None:
    """torchattacks.generic with cls=PGD is torchattacks.pgd; eps and alpha are in waveform units, mapped."""
    model = waveform_model()
    x, y = waveform_batch()
    common = {"eps": 0.02, "domain": "waveform", "alpha": 0.005, "random_start": False}
    for steps, reach in ((3, 0.015), (6, 0.02)):  # 3 steps of alpha; 6 steps hit eps
        generic = serbench.get("attacks", "torchattacks.generic", cls="PGD", steps=steps, **common)
        direct = serbench.get("attacks", "torchattacks.pgd", steps=steps, **common)
        a, b = generic.generate(model, x, y), direct.generate(model, x, y)
        assert torch.equal(a, b) and float((a - x).abs().max()) == pytest.approx(reach, abs=1e-6)


@pytest.mark.parametrize("params, match", [
    ({}, "needs params.cls"),
    ({"cls": "PDG"}, "did you mean 'PGD'"),
    ({"cls": "PGD", "stepz": 3}, "has no parameter 'stepz'"),
    ({"cls": "PGD", "model": None}, "set by serbench"),
])
def test_generic_adapter_errors(params: dict, match: str) -> None:
    with pytest.raises(serbench.SerbenchError, match=match):
        serbench.get("attacks", "torchattacks.generic", eps=0.05, **params)


def test_model_mode_restored() -> None:
    model = feature_model().train()
    x, y = feature_batch()
    serbench.get("attacks", "torchattacks.bim", eps=0.05, steps=2).generate(model, x, y)
    assert model.training
    model.eval()
    serbench.get("attacks", "torchattacks.bim", eps=0.05, steps=2).generate(model, x, y)
    assert not model.training and all(p.grad is None for p in model.parameters())


def test_missing_torchattacks_is_reported_with_the_install_line() -> None:
    """Without torchattacks the plugin is a reported broken plugin naming the --no-deps install, not a crash."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['torchattacks'] = None\n"
        "import serbench\n"
        "assert 'torchattacks.pgd' in serbench.list_components('attacks')\n"
        "assert 'pgd' in serbench.list_components('attacks')\n"
        "try:\n"
        "    serbench.info('attacks', 'torchattacks.pgd')\n"
        "except serbench.PluginLoadError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "pip install --no-deps torchattacks==3.5.1" in out.stdout and "serbench-torchattacks" in out.stdout
