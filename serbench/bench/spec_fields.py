"""A spec's fields as data: names, types, defaults, choices and what each one means.

One table serves three readers, so they cannot drift apart: the spec reader
(:mod:`serbench.bench.spec_sections` takes its allowed keys and defaults from here), the JSON
Schema an editor checks a spec with, and the reference page ``docs/spec-reference.md``
(:mod:`serbench.bench.spec_schema` generates both). The ``frontend`` and ``training`` sections
are declared by their dataclasses (:class:`serbench.features.FrontendConfig`,
:class:`serbench.engine.schedules.Schedule`): their fields, types and per-preset defaults are read
from there, and a description for each is required here.

A :class:`Type` is a JSON Schema fragment plus how the reference page writes it; a component name
is a ``{"$ref": "#/definitions/<kind>"}`` the generator fills with the built-in names (plugins and
globs stay allowed).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from serbench.attacks.base import DOMAINS, NORMS
from serbench.bench.cells import DEFAULT_PRECISION, PRECISIONS
from serbench.bench.identity import EXCLUDE_FIELDS
from serbench.data.segments import WINDOW as SEGMENT_WINDOW
from serbench.engine import schedules
from serbench.engine.layout import DEFAULT_MEMORY_FORMAT, MEMORY_FORMATS
from serbench.features import FRONTEND_KINDS, WINDOWS, FrontendConfig
from serbench.features import PRESETS as FRONTEND_PRESETS
from serbench.features import _SIZES as FRONTEND_SIZES
from serbench.normalization import _CONSTRUCTOR_KEYS
from serbench.normalization import DEFAULT_NORMALIZATION, NORMALIZATIONS

PARTITIONS = ("valid", "test")
# Longest utterance (pad/crop or segment cap) a spec may ask for: every batch holds batch_size x seconds x
# sample_rate samples and their features, so ``seconds: 1e9`` cannot fit in memory.
MAX_SECONDS = 600.0
MIN_SECONDS = 0.1


class _Missing:
    """No default: the field is required, or absent means "none"."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Type:
    """A JSON Schema fragment and the words the reference page uses for it."""

    schema: dict[str, Any]
    text: str


@dataclass(frozen=True)
class Field:
    """One spec field. ``default_text`` replaces the default on the reference page where it depends on
    something else (a preset); ``default`` is then the default preset's value."""

    name: str
    type: Type
    doc: str
    default: Any = MISSING
    example: Any = MISSING
    default_text: str = ""


@dataclass(frozen=True)
class Section:
    """A mapping of fields; ``path`` is how messages and the reference page name it (``frontend.segments``)."""

    path: str
    doc: str
    fields: tuple[Field, ...]
    required: tuple[str, ...] = ()
    # ``name`` value -> the other fields that value allows (a normalisation option's own parameters); None: all.
    variants: Mapping[str, tuple[str, ...]] | None = None

    def names(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields)

    def __getitem__(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.path or 'spec'} has no field {name!r}")

    def default(self, name: str) -> Any:
        """The field's default; a list default is a fresh copy (callers may change what they get)."""
        value = self[name].default
        if value is MISSING:
            raise KeyError(f"{self.path or 'spec'}.{name} has no default")
        return list(value) if isinstance(value, list) else value


# -- types ------------------------------------------------------------------------------------------------------
def _words(values: Iterable[Any]) -> str:
    return ", ".join(f"`{v}`" for v in values)


def _bounded(schema: dict[str, Any], name: str, bounds: dict[str, tuple[str, float | None]]) -> Type:
    """``schema`` with each given bound (JSON Schema keyword -> (symbol, value)), and its words."""
    words = []
    for keyword, (symbol, value) in bounds.items():
        if value is not None:
            schema[keyword] = value
            words.append(f"{symbol} {value:g}")
    return Type(schema, name + (f" ({', '.join(words)})" if words else ""))


def number(*, minimum: float | None = None, maximum: float | None = None,
           exclusive_minimum: float | None = None) -> Type:
    return _bounded({"type": "number"}, "number", {"minimum": (">=", minimum),
                                                   "exclusiveMinimum": (">", exclusive_minimum),
                                                   "maximum": ("<=", maximum)})


