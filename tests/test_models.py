"""Every registered model (plugins installed in the environment included) passes the conformance check."""

from __future__ import annotations

import os
import re

import pytest
import torch
from torchvision import models as tvm

import serbench
from serbench.models.recurrent import SequenceLSTM, cudnn_allowed
from serbench.validation import validate_model

MODELS = serbench.list_components("models", variants=True)
BIG = {"vgg16", "resnet50", "cnn5"}  # paper-width models: fewer, shorter inputs keep the suite fast


# Pretrained-size encoders (serbench-ssl) build without weights only with ``checkpoint: random``: one is validated
# for real, the rest share its code at other sizes (their shapes are checked on the meta device in
# tests/test_ssl_models.py); SERBENCH_TEST_LARGE=1 validates every one (minutes each on a CPU).
PRETRAINED_SIZE = re.compile(r"^ssl\.[a-z0-9]+\.(base|large)")
VALIDATED_PRETRAINED_SIZE = "ssl.wav2vec2.base"


@pytest.mark.parametrize("name", MODELS)
def test_model_conforms(name):
    frames = (64, 100) if name in BIG else (64, 100, 256)
    params = {}
    if name.startswith("ssl.hf"):
        pytest.skip("needs a local Hugging Face directory: validated on a tiny one in tests/test_ssl_checkpoints.py")
    if PRETRAINED_SIZE.match(name):
        if name != VALIDATED_PRETRAINED_SIZE and not os.environ.get("SERBENCH_TEST_LARGE"):
            pytest.skip(f"same encoder code as {VALIDATED_PRETRAINED_SIZE} at another size (SERBENCH_TEST_LARGE=1)")
        params = {"checkpoint": "random"}
    report = validate_model(name, frames=frames, **params)
    assert report.ok, report.failures()


def _params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_vgg16_conv_stack_matches_torchvision():
    ours = serbench.get("models", "vgg16", num_classes=4).features
    ref = tvm.vgg16(weights=None).features
    assert [type(m) for m in ours] == [type(m) for m in ref]
    for a, b in zip(ours, ref):
        if isinstance(a, torch.nn.Conv2d) and a is not ours[0]:
            assert (a.in_channels, a.out_channels, a.kernel_size, a.padding) == \
                   (b.in_channels, b.out_channels, b.kernel_size, b.padding)
    # The only difference: the first conv sees 1 channel instead of RGB (64 x 2 x 3 x 3 fewer weights).
    assert _params(ref) - _params(ours) == 64 * 2 * 3 * 3
    assert _params(ours[1:]) == _params(ref[1:])


def test_resnet50_trunk_matches_torchvision():
    ours = serbench.get("models", "resnet50", num_classes=4).backbone
    ref = tvm.resnet50(weights=None)
    for layer in ("layer1", "layer2", "layer3", "layer4", "bn1"):
        assert _params(getattr(ours, layer)) == _params(getattr(ref, layer))
    assert [len(getattr(ours, f"layer{i}")) for i in range(1, 5)] == [3, 4, 6, 3]
    assert ref.conv1.weight.numel() - ours.conv1.weight.numel() == 64 * 2 * 7 * 7
    # No ImageNet head: features are 2048-d, the head maps them to the classes.
    assert _params(serbench.get("models", "resnet50", num_classes=4).fc) == 2048 * 4 + 4


def test_recurrent_models_avoid_cudnn_exactly_when_it_would_refuse():
    assert cudnn_allowed(training=True, grad_enabled=True, is_cuda=True)
    assert not cudnn_allowed(training=False, grad_enabled=True, is_cuda=True)  # attack on an eval model
    assert cudnn_allowed(training=False, grad_enabled=False, is_cuda=True)  # plain inference
    assert cudnn_allowed(training=False, grad_enabled=True, is_cuda=False)
    for name in ("cnn-lstm", "densenet-lstm", "densenet-lstm-highway"):
        model = serbench.get("models", name)
        lstms = [m for m in model.modules() if isinstance(m, torch.nn.LSTM)]
        wrapped = [m.lstm for m in model.modules() if isinstance(m, SequenceLSTM)]
        assert lstms and lstms == wrapped, f"{name} runs an LSTM outside SequenceLSTM"


def test_latif_model_structure():
    m = serbench.get("models", "densenet-lstm-highway")
    assert len(m.trunk.blocks) == 2 and all(len(b) == 6 for b in m.trunk.blocks)
    assert m.trunk.blocks[0][0].body[-1].out_channels == 24  # growth rate G = 24
    assert len(m.highway) == 3 and m.highway[0].h.out_features == 128
    assert m.dropout.p == 0.5
    d = serbench.get("models", "densenet")
    assert len(d.trunk.blocks) == 3 and d.trunk.blocks[0][0].body[-1].out_channels == 16 and d.embedding_dim == 1000


def test_small_variants_are_marked_as_not_the_paper(capsys):
    from serbench.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["list", "models", "--json"])
    assert exc.value.code == 0
    import json

    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert "not a paper's configuration" in rows["densenet-lstm-highway.small"]["summary"]
