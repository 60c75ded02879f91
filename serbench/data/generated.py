"""Corpora whose audio is generated (embedded corpora): generated once in bulk, cached on disk.

Subclasses implement :meth:`generate` (every utterance's waveform, a pure
function of the parameters) and :meth:`cache_key`; the audio then lives in
``$SERBENCH_CACHE/<name>/<key>.npz`` (default ``~/.cache/serbench``), written
atomically so concurrent workers never read half a file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from serbench.data.corpus import Corpus, Utterance
from serbench.files import write_atomic


def cache_dir() -> Path:
    return Path(os.environ.get("SERBENCH_CACHE", Path.home() / ".cache" / "serbench"))


class GeneratedCorpus(Corpus):
    """A corpus with a ``generate()`` method instead of files."""

    _audio: dict[str, np.ndarray] | None = None

    def generate(self) -> dict[str, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    def cache_key(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def _ensure_audio(self) -> dict[str, np.ndarray]:
        if self._audio is None:
            path = cache_dir() / self.name / f"{self.cache_key()}.npz"
            if path.exists():
                with np.load(path) as z:
                    self._audio = {k: z[k] for k in z.files}
            else:
                self._audio = self.generate()
                audio = self._audio
                write_atomic(path, lambda fh: np.savez(fh, **audio))
        return self._audio

    def load_audio(self, utt: Utterance) -> np.ndarray:
        return self._ensure_audio()[utt.id]
