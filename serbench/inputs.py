"""What a model takes as input: ``spectrogram`` (the harness's front end and normalisation) or ``waveform``.

Torch-free, so readers of records and specs can ask without importing torch. The contract of waveform models
is in :mod:`serbench.models.waveform`.
"""

from __future__ import annotations

SPECTROGRAM = "spectrogram"
WAVEFORM = "waveform"
INPUT_KINDS = (SPECTROGRAM, WAVEFORM)
# The normalisation a waveform model's cells name: none, the samples reach the model as they are.
WAVEFORM_NORMALIZATION = "none"


def input_kind(model_or_factory: object) -> str:
    """``spectrogram`` or ``waveform``: what a model (instance, class or factory) declares; undeclared or
    unknown means spectrogram, the contract every model had before waveform models existed."""
    kind = getattr(model_or_factory, "input_kind", SPECTROGRAM)
    return kind if kind in INPUT_KINDS else SPECTROGRAM


def model_sample_rate(factory: object, params: dict) -> int | None:
    """The sample rate a waveform model's input must be at: its ``sample_rate`` parameter, else the class's."""
    rate = params.get("sample_rate", getattr(factory, "sample_rate", None))
    return None if rate is None else int(rate)
