"""Corpora read in place from a user's licensed copy: where the root is, which files exist.

A root comes from the loader's ``root`` parameter (CLI ``--root PATH``; in a spec
``dataset: {name: iemocap, params: {root: PATH}}``, a parameter, not a field of its
own) or, when that is not given, from ``SERBENCH_DATA_<NAME>``. The variable is read
by :func:`resolve_root`, which every built-in loader calls with its own name; a
plugin corpus gets the same behaviour only by calling ``resolve_root(name, root)``
itself (``serbench.data.local`` is not part of ``import serbench``'s public API).
The root never enters a cell key: the files' content fingerprint does.

Listing walks the tree without decoding audio (fast even for IEMOCAP), skips
macOS ``._*`` sidecars and ``__MACOSX`` folders, and audio is read lazily,
resampled to the corpus rate.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from serbench.data.audio import read_audio
from serbench.data.corpus import Corpus, ProtocolBuilder, Utterance, file_stat
from serbench.data.problems import UNREADABLE_HINT, WARNING, Problem
from serbench.errors import DataError


def env_var(name: str) -> str:
    """``msp-improv`` -> ``SERBENCH_DATA_MSP_IMPROV``."""
    return "SERBENCH_DATA_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def resolve_root(name: str, root: str | os.PathLike | None) -> Path:
    """The corpus folder: ``root`` if given, else ``SERBENCH_DATA_<NAME>`` (:func:`env_var` of ``name``); it must
    be a folder. A plugin corpus that wants the variable calls this with its own name."""
    var = env_var(name)
    source = "root"
    if root is None or str(root) == "":
        value = os.environ.get(var, "")
        if not value:
            raise DataError(
                f"{name}: no root folder given; pass root (CLI --param root=PATH, in a spec params: {{root: PATH}}) or "
                f"set {var}"
            )
        root, source = value, var
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DataError(
            f"{name}: root {path} (from {source}) does not exist or is not a folder; "
            f"point root or {var} at your copy"
        )
    return path


def no_files_error(name: str, root: Path, expected: str) -> DataError:
    return DataError(f"{name}: no {expected} found under {root}; point root or {env_var(name)} at your copy")


def is_sidecar(name: str) -> bool:
    """macOS resource-fork files (``._x.wav``) and Finder litter: never audio."""
    return name.startswith("._") or name == ".DS_Store"


def unlistable_folder(exc: OSError) -> DataError:
    """A folder a scan cannot enter: an error naming it, never a silent gap in the corpus."""
    where = exc.filename if exc.filename is not None else "a folder"
    return DataError(f"{where}: cannot list folder ({exc.strerror or type(exc).__name__}); check that you may "
                     "read and enter it (permissions) or remove it from the copy")


def all_files(root: Path) -> list[Path]:
    """Every file under ``root`` (links followed), sorted; ``__MACOSX`` and ``._*`` folders skipped.

    A folder that cannot be listed raises :class:`DataError` naming it (``os.walk`` would skip it silently).
    """
    def fail(exc: OSError) -> None:
        raise unlistable_folder(exc)

    out = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=fail, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if d != "__MACOSX" and not d.startswith("._"))
        out.extend(Path(dirpath) / f for f in filenames)
    return sorted(out)


def walk_files(root: Path, suffix: str = ".wav") -> list[Path]:
    """Every file under ``root`` ending in ``suffix`` (case-insensitive), sorted, sidecars skipped."""
    suffix = suffix.lower()
    return [p for p in all_files(root) if p.name.lower().endswith(suffix) and not is_sidecar(p.name)]


def find_named(root: Path, name: str) -> list[Path]:
    """Every file called ``name`` under ``root`` (a label or demographics file), sorted."""
    return [p for p in all_files(root) if p.name == name]


def list_folder(path: Path) -> list[Path]:
    """The entries of one folder, sorted; one that cannot be listed raises :class:`DataError` naming it."""
    try:
        return sorted(path.iterdir())
    except OSError as exc:
        raise unlistable_folder(exc) from None


def read_bytes(path: Path) -> bytes:
    """A label or manifest file's bytes; one that cannot be read raises :class:`DataError` naming it."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or type(exc).__name__}); {UNREADABLE_HINT}") from None


