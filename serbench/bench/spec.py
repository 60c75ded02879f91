"""Benchmark specs: YAML -> validated axes -> train and eval cells.

Example (``benchmarks/quickstart.yaml``)::

    name: quickstart
    dataset: {name: synthetic, protocol: leave-one-session-out, folds: [0]}
    frontend: {preset: ren2020, seconds: 2.0}
    training: {schedule: ren2020, iterations: 400, eval_every: 100}
    models: [cnn4.small]
    defenses: [standard]
    seeds: [0]
    attacks:
      - {name: fgsm, domain: feature, norm: linf, eps: [0.01, 0.04, 0.1]}
    noises:
      - {name: white, snr: [20, 10, 0]}

Front end: ``preset`` (``ren2020`` log-Mel, ``latif2020`` STFT spectrogram) with
overrides; ``seconds`` pads/crops every utterance (Ren et al.), or, with
``segments: {window: 256, hop: 256}``, caps the audio kept and the model is
trained on windows of frames whose posteriors are averaged per utterance
(Latif et al.). ``corruptions`` lists signal-dependent corruptions (SER-C,
:mod:`serbench.corruptions`), each at ``severity: [1, ..., 5]`` (default: all
five). ``normalization`` (default ``natural-log``; or ``standardize``,
``minmax-active``, legacy ``minmax``; a name or ``{name, <params>}``) scales the
features and so decides what a feature-domain eps means in dB
(:mod:`serbench.normalization`). ``training.fit_on: train+valid`` fits Ren et
al.'s final models. ``evaluation: {batch_size, attack_batch_size, precision}``
sets rows per batch when predicting and attacking (default: chosen for the
device; results do not depend on them) and ``precision`` (``fp32``, or ``bf16``
/ ``fp16`` autocast, which enters every eval cell's key; budgets are still
checked in fp32).

An axis item is a name or ``{name, params}``. Every component is resolved
(plugins loaded) while the spec is read, so a bad name fails before any
compute, with the file and field path in the message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serbench.bench import matrix
from serbench.bench import spec_sections as sections
from serbench.bench.axes import (  # noqa: F401 - the spec's public names
    AttackAxis,
    CorruptionAxis,
    DatasetAxis,
    NoiseAxis,
    TransferAxis,
    dataset_identity,
    unknown_protocol,
)
from serbench.bench.cells import EvalCell, EvalSettings, FrontendPart, TrainCell
from serbench.bench.spec_files import read_spec_mapping
from serbench.engine.schedules import Schedule
from serbench.errors import SpecError
from serbench.features import FrontendConfig, waveform_frontend
from serbench.inputs import WAVEFORM, WAVEFORM_NORMALIZATION, input_kind, model_sample_rate
from serbench.normalization import DEFAULT_NORMALIZATION
from serbench.registry import Resolved


@dataclass
class Spec:
    name: str
    path: str
    datasets: list[DatasetAxis]
    frontend: FrontendConfig
    seconds: float
    training: Schedule
    models: list[Resolved]
    defenses: list[Resolved]
    seeds: list[int]
    partitions: list[str]
    attacks: list[AttackAxis] = field(default_factory=list)
    noises: list[NoiseAxis] = field(default_factory=list)
    corruptions: list[CorruptionAxis] = field(default_factory=list)
    description: str = ""
    worst_case: bool = False
    transfer: list[TransferAxis] = field(default_factory=list)
    segments: dict[str, int] | None = None  # Latif et al.'s windows; None = Ren et al.'s pad/crop
    normalization: dict[str, Any] = field(default_factory=lambda: {"name": DEFAULT_NORMALIZATION})
    exclude: list[dict[str, Any]] = field(default_factory=list)
    source: dict[str, Any] = field(default_factory=dict)  # the mapping it was parsed from (includes merged)
    notes: list[str] = field(default_factory=list)  # what the reader skipped, e.g. glob matches
    evaluation: EvalSettings = field(default_factory=EvalSettings)  # batch sizes and precision of eval cells

    @classmethod
    def reparse(cls, source: dict[str, Any], path: str) -> "Spec":
        """The same spec in another process (Ray workers): parse the mapping it was read from."""
        return parse_spec(source, path)

    # -- expansion ----------------------------------------------------------------
    # -- expansion (serbench.bench.matrix) ------------------------------------------
    def train_cells(self, fold_counts: dict[int, int] | None = None,
                    fingerprints: dict[int, str] | None = None) -> list[TrainCell]:
        """Every train cell with an eval cell left after ``exclude`` (:func:`serbench.bench.matrix.train_cells`)."""
        return matrix.train_cells(self, fold_counts, fingerprints)

    def all_train_cells(self, fold_counts: dict[int, int] | None,
                        fingerprints: dict[int, str] | None = None) -> list[TrainCell]:
        return matrix.all_train_cells(self, fold_counts, fingerprints)

    def eval_cells(self, train: TrainCell, *, apply_exclude: bool = True) -> list[EvalCell]:
        """The train cell's eval cells, ``exclude`` applied (:func:`serbench.bench.matrix.eval_cells`)."""
        return matrix.eval_cells(self, train, apply_exclude=apply_exclude)

    def excluded_by(self, cell: EvalCell) -> int | None:
        return matrix.excluded_by(self, cell)

    def unused_excludes(self, trains: list[TrainCell]) -> list[int]:
        return matrix.unused_excludes(self, trains)

    def frontend_part(self, model: Resolved | None = None) -> FrontendPart:
        """The front end as a train cell of ``model`` holds it: features, length policy and feature normalisation.

        A waveform model (:mod:`serbench.models.waveform`) owns its front end: its cells get the samples at the
        model's rate, padded or cropped to ``frontend.seconds``, without features or normalisation."""
        if model is not None and input_kind(model.info.factory) == WAVEFORM:
            if self.segments is not None:
                raise SpecError(f"{self.path}: frontend.segments: windows of frames apply to spectrogram models; "
                                f"waveform model {model.requested!r} takes whole utterances (drop segments, or "
                                "run it from a spec without them)")
            rate = model_sample_rate(model.info.factory, model.params) or self.frontend.sample_rate
            return FrontendPart(waveform_frontend(rate), self.seconds, {"name": WAVEFORM_NORMALIZATION}, None)
        return FrontendPart(self.frontend, self.seconds, dict(self.normalization),
                            None if self.segments is None else dict(self.segments))


