"""Emotion classifiers on self-supervised speech encoders: ``ssl.wav2vec2``, ``ssl.hubert``, ``ssl.wavlm``, ``ssl.hf``.

Heads (``head``):

- ``probe`` (SUPERB, EmoBox): the whole encoder, CNN feature extractor included, is frozen and kept in eval mode;
  a learnable softmax-weighted sum of all hidden states (the projected CNN features and every layer's output),
  mean-pooled over the valid frames, feeds the linear head ``fc``.
- ``finetune``: the encoder trains too (the CNN feature extractor stays frozen while ``freeze_feature_extractor``,
  as in wav2vec 2.0 fine-tuning); the ``*-finetune`` variants pool the last layer (``pool_layers: last``), and
  ``pool_layers: weighted`` pools the weighted sum as the probe does.

Input: (B, samples) 16 kHz waveforms in [-1, 1], each row zero-padded at its end; ``serbench.active_lengths`` finds
each row's length, and every step (normalisation, CNN statistics, attention, pooling) sees the valid part only, so a
row's logits do not depend on its padding. Rows shorter than the 25 ms receptive field are zero-padded up to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from serbench import SerbenchError, WaveformModel, active_lengths, component

from serbench_ssl import checkpoints, encoder

HEADS = ("probe", "finetune")
POOL_LAYERS = ("weighted", "last")
NORMALIZE_EPS = 1e-7  # Hugging Face's Wav2Vec2FeatureExtractor: (x - mean) / sqrt(var + 1e-7)

PAPERS = {
    "wav2vec2": "Baevski et al., wav2vec 2.0: A Framework for Self-Supervised Learning of Speech Representations, "
                "NeurIPS 2020",
    "hubert": "Hsu et al., HuBERT: Self-Supervised Speech Representation Learning by Masked Prediction of Hidden "
              "Units, IEEE/ACM TASLP 2021",
    "wavlm": "Chen et al., WavLM: Large-Scale Self-Supervised Pre-Training for Full Stack Speech Processing, "
             "IEEE JSTSP 2022",
}
PROBE_PAPER = "Yang et al., SUPERB, Interspeech 2021; Ma et al., EmoBox, Interspeech 2024 (probe protocol)"


def normalize(wave: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Per-utterance zero mean, unit variance over each row's active samples; padding stays exactly zero."""
    valid = encoder.frame_mask(lengths, wave.shape[-1]).to(wave.dtype)
    count = lengths.to(wave.dtype)[:, None]
    mean = (wave * valid).sum(-1, keepdim=True) / count
    var = (((wave - mean) * valid) ** 2).sum(-1, keepdim=True) / count
    return (wave - mean) * torch.rsqrt(var + NORMALIZE_EPS) * valid


