"""Augmentations: mixup on features, speed perturbation and noise on waveforms (Latif et al. 2020).

Waveform augmentations add copies of each training utterance once, before the
front end; mixup changes the loss of every mini-batch. Their random draws come
from generators derived from the run's seed, never from the trainer's own
generator, so adding an augmentation does not change the batch order.
"""

from __future__ import annotations

import random

import numpy as np
import torch
import torchaudio.functional as AF
from torch import nn

from serbench.defenses.base import Defense, TrainBatch
from serbench.errors import SerbenchError
from serbench.registry import register


@register(
    "defenses", "mixup", version="1.0",
    summary="Mixup on features: convex combinations of inputs and labels, l ~ Beta(alpha, alpha)",
    paper="Zhang et al., ICLR 2018; Latif et al., Interspeech 2020", tags=("augmentation",),
)
class Mixup(Defense):
    """x = l * x_i + (1 - l) * x_j with soft labels likewise, l ~ Beta(alpha, alpha) per batch (Zhang et al.).

    ``alpha`` (default 0.2) is an interpretation: Latif et al. (Interspeech 2020) mix spectrograms but
    give only "l in [0, 1]", not its distribution. The default follows mixup's authors (Zhang et al.,
    ICLR 2018), who draw l ~ Beta(alpha, alpha) with alpha in [0.1, 0.4] for ImageNet and 0.1 or 0.2
    for their speech experiment (Google commands spectrograms); 0.2 is the value shared by both. One
    l per mini-batch, pairs by a random permutation of the batch, as in their reference code.
    ``lam`` fixes l instead (``lam=1`` is standard training).
    """

    def __init__(self, alpha: float = 0.2, lam: float | None = None) -> None:
        if alpha <= 0:
            raise SerbenchError(f"defense 'mixup': alpha must be > 0, got {alpha}")
        if lam is not None and not 0 <= lam <= 1:
            raise SerbenchError(f"defense 'mixup': lam must be in [0, 1], got {lam}")
        self.alpha, self.lam = float(alpha), lam
        self._gen: torch.Generator | None = None
        self._rng: np.random.Generator | None = None

    def loss(self, batch: TrainBatch) -> torch.Tensor:
        if self._gen is None:  # derived from the trainer's seed without consuming its draws
            seed = batch.generator.initial_seed() + 7919
            self._gen, self._rng = torch.Generator().manual_seed(seed), np.random.default_rng(seed)
        lam = float(self._rng.beta(self.alpha, self.alpha)) if self.lam is None else float(self.lam)
        perm = torch.randperm(len(batch.x), generator=self._gen).to(batch.x.device)
        logits = batch.model(lam * batch.x + (1 - lam) * batch.x[perm])
        # Cross-entropy is linear in the target, so soft labels l*y_i + (1-l)*y_j give this exactly.
        return lam * nn.functional.cross_entropy(logits, batch.y) + \
            (1 - lam) * nn.functional.cross_entropy(logits, batch.y[perm])


@register(
    "defenses", "speed", version="1.0",
    summary="Speed perturbation: extra copies of each training utterance at factors 0.9 and 1.1",
    paper="Latif et al., Interspeech 2020", tags=("augmentation", "waveform"),
)
class SpeedPerturbation(Defense):
    """Extra copies of each training utterance at speed factors (0.9 and 1.1: Latif et al.), via torchaudio."""

    expands_training_set = True

    def __init__(self, factors: list[float] | None = None) -> None:
        self.factors = [0.9, 1.1] if factors is None else [float(f) for f in factors]
        if not self.factors or any(f <= 0 for f in self.factors):
            raise SerbenchError(f"defense 'speed': factors must be positive, got {self.factors}")

    @staticmethod
    def perturb(wave: np.ndarray, sample_rate: int, factor: float) -> np.ndarray:
        out, _ = AF.speed(torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))[None], sample_rate, factor)
        return out[0].numpy()

    def expand_training_set(self, waves, labels, sample_rate, rng):
        out_w, out_l = list(waves), list(labels)
        for f in self.factors:
            out_w += [self.perturb(w, sample_rate, f) for w in waves]
            out_l += list(labels)
        return out_w, out_l


@register(
    "defenses", "noise-aug", version="1.0",
    summary="Noise augmentation: coloured (and background) noise copies at random SNR (audiomentations)",
    tags=("augmentation", "waveform"),
)
class NoiseAugmentation(Defense):
    """Noisy copies of each training utterance: coloured noise at a random SNR (audiomentations), plus
    background noise from ``background_dir`` when given."""

    expands_training_set = True

    def __init__(self, min_snr_db: float = 5.0, max_snr_db: float = 30.0, copies: int = 1,
                 background_dir: str | None = None) -> None:
        from audiomentations import AddBackgroundNoise, AddColorNoise, Compose

        if min_snr_db > max_snr_db:
            raise SerbenchError("defense 'noise-aug': min_snr_db must not exceed max_snr_db")
        parts = [AddColorNoise(min_snr_db=min_snr_db, max_snr_db=max_snr_db, p=1.0)]
        if background_dir is not None:
            parts.append(AddBackgroundNoise(sounds_path=background_dir, min_snr_db=min_snr_db,
                                            max_snr_db=max_snr_db, p=0.5))
        self.transform = Compose(parts)
        self.copies = int(copies)

    def expand_training_set(self, waves, labels, sample_rate, rng):
        out_w, out_l = list(waves), list(labels)
        for _ in range(self.copies):
            for w, y in zip(waves, labels):
                # audiomentations draws from the global random and numpy generators: seed both from rng.
                s = int(rng.integers(2**31))
                random.seed(s)
                np.random.seed(s)
                out_w.append(self.transform(samples=np.asarray(w, dtype=np.float32), sample_rate=sample_rate))
                out_l.append(y)
        return out_w, out_l
