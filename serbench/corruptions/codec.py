"""Codec corruptions: MP3, Opus and Vorbis round trips at falling bitrates, and packet loss with concealment.

The codecs are libsndfile's (through soundfile): MP3 by LAME and mpg123, Opus and Vorbis in Ogg. Every
round trip runs at ``CODEC_RATE`` (16 kHz; other corpora are resampled there and back), so a severity
means the same bitrate whatever the corpus. libsndfile's one quality knob, ``compression_level`` in
[0, 1], maps linearly to a bitrate for MP3 (constant bitrate, MPEG-2 layer III at 16 kHz: 160 - 152 x
level kbit/s) and Opus (6 + 250 x (1 - level) kbit/s); for Vorbis it is libvorbis' VBR quality
(1 - level). The decoded audio is aligned to the input by the lag of the cross-correlation peak within
``MAX_LAG_S`` (MP3's encoder and decoder delay, 1105 samples at 16 kHz, is not always removed by the
decoder), then cropped or zero-padded to the input's length. scipy is imported where it is called: registering the
corruptions (``serbench list``) must not load it.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import soundfile as sf
import torch

from serbench.corruptions.base import Corruption, first_samples, speech_only
from serbench.data.audio import resample
from serbench.errors import SerbenchError
from serbench.registry import register

CODEC_RATE = 16000
MAX_LAG_S = 0.15
# name -> (soundfile format, subtype)
CODECS = {"mp3": ("MP3", "MPEG_LAYER_III"), "opus": ("OGG", "OPUS"), "vorbis": ("OGG", "VORBIS")}


@lru_cache(maxsize=None)
def _round_trips(name: str) -> bool:
    """Whether libsndfile here lists the codec and really encodes and decodes 0.1 s with it."""
    fmt, subtype = CODECS[name]
    if subtype not in sf.available_subtypes(fmt):
        return False
    try:
        buffer = io.BytesIO()
        sf.write(buffer, np.zeros(CODEC_RATE // 10, dtype=np.float32), CODEC_RATE, format=fmt, subtype=subtype)
        buffer.seek(0)
        sf.read(buffer, dtype="float32")
    except Exception:  # libsndfile reports a missing encoder through several exception types
        return False
    return True


def available_codecs() -> list[str]:
    """The codecs of this module that this environment's libsndfile really has (for ``serbench doctor``)."""
    return [name for name in CODECS if _round_trips(name)]


def align(reference: np.ndarray, decoded: np.ndarray, max_lag: int) -> np.ndarray:
    """``decoded`` shifted by the lag (within +-``max_lag``) that best matches ``reference``, then cropped or
    zero-padded to its length."""
    from scipy.signal import correlate, correlation_lags

    corr = correlate(decoded, reference, mode="full", method="fft")
    lags = correlation_lags(len(decoded), len(reference), mode="full")
    window = np.abs(lags) <= max_lag
    lag = int(lags[window][np.argmax(corr[window])]) if np.any(corr[window]) else 0
    shifted = decoded[lag:] if lag >= 0 else np.concatenate([np.zeros(-lag, dtype=decoded.dtype), decoded])
    return first_samples(shifted, len(reference))


