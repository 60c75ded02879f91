"""Evaluation conditions as types: what an eval cell does to a trained model's test data.

A condition is one of :class:`Clean`, :class:`Noise`, :class:`Attack`, :class:`Transfer` or
:class:`WorstCase`. Each gives its :attr:`~Condition.identity` (the plain dict that enters the
cell's key and its record, exactly as records have always stored it), its label, and is rebuilt
from a record's dict by :func:`condition_from`. Code that needs to act per kind looks the kind up
in a table keyed by the class (the runner's evaluators, :mod:`serbench.bench.evaluators`) instead
of comparing ``type`` strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Protocol

from serbench.canonical import canonical_json

if TYPE_CHECKING:
    from serbench.registry import Resolved

Identity = dict[str, Any]
Role = str  # what a component is in a condition: "noise", "attack", "source-model", "source-defense"


@dataclass(frozen=True)
class Column:
    """Where a condition's results go on a board: title, kind (clean | attack | transfer | worst_case | noise |
    corruption, and the derived corruption_mean | corruption_summary) and coordinates."""

    title: str
    kind: str
    name: str = ""
    eps: float | None = None
    snr_db: float | None = None
    derived: bool = False  # computed from other columns: a worst case's minimum, a corruption summary
    severity: int | None = None
    lower_is_better: bool = False  # a corruption error, where the best row holds the smallest value

    @property
    def order(self) -> tuple:
        rank = {"clean": 0, "attack": 1, "transfer": 2, "worst_case": 3, "noise": 4, "corruption": 5,
                "corruption_mean": 6, "corruption_summary": 7}[self.kind]
        return (rank, self.name, self.eps if self.eps is not None else 0.0,
                -(self.snr_db if self.snr_db is not None else 0.0), self.severity or 0)


class Labels(Protocol):
    """Names components on one board (:class:`serbench.leaderboard.aggregate.ConditionLabels`)."""

    name_worst_case_sets: bool

    def __call__(self, role: Role, component: Identity) -> str: ...

    def transfer(self, condition: Identity) -> str: ...

    def worst_case_set(self, condition: Identity) -> tuple[str, ...]: ...


class Condition:
    """Base of the five condition kinds; ``kind`` is the ``type`` field of the identity."""

    kind: ClassVar[str] = ""

    def components(self) -> list[tuple[Role, Identity]]:
        """The components it names, each with its role (what same-named variants are told apart among)."""
        return []

    def column(self, labels: Labels) -> Column:
        """Its board column; ``labels`` name its components as the board tells variants apart."""
        raise NotImplementedError

    @property
    def identity(self) -> Identity:
        raise NotImplementedError

    def label(self, partition: str) -> str:
        """Short human-readable description, for progress and failure lines."""
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Condition) and self.identity == other.identity

    def __hash__(self) -> int:
        return hash(canonical_json(self.identity))


@dataclass(frozen=True, eq=False)
class Clean(Condition):
    """The test data as it is."""

    kind: ClassVar[str] = "clean"

    @property
    def identity(self) -> Identity:
        return {"type": "clean"}

    def label(self, partition: str) -> str:
        return f"clean/{partition}"

    def column(self, labels: Labels) -> Column:
        return Column("clean", "clean")


@dataclass(frozen=True, eq=False)
class Noise(Condition):
    """Noise of a registered generator (its identity: name, version, params) mixed at ``snr_db`` over speech."""

    kind: ClassVar[str] = "noise"
    noise: Identity
    snr_db: float

    @property
    def identity(self) -> Identity:
        return {"type": "noise", "noise": self.noise, "snr_db": self.snr_db}

    def label(self, partition: str) -> str:
        return f"noise {self.noise['name']} @ {self.snr_db:g} dB/{partition}"

    def components(self) -> list[tuple[Role, Identity]]:
        return [("noise", self.noise)]

    def column(self, labels: Labels) -> Column:
        name, snr = labels("noise", self.noise), float(self.snr_db)
        return Column(f"{name} {snr:g} dB", "noise", name, snr_db=snr)


@dataclass(frozen=True, eq=False)
class Corrupted(Condition):
    """A corruption (its identity: name, version, params) applied to the speech at ``severity`` (1..5)."""

    kind: ClassVar[str] = "corruption"
    corruption: Identity
    severity: int

    @property
    def identity(self) -> Identity:
        return {"type": "corruption", "corruption": self.corruption, "severity": self.severity}

    def label(self, partition: str) -> str:
        return f"corruption {self.corruption['name']} severity {self.severity}/{partition}"

    def components(self) -> list[tuple[Role, Identity]]:
        return [("corruption", self.corruption)]

    def column(self, labels: Labels) -> Column:
        name = labels("corruption", self.corruption)
        return Column(f"{name} s{self.severity}", "corruption", name, severity=int(self.severity))


class _Threatened(Condition):
    """A condition with a budget: ``threat`` is the spec's {domain, norm, eps}."""

    threat: Identity

    def budget_label(self, partition: str) -> str:
        t = self.threat
        return f"{t['domain']} {t['norm']} eps={t['eps']:g}/{partition}"


