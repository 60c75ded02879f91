"""Where pretrained weights come from (always a local path, never a download), their content digest, and loading.

A checkpoint is a torchaudio state-dict file (``.pt``/``.pth``, as saved from
``torchaudio.pipelines.<BUNDLE>.get_model().state_dict()``) or a local Hugging Face model directory. Without an
explicit ``checkpoint`` the folder named by ``SERBENCH_SSL_CHECKPOINTS`` is searched for ``<arch>-<size>.pt``,
``<arch>-<size>.pth`` or a ``<arch>-<size>/`` directory.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from serbench import SerbenchError

ENV = "SERBENCH_SSL_CHECKPOINTS"
RANDOM = "random"
# Hugging Face model_type -> our architecture name (what torchaudio's importer converts).
HF_TYPES = {"wav2vec2": "wav2vec2", "hubert": "hubert", "wavlm": "wavlm"}
# Files of a Hugging Face directory that determine the model (weights, config, preprocessing); others are ignored.
HF_SUFFIXES = (".json", ".safetensors", ".bin", ".pt", ".pth")


def locate(owner: str, arch: str, size: str, checkpoint: str | None) -> Path | None:
    """The weights to load, or None for random initialisation (``checkpoint: random``, or ``tiny`` without any).

    A base/large encoder without weights is refused: a randomly initialised one measures nothing.
    """
    if checkpoint == RANDOM:
        return None
    if checkpoint:
        path = Path(checkpoint).expanduser()
        if not path.exists():
            raise SerbenchError(f"{owner}: checkpoint {path} does not exist; give a torchaudio state-dict file "
                                f"(.pt/.pth) or a local Hugging Face model directory")
        return path
    folder = os.environ.get(ENV, "")
    stem = f"{arch}-{size}"
    if folder:
        for candidate in (Path(folder) / f"{stem}.pt", Path(folder) / f"{stem}.pth", Path(folder) / stem):
            if candidate.exists():
                return candidate
        where = f"{Path(folder) / stem}.pt (or .pth, or a {stem}/ directory) does not exist"
    else:
        where = f"no checkpoint given and {ENV} is not set"
    if size == "tiny":
        return None
    raise SerbenchError(f"{owner} size {size} needs pretrained weights: {where}; set checkpoint: PATH, put {stem}.pt "
                        f"in the folder ${ENV} names, or set checkpoint: {RANDOM} for an untrained encoder")


_digests: dict[tuple[str, int, int], str] = {}
_digest_lock = threading.Lock()


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes, cached per (path, size, mtime) for the life of the process."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _digest_lock:
        if key in _digests:
            return _digests[key]
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    with _digest_lock:
        _digests[key] = digest.hexdigest()
    return _digests[key]


def fingerprint(path: Path | None) -> str | None:
    """The content digest a cell key holds instead of the path: a file's sha256; for a directory, the sha256 of its
    model files' relative names and digests (so renaming or moving the folder keeps it). None: random weights."""
    if path is None:
        return None
    if path.is_file():
        return file_digest(path)
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(HF_SUFFIXES)
                   and not any(part.startswith(".") for part in p.relative_to(path).parts))
    if not files:
        raise SerbenchError(f"checkpoint directory {path} holds no model files (config.json, *.safetensors, *.bin)")
    digest = hashlib.sha256()
    for p in files:
        digest.update(f"{p.relative_to(path).as_posix()}\0{file_digest(p)}\n".encode())
    return digest.hexdigest()


def load_state_dict(owner: str, path: Path) -> dict[str, torch.Tensor]:
    """A torchaudio encoder state dict from ``path``: tensors only (``weights_only``); a ``model.`` prefix (the
    normalising wrapper some bundles return) is dropped, and so is an ASR bundle's ``aux`` head."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same one-line answer
        raise SerbenchError(f"{owner}: cannot read checkpoint {path} as a torch state dict "
                            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from exc
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise SerbenchError(f"{owner}: checkpoint {path} is not a state dict of tensors; save "
                            f"torchaudio.pipelines.<BUNDLE>.get_model().state_dict() with torch.save")
    state = dict(state)
    if state and all(k.startswith("model.") for k in state):
        state = {k[len("model."):]: v for k, v in state.items()}
    return {k: v for k, v in state.items() if not k.startswith("aux.")}


def load_into(owner: str, model: torch.nn.Module, path: Path, what: str) -> None:
    """Load ``path`` into ``model`` strictly; a mismatch says which checkpoint and which keys."""
    state = load_state_dict(owner, path)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatch
        detail = str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else str(exc)
        raise SerbenchError(f"{owner}: checkpoint {path} does not fit {what}: {detail}") from exc
    if missing or unexpected:
        raise SerbenchError(f"{owner}: checkpoint {path} does not fit {what}: missing {sorted(missing)[:3]}, "
                            f"unexpected {sorted(unexpected)[:3]} ({len(missing)} and {len(unexpected)} keys)")


def hf_config(owner: str, path: Path) -> dict[str, Any]:
    config = path / "config.json"
    if not config.is_file():
        raise SerbenchError(f"{owner}: {path} is not a Hugging Face model directory (no config.json)")
    return json.loads(config.read_text())


def hf_normalize(path: Path, config: dict[str, Any]) -> bool:
    """What the directory's feature extractor does (``do_normalize``), else what its extractor kind implies."""
    pre = path / "preprocessor_config.json"
    if pre.is_file():
        value = json.loads(pre.read_text()).get("do_normalize")
        if isinstance(value, bool):
            return value
    return config.get("feat_extract_norm") == "layer"


def import_hf(owner: str, path: Path, expect: str | None, dropout: float) -> tuple[torch.nn.Module, str]:
    """A torchaudio ``Wav2Vec2Model`` converted from the local Hugging Face directory ``path`` (never downloads).

    ``expect``: the architecture the component is for (None: any of wav2vec2, HuBERT, WavLM). Returns the model and
    the architecture found.
    """
    config = hf_config(owner, path)
    found = HF_TYPES.get(str(config.get("model_type")))
    if found is None:
        raise SerbenchError(f"{owner}: {path} holds a {config.get('model_type')!r} model; torchaudio converts "
                            f"{', '.join(HF_TYPES)} only")
    if expect is not None and found != expect:
        raise SerbenchError(f"{owner}: {path} holds a {found} model, not {expect}; use ssl.{found} or ssl.hf")
    try:
        import transformers
    except ImportError as exc:
        raise SerbenchError(f"{owner}: loading the Hugging Face directory {path} needs transformers: "
                            f"pip install transformers (or serbench-ssl[hf])") from exc
    from torchaudio.models.wav2vec2.utils import import_huggingface_model

    overrides = dict(hidden_dropout=dropout, attention_dropout=dropout, activation_dropout=dropout,
                     feat_proj_dropout=dropout, layerdrop=0.0)
    quiet = logging.getLogger("torchaudio.models.wav2vec2.utils.import_huggingface")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # "not an instance of Wav2Vec2ForCTC": we want the encoder only
    try:
        original = transformers.AutoModel.from_pretrained(str(path), local_files_only=True, **overrides)
        model = import_huggingface_model(original)
    except SerbenchError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise SerbenchError(f"{owner}: cannot load the Hugging Face directory {path}: {type(exc).__name__}: "
                            f"{(str(exc).splitlines() or [''])[0]}") from exc
    finally:
        quiet.setLevel(level)
    return model, found