def integer(*, minimum: int | None = None) -> Type:
    return _bounded({"type": "integer"}, "integer", {"minimum": (">=", minimum)})


def string(choices: Iterable[str] | None = None) -> Type:
    if choices is None:
        return Type({"type": "string"}, "string")
    values = list(choices)
    return Type({"type": "string", "enum": values}, f"one of {_words(values)}")


def boolean() -> Type:
    return Type({"type": "boolean"}, "boolean")


def anything_mapping() -> Type:
    """A component's ``params``: what they may hold is the component's to say (``serbench info``)."""
    return Type({"type": ["object", "null"]}, "mapping")


def nullable(t: Type) -> Type:
    return Type({"anyOf": [t.schema, {"type": "null"}]}, f"{t.text} or null")


def either(*alternatives: Type) -> Type:
    return Type({"anyOf": [t.schema for t in alternatives]}, " or ".join(t.text for t in alternatives))


def list_of(t: Type, *, size: int | None = None) -> Type:
    """A non-empty list (eps, SNRs, seeds, severities: a single value is refused); ``size``: exactly that many."""
    schema = {"type": "array", "items": t.schema, "minItems": size or 1}
    if size:
        schema["maxItems"] = size
    return Type(schema, f"list of {size} {t.text}" if size else f"list of {t.text}")


def one_or_list(t: Type) -> Type:
    """One item or a non-empty list of them (:meth:`SpecReader.listing`: a lone name or mapping is a list of one)."""
    return Type({"anyOf": [t.schema, {"type": "array", "items": t.schema, "minItems": 1}]},
                f"{t.text}, or a list of them")


def name_of(kind: str) -> Type:
    """A component name: a built-in, a plugin's ``ns.name``, a variant ``name.tag`` or a glob."""
    return Type({"$ref": f"#/definitions/{kind}"}, f"{kind[:-1]} name")


def mapping(section: Section, *, required: tuple[str, ...] | None = None) -> Type:
    """A mapping of exactly the section's fields (an unknown key is refused, as the reader refuses it);
    ``required`` overrides the section's required fields. The generator expands the marker."""
    marker: dict[str, Any] = {"$section": section.path}
    if required is not None:
        marker["$required"] = list(required)
    return Type(marker, f"mapping (`{section.path}`)")


def component(kind: str, section: Section, *, required: tuple[str, ...] | None = None) -> Type:
    """A component name, or the mapping of ``section`` (``{name, params}`` and the item's own fields)."""
    return either(name_of(kind), mapping(section, required=required))


def dataclass_fields(cls: type, presets: Mapping[str, Any], default_preset: str, docs: Mapping[str, str],
                     choices: Mapping[str, Iterable[str]], minimum: Mapping[str, float],
                     examples: Mapping[str, Any], exclusive_minimum: Mapping[str, float] = {},
                     maximum: Mapping[str, float] = {}, skip: Iterable[str] = ()) -> tuple[Field, ...]:
    """The fields of dataclass ``cls`` as spec fields: types from its annotations, defaults from each preset.

    Every field needs a description in ``docs`` and an example in ``examples``: a new field of the dataclass
    fails here (and so the schema test) until it is documented.
    """
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        if f.name not in docs or f.name not in examples:
            raise KeyError(f"{cls.__name__}.{f.name} has no description or example in serbench.bench.spec_fields")
        hint, optional = hints[f.name], False
        if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
            args = [a for a in typing.get_args(hint) if a is not type(None)]
            optional, hint = len(args) < len(typing.get_args(hint)), args[0]
        if f.name in choices:
            t = string(choices[f.name])
        elif hint is bool:
            t = boolean()
        elif hint is int:
            t = integer(minimum=minimum.get(f.name))
        elif hint is float:
            t = number(minimum=minimum.get(f.name), exclusive_minimum=exclusive_minimum.get(f.name),
                       maximum=maximum.get(f.name))
        elif hint is str:
            t = string()
        else:
            raise TypeError(f"{cls.__name__}.{f.name}: no spec type for {hint!r}")
        t = nullable(t) if optional else t
        values = {name: getattr(p, f.name) for name, p in presets.items()}
        default = values[default_preset]
        text = "" if len(set(map(repr, values.values()))) == 1 else "; ".join(
            f"{_plain(v)} ({name})" for name, v in values.items())
        out.append(Field(f.name, t, docs[f.name], default, examples[f.name], text))
    return tuple(out)


