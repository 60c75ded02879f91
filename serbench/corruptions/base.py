"""The corruption contract: a signal-dependent change of clean speech at one of five severities.

Where a :class:`~serbench.noises.base.Noise` only supplies a waveform that the harness adds at an SNR,
a corruption sees the clean signal (rooms, channels, codecs, level and time changes need it), as in
Hendrycks and Dietterich's ImageNet-C. Each corruption declares its severity ladder once, in
:attr:`Corruption.levels`: five sets of physical parameters (RT60 in seconds, a cut-off in Hz, a
bitrate in kbit/s, an SNR in dB, ...), the table ``docs/corruptions.md`` prints.

Randomness comes only from the generators the harness passes, one per utterance: the same
generator gives the same corrupted audio, and a batch gives row for row what each utterance gives
alone (the harness seeds every utterance by its id, never by its place in a batch).

Lengths: a batch is (B, T) with each row's speech in its first ``lengths[i]`` samples and zero
padding after them. A corruption sees and changes the speech only; :meth:`Corruption.apply` keeps
the output's length and silences the padding again, so padding never carries reverberation tails,
codec noise or added noise that a model could read.
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from serbench.attacks.padding import sample_mask
from serbench.errors import SerbenchError

SEVERITIES = (1, 2, 3, 4, 5)


class Corruption(abc.ABC):
    """Base class: declare :attr:`levels` (and :attr:`measure`) and implement :meth:`corrupt_one`, or
    :meth:`corrupt` for a batched, device-side implementation.

    ``levels[s - 1]`` holds severity ``s``'s physical parameters; ``measure`` names the quantity that
    grows (or falls) with severity, for documentation and the validator's monotonicity check.

    The contract the harness relies on (``serbench validate corruptions NAME`` checks it):

    - Construction: once per eval cell, with the spec's ``params`` over the defaults; the severity is not a
      parameter (the spec's ``severity`` list picks levels).
    - :meth:`apply` (which calls :meth:`corrupt`, by default :meth:`corrupt_one` per utterance) gets each
      length group of the partition: one generator per utterance from :func:`utterance_rngs` (train cell
      seed, corruption name, severity, utterance id). Return the same shape on the input's device; the
      result must depend only on the parameters, the severity, the generator and the speech, not on the
      batch or the device, because the corrupted features are cached and shared by every model of the
      front end.
    - Keys: a corruption cell's key, and that feature cache, hold the name, ``version``, distribution and
      its version, every resolved parameter and the severity; bump ``version`` whenever ``levels`` or the
      processing change.
    """

    levels: ClassVar[tuple[Mapping[str, Any], ...]] = ()
    measure: ClassVar[str] = ""

    def level(self, severity: int) -> Mapping[str, Any]:
        """The physical parameters of ``severity`` (1 = mildest .. ``len(levels)``)."""
        if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) or not (
                1 <= severity <= len(self.levels)):
            raise SerbenchError(f"{type(self).__name__}: severity must be an integer in 1..{len(self.levels)}, "
                                f"got {severity!r}")
        return self.levels[int(severity) - 1]

    def apply(self, waves: torch.Tensor, sample_rate: int, severity: int, rngs: Sequence[np.random.Generator],
              lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Corrupt a (B, T) batch at ``severity``: one generator per row, speech in each row's first
        ``lengths`` samples (all of it when None). Same shape and device; padding silent."""
        if waves.dim() != 2:
            raise SerbenchError(f"{type(self).__name__}: expected a (batch, samples) waveform, got "
                                f"{tuple(waves.shape)}")
        if len(rngs) != len(waves):
            raise SerbenchError(f"{type(self).__name__}: {len(rngs)} generators for {len(waves)} utterances")
        lengths = _lengths(waves, lengths)
        out = self.corrupt(waves, sample_rate, self.level(severity), rngs, lengths)
        if out.shape != waves.shape:
            raise SerbenchError(f"{type(self).__name__}: returned {tuple(out.shape)} for input {tuple(waves.shape)}")
        if not bool(torch.isfinite(out).all()):
            raise SerbenchError(f"{type(self).__name__}: severity {severity} produced NaN or Inf samples")
        return (out * speech_mask(lengths, waves.shape[-1], out.device)).to(waves.dtype)

    def corrupt(self, waves: torch.Tensor, sample_rate: int, params: Mapping[str, Any],
                rngs: Sequence[np.random.Generator], lengths: torch.Tensor) -> torch.Tensor:
        """The batch, corrupted with ``params``. By default each utterance's speech goes through
        :meth:`corrupt_one` on the CPU; override for an operation that runs batched on the device."""
        out = torch.zeros_like(waves)
        for i, (n, rng) in enumerate(zip(lengths.tolist(), rngs)):
            speech = waves[i, :n].detach().cpu().numpy().astype(np.float32)
            changed = np.asarray(self.corrupt_one(speech, sample_rate, params, rng), dtype=np.float32)
            if changed.shape != speech.shape:
                raise SerbenchError(f"{type(self).__name__}: corrupt_one returned {changed.shape[0]} samples for "
                                    f"{speech.shape[0]}; keep the utterance's length")
            out[i, :n] = torch.from_numpy(changed).to(out.device)
        return out

    def corrupt_one(self, speech: np.ndarray, sample_rate: int, params: Mapping[str, Any],
                    rng: np.random.Generator) -> np.ndarray:
        """One utterance's speech (float32, its own length), corrupted with ``params``; same length."""
        raise NotImplementedError(f"{type(self).__name__} implements neither corrupt nor corrupt_one")

    def distortion(self, clean: np.ndarray, corrupted: np.ndarray, sample_rate: int) -> float:
        """How far ``corrupted`` is from ``clean`` (one utterance's speech): it must not fall as severity rises,
        which ``serbench validate corruptions`` checks. Default: minus the signal-to-distortion ratio in dB;
        a family for which the waveform difference is no measure of severity (a pitch or tempo change)
        overrides it with one that is."""
        error = float(np.sum((corrupted.astype(np.float64) - clean) ** 2))
        return 10.0 * np.log10(max(error, 1e-20) / max(float(np.sum(clean.astype(np.float64) ** 2)), 1e-20))

    @classmethod
    def ladder(cls) -> list[dict[str, Any]]:
        """The severity table: ``[{"severity": s, **params}, ...]``."""
        return [{"severity": s, **dict(p)} for s, p in enumerate(cls.levels, 1)]


def _lengths(waves: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    if lengths is None:
        return torch.full((len(waves),), waves.shape[-1], dtype=torch.long)
    lengths = torch.as_tensor(lengths, dtype=torch.long).cpu()
    if lengths.shape != (len(waves),) or bool((lengths < 1).any()) or bool((lengths > waves.shape[-1]).any()):
        raise SerbenchError(f"corruption: lengths {tuple(lengths.shape)} must hold one count in 1.."
                            f"{waves.shape[-1]} per row of {tuple(waves.shape)}")
    return lengths


def speech_mask(lengths: torch.Tensor, num_samples: int, device: torch.device | str) -> torch.Tensor:
    """(B, ``num_samples``) booleans on ``device``, True over each row's speech (its first ``lengths[i]``
    samples): the attacks' :func:`~serbench.attacks.padding.sample_mask`."""
    return sample_mask(torch.as_tensor(lengths, device=device), num_samples)


def first_samples(samples: np.ndarray, num_samples: int) -> np.ndarray:
    """The first ``num_samples`` of ``samples`` (float32), zero-padded where it is shorter: how a corruption
    that changed an utterance's length (a codec's delay, a stretch) returns it at its own length."""
    out = np.zeros(num_samples, dtype=np.float32)
    out[:min(len(samples), num_samples)] = samples[:num_samples]
    return out


def speech_only(waves: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The batch with its padding zeroed: a batched filter then sees each row as it would alone."""
    return waves * speech_mask(lengths, waves.shape[-1], waves.device)


def match_rms(out: torch.Tensor, ref: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``out`` rescaled row by row to ``ref``'s RMS over the speech, for corruptions that should change
    the sound but not the level (reverberation, colouration); a silent row stays as it is."""
    mask = speech_mask(lengths, out.shape[-1], out.device)
    ref_power = (ref.to(out.device) * mask).pow(2).sum(-1, keepdim=True)
    out_power = (out * mask).pow(2).sum(-1, keepdim=True)
    gain = torch.where(out_power > 0, (ref_power / out_power.clamp_min(1e-30)).sqrt(), torch.ones_like(out_power))
    return out * gain


def utterance_rngs(seed: int, name: str, severity: int, ids: Sequence[str]) -> list[np.random.Generator]:
    """One generator per utterance from (seed, corruption, severity, utterance id): the corrupted audio
    of an utterance does not depend on the batch it is in or the order of the partition."""

    def entropy(uid: str) -> int:
        return int.from_bytes(hashlib.sha256(f"{seed}|{name}|{severity}|{uid}".encode()).digest()[:8], "little")

    return [np.random.default_rng(entropy(uid)) for uid in ids]
