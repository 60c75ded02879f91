"""serbench-ssl pretrained weights (issue #17): loading from ``checkpoint:`` and ``$SERBENCH_SSL_CHECKPOINTS``, cell
keys that follow the weights' content and not their path, one-line errors, and real Hugging Face directories
(tiny random ``transformers`` configs written with ``save_pretrained``; skipped without transformers)."""

from __future__ import annotations

import json
import shutil
import sys

import pytest
import torch
from serbench_ssl.checkpoints import ENV

import serbench
from serbench import SerbenchError


@pytest.fixture(autouse=True)
def _no_checkpoint_folder(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)


def build(name: str, seed: int = 0, **params) -> torch.nn.Module:
    resolved = serbench.resolve("models", name, params)
    torch.manual_seed(seed)
    return resolved.info.factory(**resolved.params).eval()


def identity(name: str, **params) -> dict:
    return serbench.resolve("models", name, params).identity()


def wave_batch() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    batch = 0.1 * torch.randn(2, 12000, generator=g)
    batch[0, 8000:] = 0
    return batch


def saved_encoder(path, arch: str = "wav2vec2", seed: int = 11, prefix: str = "", extra: dict | None = None):
    """A tiny encoder's torchaudio state dict, as ``torch.save(bundle.get_model().state_dict())`` writes one."""
    donor = build(f"ssl.{arch}.tiny", seed=seed)
    state = {prefix + k: v for k, v in donor.backbone.state_dict().items()}
    torch.save({**state, **(extra or {})}, path)
    return donor


@pytest.mark.parametrize("arch", ["wav2vec2", "wavlm"])
def test_checkpoint_and_folder_load_the_same_weights(tmp_path, monkeypatch, arch):
    donor = saved_encoder(tmp_path / "weights.pt", arch)
    batch = wave_batch()
    explicit = build(f"ssl.{arch}.tiny", checkpoint=str(tmp_path / "weights.pt"))
    random = build(f"ssl.{arch}.tiny")
    donor_state = donor.backbone.state_dict()
    assert all(torch.equal(v, donor_state[k]) for k, v in explicit.backbone.state_dict().items())
    folder = tmp_path / "folder"
    folder.mkdir()
    shutil.copy(tmp_path / "weights.pt", folder / f"{arch}-tiny.pt")
    monkeypatch.setenv(ENV, str(folder))
    from_folder = build(f"ssl.{arch}.tiny")
    with torch.no_grad():
        logits = explicit(batch)
        assert torch.equal(logits, from_folder(batch))
        assert not torch.allclose(logits, random(batch))
    # the head is drawn after the encoder, from the same seed: only the encoder came from the file
    assert torch.equal(explicit.fc.weight, random.fc.weight)


def test_bundle_wrapper_prefix_and_asr_head_are_accepted(tmp_path):
    plain = tmp_path / "plain.pt"
    wrapped = tmp_path / "wrapped.pt"
    saved_encoder(plain)
    saved_encoder(wrapped, prefix="model.", extra={"model.aux.weight": torch.zeros(3, 32),
                                                   "model.aux.bias": torch.zeros(3)})
    with torch.no_grad():
        assert torch.equal(build("ssl.wav2vec2.tiny", checkpoint=str(plain))(wave_batch()),
                           build("ssl.wav2vec2.tiny", checkpoint=str(wrapped))(wave_batch()))


