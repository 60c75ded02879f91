"""The serbench-art plugin: entry points, public-API-only code, the generic adapter, no side effects."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
from test_attacks_setup import feature_batch, feature_model

import serbench

PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "serbench-art"


def _public_api_only(src: Path) -> None:
    """Plugin code imports ``serbench`` itself only and uses only names serbench exports."""
    for path in src.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                bad = [a.name for a in node.names if a.name.startswith("serbench.")]
                assert not bad, f"{path.name} imports {bad}: use `import serbench` (public API)"
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "serbench":
                raise AssertionError(f"{path.name}: `from {node.module} import ...`: use `import serbench`")
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "serbench":
                assert node.attr in serbench.__all__, f"{path.name} uses serbench.{node.attr}, not exported"


def test_entry_points_resolve_to_the_plugin() -> None:
    names = serbench.list_components("attacks", "art.*")
    assert names == ["art.apgd", "art.autoattack", "art.bim", "art.boundary", "art.cw", "art.deepfool", "art.evasion",
                     "art.fgsm", "art.hopskipjump", "art.pgd"]
    for name in names:
        info = serbench.info("attacks", name)
        assert info.source == "serbench-art" and "+art1." in info.version and info.summary
    assert serbench.info("attacks", "art.pgd").defaults == serbench.info("attacks", "pgd").defaults


def test_uses_public_api_only() -> None:
    _public_api_only(PLUGIN / "src")


def test_pyproject_declares_entry_points() -> None:
    import tomllib

    meta = tomllib.loads((PLUGIN / "pyproject.toml").read_text())
    eps = meta["project"]["entry-points"]["serbench.attacks"]
    assert set(eps) == {"art.fgsm", "art.bim", "art.pgd", "art.evasion", "art.apgd", "art.autoattack",
                        "art.hopskipjump", "art.boundary", "art.cw", "art.deepfool"}
    assert meta["project"]["name"] == "serbench-art"


def test_generic_adapter_runs_any_evasion_class() -> None:
    model = feature_model()
    x, y = feature_batch()
    fgm = serbench.get("attacks", "art.evasion", eps=0.05, cls="FastGradientMethod").generate(model, x, y)
    assert torch.allclose(fgm, serbench.get("attacks", "fgsm", eps=0.05).generate(model, x, y), atol=1e-6, rtol=0)
    res = serbench.resolve("attacks", "art.evasion", {"cls": "MomentumIterativeMethod", "max_iter": 3,
                                                     "eps_step": 0.02, "eps": 0.05})
    assert res.params["max_iter"] == 3  # kwargs are part of the resolved parameters (and so of cell keys)
    mim = res.create().generate(model, x, y)
    serbench.check_budget("art.evasion", res.create().threat, x, mim)
    assert float((mim - x).abs().max()) > 0.01


@pytest.mark.parametrize("params, match", [
    ({}, "needs params.cls"),
    ({"cls": "ProjectedGradientDescen"}, "did you mean 'ProjectedGradientDescent"),
    ({"cls": "ProjectedGradientDescent", "eps": 0.3}, None),  # eps is the threat model's: an ordinary param
    ({"cls": "ProjectedGradientDescent", "norm_p": 2}, "has no parameter 'norm_p'"),
    ({"cls": "ProjectedGradientDescent", "estimator": None}, "set by serbench"),
    ({"cls": "ProjectedGradientDescent", "max_iter": -1}, "refused its parameters"),
])
def test_generic_adapter_errors_are_one_line(params: dict, match: str | None) -> None:
    model = feature_model()
    x, y = feature_batch()
    if match is None:
        assert serbench.get("attacks", "art.evasion", **params).eps == 0.3
        return
    with pytest.raises(serbench.SerbenchError, match=match) as info:
        serbench.get("attacks", "art.evasion", **{"eps": 0.05, **params}).generate(model, x, y)
    assert "\n" not in str(info.value)


def test_snr_needs_deterministic_start() -> None:
    with pytest.raises(serbench.SerbenchError, match="random_start: false"):
        serbench.get("attacks", "art.pgd", eps=20, norm="snr", domain="waveform")


@pytest.mark.parametrize("train_mode", [False, True])
def test_model_mode_and_gradients_restored(train_mode: bool) -> None:
    """ART puts the model in eval mode for good and leaves parameter gradients; the adapter undoes both."""
    model = feature_model()
    x, y = feature_batch()
    model.train(train_mode)
    marker = torch.full_like(model.fc.weight, 7.0)
    model.fc.weight.grad = marker
    serbench.get("attacks", "art.bim", eps=0.05, steps=2).generate(model, x, y)
    assert model.training == train_mode
    assert model.fc.weight.grad is marker and torch.all(marker == 7.0)
    assert all(p.grad is None for n, p in model.named_parameters() if n != "fc.weight")


def test_out_of_range_input_refused() -> None:
    model = feature_model()
    x, y = feature_batch()
    with pytest.raises(serbench.SerbenchError, match="outside"):
        serbench.get("attacks", "art.fgsm", eps=0.05).generate(model, x + 0.5, y)
