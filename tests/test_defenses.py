"""Each defense trains as specified: equalities with standard training, gradients, augmentations, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import serbench
from serbench.defenses.base import TrainBatch
from serbench.engine.schedules import schedule
from serbench.engine.train import train
from serbench.errors import SerbenchError

SCHED = schedule("ren2020", iterations=12, eval_every=6, batch_size=8)


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(32, 1, 64, 24, generator=g)
    y = torch.arange(32) % 4
    return x, y, x[:8], y[:8]


def fit(defense_name: str, data, **params):
    torch.manual_seed(0)
    model = serbench.get("models", "cnn4.tiny", num_classes=4)
    defense = serbench.get("defenses", defense_name, **params)
    x, y, xv, yv = data
    train(model, defense, x, y, xv, yv, SCHED, seed=0, num_classes=4)
    return model, defense


def same_parameters(a, b) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_vanilla_with_a_one_equals_standard(data):
    standard, _ = fit("standard", data)
    vanilla, _ = fit("vanilla-adv", data, a=1.0, eps=0.05, start_iteration=0)
    assert same_parameters(standard, vanilla)
    adv, d = fit("vanilla-adv", data, a=0.5, eps=0.05, start_iteration=3)
    assert not same_parameters(standard, adv) and d.adversarial_batches == SCHED.iterations - 3


def test_adversarial_data_starts_at_the_configured_iteration(data):
    x, y, xv, yv = data
    runs = {}
    for name, params in (("standard", {}), ("vanilla-adv", {"eps": 0.05, "start_iteration": 6})):
        torch.manual_seed(0)
        d = serbench.get("defenses", name, **params)
        runs[name] = d, train(serbench.get("models", "cnn4.tiny", num_classes=4), d, x, y, xv, yv, SCHED, seed=0,
                              num_classes=4)
    (_, std), (adv_defense, adv) = runs["standard"], runs["vanilla-adv"]
    # Until start_iteration the loss is plain cross-entropy: the first evaluation (after 6 steps) is standard's.
    assert [std.history[0][k] for k in ("loss", "valid_uar")] == [adv.history[0][k] for k in ("loss", "valid_uar")]
    assert adv_defense.adversarial_batches == SCHED.iterations - 6 and adv_defense.first_defended_iteration() == 6
    assert adv.best_iteration == 12  # the checkpoint after 6 clean steps is standard training's: not a candidate
    with pytest.raises(SerbenchError, match="no checkpoint would be defended"):
        fit("vanilla-adv", data, eps=0.05, start_iteration=SCHED.iterations)


def test_mixup_with_lambda_one_equals_standard(data):
    standard, _ = fit("standard", data)
    mixed, _ = fit("mixup", data, lam=1.0)
    assert same_parameters(standard, mixed)
    assert not same_parameters(standard, fit("mixup", data, lam=0.7)[0])


def test_similarity_term_reaches_both_branches():
    torch.manual_seed(0)
    model = serbench.get("models", "cnn4.tiny", num_classes=4).train()
    defense = serbench.get("defenses", "similarity-adv", b=0.0, g=0.0, eps=0.05, start_iteration=0)
    x, y = torch.rand(4, 1, 64, 24), torch.tensor([0, 1, 2, 3])
    # With b = g = 0 the loss is the distance alone: it must move the embedding of x and of x'.
    x_req = x.clone().requires_grad_(True)
    v = model.forward_features(x_req)
    x_adv = defense.adversarial(TrainBatch(model, x, y, 0, torch.Generator())).requires_grad_(True)
    v_adv = model.forward_features(x_adv)
    ((v - v_adv).pow(2).sum(1) + 1e-12).sqrt().mean().backward()
    assert x_req.grad.abs().sum() > 0 and x_adv.grad.abs().sum() > 0
    loss = defense.loss(TrainBatch(model, x, y, 0, torch.Generator()))
    loss.backward()
    assert loss > 0
    conv = next(model.features.parameters())
    assert conv.grad is not None and conv.grad.abs().sum() > 0


def test_similarity_defaults_and_bad_weights():
    d = serbench.get("defenses", "similarity-adv")
    assert (d.b, d.g, d.start_iteration, d.attack.eps) == (0.4, 0.4, 1000, 0.01)
    assert d.similarity_on == "logits"  # Ren et al.: "the feature vectors in the final fully connected layer"
    with pytest.raises(SerbenchError, match="b \\+ g <= 1"):
        serbench.get("defenses", "similarity-adv", b=0.7, g=0.7)
    with pytest.raises(SerbenchError, match="similarity_on must be logits or embedding, got 'fc'"):
        serbench.get("defenses", "similarity-adv", similarity_on="fc")


@pytest.mark.parametrize("similarity_on", ["logits", "embedding"])
def test_similarity_distance_is_on_the_chosen_vectors(similarity_on):
    torch.manual_seed(0)
    model = serbench.get("models", "cnn4.tiny", num_classes=4).eval()  # eval: no dropout, fixed BN statistics
    d = serbench.get("defenses", "similarity-adv", b=0.0, g=0.0, eps=0.05, start_iteration=0,
                     similarity_on=similarity_on)
    x, y = torch.rand(4, 1, 64, 24), torch.tensor([0, 1, 2, 3])
    x_adv = d.adversarial(TrainBatch(model, x, y, 0, torch.Generator()))  # FGSM: the loss gets the same x'
    loss = d.loss(TrainBatch(model, x, y, 0, torch.Generator()))
    v, v_adv = model.forward_features(x), model.forward_features(x_adv)
    if similarity_on == "logits":
        v, v_adv = model.forward_head(v), model.forward_head(v_adv)
    assert v.shape[1] == 4 or similarity_on == "embedding"
    assert loss.item() == pytest.approx((v - v_adv).norm(dim=1).mean().item(), rel=1e-5)


def test_bim_step_rule_is_a_parameter_and_defaults_to_kurakin():
    torch.manual_seed(0)
    model = serbench.get("models", "cnn4.tiny", num_classes=4).eval()
    x, y = torch.rand(4, 1, 64, 24), torch.tensor([0, 1, 2, 3])
    assert serbench.info("attacks", "bim").defaults["alpha_rule"] == 1.25
    d = serbench.get("defenses", "vanilla-adv", attack="bim", eps=0.05, attack_params={"steps": 4, "alpha_rule": 2.5})
    pgd = serbench.get("attacks", "pgd", eps=0.05, steps=4, random_start=False)  # Madry et al.'s 2.5 eps / steps
    assert torch.equal(d.attack.generate(model, x, y), pgd.generate(model, x, y))
    kurakin = serbench.get("attacks", "bim", eps=0.05, steps=4, alpha=1.25 * 0.05 / 4)
    assert torch.equal(serbench.get("attacks", "bim", eps=0.05, steps=4).generate(model, x, y),
                       kurakin.generate(model, x, y))
    with pytest.raises(SerbenchError, match="alpha_rule .* must be a finite number > 0, got 0"):
        serbench.get("attacks", "bim", eps=0.05, alpha_rule=0)


def test_adversarial_generation_keeps_bn_statistics_and_mode():
    torch.manual_seed(0)
    model = serbench.get("models", "cnn4.tiny", num_classes=4).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    d = serbench.get("defenses", "pgd-adv", eps=0.05)
    d.adversarial(TrainBatch(model, torch.rand(4, 1, 64, 24), torch.tensor([0, 1, 2, 3]), 0, torch.Generator()))
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_speed_changes_duration_by_the_factor(factor):
    wave = np.sin(np.arange(16000) / 16000 * 2 * np.pi * 200).astype(np.float32)
    d = serbench.get("defenses", "speed", factors=[factor])
    waves, labels = d.expand_training_set([wave], [2], 16000, np.random.default_rng(0))
    assert labels == [2, 2] and waves[0] is wave
    assert len(waves[1]) == pytest.approx(16000 / factor, abs=2)
    default = serbench.get("defenses", "speed")
    assert len(default.expand_training_set([wave], [0], 16000, np.random.default_rng(0))[0]) == 3


def test_noise_augmentation_is_deterministic_and_noisy():
    wave = (0.3 * np.sin(np.arange(8000) / 16000 * 2 * np.pi * 200)).astype(np.float32)
    d = serbench.get("defenses", "noise-aug", min_snr_db=10.0, max_snr_db=10.0)
    a, _ = d.expand_training_set([wave], [0], 16000, np.random.default_rng(3))
    b, _ = d.expand_training_set([wave], [0], 16000, np.random.default_rng(3))
    assert np.array_equal(a[1], b[1])
    noise = a[1] - wave
    snr = 10 * np.log10(np.sum(wave**2) / np.sum(noise**2))
    assert snr == pytest.approx(10.0, abs=0.5)


def test_compose_chains_augmentations_and_refuses_two_losses(data):
    c = serbench.get("defenses", "compose", parts=[{"name": "mixup", "params": {"lam": 1.0}},
                                                   {"name": "speed", "params": {"factors": [0.9]}}])
    waves, labels = c.expand_training_set([np.ones(1600, np.float32)], [1], 16000, np.random.default_rng(0))
    assert len(waves) == 2 and labels == [1, 1]
    standard, _ = fit("standard", data)
    composed, _ = fit("compose", data, parts=[{"name": "mixup", "params": {"lam": 1.0}}, "speed"])
    assert same_parameters(standard, composed)  # speed acts on waveforms only; mixup l=1 is plain CE
    with pytest.raises(SerbenchError, match="at most one part may define the loss"):
        serbench.get("defenses", "compose", parts=["mixup", "vanilla-adv"])


def test_training_is_deterministic_from_the_seed(data):
    a, _ = fit("similarity-adv", data, eps=0.05, start_iteration=2)
    b, _ = fit("similarity-adv", data, eps=0.05, start_iteration=2)
    assert same_parameters(a, b)


def test_a_defense_with_its_own_loss_declares_it_and_compose_sees_it():
    from serbench.defenses.base import Defense

    class OwnLoss(Defense):
        def loss(self, batch):
            return super().loss(batch) * 2

    class Explicit(OwnLoss):
        changes_loss = False  # a subclass may say its loss is the plain one after all

    assert OwnLoss.changes_loss and not Explicit.changes_loss and not Defense.changes_loss
    assert [type(d).changes_loss for d in (serbench.get("defenses", n) for n in ("standard", "speed", "mixup",
                                                                                   "vanilla-adv"))] \
        == [False, False, True, True]