def load_spec(path: str | Path) -> Spec:
    """Read, merge the ``include`` files, validate. Errors name the file and the field path."""
    path = Path(path)
    return parse_spec(read_spec_mapping(path), str(path))


def parse_spec(data: Any, path: str = "<spec>") -> Spec:
    """A spec mapping, validated section by section (:mod:`serbench.bench.spec_sections`)."""
    r = sections.SpecReader(path)
    data = sections.read_top_level(r, data)
    datasets = sections.read_datasets(r, data)
    frontend, seconds, segments, norm = sections.read_frontend(r, data)
    training = sections.read_training(r, data)
    notes: list[str] = []
    models = sections.read_axis(r, data, "models", None, notes)
    defenses = sections.read_axis(r, data, "defenses", sections.SPEC.default("defenses"), notes)
    sections.check_defenses_start(r, defenses, training)
    seeds = sections.read_seeds(r, data)
    partitions = sections.read_partitions(r, data, training)
    attacks = sections.read_attacks(r, data, notes)
    worst_case = sections.read_worst_case(r, data)
    transfer = sections.read_transfer(r, data)
    noises = sections.read_noises(r, data, notes)
    corruptions = sections.read_corruptions(r, data, notes)
    exclude = sections.read_exclude(r, data)
    evaluation = sections.read_evaluation(r, data)
    for d in datasets:  # a fold listed twice would be trained and counted twice
        r.unique([(f"{d.where}.folds[{j}]", f) for j, f in enumerate(d.folds or ())], "fold")
    r.unique([(d.where, (dataset_identity(d.resolved), d.protocol)) for d in datasets], "dataset")
    return Spec(
        name=str(data.get("name") or Path(path).stem), path=path, datasets=datasets, frontend=frontend,
        seconds=seconds, training=training, models=models, defenses=defenses, seeds=seeds, partitions=partitions,
        attacks=attacks, noises=noises, corruptions=corruptions, description=str(data.get("description", "")),
        worst_case=worst_case, transfer=transfer, segments=segments, exclude=exclude, source=data, notes=notes,
        normalization=norm, evaluation=evaluation,
    )
