"""What an eval cell did to the audio: perceptual measures of a fixed subset, and clean/changed pairs to listen to.

An evaluator hands every batch of (clean, changed) inputs to a :class:`Pairs`, which keeps only the rows of a
deterministic subset (the first utterances by id, whatever batch or length group they come in) and only their
active samples (no padding). From them :meth:`Pairs.perceptual` gives the cell's ``perceptual`` metrics
(:mod:`serbench.engine.perceptual`) and :func:`write_examples` the FLAC pairs that ``serbench run
--save-examples K`` keeps beside the records: ``<store>/examples/<cell key>/`` with ``index.json`` listing them.

Feature-domain attacks change no waveform: their adversarial features are rendered back to audio with
Griffin-Lim (the front end's parameters; the normalisation undone through its dB per unit), and so is the clean
utterance's, so a listener compares like with like; both are marked ``griffinlim`` in the file name and the index.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from serbench.engine import perceptual

INDEX = "index.json"
AUDIO_SUBTYPE = "PCM_24"  # FLAC is integer: 24 bits keep each sample within 2^-24 of the float (full scale 1)
QUANTISATION = 2.0**-23  # the largest difference of two stored samples beyond the floats' (two half steps)
FEATURE_NOTE = ("feature-domain attack: no waveform changes, so no perceptual measures; --save-examples renders "
                "it with Griffin-Lim")


def first_positions(ids: Sequence[str], count: int) -> list[int]:
    """Positions in ``ids`` of its first ``count`` ids in sorted order (a subset that does not depend on order)."""
    return sorted(sorted(range(len(ids)), key=lambda i: ids[i])[:max(0, count)])


def slug(text: str) -> str:
    return re.sub("-+", "-", "".join(c if c.isalnum() or c in "._" else "-" for c in str(text))).strip("-")


class Pairs:
    """The clean and changed inputs of a partition's first ``count`` utterances by id, as an evaluator makes them.

    ``part`` is the partition (``ids`` and length ``groups``): each utterance's active length comes from its group.
    Waveforms are kept cut to their active samples; features (a feature-domain attack) whole, with the samples
    their utterance had, for rendering.
    """

    def __init__(self, part: Any, count: int) -> None:
        self.ids = list(part.ids)
        self.wanted = set(first_positions(self.ids, count))
        self.samples: dict[int, int] = {}
        for g in part.groups:
            for p, n in zip(g.index.tolist(), g.lengths.tolist()):
                if p in self.wanted:
                    self.samples[p] = int(n)
        self.clean: dict[int, np.ndarray] = {}
        self.changed: dict[int, np.ndarray] = {}

    def observe(self, positions: torch.Tensor | Sequence[int], clean: torch.Tensor, changed: torch.Tensor) -> None:
        """Keep the subset's rows of a batch: ``positions`` (the rows' places in the partition), their clean and
        changed inputs ((rows, samples) waveforms or (rows, ...) features)."""
        rows = [(r, p) for r, p in enumerate(torch.as_tensor(positions).tolist()) if p in self.wanted]
        if not rows:
            return
        take = torch.as_tensor([r for r, _ in rows], device=clean.device)
        c = clean.detach().index_select(0, take).float().cpu().numpy()
        x = changed.detach().index_select(0, take.to(changed.device)).float().cpu().numpy()
        waves = clean.dim() == 2
        for i, (_, p) in enumerate(rows):
            n = self.samples[p] if waves else None
            self.clean[p], self.changed[p] = c[i][:n], x[i][:n]

    def originals(self, part: Any) -> dict[int, np.ndarray]:
        """The clean waveforms (active samples) of the kept positions, from the partition's length groups."""
        out = {}
        for g in part.groups:
            for row, p in enumerate(g.index.tolist()):
                if p in self.changed:
                    out[p] = g.waves[row, : self.samples[p]].float().cpu().numpy()
        return out

    def positions(self, count: int | None = None) -> list[int]:
        """The kept positions in id order (the first ``count`` of them)."""
        kept = sorted(self.changed, key=lambda p: self.ids[p])
        return kept if count is None else kept[:count]

    def perceptual(self, count: int, sample_rate: int) -> dict[str, Any]:
        """The cell's ``perceptual`` metrics over the first ``count`` kept utterances (waveforms only)."""
        kept = self.positions(count)
        rows = [perceptual.measure(self.clean[p], self.changed[p], sample_rate) for p in kept]
        return perceptual.summarise(rows, sample_rate)


