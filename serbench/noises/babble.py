"""Babble: several talkers of a speech corpus speaking at once.

Talkers are utterances picked by the rng from a registered corpus (default
the embedded ``synthetic`` one, so babble works offline), each scaled to unit
RMS, looped from a random point to the requested length, and summed. When the
clean speech comes from the same corpus its speakers may be among the
talkers; pick another ``corpus`` (e.g. ``espeak.acted``) to keep them apart.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from serbench.data.audio import resample
from serbench.errors import SerbenchError
from serbench.noises.base import Noise
from serbench.registry import register


@register(
    "noises", "babble", version="1.0",
    summary="Babble: several talkers of a speech corpus (default the embedded synthetic one) at once",
    tags=("speech", "non-stationary", "offline"),
)
class BabbleNoise(Noise):
    """Sum of ``talkers`` utterances drawn from ``corpus`` (built with ``corpus_params``)."""

    def __init__(self, corpus: str = "synthetic", talkers: int = 6,
                 corpus_params: dict[str, Any] | None = None) -> None:
        if talkers < 1:
            raise SerbenchError(f"babble: talkers must be at least 1, got {talkers}")
        self.corpus_name, self.talkers = corpus, int(talkers)
        self.corpus_params = dict(corpus_params or {})
        self._corpus = None

    @property
    def corpus(self):
        if self._corpus is None:
            from serbench.registry import get

            self._corpus = get("datasets", self.corpus_name, **self.corpus_params)
            if len(self._corpus) < self.talkers:
                raise SerbenchError(f"babble: corpus {self.corpus_name!r} has {len(self._corpus)} "
                                    f"utterances, fewer than talkers={self.talkers}")
        return self._corpus

    def sample(self, num_samples: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        corpus = self.corpus
        picks = rng.choice(len(corpus), size=self.talkers, replace=False)
        out = np.zeros(num_samples, dtype=np.float64)
        for i in sorted(int(p) for p in picks):
            wave = resample(corpus.load_audio(corpus.utterances[i]), corpus.sample_rate, sample_rate)
            rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64))))
            if rms == 0.0:
                raise SerbenchError(
                    f"babble: utterance {corpus.utterances[i].id} of {self.corpus_name!r} is silent")
            looped = np.resize(np.roll(wave, -int(rng.integers(len(wave)))), num_samples)
            out += looped / rms
        return (out / out.std()).astype(np.float32)