def _plain(value: Any) -> str:
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else f"{value}"


# -- the sections -------------------------------------------------------------------------------------------------
SEGMENTS = Section(
    "frontend.segments",
    "Latif et al.'s windows: the model is trained on windows of frames and an utterance's decision is the mean "
    "posterior over its windows; `true` takes the defaults. `frontend.seconds` then caps the audio kept.",
    (
        Field("window", integer(minimum=1), "Frames per window.", SEGMENT_WINDOW, 256),
        Field("hop", integer(minimum=1), "Frames between window starts; at most `window` (a larger hop would skip "
              "frames).", MISSING, 128, "the window"),
    ),
)

# The parameters of the normalisation options; which option takes which is the normalisation module's
# ``_CONSTRUCTOR_KEYS`` (the schema allows each only on its options, and fails on a key without a field here).
NORMALIZATION_PARAMS: dict[str, tuple[str, ...]] = {name: tuple(keys) for name, keys in _CONSTRUCTOR_KEYS.items()}
NORMALIZATION = Section(
    "frontend.normalization",
    "How features are scaled, which decides what a feature-domain eps means in dB per bin "
    "(`docs/methodology.md`). A name, or a mapping of the name and the option's parameters.",
    (
        Field("name", string(NORMALIZATIONS), "The option.", DEFAULT_NORMALIZATION, "standardize"),
        Field("percentiles", list_of(number(minimum=0, maximum=100), size=2),
              "`minmax-active` only: the low and high percentiles of the training values mapped to [0, 1] "
              "(null: the min and max).", None, [1, 99]),
        Field("clip", number(exclusive_minimum=0), "`standardize` only: z-scores are clipped to [-clip, clip].",
              5.0, 3.0),
    ),
    required=("name",),
    variants=NORMALIZATION_PARAMS,
)

FRONTEND_DOCS = {
    "kind": "`log-mel` (Mel filterbank, librosa's slaney defaults) or `stft` (log power linear spectrogram).",
    "sample_rate": "Rate (Hz) the front end expects; a corpus delivering another rate is refused when its model is "
                   "built (set the dataset's `sample_rate` parameter: the loaders resample).",
    "n_fft": "FFT size in samples.",
    "win_length": "Window length in samples (at most `n_fft`).",
    "hop_length": "Hop between frames in samples.",
    "n_mels": "Mel bins (`log-mel` only): the feature height.",
    "f_min": "Lowest Mel frequency in Hz.",
    "f_max": "Highest Mel frequency in Hz (null: half the sample rate).",
    "log_floor": "Power floor before the log (1e-10 = -100 dB): what zero padding and digital silence map to.",
    "top_db": "Clamp each utterance at its maximum minus `top_db` dB, as librosa's `power_to_db` (null: off).",
    "window_fn": "Analysis window.",
    "n_bins": "`stft` only: keep the lowest `n_bins` frequency bins (null: every bin up to Nyquist).",
}

