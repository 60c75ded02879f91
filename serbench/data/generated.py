"""Corpora whose audio is generated (embedded corpora): generated once in bulk, cached on disk.

Subclasses implement :meth:`generate` (every utterance's waveform, a pure
function of the parameters) and :meth:`cache_key` (a hash of those parameters
and the generator's version); the audio then lives in
``$SERBENCH_CACHE/<name>/<key>.npz`` (default ``~/.cache/serbench``), written
atomically so concurrent workers never read half a file. A cache file that is
truncated, corrupt or incomplete is regenerated (with a warning), never trusted.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from serbench.data.corpus import Corpus, Utterance
from serbench.data.problems import nonfinite_message
from serbench.errors import DataError
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

    def content_fingerprint(self) -> Any:
        """The generator's parameters and version (:meth:`cache_key`): the audio is a pure function of them."""
        return {"generator": self.cache_key()}

    def cache_path(self) -> Path:
        return cache_dir() / self.name / f"{self.cache_key()}.npz"

    def _problem(self, audio: dict[str, np.ndarray]) -> str | None:
        """Why ``audio`` is not this corpus's audio (an utterance missing, empty, not 1-D or NaN), or None."""
        for u in self.utterances:
            wave = audio.get(u.id)
            if wave is None:
                return f"utterance {u.id} is missing"
            if wave.ndim != 1 or wave.size == 0:
                return f"utterance {u.id} has shape {wave.shape}"
            bad = nonfinite_message(wave)
            if bad:
                return f"utterance {u.id}: {bad.split(';')[0]}"
        return None

    def _read_cache(self, path: Path) -> dict[str, np.ndarray] | None:
        """The cached audio, or None (with a warning) when the file is truncated, corrupt or incomplete."""
        try:
            with np.load(path, allow_pickle=False) as z:
                audio = {k: z[k] for k in z.files}  # reading every member checks its CRC
        except Exception as exc:  # noqa: BLE001 - zipfile, numpy and the OS raise many types; all mean "regenerate"
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        else:
            reason = self._problem(audio)
            if reason is None:
                return audio
        warnings.warn(f"{path}: corpus cache is unusable ({reason}); regenerating it", stacklevel=3)
        return None

    def _ensure_audio(self) -> dict[str, np.ndarray]:
        if self._audio is None:
            path = self.cache_path()
            audio = self._read_cache(path) if path.exists() else None
            if audio is None:
                audio = self.generate()
                reason = self._problem(audio)
                if reason:
                    raise DataError(f"corpus {self.name!r}: its generator produced unusable audio ({reason}); "
                                    "report this to the corpus's maintainers")
                write_atomic(path, lambda fh: np.savez(fh, **audio))
            self._audio = audio
        return self._audio

    def load_audio(self, utt: Utterance) -> np.ndarray:
        return self._ensure_audio()[utt.id]
