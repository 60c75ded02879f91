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

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from serbench.errors import SerbenchError


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

    def __post_init__(self) -> None:
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

PRESETS: dict[str, Schedule] = {
    "ren2020": Schedule(name="ren2020", iterations=10_000, eval_every=500),
    "latif2020": Schedule(
        name="latif2020", iterations=0, max_epochs=200, lr_decay=1.0, plateau_patience=5, stop_patience=20,
        eval_every=0,
    ),
}


def schedule(preset: str = "ren2020", **overrides: Any) -> Schedule:
    """A preset with ``overrides`` (e.g. ``iterations=300`` for a quick run)."""
    if preset not in PRESETS:
        raise SerbenchError(f"unknown training schedule {preset!r}; presets: {', '.join(sorted(PRESETS))}")
    known = {f.name for f in fields(Schedule)} - {"name"}
    bad = sorted(set(overrides) - known)
    if bad:
        raise SerbenchError(f"training schedule has no field {bad[0]!r}; fields: {', '.join(sorted(known))}")
    return replace(PRESETS[preset], **overrides)