FRONTEND = Section(
    "frontend",
    "The features every model of the spec sees: a preset with overrides, the length policy (`seconds`, or "
    "`segments`) and the normalisation. Every field enters the train cell's key.",
    (
        Field("preset", string(FRONTEND_PRESETS), "Ren et al.'s log-Mel (`ren2020`) or Latif et al.'s STFT "
              "spectrogram (`latif2020`); the fields below override it.", "ren2020", "latif2020"),
        Field("seconds", number(minimum=MIN_SECONDS, maximum=MAX_SECONDS),
              "Every utterance is padded or cut to this length (Ren et al.); with `segments`, the audio kept per "
              "utterance.", 3.0, 2.0),
        Field("segments", either(Type({"const": True}, "`true`"), mapping(SEGMENTS)),
              "Train on windows of frames and average posteriors per utterance (Latif et al.) instead of "
              "padding or cutting.", MISSING, {"window": 256, "hop": 256}, "off (pad/crop)"),
        Field("normalization", either(string(NORMALIZATIONS), mapping(NORMALIZATION)),
              "Feature scaling: `natural-log` (1 eps = 4.34 dB in every bin), `standardize`, `minmax-active`, or the "
              "legacy `minmax`.", DEFAULT_NORMALIZATION, "standardize"),
    ) + dataclass_fields(
        FrontendConfig, FRONTEND_PRESETS, "ren2020", FRONTEND_DOCS,
        choices={"kind": FRONTEND_KINDS, "window_fn": tuple(WINDOWS)},
        minimum={**{name: 1 for name in FRONTEND_SIZES + ("n_bins",)}, "f_min": 0},
        exclusive_minimum={"log_floor": 0, "top_db": 0},
        examples={"kind": "stft", "sample_rate": 8000, "n_fft": 1024, "win_length": 400, "hop_length": 160,
                  "n_mels": 128, "f_min": 50.0, "f_max": 7600.0, "log_floor": 1e-8, "top_db": 80.0,
                  "window_fn": "hamming", "n_bins": 128},
    ),
)

THREADS_SCHEMA = either(string([schedules.THREADS_AUTO]), integer(minimum=1))
TRAINING_DOCS = {
    "lr": "Adam's learning rate.",
    "batch_size": "Examples per optimisation step.",
    "lr_decay": "Multiply the learning rate by this every `lr_step` iterations (Ren et al.; 1: off).",
    "lr_step": "Iterations between learning-rate decays.",
    "iterations": "Fixed budget of optimisation steps; 0: use `max_epochs`.",
    "max_epochs": "Budget in epochs when `iterations` is 0.",
    "plateau_patience": "Multiply the learning rate by `plateau_factor` after this many validations without "
                        "improvement (Latif et al.; 0: off).",
    "plateau_factor": "The plateau's learning-rate factor.",
    "stop_patience": "Stop after this many validations without improvement (0: off).",
    "eval_every": "Validate every this many iterations (0: once per epoch); the best checkpoint on validation UAR "
                  "is kept.",
    "weight_decay": "Adam's weight decay.",
    "fit_on": "`train` (select on valid) or `train+valid` (Ren et al.'s final models: fixed budget, last weights; "
              "evaluate test only).",
}

TRAINING = Section(
    "training",
    "A named schedule with overrides; every field enters the train cell's key. Model selection always uses the "
    "validation partition, never test.",
    (
        Field("schedule", string(schedules.PRESETS), "The preset: `ren2020` (Adam 1e-3, lr x0.9 every 100 "
              "iterations, fixed budget) or `latif2020` (halve the lr after 5 validations without gain, stop after "
              "20).", "ren2020", "latif2020"),
        Field("memory_format", string(MEMORY_FORMATS), "Memory layout of the model and its 4-D inputs. `auto` "
              "resolves by a fixed rule of device type and model (`serbench.engine.layout`: channels_last for "
              "convolutional models on cpu and cuda); the resolved layout enters the key where it is not "
              "contiguous, since it changes the trained model's numbers.", DEFAULT_MEMORY_FORMAT, "contiguous"),
        Field("threads", THREADS_SCHEMA, "CPU threads each cell trains and is evaluated with. `auto`: the run's "
              "(`serbench run --threads`, default the CPUs the process may use). The resolved count enters a CPU "
              "cell's key (a convolution's backward splits its sums by thread, so it changes the numbers); pin it "
              "to make a spec's keys the same on every machine.", schedules.THREADS_AUTO, 2),
    ) + dataclass_fields(
        schedules.Schedule, schedules.PRESETS, "ren2020", TRAINING_DOCS,
        choices={"fit_on": schedules.FIT_ON},
        minimum={**{name: 1 for name in schedules._POSITIVE_INTS}, **{name: 0 for name in schedules._COUNTS},
                 "weight_decay": 0},
        exclusive_minimum={"lr": 0, **{name: 0 for name in schedules._FRACTIONS}},
        maximum={name: 1 for name in schedules._FRACTIONS},
        examples={"lr": 0.0005, "batch_size": 64, "lr_decay": 0.5, "lr_step": 200, "iterations": 400,
                  "max_epochs": 50, "plateau_patience": 3, "plateau_factor": 0.1, "stop_patience": 10,
                  "eval_every": 50, "weight_decay": 0.0001, "fit_on": "train+valid"},
        skip=("name", "memory_format", "threads"),  # declared above, whether or not the dataclass holds them
    ),
)

