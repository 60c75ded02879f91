"""A spec's axes: the datasets, attacks, noises and transfers it lists, resolved, and their identities.

Kept apart from the reader (:mod:`serbench.bench.spec_sections`) and the expansion
(:mod:`serbench.bench.matrix`), which both build on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from serbench.bench.identity import without_location
from serbench.errors import SpecError
from serbench.registry import Resolved
from serbench.suggest import did_you_mean

if TYPE_CHECKING:
    from serbench.data.corpus import Corpus


@dataclass(frozen=True)
class DatasetAxis:
    """A corpus of the spec, its protocol and folds. ``protocol`` is the name cells are keyed by: the
    corpus's default when the spec names none (None only until the runner loads a corpus whose
    factory does not declare its protocols, see :func:`serbench.data.corpus.declare_protocols`)."""

    resolved: Resolved
    protocol: str | None
    folds: tuple[int | str, ...] | None  # None = every fold
    where: str = field(default="dataset", compare=False)  # its field path in the spec, for messages

    def resolved_for(self, corpus: Corpus, path: str) -> DatasetAxis:
        """This axis checked against its loaded corpus (its listing; no audio is read): the protocol named
        (the corpus's default when the spec names none) and known, every fold asked for present."""
        protocol = self.protocol if self.protocol is not None else corpus.default_protocol
        if protocol not in corpus.protocols:
            raise SpecError(f"{path}: {self.where}.protocol: "
                            f"{unknown_protocol(protocol, self.resolved.requested, sorted(corpus.protocols))}")
        if self.folds is not None:
            folds = corpus.folds(protocol)
            names = [f.name for f in folds]
            for j, f in enumerate(self.folds):
                if (f not in names) if isinstance(f, str) else not 0 <= f < len(folds):
                    raise SpecError(
                        f"{path}: {self.where}.folds[{j}]: protocol {protocol!r} of dataset "
                        f"{self.resolved.requested!r} has no fold {f!r}; its {len(folds)} folds are 0..{len(folds) - 1}"
                        f" or by name {', '.join(names)}")
        return replace(self, protocol=protocol)


@dataclass(frozen=True)
class AttackAxis:
    resolved: Resolved
    domain: str
    norm: str
    eps: tuple[float, ...]


@dataclass(frozen=True)
class NoiseAxis:
    resolved: Resolved
    snr: tuple[float, ...]


@dataclass(frozen=True)
class CorruptionAxis:
    """A corruption and the severities (1..5) it is evaluated at."""

    resolved: Resolved
    severity: tuple[int, ...]


@dataclass(frozen=True)
class TransferAxis:
    """Craft ``attack`` on the (source model, source defense) trained on the same data, fold and seed."""

    source_model: Resolved
    source_defense: Resolved
    attack: AttackAxis


def unknown_protocol(protocol: str, dataset: str, known: list[str] | tuple[str, ...]) -> str:
    """The message for a protocol the dataset does not have, read from its declaration or its loaded corpus."""
    hint = did_you_mean(protocol, list(known))
    return f"unknown protocol {protocol!r} for dataset {dataset!r}{hint} (protocols: {', '.join(known)})"


def dataset_identity(resolved: Resolved) -> dict[str, Any]:
    """A dataset's part of a cell key: where the local copy lives (``root``, at any depth) is left out,
    so the same corpus read from another folder or machine gives the same cells. What the data is
    enters beside it, as the corpus's content fingerprint (see :meth:`Spec.all_train_cells`)."""
    ident = resolved.identity()
    return {**ident, "params": without_location(ident["params"])}


def attack_identity(a: AttackAxis) -> dict[str, Any]:
    params = {k: v for k, v in a.resolved.params.items() if k not in ("eps", "norm", "domain")}
    return {**a.resolved.identity(), "params": params}