def read_text(path: Path) -> str:
    """A label or manifest file's text (undecodable bytes replaced), errors as :func:`read_bytes`."""
    return read_bytes(path).decode("utf-8", errors="replace")


def stem(path: Path) -> str:
    """File name without its audio suffix (``.wav`` / ``.WAV``)."""
    return path.name[: -len(path.suffix)] if path.suffix else path.name


def index_by_stem(name: str, paths: Iterable[Path]) -> dict[str, Path]:
    """Stem -> path; two files with one stem (a copy unpacked twice) is an error naming both."""
    out: dict[str, Path] = {}
    for p in paths:
        key = stem(p)
        if key in out:
            raise DataError(f"{name}: two copies of {key}: {out[key]} and {p}; keep one")
        out[key] = p
    return out


class AudioFileLoader:
    """Reads an utterance's file with :func:`read_audio` at a fixed rate (a class, so corpora pickle)."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = int(sample_rate)

    def __call__(self, utt: Utterance) -> np.ndarray:
        if utt.path is None:
            raise DataError(f"utterance {utt.id} has no audio path")
        return read_audio(utt.path, target_rate=self.sample_rate)[0]


class LocalCorpus(Corpus):
    """A corpus whose utterances are files under :attr:`root`, with what listing found wrong."""

    def __init__(
        self,
        name: str,
        root: Path,
        utterances: list[Utterance],
        labels: tuple[str, ...],
        sample_rate: int,
        protocols: dict[str, ProtocolBuilder],
        default_protocol: str,
        problems: list[Problem] | None = None,
        manifests: Iterable[Path] = (),
    ) -> None:
        if not utterances:
            raise no_files_error(name, root, f"usable labelled utterances of the classes {list(labels)}")
        super().__init__(
            name, sorted(utterances, key=lambda u: u.id), labels, sample_rate, protocols, default_protocol,
            loader=AudioFileLoader(sample_rate),
        )
        self.root = root
        self.env_var = env_var(name)
        self.problems: list[Problem] = list(problems or [])
        self.manifests = sorted({Path(m) for m in manifests})
        self._content = self._scan()  # at load: the fingerprint describes the files as this corpus found them

    def _relative(self, path: str | Path) -> str:
        try:
            return Path(path).relative_to(self.root).as_posix()
        except ValueError:  # outside the root (a loader's choice): its name, still no location
            return Path(path).name

    def _scan(self) -> dict[str, Any]:
        audio = [[self._relative(u.path), file_stat(u.path)] for u in self.utterances if u.path]
        labels = [[self._relative(m), hashlib.sha256(read_bytes(m)).hexdigest()] for m in self.manifests]
        return {"audio": audio, "manifests": labels}

    def content_fingerprint(self) -> dict[str, Any]:
        """Every file the corpus reads: each audio file's size and modification time (ns), and the sha256 of
        each label or manifest file, all by path relative to :attr:`root`.

        Cheap (a stat per file, a read of the small label files) and taken whenever the corpus is
        loaded, so a changed, replaced or repaired file makes new cells and feature caches, while
        the same copy moved or mounted elsewhere (another machine, a Ray worker) keeps its keys.
        """
        return self._content


def matching_files(name: str, base: Path, pattern: re.Pattern[str], expected: str, problems: list,
                   layout: str) -> list[tuple[str, Path, re.Match[str]]]:
    """(utterance id, path, match) for every wav under ``base`` whose stem matches ``pattern``, in id order.

    Files with other names are recorded in ``problems`` as 'unrecognised' warnings and left out; a
    root without any wav raises :func:`no_files_error` describing ``layout``.
    """
    wavs = index_by_stem(name, walk_files(base))
    if not wavs:
        raise no_files_error(name, base, layout)
    found = []
    for utt_id, path in sorted(wavs.items()):
        m = pattern.match(utt_id)
        if not m:
            problems.append(Problem("unrecognised", f"file name is not {expected}; left out", str(path),
                                    WARNING))
            continue
        found.append((utt_id, path, m))
    return found