EVALUATION = Section(
    "evaluation",
    "How eval cells are computed. Batch sizes do not change results and stay out of the keys; a precision other "
    "than fp32 enters every eval cell's key.",
    (
        Field("batch_size", nullable(integer(minimum=1)), "Rows per batch when predicting (clean, noise, "
              "corruption); null: 256 on a CPU, on a GPU the largest power of two whose working set fits half the "
              "free memory.", None, 512),
        Field("attack_batch_size", nullable(integer(minimum=1)), "Rows per batch when attacking; null: 128 on a "
              "CPU, sized to the free memory on a GPU.", None, 64),
        Field("precision", string(PRECISIONS), "`bf16` or `fp16` run evaluation and attacks under autocast; budgets "
              "are still checked in fp32. Prefer `bf16`: `fp16` can underflow input gradients.",
              DEFAULT_PRECISION, "bf16"),
        Field("perceptual_utterances", integer(minimum=0), "Waveform attack, noise and corruption cells record SNR, "
              "segmental SNR, PESQ and STOI of the changed audio against the clean, over the first this-many test "
              "utterances by id (PESQ and STOI together cost ~0.1-0.3 s per utterance on a CPU); 0: off. Stays "
              "out of the keys (the predictions do not depend on it; the record states the subset size): a cached "
              "cell keeps the measures it was computed with until `--force`.", 32, 0),
    ),
)

DATASET = Section(
    "dataset",
    "A corpus: its name (`serbench list datasets`), parameters (a local copy's folder is `params: {root: PATH}`; "
    "the root never enters a key, the files' content fingerprint does), protocol and folds.",
    (
        Field("name", name_of("datasets"), "The corpus.", MISSING, "iemocap"),
        Field("params", anything_mapping(), "The corpus's parameters (`serbench info datasets NAME`).", {},
              {"root": "/data/IEMOCAP_full_release"}),
        Field("protocol", string(), "A protocol the corpus declares.", MISSING, "leave-one-speaker-out",
              "the corpus's default"),
        Field("folds", either(string(), list_of(either(integer(minimum=0), string()))),
              "`all`, or fold indices or names.", "all", [0, 1]),
    ),
    required=("name",),
)

_EXAMPLE_NAMES = {"models": "cnn4.small", "defenses": "vanilla-adv", "attacks": "pgd", "noises": "babble",
                  "corruptions": "additive"}
_EXAMPLE_PARAMS = {"models": {"width": 0.5}, "defenses": {"eps": 0.02}, "attacks": {"steps": 20},
                   "noises": {"talkers": 4}, "corruptions": {"noise": "pink"}}
_EXAMPLE_GLOBS = {"models": "cnn4*", "defenses": "*-adv", "attacks": "torchattacks.*", "noises": "*",
                  "corruptions": "*clipping"}


def _component_section(kind: str, path: str, doc: str, extra: tuple[Field, ...] = (),
                       required: tuple[str, ...] = ("name",)) -> Section:
    name = Field("name", name_of(kind), "A name (built-in, a plugin's `ns.name`, a variant `name.tag`) or a "
                 f"glob (`{_EXAMPLE_GLOBS[kind]}`).", MISSING, _EXAMPLE_NAMES[kind])
    params = Field("params", anything_mapping(),
                   f"The {kind[:-1]}'s parameters over its defaults (`serbench info {kind} NAME`).", {},
                   _EXAMPLE_PARAMS[kind])
    return Section(path, doc, (name, params) + extra, required)