def test_key_follows_the_content_of_the_weights_not_their_path(tmp_path, monkeypatch):
    first, moved, other = tmp_path / "a.pt", tmp_path / "elsewhere" / "b.pt", tmp_path / "c.pt"
    saved_encoder(first, seed=1)
    moved.parent.mkdir()
    shutil.copy(first, moved)
    saved_encoder(other, seed=2)
    key_first = identity("ssl.wav2vec2.tiny", checkpoint=str(first))
    assert "checkpoint" not in key_first["params"] and len(key_first["content"]) == 64
    assert identity("ssl.wav2vec2.tiny", checkpoint=str(moved)) == key_first
    assert identity("ssl.wav2vec2.tiny", checkpoint=str(other)) != key_first
    assert identity("ssl.wav2vec2.tiny")["content"] is None  # random initialisation
    assert identity("ssl.wav2vec2.tiny", checkpoint="random")["content"] is None
    monkeypatch.setenv(ENV, str(moved.parent))
    shutil.move(moved, moved.parent / "wav2vec2-tiny.pt")
    assert identity("ssl.wav2vec2.tiny") == key_first  # the same weights through the folder: the same cells
    saved_encoder(moved.parent / "wav2vec2-tiny.pt", seed=3)  # new weights at the same path: new cells
    assert identity("ssl.wav2vec2.tiny")["content"] != key_first["content"]


def test_missing_weights_are_one_line_errors_naming_where_we_looked(tmp_path, monkeypatch):
    missing = tmp_path / "nope.pt"
    with pytest.raises(SerbenchError, match=f"checkpoint {missing} does not exist") as err:
        build("ssl.wav2vec2.tiny", checkpoint=str(missing))
    assert "\n" not in str(err.value)
    with pytest.raises(SerbenchError, match=f"checkpoint {missing} does not exist"):
        identity("ssl.hubert.base", checkpoint=str(missing))
    resolved = serbench.resolve("models", "ssl.wavlm.large")
    with pytest.raises(SerbenchError, match=f"{ENV} is not set") as err:
        resolved.info.factory.check_params(resolved.params)
    assert "checkpoint: random" in str(err.value) and "\n" not in str(err.value)
    monkeypatch.setenv(ENV, str(tmp_path))
    with pytest.raises(SerbenchError, match=f"{tmp_path / 'wavlm-large'}.pt"):
        resolved.info.factory.check_params(resolved.params)
    with pytest.raises(SerbenchError, match="wavlm-large"):
        identity("ssl.wavlm.large")


def test_checkpoints_that_do_not_fit_are_one_line_errors(tmp_path):
    saved_encoder(tmp_path / "wavlm.pt", arch="wavlm")
    with pytest.raises(SerbenchError, match=r"wavlm\.pt does not fit wav2vec2 size tiny") as err:
        build("ssl.wav2vec2.tiny", checkpoint=str(tmp_path / "wavlm.pt"))
    assert "\n" not in str(err.value)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(SerbenchError, match="cannot read checkpoint .*junk.pt") as err:
        build("ssl.wav2vec2.tiny", checkpoint=str(tmp_path / "junk.pt"))
    assert "\n" not in str(err.value)


# ---- Hugging Face directories ---------------------------------------------------------------------------------

TINY_HF = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, conv_dim=(32,) * 7,
               num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)


def hf_directory(path, kind: str = "wav2vec2", seed: int = 0, **config):
    """A tiny randomly initialised Hugging Face model written with ``save_pretrained``; returns the HF model."""
    transformers = pytest.importorskip("transformers")
    classes = {"wav2vec2": (transformers.Wav2Vec2Config, transformers.Wav2Vec2Model),
               "hubert": (transformers.HubertConfig, transformers.HubertModel),
               "wavlm": (transformers.WavLMConfig, transformers.WavLMModel)}
    extra = dict(num_buckets=32, max_bucket_distance=128) if kind == "wavlm" else {}
    config_class, model_class = classes[kind]
    torch.manual_seed(seed)
    model = model_class(config_class(**TINY_HF, **extra, **config)).eval()
    model.save_pretrained(str(path))
    return model


@pytest.mark.parametrize("kind,config", [("wav2vec2", {}), ("hubert", {}), ("wavlm", {}),
                                         ("wav2vec2", {"feat_extract_norm": "layer", "do_stable_layer_norm": True,
                                                       "conv_bias": True})])
