"""Training schedules as named presets, with overrides for quick runs.

``ren2020``: Adam 1e-3, lr x0.9 every 100 iterations, fixed iteration budget
(10 000 in the paper). ``latif2020``: Adam 1e-3, halve the lr after 5 epochs
without validation improvement, stop after 20 such epochs. Model selection
always uses the validation partition, never test.

``fit_on: train+valid`` is Ren et al.'s final model: trained on train and dev
together for the fixed budget, with no selection (there is no held-out data
left to select on); its dev figures are then in-sample, so a spec that sets it
evaluates on test only.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from serbench.engine.layout import AUTO, check_memory_format
from serbench.errors import SerbenchError

THREADS_AUTO = "auto"


@dataclass(frozen=True)
class Schedule:
    name: str
    lr: float = 1e-3
    batch_size: int = 32
    # Step decay (Ren et al.): multiply lr by ``lr_decay`` every ``lr_step`` iterations.
    lr_decay: float = 0.9
    lr_step: int = 100
    # Budget: a fixed number of iterations (0 = use ``max_epochs``).
    iterations: int = 10_000
    max_epochs: int = 0
    # Plateau (Latif et al.): halve lr after ``plateau_patience`` evaluations without improvement,
    # stop after ``stop_patience``. 0 disables.
    plateau_patience: int = 0
    plateau_factor: float = 0.5
    stop_patience: int = 0
    # Validate every ``eval_every`` iterations (0 = once per epoch); keep the best on validation UAR.
    eval_every: int = 0
    weight_decay: float = 0.0
    # Data the model is fitted on: "train" (select on valid) or "train+valid" (fixed budget, last weights).
    fit_on: str = "train"
    # Memory format of the model and its 4-D inputs (serbench.engine.layout): auto, channels_last or contiguous.
    # A request: only what it resolves to for the cell's model and device enters the key (TrainCell.memory_format).
    memory_format: str = AUTO
    # CPU threads the cell trains and is evaluated with: a convolution's backward splits its sums by thread, so
    # the count changes a CPU model's numbers. ``auto``: the runner's (``--threads``); either way the resolved
    # count enters a CPU cell's key (TrainCell.thread_count). A spec pins it to make its keys machine-independent.
    threads: int | str = THREADS_AUTO

    def __post_init__(self) -> None:
        _check_fields(self)
        check_memory_format(self.memory_format)
        check_threads(self.threads)
        if self.fit_on not in FIT_ON:
            raise SerbenchError(f"training.fit_on: unknown value {self.fit_on!r}; use {' or '.join(FIT_ON)}")
        if self.fit_on == "train+valid" and (self.iterations <= 0 and self.max_epochs <= 0):
            raise SerbenchError("training.fit_on: train+valid needs a fixed budget (iterations or max_epochs)")
        if self.fit_on == "train+valid" and (self.plateau_patience or self.stop_patience):
            raise SerbenchError("training.fit_on: train+valid leaves no validation data for plateau or early "
                                "stopping; set plateau_patience and stop_patience to 0")

    @property
    def selects_on_valid(self) -> bool:
        return self.fit_on == "train"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


FIT_ON = ("train", "train+valid")


def check_threads(value: Any, where: str = "training.threads") -> int | str:
    """``auto`` or a whole number of threads >= 1."""
    if value == THREADS_AUTO:
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SerbenchError(f"{where}: expected auto or a number of threads >= 1, got {value!r}")
    return value

# What each numeric field may hold. Counts where 0 means something (iterations: use max_epochs;
# eval_every: once per epoch; patience: off) may be 0; sizes and steps must be >= 1.
_POSITIVE_INTS = ("batch_size", "lr_step")
_COUNTS = ("iterations", "max_epochs", "plateau_patience", "stop_patience", "eval_every")
_FRACTIONS = ("lr_decay", "plateau_factor")  # multipliers of the lr: in (0, 1]


def _check_fields(s: Schedule) -> None:
    """Refuse values that would crash mid-run or silently train nothing (``batch_size: 0``,
    ``iterations: 0`` with no epoch budget, ``lr: .nan``), naming ``training.<field>``."""
    for name in _POSITIVE_INTS + _COUNTS:
        value = getattr(s, name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise SerbenchError(f"training.{name}: expected an integer, got {value!r}")
        low = 1 if name in _POSITIVE_INTS else 0
        if value < low:
            raise SerbenchError(f"training.{name}: must be >= {low}, got {value}")
    for name in ("lr", "weight_decay") + _FRACTIONS:
        value = getattr(s, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise SerbenchError(f"training.{name}: expected a finite number, got {value!r}")
    if not s.lr > 0:
        raise SerbenchError(f"training.lr: must be > 0, got {s.lr}")
    if s.weight_decay < 0:
        raise SerbenchError(f"training.weight_decay: must be >= 0, got {s.weight_decay}")
    for name in _FRACTIONS:
        if not 0 < getattr(s, name) <= 1:
            raise SerbenchError(f"training.{name}: must be in (0, 1] (it multiplies the lr), got {getattr(s, name)}")
    if s.iterations == 0 and s.max_epochs == 0:
        raise SerbenchError("training.iterations: must be >= 1 (or give max_epochs >= 1): with no budget the "
                            "model would be recorded untrained")

PRESETS: dict[str, Schedule] = {
    "ren2020": Schedule(name="ren2020", iterations=10_000, eval_every=500),
    "latif2020": Schedule(
        name="latif2020", iterations=0, max_epochs=200, lr_decay=1.0, plateau_patience=5, stop_patience=20,
        eval_every=0,
    ),
}


def schedule(preset: str = "ren2020", **overrides: Any) -> Schedule:
    """A preset with ``overrides`` (e.g. ``iterations=300`` for a quick run)."""
    if not isinstance(preset, str) or preset not in PRESETS:
        raise SerbenchError(f"training.schedule: unknown training schedule {preset!r}; "
                            f"presets: {', '.join(sorted(PRESETS))}")
    known = {f.name for f in fields(Schedule)} - {"name"}
    bad = sorted(set(overrides) - known, key=str)
    if bad:
        raise SerbenchError(f"training.{bad[0]}: training schedule has no field {bad[0]!r}; "
                            f"fields: {', '.join(sorted(known))}")
    return replace(PRESETS[preset], **overrides)
