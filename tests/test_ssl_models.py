"""serbench-ssl models (issue #17): padding invariance, agreement with torchaudio, input gradients, freezing, and
every registered ssl variant built (base/large on the meta device: their real constructor, no memory, no weights).

All on CPU with the ``tiny`` encoders (2 layers, 32 wide, random weights); one untrained ``base`` is built once.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torchaudio
from serbench_ssl import encoder
from serbench_ssl.checkpoints import ENV

import serbench
from serbench import SerbenchError

ARCH_HEADS = [(arch, tag) for arch in encoder.ARCHS for tag in ("tiny", "tiny-finetune")]


def build(name: str, seed: int = 0, **params) -> torch.nn.Module:
    """A model as the harness builds it: resolved params (variant over defaults), constructed after the seed."""
    resolved = serbench.resolve("models", name, params)
    torch.manual_seed(seed)
    return resolved.info.factory(**resolved.params)


def padded_pair(seed: int = 0, short: int = 7000, long: int = 16000) -> tuple[torch.Tensor, torch.Tensor]:
    """A short row alone, and a batch holding it zero-padded beside a longer row."""
    g = torch.Generator().manual_seed(seed)
    a = 0.1 * torch.randn(1, short, generator=g)
    batch = torch.zeros(2, long)
    batch[0, :short] = a[0]
    batch[1] = 0.1 * torch.randn(long, generator=g)
    return a, batch


@pytest.fixture(autouse=True)
def _no_checkpoint_folder(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("arch,tag", ARCH_HEADS)
def test_logits_do_not_depend_on_padding(arch, tag, normalize):
    model = build(f"ssl.{arch}.{tag}", normalize_waveform=normalize).eval()
    a, batch = padded_pair()
    with torch.no_grad():
        alone, together = model(a), model(batch)
    assert together.shape == (2, model.num_classes)
    assert torch.allclose(alone[0], together[0], atol=1e-5), (alone[0] - together[0]).abs().max()


@pytest.mark.parametrize("arch", encoder.ARCHS)
def test_rows_shorter_than_the_receptive_field_are_padded_consistently(arch):
    model = build(f"ssl.{arch}.tiny").eval()
    a, batch = padded_pair(short=150, long=2000)
    with torch.no_grad():
        assert torch.allclose(model(a)[0], model(batch)[0], atol=1e-5)
        assert torch.isfinite(model(torch.zeros(3, 100))).all()  # silence: one frame of zeros, not NaN


def _tiny_layer_norm(arch: str) -> torchaudio.models.Wav2Vec2Model:
    """The large models' layout (layer-norm CNN with bias, pre-norm transformer) at tiny size."""
    config = dict(encoder.TINY, extractor_mode="layer_norm", extractor_conv_bias=True, encoder_layer_norm_first=True)
    drops = dict(encoder_projection_dropout=0.1, encoder_attention_dropout=0.1, encoder_ff_interm_dropout=0.1,
                 encoder_dropout=0.1, encoder_layer_drop=0.0)
    if arch == "wavlm":
        return torchaudio.models.wavlm_model(**config, **encoder.TINY_WAVLM, **drops)
    return torchaudio.models.wav2vec2_model(**config, **drops)