@dataclass(frozen=True, eq=False)
class Attack(_Threatened):
    """A white-box attack (its identity: name, version, params) at the threat model's budget."""

    kind: ClassVar[str] = "attack"
    attack: Identity
    threat: Identity

    @property
    def identity(self) -> Identity:
        return {"type": "attack", "attack": self.attack, "threat": self.threat}

    def label(self, partition: str) -> str:
        return f"attack {self.attack['name']} {self.budget_label(partition)}"

    def components(self) -> list[tuple[Role, Identity]]:
        return [("attack", self.attack)]

    def column(self, labels: Labels) -> Column:
        name, eps = labels("attack", self.attack), float(self.threat["eps"])
        return Column(f"{name} {eps:g}", "attack", name, eps=eps)


@dataclass(frozen=True, eq=False)
class Transfer(_Threatened):
    """An attack crafted on ``source`` ({model, defense} identities, same data and seed), scored on this model."""

    kind: ClassVar[str] = "transfer"
    source: Identity
    attack: Identity
    threat: Identity
    # The source's (model, defense) components, where the cell was expanded from a spec (not in the identity;
    # a condition read back from a record has none): TrainCell.source_of builds the source cell from them.
    source_parts: tuple[Resolved, Resolved] | None = None

    @property
    def identity(self) -> Identity:
        return {"type": "transfer", "source": self.source, "attack": self.attack, "threat": self.threat}

    def label(self, partition: str) -> str:
        return f"transfer {self.attack['name']} from {self.source['model']['name']} {self.budget_label(partition)}"

    def components(self) -> list[tuple[Role, Identity]]:
        return [("attack", self.attack), ("source-model", self.source["model"])] + (
            [("source-defense", self.source["defense"])] if self.source.get("defense") else [])

    def column(self, labels: Labels) -> Column:
        name, eps = labels.transfer(self.identity), float(self.threat["eps"])
        return Column(f"{name} {eps:g}", "transfer", name, eps=eps)


@dataclass(frozen=True, eq=False)
class WorstCase(_Threatened):
    """Per utterance, the worst of every attack and transfer of one threat model (computed from their records)."""

    kind: ClassVar[str] = "worst_case"
    threat: Identity
    attacks: tuple[Identity, ...]
    transfers: tuple[Identity, ...] = ()  # each {source, attack}

    @property
    def identity(self) -> Identity:
        ident = {"type": "worst_case", "threat": self.threat, "attacks": list(self.attacks)}
        return ident | ({"transfers": list(self.transfers)} if self.transfers else {})

    def label(self, partition: str) -> str:
        return f"worst case of {len(self.attacks) + len(self.transfers)} attacks {self.budget_label(partition)}"

    def components(self) -> list[tuple[Role, Identity]]:
        return [part for condition in self.inputs() for part in condition.components()]

    def column(self, labels: Labels) -> Column:
        name, eps = "worst-case", float(self.threat["eps"])
        if labels.name_worst_case_sets:
            name += f"({', '.join(labels.worst_case_set(self.identity))})"
        return Column(f"{name} {eps:g}", "worst_case", name, eps=eps)

    def inputs(self) -> list[Attack | Transfer]:
        """The conditions whose records it is computed from."""
        return ([Attack(a, self.threat) for a in self.attacks]
                + [Transfer(t["source"], t["attack"], self.threat) for t in self.transfers])


_FROM_IDENTITY: dict[str, Callable[[Identity], Condition]] = {
    "clean": lambda i: Clean(),
    "noise": lambda i: Noise(i["noise"], i["snr_db"]),
    "corruption": lambda i: Corrupted(i["corruption"], i["severity"]),
    "attack": lambda i: Attack(i["attack"], i["threat"]),
    "transfer": lambda i: Transfer(i["source"], i["attack"], i["threat"]),
    "worst_case": lambda i: WorstCase(i["threat"], tuple(i["attacks"]), tuple(i.get("transfers") or ())),
}
KINDS: dict[str, type[Condition]] = {c.kind: c for c in (Clean, Noise, Corrupted, Attack, Transfer, WorstCase)}


def condition_from(identity: Identity) -> Condition:
    """The typed condition of a stored identity (a record's ``condition``)."""
    kind = identity.get("type")
    if kind not in _FROM_IDENTITY:
        raise ValueError(f"unknown condition type {kind!r}; known: {', '.join(KINDS)}")
    return _FROM_IDENTITY[kind](identity)
