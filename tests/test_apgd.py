"""Native APGD: the paper's schedule and losses, budgets in every domain and norm, strength, errors, seeding."""

from __future__ import annotations

import pytest
import torch
from test_attacks_setup import (
    feature_batch,
    feature_model,
    synthetic_task,
    trained_feature_model,
    waveform_batch,
    waveform_model,
)

import serbench
from serbench.attacks.apgd import APGD, checkpoints, dlr_loss
from serbench.attacks.padding import masked_generate, sample_mask
from serbench.models.cnn4 import CNN4


def _accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).double().mean())


def test_checkpoints_are_the_papers() -> None:
    """p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06); w_j = ceil(p_j * steps)."""
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]  # the reference code's marks at 100 steps
    assert checkpoints(200) == [44, 82, 114, 140, 160, 174, 186, 198]
    assert checkpoints(10) == [3, 5, 6, 7, 8, 9, 10]
    assert checkpoints(1) == [1]


def test_dlr_loss_by_hand_and_invariant() -> None:
    """DLR = -(z_y - max_{i!=y} z_i) / (z_pi1 - z_pi3); targeted: -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2);
    both unchanged by shifting and (positively) scaling the logits."""
    z = torch.tensor([[4.0, 1.0, 3.0, 0.0], [0.5, 2.0, 1.0, -1.0]])
    y, t = torch.tensor([0, 0]), torch.tensor([2, 1])
    untargeted = torch.tensor([-(4 - 3) / (4 - 1), -(0.5 - 2) / (2 - 0.5)])
    targeted = torch.tensor([-(4 - 3) / (4 - 0.5), -(0.5 - 2) / (2 - (0.5 - 1) / 2)])
    assert torch.allclose(dlr_loss(z, y, None), untargeted)
    assert torch.allclose(dlr_loss(z, y, t), targeted)
    for target in (None, t):
        assert torch.allclose(dlr_loss(3.0 * z - 7.0, y, target), dlr_loss(z, y, target), atol=1e-6)


@pytest.mark.parametrize("domain, norm, eps", [
    ("feature", "linf", 0.05), ("feature", "l2", 1.0),
    ("waveform", "linf", 0.01), ("waveform", "l2", 0.5), ("waveform", "snr", 20.0),
])
@pytest.mark.parametrize("loss, targeted", [("ce", False), ("dlr", False), ("dlr", True), ("ce", True)])
def test_inside_budget_every_domain_and_norm(domain: str, norm: str, eps: float, loss: str, targeted: bool) -> None:
    """The harness's own check passes, in the default bounds and (features) in a normalisation's wider box."""
    if domain == "feature":
        model, (x, y) = feature_model(), feature_batch()
        cases = [(x, None), (-1.5 + 4.0 * x, (-1.5, 2.5))]
    else:
        model, (x, y) = waveform_model(), waveform_batch()
        cases = [(x, None)]
    for xs, box in cases:
        attack = APGD(eps=eps, norm=norm, domain=domain, steps=6, loss=loss, targeted=targeted)
        attack.threat = attack.threat.with_bounds(box)
        x_adv = attack.generate(model, xs, y)
        serbench.check_budget("apgd", attack.threat, xs, x_adv)
        assert x_adv.shape == xs.shape and x_adv.dtype == xs.dtype and not x_adv.requires_grad


def test_stronger_than_pgd_with_the_same_steps() -> None:
    """On a trained model, APGD with PGD's step count leaves fewer utterances correct (both 20 steps)."""
    model = trained_feature_model()
    x, y = synthetic_task(64, seed=5)
    assert _accuracy(model, x, y) == 1.0
    apgd = _accuracy(model, serbench.get("attacks", "apgd", eps=0.14, steps=20).generate(model, x, y), y)
    pgd = _accuracy(model, serbench.get("attacks", "pgd", eps=0.14, steps=20).generate(model, x, y), y)
    assert apgd < pgd, (apgd, pgd)  # measured: 0.22 against 0.52


def test_dlr_needs_three_classes_targeted_four() -> None:
    x, y = feature_batch()
    two, three = CNN4(num_classes=2, width=0.125).eval(), CNN4(num_classes=3, width=0.125).eval()
    with pytest.raises(serbench.SerbenchError, match=r"attack 'apgd': the DLR loss needs at least 3 classes") as e:
        APGD(eps=0.05, loss="dlr", steps=2).generate(two, x, y % 2)
    assert "\n" not in str(e.value)
    with pytest.raises(serbench.SerbenchError, match=r"targeted DLR loss needs at least 4 classes, the model has 3"):
        APGD(eps=0.05, loss="dlr", targeted=True, steps=2).generate(three, x, y % 3)
    APGD(eps=0.05, loss="dlr", steps=2).generate(three, x, y % 3)  # enough classes: runs
    APGD(eps=0.05, loss="ce", targeted=True, steps=2).generate(two, x, y % 2)


@pytest.mark.parametrize("params, match", [
    ({"loss": "hinge"}, "loss must be one of ce, dlr"), ({"steps": 0}, "steps must be a positive integer"),
    ({"n_restarts": 1.5}, "'n_restarts' expects int"), ({"targeted": "yes"}, "'targeted' expects bool"),
    ({"norm": "l1"}, "unknown norm"),
])
def test_bad_parameters_are_one_line_errors(params: dict, match: str) -> None:
    with pytest.raises(serbench.SerbenchError, match=match):
        serbench.get("attacks", "apgd", eps=0.1, **params)
    with pytest.raises(serbench.SerbenchError, match="attack 'apgd': targeted must be true or false"):
        APGD(eps=0.1, targeted=1)


def test_seeded() -> None:
    model = trained_feature_model()
    x, y = synthetic_task(16, seed=5)
    run = lambda **kw: serbench.get("attacks", "apgd", eps=0.1, steps=5, **kw).generate(model, x, y)  # noqa: E731
    assert torch.equal(run(seed=3), run(seed=3))
    assert not torch.equal(run(seed=3), run(seed=4))


def test_wrong_on_clean_left_alone_and_restarts_only_on_the_rest() -> None:
    """Utterances the model already gets wrong come back unchanged; every other one moved."""
    model = feature_model()
    x, y = feature_batch()
    with torch.no_grad():
        right = model(x).argmax(1) == y
    assert 0 < int(right.sum()) < len(y)  # the set-up has both kinds
    x_adv = APGD(eps=0.05, steps=4, n_restarts=2).generate(model, x, y)
    moved = (x_adv - x).flatten(1).abs().amax(1) > 0
    assert torch.equal(moved, right)


def test_padded_batch_through_the_gate() -> None:
    """The harness attacks a padded batch through a padding gate built for the whole batch; APGD attacks only
    the rows it classifies correctly, on a gate rebuilt for those rows, and never touches the padding."""
    model = waveform_model()
    x, y = waveform_batch()
    lengths = torch.tensor([4096, 3000, 4096, 2500, 4096, 3500, 1800, 4096])
    mask = sample_mask(lengths, x.shape[1])
    x = x * mask
    with torch.no_grad():
        right = model(x).argmax(1) == y
    assert 0 < int(right.sum()) < len(y)  # a subset of rows is attacked
    for norm, eps in (("linf", 0.01), ("snr", 20.0)):
        attack = APGD(eps=eps, norm=norm, domain="waveform", steps=4, n_restarts=2)
        x_adv = masked_generate(attack, model, x, y, mask)
        serbench.check_budget("apgd", attack.threat, x, x_adv)
        assert torch.equal(x_adv[~mask], x[~mask])
        assert float((x_adv - x).abs().max()) > 0