@pytest.mark.parametrize("layout", ["group_norm", "layer_norm"])
@pytest.mark.parametrize("arch", ["wav2vec2", "wavlm"])
def test_hidden_states_equal_torchaudio_on_unpadded_rows_and_ignore_padding(arch, layout):
    """Same weights, same numbers as torchaudio where torchaudio is right (no padding); with padding, the valid
    frames keep those numbers."""
    torch.manual_seed(3)
    model = (encoder.build(arch, "tiny", 0.1) if layout == "group_norm" else _tiny_layer_norm(arch)).eval()
    a, batch = padded_pair(seed=1, short=9000, long=15000)
    with torch.no_grad():
        ours, valid = encoder.hidden_states(model, a, torch.tensor([a.shape[1]]))
        reference, _ = model.extract_features(a)
        final, _ = model(a)
        padded, valid_b = encoder.hidden_states(model, batch, torch.tensor([a.shape[1], batch.shape[1]]))
    assert len(ours) == len(model.encoder.transformer.layers) + 1 and bool(valid.all())
    for mine, theirs in zip(ours[1:-1], reference[:-1]):
        assert torch.allclose(mine, theirs, atol=1e-5)
    assert torch.allclose(ours[-1], final, atol=1e-5)  # the last state is torchaudio's output (final norm included)
    frames = int(valid_b[0].sum())
    assert frames == ours[0].shape[1] and not bool(valid_b[0, frames:].any())
    for mine, in_batch in zip(ours, padded):
        assert torch.allclose(mine[0], in_batch[0, :frames], atol=1e-5)
    if layout == "group_norm" and arch != "wavlm":  # torchaudio's batched forward: the padding leaks in (the fix)
        with torch.no_grad():
            leaked, _ = model.extract_features(batch, torch.tensor([a.shape[1], batch.shape[1]]))
        assert (leaked[-1][0, :frames] - reference[-1][0]).abs().max() > 1e-3


@pytest.mark.parametrize("arch,tag", ARCH_HEADS)
def test_input_gradient_matches_central_differences(arch, tag):
    """eval mode, float64: the autograd input gradient through normalisation, CNN, attention and pooling agrees
    with (f(x + h v) - f(x - h v)) / 2h along random directions."""
    model = build(f"ssl.{arch}.{tag}", normalize_waveform=True).double().eval()
    g = torch.Generator().manual_seed(7)
    x = (0.1 * torch.randn(1, 3000, generator=g, dtype=torch.float64)).requires_grad_(True)
    weights = torch.randn(model.num_classes, generator=g, dtype=torch.float64)

    def f(inp: torch.Tensor) -> torch.Tensor:
        return (model(inp)[0] * weights).sum()

    (grad,) = torch.autograd.grad(f(x), x)
    assert grad.abs().sum() > 0
    h = 1e-6
    with torch.no_grad():
        for _ in range(3):
            v = torch.randn(x.shape, generator=g, dtype=torch.float64)
            numeric = (f(x + h * v) - f(x - h * v)) / (2 * h)
            analytic = (grad * v).sum()
            assert abs(numeric - analytic) <= 1e-4 * abs(analytic) + 1e-10, (numeric.item(), analytic.item())


@pytest.mark.parametrize("arch", encoder.ARCHS)
def test_probe_freezes_the_encoder_and_finetune_only_the_feature_extractor(arch):
    _, batch = padded_pair()
    labels = torch.tensor([0, 1])
    probe = build(f"ssl.{arch}.tiny").train()
    assert not probe.backbone.training, "a probe's encoder stays in eval mode (no dropout) while the head trains"
    torch.nn.functional.cross_entropy(probe(batch), labels).backward()
    assert all(p.grad is None and not p.requires_grad for p in probe.backbone.parameters())
    assert probe.layer_weights.grad is not None and probe.layer_weights.grad.abs().sum() > 0
    assert probe.fc.weight.grad.abs().sum() > 0
    with torch.no_grad():  # frozen, in eval mode: the training forward is deterministic too
        assert torch.equal(probe(batch), probe(batch))

    tuned = build(f"ssl.{arch}.tiny-finetune").train()
    assert tuned.backbone.training and not hasattr(tuned, "layer_weights")
    torch.nn.functional.cross_entropy(tuned(batch), labels).backward()
    assert all(p.grad is None for p in tuned.backbone.feature_extractor.parameters())
    encoder_grads = [p.grad for p in tuned.backbone.encoder.parameters()]
    assert encoder_grads and all(g is not None for g in encoder_grads)
    assert sum(g.abs().sum() for g in encoder_grads) > 0

    unfrozen = build(f"ssl.{arch}.tiny-finetune", freeze_feature_extractor=False).train()
    torch.nn.functional.cross_entropy(unfrozen(batch), labels).backward()
    assert all(p.grad is not None for p in unfrozen.backbone.feature_extractor.parameters())


