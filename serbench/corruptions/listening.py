"""A listening page: a few utterances under every corruption and severity of a spec, so a person can hear
what "severity 3" means before trusting a number about it.

Writes ``<name>-s<severity>-<utterance>.flac`` (16-bit FLAC: lossless, half a WAV's size, played by every
current browser; each at most ``seconds`` long) beside the clean originals and an ``index.html`` of
``<audio>`` players, one row per corruption, one column per severity.
The audio is made exactly as an evaluation makes it (the same per-utterance generators, seed 0), so what
is heard is what the models were scored on.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from serbench.corruptions.base import Corruption, utterance_rngs
from serbench.data.corpus import Corpus


@dataclass(frozen=True)
class Listed:
    """One corruption of the page: its board label, the component and the severities to play."""

    label: str
    name: str  # the registered name, which seeds the generators as in an evaluation
    corruption: Corruption
    severities: tuple[int, ...]


def _slug(text: str) -> str:
    return re.sub("-+", "-", "".join(c if c.isalnum() else "-" for c in text.lower())).strip("-")


AUDIO_SUFFIX = ".flac"


def _audio(samples: np.ndarray, sample_rate: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.clip(samples, -1.0, 1.0), sample_rate, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def example_ids(corpus: Corpus, count: int) -> list[str]:
    """``count`` utterances with different labels where the corpus has them, first ids first (stable)."""
    picked: list[str] = []
    labels: set[str] = set()
    ids = sorted(u.id for u in corpus.utterances)
    for uid in ids:
        if len(picked) < count and corpus[uid].label not in labels:
            picked.append(uid)
            labels.add(corpus[uid].label)
    return picked + [u for u in ids if u not in picked][:count - len(picked)]


def examples(corpus: Corpus, listed: Sequence[Listed], count: int = 2, seconds: float = 3.0) -> dict[str, bytes]:
    """Files by name: the clean and corrupted recordings and ``index.html``."""
    ids = example_ids(corpus, count)
    sr = corpus.sample_rate
    waves = [np.asarray(corpus.load_audio(corpus[uid]), dtype=np.float32)[: int(seconds * sr)] for uid in ids]
    width = max(len(w) for w in waves)
    batch = torch.zeros(len(waves), width)
    for i, w in enumerate(waves):
        batch[i, : len(w)] = torch.from_numpy(w)
    lengths = torch.tensor([len(w) for w in waves])
    files = {f"clean-{_slug(uid)}{AUDIO_SUFFIX}": _audio(w, sr) for uid, w in zip(ids, waves)}
    rows = []
    for item in listed:
        cells = []
        for severity in item.severities:
            out = item.corruption.apply(batch, sr, severity, utterance_rngs(0, item.name, severity, ids), lengths)
            names = [f"{_slug(item.label)}-s{severity}-{_slug(uid)}{AUDIO_SUFFIX}" for uid in ids]
            files.update({n: _audio(out[i, : len(w)].numpy(), sr) for i, (n, w) in enumerate(zip(names, waves))})
            cells.append(names)
        rows.append((item, cells))
    files["index.html"] = _index(ids, [corpus[u].label for u in ids], rows, corpus.name).encode()
    return files


def _player(name: str) -> str:
    return f'<audio controls preload="none" src="{html.escape(name)}"></audio>'


def _index(ids: list[str], labels: list[str], rows: list[tuple[Listed, list[list[str]]]], corpus: str) -> str:
    severities = sorted({s for item, _ in rows for s in item.severities})
    head = "".join(f"<th>severity {s}</th>" for s in severities)
    clean = "".join(f"<div>{html.escape(u)} ({html.escape(lab)}) {_player(f'clean-{_slug(u)}{AUDIO_SUFFIX}')}</div>"
                    for u, lab in zip(ids, labels))
    body = []
    for item, cells in rows:
        by_severity = dict(zip(item.severities, cells))
        tds = "".join("<td>" + "".join(_player(n) for n in by_severity.get(s, [])) + "</td>" for s in severities)
        params = "; ".join(f"s{s}: {', '.join(f'{k}={v}' for k, v in item.corruption.level(s).items())}"
                           for s in item.severities)
        body.append(f"<tr><th title=\"{html.escape(params)}\">{html.escape(item.label)}</th>{tds}</tr>")
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>SER-C: listen</title>"
            "<style>body{font-family:sans-serif;margin:1.5em}td,th{padding:.3em;border-bottom:1px solid #ddd;"
            "text-align:left}audio{width:11em;display:block}</style></head>\n<body>\n"
            f"<h1>SER-C corruptions, heard on {html.escape(corpus)}</h1>\n"
            "<p>Each utterance as the models heard it under every corruption and severity (seed 0, as evaluated). "
            "Hover a corruption's name for its physical parameters.</p>\n"
            f"<h2>clean</h2>{clean}\n<table><tr><th>corruption</th>{head}</tr>\n" + "\n".join(body)
            + "\n</table>\n</body></html>\n")


def write(out: Path, files: dict[str, bytes]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (out / name).write_bytes(content)
