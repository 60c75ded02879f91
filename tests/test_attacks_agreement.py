"""Three independent implementations agree: serbench's native attacks, ART, torchattacks.

Same tiny eval-mode model, same batch, same parameters.

Tolerances and why:
- FGSM, and BIM / PGD-Linf / PGD-L2 without random start in the feature
  domain, and ART in the waveform domain: 1e-6 absolute, i.e. float32
  rounding. With a power-of-two batch the three losses (summed vs mean
  cross-entropy) give gradients that differ by an exact factor, so every sign
  and unit direction is identical; what remains is the order of float32
  operations in the projections (a few ulps of values <= 1) and, for L2, the
  gradient normalisation (torchattacks adds 1e-10 to the norm, ART divides
  exactly, serbench computes norms in float64).
- PGD-L2 uses inputs inside [0.25, 0.75]: when the box binds, ART clips before
  projecting onto the L2 ball while torchattacks and serbench project then
  clip, two different (both valid) points.
- SNR PGD vs ART in the waveform domain: 1e-5. serbench keeps the
  per-example radii and norms in float64, ART in float32 with float64 eps;
  the ulp-level differences grow through the log-Mel front end over 10 steps
  (1e-7 after 1 step, 4e-7 after 5, 4e-6 after 10 on this batch).
- torchattacks in the waveform domain: it works on u = (x + 1) / 2, and that
  affine map is not exact in float32 (ulp 6e-8). One step agrees to 1e-6;
  over 10 steps the 1-ulp differences flip ReLU / max-pool patterns and signs
  of near-zero gradient coordinates, so iterates differ at isolated
  coordinates by up to one step size. There the test checks what the attack
  optimises: per-example cross-entropy equal to 1e-3 relative.
"""

from __future__ import annotations

import pytest
import torch
from test_attacks_setup import feature_batch, feature_model, waveform_batch, waveform_model

import serbench

ATOL = 1e-6
LIBS = ("art", "torchattacks")


def _run(name: str, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, **params) -> torch.Tensor:
    return serbench.get("attacks", name, **params).generate(model, x, y)


@pytest.mark.parametrize("name, params, interior", [
    ("fgsm", {"eps": 0.05}, False),
    ("bim", {"eps": 0.05}, False),
    ("bim", {"eps": 0.1, "steps": 5, "alpha": 0.03}, False),
    ("pgd", {"eps": 0.05, "random_start": False}, False),
    ("pgd", {"eps": 0.5, "norm": "l2", "random_start": False}, True),
])
def test_feature_domain_agreement(name: str, params: dict, interior: bool) -> None:
    model = feature_model()
    x, y = feature_batch(interior=interior)
    native = _run(name, model, x, y, **params)
    assert float((native - x).abs().max()) > 0  # a real perturbation, not trivially equal
    for lib in LIBS:
        other = _run(f"{lib}.{name}", model, x, y, **params)
        diff = float((native - other).abs().max())
        assert diff <= ATOL, f"{lib}.{name} differs from native {name} by {diff:.3g}"


def test_native_fgsm_is_ren_fgsm() -> None:
    """Ren et al.'s eq. 1-2 by hand: x + eps * sign(grad), clipped to the eps ball and [0, 1]."""
    model = feature_model()
    x, y = feature_batch()
    xr = x.clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(model(xr), y).backward()
    expected = (x + 0.04 * xr.grad.sign()).clamp(0, 1)
    assert torch.allclose(_run("fgsm", model, x, y, eps=0.04), expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("name, params", [
    ("fgsm", {"eps": 0.01}),
    ("bim", {"eps": 0.01}),
    ("pgd", {"eps": 0.01, "random_start": False}),
    ("pgd", {"eps": 0.5, "norm": "l2", "random_start": False}),
])
def test_waveform_domain_agreement(name: str, params: dict) -> None:
    model = waveform_model()
    x, y = waveform_batch()
    params = {**params, "domain": "waveform"}
    native = _run(name, model, x, y, **params)
    assert float((native - _run(f"art.{name}", model, x, y, **params)).abs().max()) <= ATOL

    ta = _run(f"torchattacks.{name}", model, x, y, **params)
    if name == "fgsm":
        assert float((native - ta).abs().max()) <= ATOL
        return
    one_native = _run(name, model, x, y, **params, steps=1)
    one_ta = _run(f"torchattacks.{name}", model, x, y, **params, steps=1)
    assert float((one_native - one_ta).abs().max()) <= ATOL  # the [0, 1] map is exact up to rounding
    with torch.no_grad():
        loss = [torch.nn.functional.cross_entropy(model(z), y, reduction="none") for z in (x, native, ta)]
    assert torch.all(loss[1] > loss[0])  # the attack raised every example's loss
    assert torch.allclose(loss[1], loss[2], rtol=1e-3, atol=0)


def test_snr_pgd_agrees_with_art() -> None:
    """The SNR budget as ART per-example L2 eps arrays gives serbench's SNR PGD."""
    model = waveform_model()
    x, y = waveform_batch()
    params = {"eps": 20.0, "norm": "snr", "domain": "waveform", "random_start": False}
    native = _run("pgd", model, x, y, **params)
    assert float((native - x).abs().max()) > 0.01
    assert float((native - _run("art.pgd", model, x, y, **params)).abs().max()) <= 1e-5
    one = {**params, "steps": 1}
    assert float((_run("pgd", model, x, y, **one) - _run("art.pgd", model, x, y, **one)).abs().max()) <= ATOL


def test_random_start_is_seeded() -> None:
    """Random starts differ per seed and repeat per seed, in every implementation."""
    model = feature_model()
    x, y = feature_batch()
    for name in ("pgd", "art.pgd", "torchattacks.pgd"):
        a = _run(name, model, x, y, eps=0.05, steps=2, seed=1)
        b = _run(name, model, x, y, eps=0.05, steps=2, seed=1)
        c = _run(name, model, x, y, eps=0.05, steps=2, seed=2)
        d = _run(name, model, x, y, eps=0.05, steps=2, random_start=False)
        assert torch.equal(a, b), name
        assert not torch.equal(a, c) and not torch.equal(a, d), name
