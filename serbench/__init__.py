"""serbench: how robust are speech emotion recognition models, really?

Public API (what plugins and users import):

- registry: :func:`list_components`, :func:`get`, :func:`resolve`, :func:`info`,
  :func:`register` (built-ins) and :func:`component` (plugin metadata), ``KINDS``.
- contracts: :class:`Corpus`, :class:`Utterance`, :class:`Fold`, :class:`SERModel`,
  :class:`WaveformModel` (with :func:`active_lengths`),
  :class:`Attack`, :class:`ThreatModel`, :class:`Defense`, :class:`TrainBatch`, :class:`Noise`.
- helpers: :func:`check_budget`, :func:`perturbation`, :func:`input_gradient`, :func:`mix_at_snr`,
  :func:`select_minimal` and :func:`minimal_summary` (minimal-perturbation attacks),
  :func:`read_audio`, :mod:`serbench.features`.
- errors: :class:`SerbenchError` and subclasses.
"""

from __future__ import annotations

__version__ = "0.1.0"

from serbench.errors import (  # noqa: E402
    BudgetViolation,
    DataError,
    DuplicateComponentError,
    PluginLoadError,
    SerbenchError,
    SpecError,
    UnknownComponentError,
)
from serbench.registry import KINDS, component, get, info, list_components, register, registry, resolve  # noqa: E402


def __getattr__(name: str):  # lazy: importing serbench must not import torch-heavy modules
    lazy = {
        "Corpus": "serbench.data.corpus", "Utterance": "serbench.data.corpus", "Fold": "serbench.data.protocols",
        "leave_one_session_out": "serbench.data.protocols", "leave_one_speaker_out": "serbench.data.protocols",
        "speaker_kfold": "serbench.data.protocols", "GeneratedCorpus": "serbench.data.generated",
        "declare_protocols": "serbench.data.corpus",
        "read_audio": "serbench.data.audio",
        "SERModel": "serbench.models.base",
        "WaveformModel": "serbench.models.waveform", "active_lengths": "serbench.models.waveform",
        "Attack": "serbench.attacks.base", "ThreatModel": "serbench.attacks.base",
        "input_gradient": "serbench.attacks.base",
        "library_attack_class": "serbench.attacks.library",
        "select_minimal": "serbench.attacks.minimal", "minimal_summary": "serbench.attacks.minimal",
        "check_budget": "serbench.attacks.budget", "perturbation": "serbench.attacks.budget",
        "Defense": "serbench.defenses.base", "TrainBatch": "serbench.defenses.base",
        "Noise": "serbench.noises.base", "mix_at_snr": "serbench.noises.base",
        "Corruption": "serbench.corruptions.base",
    }
    if name in lazy:
        import importlib

        return getattr(importlib.import_module(lazy[name]), name)
    raise AttributeError(f"module 'serbench' has no attribute {name!r}")


__all__ = [
    "__version__", "KINDS", "component", "get", "info", "list_components", "register", "registry", "resolve",
    "SerbenchError", "SpecError", "DataError", "BudgetViolation", "PluginLoadError", "UnknownComponentError",
    "DuplicateComponentError",
    "Corpus", "GeneratedCorpus", "Utterance", "Fold", "leave_one_session_out", "leave_one_speaker_out",
    "speaker_kfold", "declare_protocols", "read_audio", "SERModel",
    "WaveformModel", "active_lengths", "Attack", "ThreatModel", "input_gradient",
    "library_attack_class", "select_minimal", "minimal_summary", "check_budget", "perturbation", "Defense",
    "TrainBatch", "Noise", "mix_at_snr",
    "Corruption",
]
