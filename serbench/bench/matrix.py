"""Matrix expansion: a spec's axes -> train cells and their eval cells, and the ``exclude`` rules.

A train cell is every (dataset, fold, model, defense, seed); its eval cells are every partition x
condition (clean, each noise at each SNR, each attack and transfer at each eps, and the worst case
of each threat model when asked for). An ``exclude`` rule drops the cells whose fields
(:func:`serbench.bench.identity.eval_fields`) all match it; a rule matching nothing is reported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from serbench.attacks.base import ThreatModel
from serbench.bench.axes import attack_identity
from serbench.bench.cells import DataPart, EvalCell, TrainCell
from serbench.bench.conditions import Attack, Clean, Corrupted, Noise, Transfer, WorstCase
from serbench.bench.identity import eval_fields, matches
from serbench.errors import SerbenchError
from serbench.inputs import WAVEFORM, input_kind

if TYPE_CHECKING:
    from serbench.bench.spec import Spec


def train_cells(spec: Spec, fold_counts: dict[int, int] | None = None,
                fingerprints: dict[int, str] | None = None) -> list[TrainCell]:
    """Every train cell with an eval cell left after ``exclude``; ``fold_counts`` gives the number
    of folds of datasets asking for all, ``fingerprints`` each dataset's content fingerprint
    (``Corpus.fingerprint()``; :meth:`LocalRunner.train_cells` loads the corpora and passes both).
    Without a fingerprint a cell can be listed and matched but has no key."""
    return [tc for tc in all_train_cells(spec, fold_counts, fingerprints) if eval_cells(spec, tc)]

def all_train_cells(spec: Spec, fold_counts: dict[int, int] | None,
                    fingerprints: dict[int, str] | None = None) -> list[TrainCell]:
    cells = []
    for d_index, d in enumerate(spec.datasets):
        folds = d.folds
        if folds is None:
            if fold_counts is None or d_index not in fold_counts:
                raise SerbenchError(f"{spec.path}: datasets[{d_index}]: fold count unknown; load the corpus")
            folds = tuple(range(fold_counts[d_index]))
        for fold in folds:
            for m in spec.models:
                for df in spec.defenses:
                    for seed in spec.seeds:
                        data = DataPart(d_index, d.resolved, d.protocol, fold, (fingerprints or {}).get(d_index))
                        cells.append(TrainCell(data, m, df, spec.frontend_part(m), spec.training, seed))
    return cells

def eval_cells(spec: Spec, train: TrainCell, *, apply_exclude: bool = True) -> list[EvalCell]:
    """The train cell's eval cells, ``exclude`` rules applied.

    The worst case of a threat model (domain, norm, eps) is over every attack evaluated on this train cell
    under it, white-box and transfer alike (a gradient-masked model survives white-box attacks that a
    transfer breaks): ``attacks`` lists the white-box identities, ``transfers`` (present only where some
    transfer applies) the ``{source, attack}`` of each transfer cell. It comes after all its inputs: it
    is computed from their records."""
    def kept(cell: EvalCell) -> bool:
        return not apply_exclude or excluded_by(spec, cell) is None

    cells = []
    for part in spec.partitions:
        cells.append(EvalCell(train, part, Clean(), spec.evaluation))
        for n in spec.noises:
            for snr in n.snr:
                cells.append(EvalCell(train, part, Noise(n.resolved.identity(), snr), spec.evaluation))
        for c in spec.corruptions:
            for severity in c.severity:
                cells.append(EvalCell(train, part, Corrupted(c.resolved.identity(), severity), spec.evaluation))
        by_threat: dict[str, tuple[dict, list[dict], list[dict]]] = {}
        for a in spec.attacks:
            for eps in a.eps:
                threat = ThreatModel(domain=a.domain, norm=a.norm, eps=eps).as_dict()
                attack = attack_identity(a)
                cell = EvalCell(train, part, Attack(attack, threat), spec.evaluation)
                if kept(cell):
                    cells.append(cell)
                    by_threat.setdefault(repr(sorted(threat.items())), (threat, [], []))[1].append(attack)
        for t in spec.transfer:
            source = {"model": t.source_model.identity(), "defense": t.source_defense.identity()}
            if source == {"model": train.model.identity(), "defense": train.defense.identity()}:
                continue  # crafting on oneself is the white-box attack, already covered
            for eps in t.attack.eps:
                threat = ThreatModel(domain=t.attack.domain, norm=t.attack.norm, eps=eps).as_dict()
                attack = attack_identity(t.attack)
                cell = EvalCell(train, part, Transfer(source, attack, threat, (t.source_model, t.source_defense)),
                                spec.evaluation)
                if kept(cell):
                    cells.append(cell)
                    by_threat.setdefault(repr(sorted(threat.items())), (threat, [], []))[2].append(
                        {"source": source, "attack": attack})
        if spec.worst_case:
            for threat, attacks, transfers in by_threat.values():
                if len(attacks) + len(transfers) > 1:
                    cells.append(EvalCell(train, part, WorstCase(threat, tuple(attacks), tuple(transfers)),
                                           spec.evaluation))
    kept_cells = [c for c in cells if kept(c)]
    for cell in kept_cells:
        check_input_kind(cell)
    return kept_cells


def check_input_kind(cell: EvalCell) -> None:
    """Refuse an attack the model's input kind rules out: a feature-domain attack on a waveform model (it has
    no features), or a transfer between models of different input kinds (the source cell would need the
    source's own front end, which a cell of this model does not carry)."""
    cond = cell.condition
    kind, model = cell.train.frontend.input_kind, cell.train.model.requested
    if not isinstance(cond, (Attack, Transfer)):
        return
    if kind == WAVEFORM and cond.threat.get("domain") == "feature":
        raise SerbenchError(
            f"attack {cond.attack['name']!r} (domain: feature) cannot attack {model!r}: a waveform model has no "
            f"features; give the attack domain: waveform, or add exclude: [{{model: {model}, domain: feature}}]")
    if isinstance(cond, Transfer) and cond.source_parts is not None:
        source = cond.source_parts[0]
        if input_kind(source.info.factory) != kind:
            raise SerbenchError(
                f"transfer from {source.requested!r} ({input_kind(source.info.factory)}) to {model!r} ({kind}): "
                f"serbench transfers between models of one input kind; exclude the pair: "
                f"exclude: [{{model: {model}, type: transfer}}]")

def excluded_by(spec: Spec, cell: EvalCell) -> int | None:
    """The index of the first ``exclude`` rule that matches ``cell``, or None."""
    if not spec.exclude:
        return None
    fields = cell_fields(cell)
    for i, rule in enumerate(spec.exclude):
        if all(matches(fields.get(k), want) for k, want in rule.items()):
            return i
    return None

def unused_excludes(spec: Spec, trains: list[TrainCell]) -> list[int]:
    """Rules that match no cell of the full matrix (likely a typo in a value)."""
    used = set()
    for tc in trains:
        every = eval_cells(spec, tc, apply_exclude=False)
        used.update(i for i in (excluded_by(spec, c) for c in every) if i is not None)
    return [i for i in range(len(spec.exclude)) if i not in used]


def cell_fields(cell: EvalCell) -> dict[str, Any]:
    """What an ``exclude`` rule can match: names, fold, seed, partition and the condition's fields."""
    return eval_fields(cell.train.identity, cell.partition, cell.condition.identity)