def flac(samples: np.ndarray, sample_rate: int) -> bytes:
    """24-bit FLAC of ``samples`` (clipped to [-1, 1])."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(np.asarray(samples, dtype=np.float64), -1.0, 1.0), int(sample_rate), format="FLAC",
             subtype=AUDIO_SUBTYPE)
    return buf.getvalue()


def griffin_lim(features_db: torch.Tensor, frontend: Any, samples: int, iterations: int = 32) -> np.ndarray:
    """A waveform of ``samples`` samples whose front-end features approach ``features_db`` ((1, F, T) or (F, T) dB,
    unscaled): the power spectrogram (Mel inverted by least squares for ``log-mel``; the bins an ``stft`` front end
    dropped left empty) and Griffin-Lim's phase, from a zero phase (deterministic)."""
    import torchaudio

    from serbench.features import WINDOWS

    c = frontend.config if hasattr(frontend, "config") else frontend
    power = torch.pow(10.0, features_db.detach().float().cpu().reshape(features_db.shape[-2:]) / 10.0)
    n_stft = c.n_fft // 2 + 1
    if c.kind == "log-mel":
        inverse = torchaudio.transforms.InverseMelScale(n_stft=n_stft, n_mels=c.n_mels, sample_rate=c.sample_rate,
                                                        f_min=c.f_min, f_max=c.f_max, norm="slaney",
                                                        mel_scale="slaney")
        power = inverse(power)
    elif power.shape[0] < n_stft:
        power = torch.cat([power, torch.zeros(n_stft - power.shape[0], power.shape[1])])
    gl = torchaudio.transforms.GriffinLim(n_fft=c.n_fft, win_length=c.win_length, hop_length=c.hop_length,
                                          window_fn=WINDOWS[c.window_fn], power=2.0, n_iter=iterations,
                                          rand_init=False)
    wave = gl(power.clamp_min(0.0)).numpy()
    return np.pad(wave, (0, max(0, samples - len(wave))))[:samples]


def write_examples(folder: Path, cell: Any, pairs: Pairs, count: int, sample_rate: int, kind: str,
                   render: Any | None = None) -> Path:
    """Write the first ``count`` pairs of ``pairs`` into ``folder`` (replaced as a whole, atomically: written to a
    temporary folder beside it, then renamed) with ``index.json``; ``kind`` names the change (``adversarial``,
    ``corrupted``, ``noisy``). ``render`` (feature-domain attacks): ``(to_db, frontend, originals)``: ``to_db(position,
    features)`` turns kept features back into dB features for :func:`griffin_lim`, ``originals`` maps a position to
    its clean waveform (saved too, as ``clean``)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.{uuid.uuid4().hex}.tmp"
    tmp.mkdir()
    try:
        entries = []
        tag = cell.key[:12]
        for p in pairs.positions(count):
            uid = pairs.ids[p]
            base = f"{tag}-{slug(uid)}"
            entry: dict[str, Any] = {"utterance": uid, "clean": f"{base}-clean.flac"}
            if render is None:
                clean, changed = pairs.clean[p], pairs.changed[p]
                entry[kind] = f"{base}-{kind}.flac"
                entry["griffinlim"] = False
            else:
                to_db, frontend, originals = render
                samples = pairs.samples[p]
                clean = originals[p]
                entry["clean_griffinlim"] = f"{base}-clean-griffinlim.flac"
                entry[kind] = f"{base}-{kind}-griffinlim.flac"
                entry["griffinlim"] = True
                (tmp / entry["clean_griffinlim"]).write_bytes(flac(griffin_lim(
                    to_db(p, pairs.clean[p]), frontend, samples), sample_rate))
                changed = griffin_lim(to_db(p, pairs.changed[p]), frontend, samples)
            (tmp / entry["clean"]).write_bytes(flac(clean, sample_rate))
            (tmp / entry[kind]).write_bytes(flac(changed, sample_rate))
            entries.append(entry)
        index = {"cell": cell.key, "label": cell.label, "kind": kind, "sample_rate": int(sample_rate),
                 "griffinlim": render is not None, "subtype": AUDIO_SUBTYPE, "examples": entries}
        (tmp / INDEX).write_text(json.dumps(index, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        return _place(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _place(tmp: Path, folder: Path) -> Path:
    """Move the finished ``tmp`` onto ``folder``: a reader sees the old folder or the new one, never half of one."""
    if folder.exists():
        old = folder.parent / f".{folder.name}.{uuid.uuid4().hex}.old.tmp"
        os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, folder)
    return folder


def read_index(folder: Path) -> dict[str, Any] | None:
    """The index of an examples folder, or None where there is none (or it is unreadable)."""
    try:
        data = json.loads((folder / INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("examples"), list) else None
