"""MUSAN from a local copy (Snyder et al. 2015): subsets ``noise``, ``music`` and ``speech``.

Layout ``musan/noise/{free-sound,sound-bible}/*.wav``, ``musan/music/*/*.wav``,
``musan/speech/*/*.wav``; the root may be ``musan`` itself or its parent. A
draw picks a file of the subset and an offset from the rng.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from serbench.data.local import env_var, resolve_root, walk_files
from serbench.errors import DataError, SerbenchError
from serbench.noises.base import Noise
from serbench.noises.files import read_excerpt
from serbench.registry import register

SUBSETS = ("noise", "music", "speech")


@register(
    "noises", "musan", version="1.0",
    summary="MUSAN noise, music or speech from a local copy",
    paper="Snyder et al. 2015, MUSAN: a music, speech, and noise corpus",
    tags=("recorded", "local"),
    variants={s: {"subset": s} for s in SUBSETS},
)
class MusanNoise(Noise):
    """MUSAN noise, music or babble-free speech: a random file of ``subset`` at a random offset."""

    def __init__(self, subset: str = "noise", root: str | None = None) -> None:
        if subset not in SUBSETS:
            raise SerbenchError(f"musan: unknown subset {subset!r}; use one of {', '.join(SUBSETS)}")
        base = resolve_root("musan", root)
        if not (base / subset).is_dir() and (base / "musan").is_dir():
            base = base / "musan"
        self.root, self.subset = base, subset
        self.paths: list[Path] = walk_files(base / subset) if (base / subset).is_dir() else []
        if not self.paths:
            raise DataError(f"{base / subset}: no MUSAN {subset} wavs found; set root or {env_var('musan')} "
                            "to the musan folder")

    def sample(self, num_samples: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        path = self.paths[int(rng.integers(len(self.paths)))]
        return read_excerpt(path, num_samples, sample_rate, rng)