@pytest.mark.parametrize("arch", encoder.ARCHS)
def test_construction_is_a_function_of_the_seed_and_copies_keep_logits(arch):
    one, two, other = build(f"ssl.{arch}.tiny", seed=4), build(f"ssl.{arch}.tiny", seed=4), build(
        f"ssl.{arch}.tiny", seed=5)
    state_one, state_two = one.state_dict(), two.state_dict()
    assert all(torch.equal(state_one[k], state_two[k]) for k in state_one)
    assert not torch.equal(state_one["fc.weight"], other.state_dict()["fc.weight"])
    _, batch = padded_pair()
    one.eval()
    with torch.no_grad():
        assert torch.equal(one(batch), copy.deepcopy(one)(batch))


def test_every_registered_ssl_variant_builds():
    """Each variant through its real constructor: tiny ones for real, base/large on the meta device with
    ``checkpoint: random`` (no memory, no weights), checking the published shapes."""
    expected = {  # (embed_dim, layers, millions of encoder parameters as published)
        ("wav2vec2", "base"): (768, 12, 94.4), ("wav2vec2", "large"): (1024, 24, 315.4),
        ("wav2vec2", "large-lv60k"): (1024, 24, 315.5),
        ("hubert", "base"): (768, 12, 94.4), ("hubert", "large"): (1024, 24, 315.5),
        ("wavlm", "base"): (768, 12, 94.4), ("wavlm", "large"): (1024, 24, 315.5),
    }
    assert {n for n in serbench.list_components("models", "ssl.*")} == {f"ssl.{a}" for a in encoder.ARCHS} | {"ssl.hf"}
    for arch in encoder.ARCHS:
        registered = set(serbench.info("models", f"ssl.{arch}").variants)
        assert registered == {t for size in encoder.sizes(arch) for t in (size, f"{size}-finetune")}
        for size in encoder.sizes(arch):
            for tag in (size, f"{size}-finetune"):
                name = f"ssl.{arch}.{tag}"
                if size == "tiny":
                    model = build(name, num_classes=5)
                else:
                    with torch.device("meta"):
                        model = build(name, num_classes=5, checkpoint="random")
                    dim, layers, millions = expected[(arch, size)]
                    assert (model.embedding_dim, model.encoder_shape.num_layers) == (dim, layers)
                    count = sum(p.numel() for p in model.backbone.parameters()) / 1e6
                    assert abs(count - millions) < 1.0, (name, count)
                assert model.encoder_shape.receptive_field == 400 and model.num_classes == 5
                assert model.input_kind == "waveform" and model.sample_rate == 16000
                assert model.head == ("finetune" if tag.endswith("-finetune") else "probe")


def test_untrained_base_is_padding_invariant():
    """One real base-size encoder (random weights: the shapes and the masking at scale)."""
    model = build("ssl.wav2vec2.base", checkpoint="random").eval()
    assert model.embedding_dim == 768 and model.normalize_waveform is False
    a, batch = padded_pair(short=5000, long=9000)
    with torch.no_grad():
        assert torch.allclose(model(a)[0], model(batch)[0], atol=1e-4)


@pytest.mark.parametrize("params,needle", [
    ({"size": "huge"}, "size must be one of tiny, base, large"),
    ({"head": "linear"}, "head must be one of probe, finetune"),
    ({"pool_layers": "max"}, "pool_layers must be one of weighted, last"),
    ({"normalize_waveform": "yes"}, "normalize_waveform must be true, false or null"),
    ({"dropout": 1.5}, "dropout must be in [0, 1)"),
])
def test_bad_params_are_one_line_errors(params, needle):
    resolved = serbench.resolve("models", "ssl.hubert", {})
    with pytest.raises(SerbenchError) as err:
        resolved.info.factory.check_params({**resolved.params, **params})
    assert needle in str(err.value) and "ssl.hubert" in str(err.value) and "\n" not in str(err.value)
