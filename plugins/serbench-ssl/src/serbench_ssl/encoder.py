"""Encoder shapes and a length-aware forward through torchaudio's ``Wav2Vec2Model``.

torchaudio's own ``extract_features(waveforms, lengths)`` is not padding invariant for these encoders: the
``group_norm`` feature extractor of the base models normalises each channel over the whole padded time axis, and
WavLM's attention refuses the attention mask it is handed. :func:`hidden_states` runs the same modules with the same
weights, but normalises over each row's valid frames only and masks padded keys in every attention layer, so a
row's hidden states on its valid frames do not depend on how far it is padded.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
import torchaudio
from torch import nn
from torch.nn import functional as F

ARCHS = ("wav2vec2", "hubert", "wavlm")

# torchaudio's builder per (arch, size); ``tiny`` is ours (below). Each builder takes the dropout keywords.
_BUILDERS = {
    ("wav2vec2", "base"): "wav2vec2_base",
    ("wav2vec2", "large"): "wav2vec2_large",
    ("wav2vec2", "large-lv60k"): "wav2vec2_large_lv60k",
    ("hubert", "base"): "hubert_base",
    ("hubert", "large"): "hubert_large",
    ("wavlm", "base"): "wavlm_base",
    ("wavlm", "large"): "wavlm_large",
}

# Whether the pretrained weights expect zero-mean unit-variance input: torchaudio's bundles' ``_normalize_waveform``
# (True for the layer_norm-extractor models: WAV2VEC2_LARGE_LV60K, HUBERT_LARGE, WAVLM_LARGE).
NORMALIZE_DEFAULT = {
    ("wav2vec2", "tiny"): False, ("wav2vec2", "base"): False, ("wav2vec2", "large"): False,
    ("wav2vec2", "large-lv60k"): True,
    ("hubert", "tiny"): False, ("hubert", "base"): False, ("hubert", "large"): True,
    ("wavlm", "tiny"): False, ("wavlm", "base"): False, ("wavlm", "large"): True,
}


def sizes(arch: str) -> tuple[str, ...]:
    """The sizes an architecture comes in, ``tiny`` first."""
    return ("tiny",) + tuple(size for a, size in _BUILDERS if a == arch)


# tiny: the real framing (20 ms hop, 25 ms receptive field) with narrow convs and a 2-layer, 32-wide transformer,
# so a model trains in seconds on a CPU. The group_norm extractor exercises the masked normalisation.
TINY_CONV = [(32, 10, 5)] + [(32, 3, 2)] * 4 + [(32, 2, 2)] * 2
TINY = dict(
    extractor_mode="group_norm", extractor_conv_layer_config=TINY_CONV, extractor_conv_bias=False,
    encoder_embed_dim=32, encoder_pos_conv_kernel=16, encoder_pos_conv_groups=4, encoder_num_layers=2,
    encoder_num_heads=2, encoder_ff_interm_features=64, encoder_layer_norm_first=False, aux_num_out=None,
)
TINY_WAVLM = dict(encoder_num_buckets=32, encoder_max_distance=128)


def build(arch: str, size: str, dropout: float) -> torchaudio.models.Wav2Vec2Model:
    """A randomly initialised torchaudio encoder (draws from torch's global generator).

    ``dropout`` goes to the projection, attention, feed-forward and output dropouts; layer drop is always 0
    (:func:`hidden_states` runs every layer: the probe's weighted sum needs them all).
    """
    drops = dict(encoder_projection_dropout=dropout, encoder_attention_dropout=dropout,
                 encoder_ff_interm_dropout=dropout, encoder_dropout=dropout, encoder_layer_drop=0.0)
    if size == "tiny":
        if arch == "wavlm":
            return torchaudio.models.wavlm_model(**TINY, **TINY_WAVLM, **drops)
        return torchaudio.models.wav2vec2_model(**TINY, **drops)
    return getattr(torchaudio.models, _BUILDERS[(arch, size)])(**drops)


@dataclass(frozen=True)
class Shape:
    """What pooling and the head need to know about an encoder."""

    embed_dim: int
    num_layers: int
    receptive_field: int  # samples one output frame sees: shorter input is zero-padded up to it


def shape_of(model: torchaudio.models.Wav2Vec2Model) -> Shape:
    blocks = list(model.feature_extractor.conv_layers)
    field, hop = 1, 1
    for block in blocks:
        field += (block.kernel_size - 1) * hop
        hop *= block.stride
    transformer = model.encoder.transformer
    return Shape(embed_dim=transformer.pos_conv_embed.embed_dim, num_layers=len(transformer.layers),
                 receptive_field=field)


def is_wavlm(model: nn.Module) -> bool:
    """WavLM layers take a key padding mask (and a relative position bias), wav2vec2/HuBERT an attention mask."""
    return type(model.encoder.transformer.layers[0].attention).__name__ == "WavLMSelfAttention"


def masked_group_norm(x: torch.Tensor, valid: torch.Tensor, norm: nn.GroupNorm) -> torch.Tensor:
    """``norm(x)`` with the statistics taken over each row's valid frames only (x: (B, C, T), valid: (B, T)).

    On an unpadded row it equals ``nn.GroupNorm`` (biased variance, eps inside the root); computed in at least
    float32, as autocast runs group norm.
    """
    dtype = torch.promote_types(x.dtype, torch.float32)
    b, c, t = x.shape
    g = norm.num_groups
    xg = x.to(dtype).reshape(b, g, c // g, t)
    m = valid.to(dtype)[:, None, None, :]
    count = m.sum(dim=(2, 3), keepdim=True).clamp_min(1.0) * (c // g)
    mean = (xg * m).sum(dim=(2, 3), keepdim=True) / count
    var = (((xg - mean) * m) ** 2).sum(dim=(2, 3), keepdim=True) / count
    y = ((xg - mean) * torch.rsqrt(var + norm.eps)).reshape(b, c, t)
    if norm.affine:
        y = y * norm.weight.to(dtype)[None, :, None] + norm.bias.to(dtype)[None, :, None]
    return y


def frame_mask(lengths: torch.Tensor, frames: int) -> torch.Tensor:
    return torch.arange(frames, device=lengths.device)[None, :] < lengths[:, None]


def hidden_states(model: torchaudio.models.Wav2Vec2Model, wave: torch.Tensor,
                  lengths: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """All hidden states of ``model`` on (B, samples) ``wave`` whose rows are valid up to ``lengths``.

    Returns ``[h_0, h_1, ..., h_L]`` (each (B, frames, embed_dim)) and the (B, frames) valid-frame mask: ``h_0`` is
    the projected CNN features after the positional convolution (and its layer norm in post-norm models), ``h_i``
    the output of layer i; the last one gets the final layer norm of pre-norm models (the large ones), as in
    torchaudio's ``forward`` and Hugging Face's ``last_hidden_state``.
    """
    x = wave.unsqueeze(1)
    length = lengths
    for block in model.feature_extractor.conv_layers:
        x = block.conv(x)
        length = torch.clamp_min(torch.div(length - block.kernel_size, block.stride, rounding_mode="floor") + 1, 0)
        if isinstance(block.layer_norm, nn.GroupNorm):
            x = masked_group_norm(x, frame_mask(length, x.shape[-1]), block.layer_norm)
        elif block.layer_norm is not None:  # per-frame layer norm over channels: padding cannot reach valid frames
            x = block.layer_norm(x)
        x = F.gelu(x)
    x = x.transpose(1, 2)  # (B, frames, channels)
    valid = frame_mask(length, x.shape[1])
    encoder = model.encoder
    x = encoder.feature_projection(x)
    x = x * valid[..., None].to(x.dtype)  # padded frames are zero, as past the end of an unpadded row
    transformer = encoder.transformer
    x = transformer._preprocess(x)
    states = [x]
    batch, frames = valid.shape
    if is_wavlm(model):
        # additive, in the position bias's float type (a boolean one is deprecated there); -inf: zero weight
        key_padding = torch.zeros(valid.shape, dtype=x.dtype, device=x.device).masked_fill(~valid, float("-inf"))
        mask = None
    else:  # boolean: True attends; padded keys get exactly zero weight
        mask, key_padding = valid[:, None, None, :].expand(batch, 1, frames, frames), None
    position_bias = None
    with warnings.catch_warnings():
        # WavLM under autocast: the position bias turns half precision while the padding mask is float32;
        # torch adds the two correctly but warns about the mixed types on every layer.
        warnings.filterwarnings("ignore", message="Support for mismatched key_padding_mask")
        for layer in transformer.layers:
            x, position_bias = layer(x, mask, position_bias=position_bias, key_padding_mask=key_padding)
            states.append(x)
    if not transformer.layer_norm_first:  # pre-norm encoder: the final layer norm comes after the layers
        states[-1] = transformer.layer_norm(states[-1])
    return states, valid
