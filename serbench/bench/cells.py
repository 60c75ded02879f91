"""Cells and their content keys.

A train cell is everything that determines a trained model; an eval cell is a
train cell plus one evaluation condition. A key is the sha256 of the canonical
JSON of the cell together with the result schema version: same key, same
result; a changed parameter, component version (or its package's version) or
data is a new cell. The data enters as the corpus's content fingerprint (never
its path), and defaults are resolved first (the protocol is always named), so a
cell without them has no key.

How an eval cell is computed (:class:`EvalSettings`: batch sizes and precision) rides on the cell too;
only a precision other than fp32 enters its key, since batch sizes do not change results. Likewise a train
cell's memory format (``training.memory_format`` resolved for its model and device,
:mod:`serbench.engine.layout`) enters its key only where it is not contiguous.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from serbench.bench.axes import dataset_identity
from serbench.bench.conditions import Condition, Transfer
from serbench.canonical import canonical_json
from serbench.engine.layout import AUTO, CONTIGUOUS, resolve_memory_format
from serbench.engine.schedules import THREADS_AUTO
from serbench.errors import SerbenchError
from serbench.inputs import SPECTROGRAM, WAVEFORM

if TYPE_CHECKING:  # annotations only: reading records (the leaderboard) must not import torch
    from serbench.engine.schedules import Schedule
    from serbench.features import FrontendConfig
    from serbench.registry import Resolved

SCHEMA_VERSION = 2  # 2: records carry a digest; keys carry data fingerprints, resolved protocols, package versions


def content_key(kind: str, cell: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json({"schema": SCHEMA_VERSION, kind: cell}).encode()).hexdigest()


def check_keyable(data: DataPart) -> None:
    """Refuse to key a train cell whose data fingerprint or protocol is not resolved: such a key would name
    no data (or a different default) and could reuse results computed on other files."""
    for name in ("fingerprint", "protocol"):
        if getattr(data, name) is None:
            raise SerbenchError(
                f"train cell of dataset {data.dataset.requested!r} has no {name}: expand the spec through a runner "
                "(LocalRunner.train_cells loads each corpus) before asking for keys"
            )


@dataclass(frozen=True)
class DataPart:
    """The data a model learns from: the spec's dataset axis ``axis`` (its index: which loaded corpus), read
    under ``protocol``, fold ``fold``, holding the files whose content fingerprint is ``fingerprint``."""

    axis: int
    dataset: Resolved
    protocol: str | None
    fold: int | str
    fingerprint: str | None = None

    @property
    def identity(self) -> dict[str, Any]:
        """Its part of the key: the corpus (its location left out), its content, protocol and fold."""
        return {**dataset_identity(self.dataset), "fingerprint": self.fingerprint, "protocol": self.protocol,
                "fold": self.fold}


@dataclass(frozen=True)
class FrontendPart:
    """The front end a model sees: features, length policy (``seconds``, or Latif et al.'s ``segments``) and
    feature normalisation (``{name, <params>}``: it decides what a feature-domain eps means)."""

    features: FrontendConfig
    seconds: float
    normalization: dict[str, Any] = field(default_factory=dict)
    segments: dict[str, int] | None = None

    @property
    def input_kind(self) -> str:
        """``waveform`` for a waveform model's cells (the samples are its input), else ``spectrogram``."""
        return WAVEFORM if self.features.kind == WAVEFORM else SPECTROGRAM

    @property
    def identity(self) -> dict[str, Any]:
        if self.input_kind == WAVEFORM:  # the audio itself: only its rate and length decide what the model sees
            return {"input": WAVEFORM, "sample_rate": self.features.sample_rate, "seconds": self.seconds}
        spec = {**self.features.as_dict(), "seconds": self.seconds, "normalization": dict(self.normalization)}
        return spec if self.segments is None else {**spec, "segments": dict(self.segments)}


@dataclass(frozen=True)
class TrainCell:
    """Everything that determines a trained model, as typed parts; :attr:`identity` is what its key hashes.

    ``device`` is the type of device the model runs on (``cpu``, ``cuda``; set by the runner that plans the
    cell): it resolves ``training.memory_format: auto`` and enters the key only through :attr:`memory_format`.
    A cell planned without one runs contiguous unless its spec names a format.

    Its key is computed once (a cell is immutable; a run asks for it many times); its identity is built afresh
    on each call, since records embed it and a caller may change its copy."""

    data: DataPart
    model: Resolved
    defense: Resolved
    frontend: FrontendPart
    training: Schedule
    seed: int
    device: str | None = None
    cpu_kernels: str | None = None  # "native": planned with SERBENCH_CPU_KERNELS=native (cpu_kernels_key)
    threads: int | None = None  # the planning runner's thread count, for ``training.threads: auto`` on a CPU

    @property
    def thread_count(self) -> int | None:
        """The CPU threads this cell runs with: the spec's ``training.threads``, or for ``auto`` the runner's;
        None off the CPU (a GPU cell's numbers do not depend on it) or when planned without a count."""
        if self.device not in (None, "cpu"):
            return None
        pinned = self.training.threads
        return self.threads if pinned == THREADS_AUTO else int(pinned)

    @property
    def memory_format(self) -> str:
        """``channels_last`` or ``contiguous``: what the model and its 4-D inputs use (the same in every process:
        a fixed rule, :func:`serbench.engine.layout.resolve_memory_format`)."""
        requested = self.training.memory_format
        if requested == AUTO and self.device is None:
            return CONTIGUOUS
        return resolve_memory_format(requested, self.device, self.model.info.name)

    @property
    def identity(self) -> dict[str, Any]:
        """Its part of the key; ``training`` names the resolved memory format only where it is not contiguous
        (so contiguous keys stay as they were), never the requested one (``auto`` means different formats on
        different devices), ``cpu_kernels: native`` for a CPU cell planned to run with each CPU's own
        kernels (set by the runner from :func:`serbench.bench.environment.cpu_kernels_key`; portable kernels
        leave the key as it was), and a CPU cell's :attr:`thread_count` (the same data, code and kernels give
        other numbers at another thread count)."""
        training = {k: v for k, v in self.training.as_dict().items() if k not in ("memory_format", "threads")}
        if self.memory_format != CONTIGUOUS:
            training["memory_format"] = self.memory_format
        if self.cpu_kernels is not None:
            training["cpu_kernels"] = self.cpu_kernels
        if self.thread_count is not None:
            training["threads"] = self.thread_count
        model = self.model.identity()
        if self.frontend.input_kind == WAVEFORM:  # spectrogram models' keys stay as they were
            model["input"] = WAVEFORM
        return {"dataset": self.data.identity, "model": model, "defense": self.defense.identity(),
                "frontend": self.frontend.identity, "training": training, "seed": self.seed}

    @cached_property
    def key(self) -> str:
        check_keyable(self.data)
        return content_key("train", self.identity)

    def source_of(self, transfer: Transfer) -> "TrainCell":
        """The cell a transfer attack is crafted on: this one's data, front end, schedule, seed and device with the
        transfer's source model and defense (its memory format resolved for the source model)."""
        if transfer.source_parts is None:
            raise SerbenchError("a transfer condition read back from a record names no source components; "
                                "evaluate transfers from a spec's cells")
        model, defense = transfer.source_parts
        return replace(self, model=model, defense=defense)


PRECISIONS = ("fp32", "bf16", "fp16")
DEFAULT_PRECISION = "fp32"


@dataclass(frozen=True)
class EvalSettings:
    """A spec's ``evaluation`` section: rows per batch when predicting and attacking (None: chosen for the
    device, :func:`serbench.engine.evaluate.default_batch_size`) and the autocast precision."""

    batch_size: int | None = None
    attack_batch_size: int | None = None
    precision: str = DEFAULT_PRECISION
    # Perceptual measures (SNR, segmental SNR, PESQ, STOI) on the first this-many utterances by id; 0: off. Not
    # in the key: they describe the audio scored, not the score, and the record states the subset size.
    perceptual_utterances: int = 32

    @property
    def identity(self) -> dict[str, Any]:
        """Its part of an eval cell's key: the precision where it is not fp32 (so fp32 keys stay as they were);
        batch sizes and the perceptual subset never, as they do not change the predictions."""
        return {} if self.precision == DEFAULT_PRECISION else {"precision": self.precision}


@dataclass(frozen=True)
class EvalCell:
    """A train cell plus a typed ``condition`` (:mod:`serbench.bench.conditions`) on a partition, computed
    with ``settings``."""

    train: TrainCell
    partition: str
    condition: Condition
    settings: EvalSettings = EvalSettings()

    def __post_init__(self) -> None:
        if not isinstance(self.condition, Condition):
            raise TypeError(f"EvalCell.condition must be a Condition, not {type(self.condition).__name__}; "
                            "use serbench.bench.conditions.condition_from for a stored identity")

    @cached_property
    def key(self) -> str:
        check_keyable(self.train.data)
        return content_key("eval", {"train": self.train.identity, "partition": self.partition,
                                    "condition": self.condition.identity, **self.settings.identity})

    @property
    def label(self) -> str:
        """Short human-readable description of the condition (and of a precision other than fp32)."""
        label = self.condition.label(self.partition)
        return label if not self.settings.identity else f"{label} [{self.settings.precision}]"