def test_hf_directory_gives_transformers_own_hidden_states(tmp_path, kind, config):
    from serbench_ssl import encoder

    original = hf_directory(tmp_path / "hf", kind, **config)
    model = build("ssl.hf", path=str(tmp_path / "hf"))
    x = wave_batch()[1:]
    with torch.no_grad():
        reference = original(x, output_hidden_states=True)
        ours, _ = encoder.hidden_states(model.backbone, x, torch.tensor([x.shape[1]]))
    assert model.arch == kind and model.embedding_dim == 32
    for mine, theirs in zip(ours[:-1], reference.hidden_states[:-1]):
        assert torch.allclose(mine, theirs, atol=1e-5)
    assert torch.allclose(ours[-1], reference.last_hidden_state, atol=1e-5)
    assert model.normalize_waveform is (config.get("feat_extract_norm") == "layer")


def test_hf_directory_through_the_architecture_components_and_keys(tmp_path):
    hf_directory(tmp_path / "one", "wavlm", seed=1)
    shutil.copytree(tmp_path / "one", tmp_path / "copy")
    hf_directory(tmp_path / "two", "wavlm", seed=2)
    batch = wave_batch()
    with torch.no_grad():
        assert torch.equal(build("ssl.wavlm.tiny", checkpoint=str(tmp_path / "one"))(batch),
                           build("ssl.hf", path=str(tmp_path / "copy"))(batch))
    key = identity("ssl.hf", path=str(tmp_path / "one"))
    assert "path" not in key["params"] and key == identity("ssl.hf", path=str(tmp_path / "copy"))
    assert key["content"] != identity("ssl.hf", path=str(tmp_path / "two"))["content"]
    # the preprocessor's do_normalize decides the default normalisation, and is part of the key
    (tmp_path / "copy" / "preprocessor_config.json").write_text(json.dumps({"do_normalize": True}))
    assert build("ssl.hf", path=str(tmp_path / "copy")).normalize_waveform is True
    assert identity("ssl.hf", path=str(tmp_path / "copy")) != key
    with pytest.raises(SerbenchError, match="holds a wavlm model, not wav2vec2") as err:
        build("ssl.wav2vec2.base", checkpoint=str(tmp_path / "one"))
    assert "\n" not in str(err.value)
    with pytest.raises(SerbenchError, match="is not a directory"):
        build("ssl.hf", path=str(tmp_path / "absent"))
    with pytest.raises(SerbenchError, match="needs path"):
        identity("ssl.hf")


def test_hf_directory_without_transformers_says_how_to_install_it(tmp_path, monkeypatch):
    hf_directory(tmp_path / "hf")
    monkeypatch.setitem(sys.modules, "transformers", None)  # what an environment without it raises: ImportError
    with pytest.raises(SerbenchError, match="pip install transformers") as err:
        build("ssl.hf", path=str(tmp_path / "hf"))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name", ["ssl.hf", "ssl.hf.probe", "ssl.hf.finetune"])
def test_every_hf_variant_passes_serbench_validate_on_a_tiny_directory(tmp_path, name):
    from serbench.validation import validate_model

    hf_directory(tmp_path / "hf", "wav2vec2")
    report = validate_model(name, path=str(tmp_path / "hf"))
    assert report.ok, report.failures()


def test_a_glob_skips_encoders_that_need_weights_with_a_note_but_a_named_one_is_refused(monkeypatch):
    from serbench.bench.spec import parse_spec

    monkeypatch.delenv("SERBENCH_SSL_CHECKPOINTS", raising=False)
    spec = parse_spec({"dataset": {"name": "synthetic"}, "models": ["ssl.*"]}, "s.yaml")
    kept = {m.requested for m in spec.models}
    assert "ssl.wav2vec2.tiny" in kept and not kept & {"ssl.hf", "ssl.wavlm.base", "ssl.hubert.large-finetune"}
    assert any(n.startswith("models[0]: skipped 'ssl.wavlm.base'") and "SERBENCH_SSL_CHECKPOINTS" in n
               for n in spec.notes)
    with pytest.raises(SerbenchError, match=r"models\[0\].*ssl.wavlm.*needs pretrained weights"):
        parse_spec({"dataset": {"name": "synthetic"}, "models": ["ssl.wavlm.base"]}, "s.yaml")