class SoundfileCodec(Corruption):
    """A lossy round trip through one of libsndfile's codecs (``codec``) at the severity's settings."""

    codec = ""

    def __init__(self) -> None:
        if not _round_trips(self.codec):
            fmt, subtype = CODECS[self.codec]
            raise SerbenchError(f"{self.codec}: libsndfile {sf.__libsndfile_version__} here cannot encode "
                                f"{fmt}/{subtype}; install a soundfile whose libsndfile has it (soundfile >= 0.12.1 "
                                f"wheels bundle libsndfile >= 1.2 with MP3, Opus and Vorbis)")

    def settings(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """soundfile.write's keyword arguments for a severity."""
        raise NotImplementedError

    def corrupt_one(self, speech: np.ndarray, sample_rate: int, params: Mapping[str, Any],
                    rng: np.random.Generator) -> np.ndarray:
        fmt, subtype = CODECS[self.codec]
        x = resample(speech, sample_rate, CODEC_RATE)
        buffer = io.BytesIO()
        sf.write(buffer, x, CODEC_RATE, format=fmt, subtype=subtype, **self.settings(params))
        buffer.seek(0)
        decoded, _ = sf.read(buffer, dtype="float32")
        y = align(x, decoded, int(MAX_LAG_S * CODEC_RATE))
        return first_samples(resample(y, CODEC_RATE, sample_rate), len(speech))


@register(
    "corruptions", "mp3", version="1.0",
    summary="MP3 round trip (LAME, constant bitrate at 16 kHz): 64 down to 8 kbit/s",
    tags=("codec", "lossy"),
)
class MP3(SoundfileCodec):
    """MPEG-2 layer III at 16 kHz, constant bitrate."""

    codec = "mp3"
    levels = ({"bitrate_kbps": 64}, {"bitrate_kbps": 32}, {"bitrate_kbps": 24}, {"bitrate_kbps": 16},
              {"bitrate_kbps": 8})
    measure = "SNR (dB) of the aligned output against the input, falling"

    def settings(self, params: Mapping[str, Any]) -> dict[str, Any]:
        # libsndfile: bitrate = int(160 - 152 * level) at 16-31 kHz; +0.5 keeps the truncation on the target
        level = (160.0 - float(params["bitrate_kbps"]) - 0.5) / 152.0
        return {"compression_level": min(max(level, 0.0), 1.0), "bitrate_mode": "CONSTANT"}


@register(
    "corruptions", "opus", version="1.0",
    summary="Opus round trip (Ogg, 16 kHz): 32 down to 6 kbit/s",
    tags=("codec", "lossy"),
)
class Opus(SoundfileCodec):
    """Opus at 16 kHz (one of the rates Opus takes), libopus' default (variable) bitrate mode."""

    codec = "opus"
    levels = ({"bitrate_kbps": 32}, {"bitrate_kbps": 16}, {"bitrate_kbps": 12}, {"bitrate_kbps": 8},
              {"bitrate_kbps": 6})
    measure = "SNR (dB) of the aligned output against the input, falling"

    def settings(self, params: Mapping[str, Any]) -> dict[str, Any]:
        # libsndfile: bitrate = int(6000 + 250000 * (1 - level)) bit/s per channel
        level = 1.0 - (float(params["bitrate_kbps"]) * 1000.0 - 6000.0 + 0.5) / 250000.0
        return {"compression_level": min(max(level, 0.0), 1.0)}


@register(
    "corruptions", "vorbis", version="1.0",
    summary="Vorbis round trip (Ogg, 16 kHz): VBR quality 0.5 down to 0 (about 41 down to 25 kbit/s)",
    tags=("codec", "lossy"),
)
class Vorbis(SoundfileCodec):
    """Vorbis at 16 kHz, libvorbis VBR quality (oggenc's -q 5, 3, 2, 1, 0). Vorbis does not go below
    about 25 kbit/s at 16 kHz mono, so its ladder is the mildest of the codecs."""

    codec = "vorbis"
    levels = ({"vbr_quality": 0.5}, {"vbr_quality": 0.3}, {"vbr_quality": 0.2}, {"vbr_quality": 0.1},
              {"vbr_quality": 0.0})
    measure = "SNR (dB) of the aligned output against the input, falling"

    def settings(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {"compression_level": 1.0 - float(params["vbr_quality"])}


@register(
    "corruptions", "packet-loss", version="1.0",
    summary="20 ms packets lost at random (2 to 30 %), concealed by repeating the last packet, fading",
    tags=("codec", "network"),
)
class PacketLoss(Corruption):
    """The speech cut into 20 ms packets; each packet is lost independently with the severity's
    probability (drawn from the generator). A lost packet is concealed by repeating the last received
    packet under a gain that falls linearly by half over each consecutive lost packet (1 to 0.5 over
    the first, 0.5 to 0.25 over the second, ...), so a burst fades out as a packet-loss concealer mutes
    it; before the first received packet there is silence. Batched on the waves' device.
    """

    levels = ({"loss_percent": 2}, {"loss_percent": 5}, {"loss_percent": 10}, {"loss_percent": 20},
              {"loss_percent": 30})
    measure = "share of the speech replaced by concealment, rising"
    packet_s = 0.02

    def distortion(self, clean: np.ndarray, corrupted: np.ndarray, sample_rate: int) -> float:
        """The share of samples the concealment replaced: the waveform error is no measure here, since a
        repeated packet of a periodic voice can be close to the lost one, and longer bursts fade out."""
        return float(np.mean(np.abs(corrupted.astype(np.float64) - clean) > 1e-6))

    def corrupt(self, waves: torch.Tensor, sample_rate: int, params: Mapping[str, Any],
                rngs: Sequence[np.random.Generator], lengths: torch.Tensor) -> torch.Tensor:
        batch, num_samples = waves.shape
        size = max(1, round(self.packet_s * sample_rate))
        count = math.ceil(num_samples / size)
        packets = torch.nn.functional.pad(speech_only(waves, lengths), (0, count * size - num_samples))
        packets = packets.view(batch, count, size)
        lost = torch.zeros(batch, count, dtype=torch.bool)
        for i, (n, rng) in enumerate(zip(lengths.tolist(), rngs)):
            own = math.ceil(n / size)  # the draws depend on the utterance alone, not on the batch's padding
            lost[i, :own] = torch.from_numpy(rng.random(own) < float(params["loss_percent"]) / 100.0)
        lost = lost.to(waves.device)
        index = torch.arange(count, device=waves.device).expand(batch, count)
        last = torch.where(lost, torch.full_like(index, -1), index).cummax(dim=1).values
        run = (index - last).to(waves.dtype)  # k for the k-th lost packet in a row
        fade = 0.5 ** (run.unsqueeze(-1) - 1 + torch.arange(size, device=waves.device, dtype=waves.dtype) / size)
        repeated = packets.gather(1, last.clamp(min=0).unsqueeze(-1).expand(batch, count, size))
        concealed = repeated * fade * (last >= 0).unsqueeze(-1)
        out = torch.where(lost.unsqueeze(-1), concealed, packets)
        return out.reshape(batch, count * size)[:, :num_samples]