MODEL = _component_section("models", "models[]", "A model: a name or `{name, params}`.")
DEFENSE = _component_section("defenses", "defenses[]", "A training procedure: a name or `{name, params}`.")

_ATTACK_BUDGET = (
    Field("eps", list_of(number()), "The budgets, in the norm's units (`snr`: dB); each is a cell.", MISSING,
          [0.01, 0.04, 0.1]),
    Field("domain", string(DOMAINS), "`feature`: the scaled features; `waveform`: samples in [-1, 1], gradients "
          "through the front end.", "feature", "waveform"),
    Field("norm", string(NORMS), "The budget's norm; `snr` (dB of the perturbation against the signal) is for the "
          "waveform domain only.", "linf", "l2"),
)
ATTACK = _component_section(
    "attacks", "attacks[]", "A white-box attack with its threat model (a bare name is refused: it has no budget).",
    _ATTACK_BUDGET, required=("name", "eps"))

NOISE = _component_section(
    "noises", "noises[]", "A noise mixed at each SNR over the speech (not the padding); a bare name is refused.",
    (Field("snr", list_of(number()), "SNRs in dB; each is a cell.", MISSING, [20, 10, 0]),), required=("name", "snr"))

CORRUPTION = _component_section(
    "corruptions", "corruptions[]", "A signal-dependent corruption (SER-C) at its severities: a name, or "
    "`{name, params, severity}`.",
    (Field("severity", list_of(integer(minimum=1)), "Severities, 1 (mildest) to the corruption's number of levels "
           "(5 for every built-in).", MISSING, [1, 3, 5], "every level"),))

TRANSFER_SOURCE = Section(
    "transfer[].source",
    "The model the attack is crafted on, trained on the same data, fold and seed as the target.",
    (
        Field("model", component("models", MODEL), "The source model.", MISSING, "cnn5.small"),
        Field("defense", component("defenses", DEFENSE), "The source model's defense.", "standard", "mixup"),
    ),
    required=("model",),
)

TRANSFER = Section(
    "transfer[]",
    "A black-box attack: crafted on a source model, scored on each target model. The budget fields sit here or in "
    "the `attack` mapping.",
    (
        Field("source", mapping(TRANSFER_SOURCE), "The source model and defense.", MISSING, {"model": "cnn5.small"}),
        Field("attack", component("attacks", ATTACK, required=("name",)), "The attack: a name, or a mapping as in "
              "`attacks`.", MISSING, "fgsm"),
        Field("params", anything_mapping(), "The attack's parameters.", {}, {"steps": 20}),
    ) + _ATTACK_BUDGET,
    required=("source", "attack"),
)

_EXCLUDE_DOCS = {"type": "the condition: `clean`, `attack`, `transfer`, `noise`, `corruption` or `worst_case`",
                 "eps": "the attack budget", "snr": "the noise SNR in dB"}
_EXCLUDE_EXAMPLES = {"dataset": "cross-corpus", "protocol": "leave-one-speaker-out", "fold": 0, "model": "cnn4*",
                     "defense": "*-adv", "seed": [1, 2], "partition": "valid", "type": ["attack", "noise"],
                     "attack": "pgd", "noise": "babble", "eps": [0.08, 0.1], "snr": 0, "domain": "waveform",
                     "norm": "l2", "corruption": "mp3", "severity": [4, 5]}
EXCLUDE_RULE = Section(
    "exclude[]",
    "A rule: a cell is dropped when every field the rule names matches (a glob for names, a number, or a list of "
    "alternatives). A rule that matches nothing is reported.",
    tuple(Field(name, one_or_list(Type({"type": ["string", "number"]}, "name, glob or number")),
                f"Match {_EXCLUDE_DOCS.get(name, 'the ' + name)}.", MISSING, _EXCLUDE_EXAMPLES[name])
          for name in EXCLUDE_FIELDS),
)