def _variants(sizes: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for size in sizes:
        out[size] = {"size": size, "head": "probe", "pool_layers": "weighted"}
        out[f"{size}-finetune"] = {"size": size, "head": "finetune", "pool_layers": "last"}
    return out


class _SSLModel(WaveformModel):
    """Shared by every ssl.* model: the pooling, the heads, freezing and the train/eval rule of the probe."""

    sample_rate = 16000
    # The cell key holds the weights' sha256 (content_fingerprint), not where they lie.
    location_params: ClassVar[tuple[str, ...]] = ("checkpoint",)

    component_name: ClassVar[str] = "ssl"  # the entry point's name, for messages

    @classmethod
    def _owner(cls) -> str:
        return f"model {cls.component_name!r}"

    @classmethod
    def _check_common(cls, params: dict[str, Any]) -> None:
        super().check_params(params)
        owner = cls._owner()
        for key, allowed in (("head", HEADS), ("pool_layers", POOL_LAYERS)):
            if key in params and params[key] not in allowed:
                raise SerbenchError(f"{owner}: {key} must be one of {', '.join(allowed)}, got {params[key]!r}")
        norm = params.get("normalize_waveform")
        if norm is not None and not isinstance(norm, bool):
            raise SerbenchError(f"{owner}: normalize_waveform must be true, false or null (the weights' own "
                                f"convention), got {norm!r}")

    def _setup(self, backbone: nn.Module, num_classes: int, head: str, pool_layers: str, normalize_waveform: bool,
               freeze_feature_extractor: bool) -> None:
        """Attach the encoder, the layer weights and ``fc`` (built last: its initial weights are the last draws)."""
        self.backbone = backbone
        self.encoder_shape = encoder.shape_of(backbone)
        self.head, self.pool_layers, self.normalize_waveform = head, pool_layers, bool(normalize_waveform)
        if pool_layers == "weighted":  # softmax(zeros): the plain average of all hidden states at first
            self.layer_weights = nn.Parameter(torch.zeros(self.encoder_shape.num_layers + 1))
        if head == "probe":
            self.backbone.requires_grad_(False)
        elif freeze_feature_extractor:
            self.backbone.feature_extractor.requires_grad_(False)
        self.add_head(self.encoder_shape.embed_dim, num_classes)
        self.train(self.training)

    def train(self, mode: bool = True) -> _SSLModel:
        """A probe's encoder stays in eval mode (no dropout) while the head trains, as in SUPERB."""
        super().train(mode)
        if getattr(self, "head", None) == "probe":
            self.backbone.eval()
        return self

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, samples) waveforms -> (B, embed_dim): hidden states pooled over layers and over valid frames."""
        if x.dim() != 2:
            raise SerbenchError(f"{self._owner()}: expected (batch, samples) waveforms, got shape {tuple(x.shape)}")
        lengths = active_lengths(x)
        field = self.encoder_shape.receptive_field
        if x.shape[-1] < field:
            x = F.pad(x, (0, field - x.shape[-1]))
        lengths = lengths.clamp_min(field)
        if self.normalize_waveform:
            x = normalize(x, lengths)
        states, valid = encoder.hidden_states(self.backbone, x, lengths)
        if self.pool_layers == "weighted":
            weights = torch.softmax(self.layer_weights, dim=0)
            h = weights[0] * states[0]
            for w, state in zip(weights[1:], states[1:]):
                h = h + w * state
        else:
            h = states[-1]
        mask = valid[..., None].to(h.dtype)
        return (h * mask).sum(dim=1) / mask.sum(dim=1)


class _EncoderModel(_SSLModel):
    """ssl.<arch>: a torchaudio encoder of a named size, weights from ``checkpoint`` or ``$SERBENCH_SSL_CHECKPOINTS``.

    ``checkpoint``: a torchaudio state-dict file or a local Hugging Face directory; ``random`` builds an untrained
    encoder (cost measurements); empty: ``<arch>-<size>.pt`` (or ``<arch>-<size>/``) in ``$SERBENCH_SSL_CHECKPOINTS``,
    else random for ``tiny`` and an error for base/large. ``normalize_waveform`` null: what the weights expect
    (torchaudio's bundles; a Hugging Face directory's ``do_normalize``).
    """

    arch: ClassVar[str]

    def __init__(self, num_classes: int = 4, size: str = "tiny", head: str = "probe", checkpoint: str = "",
                 pool_layers: str = "weighted", normalize_waveform: bool | None = None,
                 freeze_feature_extractor: bool = True, dropout: float = 0.1):
        super().__init__()
        params = dict(num_classes=num_classes, size=size, head=head, checkpoint=checkpoint, pool_layers=pool_layers,
                      normalize_waveform=normalize_waveform, dropout=dropout)
        self.check_params(params)
        owner = self._owner()
        path = self._locate(params)
        if path is not None and path.is_dir():
            backbone, _ = checkpoints.import_hf(owner, path, self.arch, dropout)
            default_norm = checkpoints.hf_normalize(path, checkpoints.hf_config(owner, path))
        else:
            backbone = encoder.build(self.arch, size, dropout)
            if path is not None:
                checkpoints.load_into(owner, backbone, path, f"{self.arch} size {size}")
            default_norm = encoder.NORMALIZE_DEFAULT[(self.arch, size)]
        self.size, self.checkpoint_path = size, path
        self._setup(backbone, num_classes, head, pool_layers,
                    default_norm if normalize_waveform is None else normalize_waveform, freeze_feature_extractor)

    @classmethod
    def _locate(cls, params: dict[str, Any]) -> Path | None:
        return checkpoints.locate(cls._owner(), cls.arch, params.get("size", "tiny"), params.get("checkpoint") or None)

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> None:
        """Refuse an unknown size/head, and a base/large size whose weights cannot be found (before any compute)."""
        cls._check_common(params)
        size = params.get("size", "tiny")
        if size not in encoder.sizes(cls.arch):
            raise SerbenchError(f"{cls._owner()}: size must be one of {', '.join(encoder.sizes(cls.arch))}, "
                                f"got {size!r}")
        path = cls._locate(params)
        if path is not None and path.is_dir():
            config = checkpoints.hf_config(cls._owner(), path)
            found = checkpoints.HF_TYPES.get(str(config.get("model_type")))
            if found != cls.arch:
                raise SerbenchError(f"{cls._owner()}: {path} holds a {config.get('model_type')} model, not "
                                    f"{cls.arch}; use ssl.{found} or ssl.hf" if found else
                                    f"{cls._owner()}: {path} holds a {config.get('model_type')} model; torchaudio "
                                    f"converts {', '.join(checkpoints.HF_TYPES)} only")

    @classmethod
    def content_fingerprint(cls, params: dict[str, Any]) -> str | None:
        """sha256 of the weights this cell loads (None: random initialisation)."""
        return checkpoints.fingerprint(cls._locate(params))


@component(name="ssl.wav2vec2", summary="wav2vec 2.0 encoder (torchaudio) + SER head: frozen probe or fine-tuned",
           paper=PAPERS["wav2vec2"] + "; " + PROBE_PAPER, tags=("ssl", "waveform", "transformer"),
           variants=_variants(encoder.sizes("wav2vec2")))
class Wav2Vec2SER(_EncoderModel):
    __doc__ = _EncoderModel.__doc__
    arch = "wav2vec2"
    component_name = "ssl.wav2vec2"


@component(name="ssl.hubert", summary="HuBERT encoder (torchaudio) + SER head: frozen probe or fine-tuned",
           paper=PAPERS["hubert"] + "; " + PROBE_PAPER, tags=("ssl", "waveform", "transformer"),
           variants=_variants(encoder.sizes("hubert")))
class HuBERTSER(_EncoderModel):
    __doc__ = _EncoderModel.__doc__
    arch = "hubert"
    component_name = "ssl.hubert"


@component(name="ssl.wavlm", summary="WavLM encoder (torchaudio) + SER head: frozen probe or fine-tuned",
           paper=PAPERS["wavlm"] + "; " + PROBE_PAPER, tags=("ssl", "waveform", "transformer"),
           variants=_variants(encoder.sizes("wavlm")))
class WavLMSER(_EncoderModel):
    __doc__ = _EncoderModel.__doc__
    arch = "wavlm"
    component_name = "ssl.wavlm"


@component(name="ssl.hf", summary="A local Hugging Face wav2vec2/HuBERT/WavLM directory (via torchaudio) + SER head",
           paper=PROBE_PAPER, tags=("ssl", "waveform", "transformer", "huggingface"),
           variants={"probe": {"head": "probe", "pool_layers": "weighted"},
                     "finetune": {"head": "finetune", "pool_layers": "last"}})
class HuggingFaceSER(_SSLModel):
    """ssl.hf: ``path`` is a local Hugging Face model directory (``save_pretrained``); needs ``transformers``.

    Converted with torchaudio's ``import_huggingface_model``; ``normalize_waveform`` null follows the directory's
    ``preprocessor_config.json`` (``do_normalize``). Nothing is downloaded.
    """

    location_params: ClassVar[tuple[str, ...]] = ("path",)
    component_name = "ssl.hf"

    def __init__(self, num_classes: int = 4, path: str = "", head: str = "probe", pool_layers: str = "weighted",
                 normalize_waveform: bool | None = None, freeze_feature_extractor: bool = True,
                 dropout: float = 0.1):
        super().__init__()
        params = dict(num_classes=num_classes, path=path, head=head, pool_layers=pool_layers,
                      normalize_waveform=normalize_waveform, dropout=dropout)
        self.check_params(params)
        owner = self._owner()
        where = self._locate(params)
        backbone, self.arch = checkpoints.import_hf(owner, where, None, dropout)
        self.checkpoint_path = where
        default_norm = checkpoints.hf_normalize(where, checkpoints.hf_config(owner, where))
        self._setup(backbone, num_classes, head, pool_layers,
                    default_norm if normalize_waveform is None else normalize_waveform, freeze_feature_extractor)

    @classmethod
    def _locate(cls, params: dict[str, Any]) -> Path:
        raw = params.get("path") or ""
        if not raw:
            raise SerbenchError(f"{cls._owner()} needs path: a local Hugging Face model directory "
                                f"(config.json and weights, as save_pretrained writes)")
        path = Path(raw).expanduser()
        if not path.is_dir():
            raise SerbenchError(f"{cls._owner()}: path {path} is not a directory; give a local Hugging Face model "
                                f"directory (config.json and weights)")
        return path

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> None:
        """Refuse a bad head, a missing directory and a model type torchaudio cannot convert."""
        cls._check_common(params)
        path = cls._locate(params)
        config = checkpoints.hf_config(cls._owner(), path)
        if config.get("model_type") not in checkpoints.HF_TYPES:
            raise SerbenchError(f"{cls._owner()}: {path} holds a {config.get('model_type')!r} model; torchaudio "
                                f"converts {', '.join(checkpoints.HF_TYPES)} only")

    @classmethod
    def content_fingerprint(cls, params: dict[str, Any]) -> str | None:
        """sha256 over the directory's config and weight files (not its location)."""
        return checkpoints.fingerprint(cls._locate(params))
