"""DEMAND environmental noise from a local copy (Thiemann et al. 2013): 18 environments x 16 channels.

Each environment is a folder ``ENV/``, ``ENV_16k/`` or ``ENV_48k/`` (its
``ch01.wav`` ... ``ch16.wav`` directly inside or in a nested ``ENV/``, as the
zips unpack). A draw picks an environment, a channel and an offset from the
rng. By default the five Latif et al. use: kitchen DKITCHEN, park NPARK,
station PSTATION, traffic STRAFFIC, cafeteria PCAFETER.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from serbench.data.local import env_var, resolve_root
from serbench.errors import DataError, SerbenchError
from serbench.noises.base import Noise
from serbench.noises.files import read_excerpt
from serbench.registry import register

ENVIRONMENTS = (
    "DKITCHEN", "DLIVING", "DWASHING", "NFIELD", "NPARK", "NRIVER", "OHALLWAY", "OMEETING", "OOFFICE",
    "PCAFETER", "PRESTO", "PSTATION", "SCAFE", "SPSQUARE", "STRAFFIC", "TBUS", "TCAR", "TMETRO",
)
LATIF = {"kitchen": "DKITCHEN", "park": "NPARK", "station": "PSTATION", "traffic": "STRAFFIC",
         "cafeteria": "PCAFETER"}
_CHANNEL = re.compile(r"^ch(\d\d)\.wav$", re.IGNORECASE)


def environment_code(name: str) -> str:
    """``kitchen`` / ``dkitchen`` / ``DKITCHEN`` -> ``DKITCHEN``."""
    code = LATIF.get(name.lower(), name.upper())
    if code not in ENVIRONMENTS:
        raise SerbenchError(
            f"demand: unknown environment {name!r}; use one of {', '.join(ENVIRONMENTS)} "
            f"or {', '.join(LATIF)}"
        )
    return code


def _channels(folder: Path, code: str) -> list[Path]:
    for d in (folder, folder / code):
        if d.is_dir():
            found = sorted(p for p in d.iterdir() if _CHANNEL.match(p.name) and p.is_file())
            if found:
                return found
    return []


def variants() -> dict[str, dict[str, list[str]]]:
    """``demand.kitchen`` ... for Latif's five, ``demand.dkitchen`` ... for all 18."""
    out = {name: {"environments": [code]} for name, code in LATIF.items()}
    out.update({code.lower(): {"environments": [code]} for code in ENVIRONMENTS})
    return out


@register(
    "noises", "demand", version="1.0",
    summary="DEMAND environmental noise from a local copy (default: Latif et al.'s five environments)",
    paper="Thiemann et al. 2013, DEMAND: a collection of multi-channel recordings of acoustic noise",
    tags=("recorded", "local"),
    variants=variants(),
)
class DemandNoise(Noise):
    """DEMAND noise: a random channel and offset of a random environment among ``environments``."""

    def __init__(self, environments: Sequence[str] | str = tuple(LATIF.values()), root: str | None = None
                 ) -> None:
        names = [environments] if isinstance(environments, str) else list(environments)
        if not names:
            raise SerbenchError("demand: environments is empty; name at least one")
        self.environments = [environment_code(n) for n in names]
        base = resolve_root("demand", root)
        if not any((base / f"{c}{s}").is_dir() for c in ENVIRONMENTS for s in ("", "_16k", "_48k")) \
                and (base / "DEMAND").is_dir():
            base = base / "DEMAND"
        self.root = base
        # environment -> {folder suffix: channel files}
        self._folders: dict[str, dict[str, list[Path]]] = {}
        for code in self.environments:
            found = {s: ch for s in ("_16k", "_48k", "") if (ch := _channels(base / f"{code}{s}", code))}
            if not found:
                raise DataError(
                    f"{base}: no DEMAND environment {code} (looked for {code}/, {code}_16k/, {code}_48k/ "
                    f"holding ch01.wav..ch16.wav); set root or {env_var('demand')}"
                )
            self._folders[code] = found

    def files(self, code: str, sample_rate: int) -> list[Path]:
        """Channel files of ``code``, from the folder whose rate matches ``sample_rate`` when there is one."""
        found = self._folders[code]
        preferred = {16000: "_16k", 48000: "_48k"}.get(sample_rate)
        for suffix in ([preferred] if preferred else []) + ["", "_48k", "_16k"]:
            if suffix in found:
                return found[suffix]
        raise AssertionError("unreachable: every environment has a folder")

    def sample(self, num_samples: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        code = self.environments[int(rng.integers(len(self.environments)))]
        files = self.files(code, sample_rate)
        path = files[int(rng.integers(len(files)))]
        return read_excerpt(path, num_samples, sample_rate, rng)