_DATASET_TYPE = one_or_list(either(name_of("datasets"), mapping(DATASET)))

SPEC = Section(
    "",
    "The top level of a spec file. It expands into train cells (dataset x fold x model x defense x seed) and eval "
    "cells (each trained model x every condition: clean, each attack and eps, noise and SNR, corruption and "
    "severity, transfer).",
    (
        Field("name", string(), "The spec's name, carried by every record.", MISSING, "quickstart", "the file's stem"),
        Field("description", string(), "Free text.", "", "cnn4.small under FGSM"),
        Field("include", one_or_list(string()), "Base spec file(s), relative to this one; this file's top-level "
              "fields replace theirs (a section is replaced whole, not merged).", MISSING, "quickstart.yaml"),
        Field("dataset", _DATASET_TYPE, "The corpus (or corpora) with protocol and folds; give `dataset` or "
              "`datasets`.", MISSING, {"name": "synthetic", "protocol": "leave-one-session-out", "folds": [0]}),
        Field("datasets", _DATASET_TYPE, "Several corpora (the same form as `dataset`).", MISSING,
              [{"name": "iemocap", "protocol": "leave-one-speaker-out"}]),
        Field("frontend", mapping(FRONTEND), "Features, length policy and normalisation.", {},
              {"preset": "ren2020", "seconds": 2.0}),
        Field("training", mapping(TRAINING), "The training schedule.", {}, {"schedule": "ren2020", "iterations": 400}),
        Field("models", one_or_list(component("models", MODEL)), "The models; each is trained once per dataset, "
              "fold, defense and seed.", MISSING, ["cnn4.small"]),
        Field("defenses", one_or_list(component("defenses", DEFENSE)), "Training procedures.", ["standard"],
              ["standard", {"name": "mixup", "params": {"alpha": 0.2}}]),
        Field("seeds", list_of(integer()), "Seeds; each is a train cell (initialisation, batch order, noise draws).",
              [0], [0, 1, 2]),
        Field("partitions", one_or_list(string(PARTITIONS)), "Partitions evaluated; `valid` only when training fits "
              "on `train`.", ["test"], ["valid", "test"]),
        Field("attacks", one_or_list(mapping(ATTACK)), "White-box attacks with their budgets.", MISSING,
              [{"name": "fgsm", "eps": [0.02, 0.05, 0.1]}], "none"),
        Field("worst_case", boolean(), "Also score, at each budget, the utterances that survive every attack of the "
              "threat model (transfers included).", False, True),
        Field("transfer", one_or_list(mapping(TRANSFER)), "Black-box transfer attacks.", MISSING,
              [{"source": {"model": "cnn5.small"}, "attack": "fgsm", "eps": [0.05]}], "none"),
        Field("noises", one_or_list(mapping(NOISE)), "Noises with their SNRs.", MISSING,
              [{"name": "white", "snr": [20, 10, 0]}], "none"),
        Field("corruptions", one_or_list(component("corruptions", CORRUPTION)), "Corruptions with their severities.",
              MISSING, ["reverb", {"name": "mp3", "severity": [1, 5]}], "none"),
        Field("exclude", one_or_list(mapping(EXCLUDE_RULE)), "Rules that drop cells.", MISSING,
              [{"dataset": "cross-corpus", "type": ["attack", "noise"]}], "none"),
        Field("evaluation", mapping(EVALUATION), "Batch sizes and precision of eval cells.", {}, {"precision": "bf16"}),
    ),
)

# Every section, parents first: the order of the reference page.
SECTIONS: tuple[Section, ...] = (SPEC, DATASET, FRONTEND, SEGMENTS, NORMALIZATION, TRAINING, MODEL, DEFENSE, ATTACK,
                                 TRANSFER, TRANSFER_SOURCE, NOISE, CORRUPTION, EXCLUDE_RULE, EVALUATION)
BY_PATH: dict[str, Section] = {s.path: s for s in SECTIONS}
