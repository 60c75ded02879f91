"""A spec's records, exactly: the records of the cells a spec plans now, and nothing else.

A results directory accumulates records of every spec run into it and of older component versions
(a cell whose corruption was bumped to 1.1 leaves its 1.0 record behind). A leaderboard to publish, or a
submission, must hold one spec's current cells: :func:`spec_records` finds them by key, and
:func:`copy_spec_records` copies them to another results directory, refusing when any cell is missing or
failed so a half-computed spec is never published as if whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from serbench.bench.runner import LocalRunner
from serbench.bench.spec import Spec
from serbench.bench.store import Store
from serbench.errors import SerbenchError
from serbench.files import write_bytes_atomic


@dataclass
class SpecRecords:
    """The spec's cells' record paths (train and eval), and the descriptions of its cells without an ok record."""

    paths: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def spec_records(spec: Spec, store: Store, threads: int | None = None) -> SpecRecords:
    """Every train and eval cell ``spec`` plans on the data as it is now (CPU cells with ``training.threads:
    auto`` at ``threads``, default the CPUs available), looked up in ``store`` by key."""
    found = SpecRecords()
    runner = LocalRunner(spec, store, device="cpu", threads=threads)
    for tc, evals in runner.plan():
        for key, what in [(tc.key, runner.describe_train(tc))] + [(e.key, runner.describe(e)) for e in evals]:
            status = store.status(key, quarantine=False)
            if status is None:
                found.missing.append(what)
            elif status != "ok":
                found.failed.append(what)
            else:
                found.paths.append(store.record_path(key))
    return found


def copy_spec_records(spec: Spec, source: Store, dest: Path, threads: int | None = None) -> int:
    """Copy the records of ``spec``'s cells from ``source`` to ``dest/records``; the number copied.

    Refused (nothing copied) when a cell has no record or a failed one: run the spec first."""
    found = spec_records(spec, source, threads)
    for problem, cells in (("no record", found.missing), ("a failed record", found.failed)):
        if cells:
            raise SerbenchError(f"{spec.name}: {len(cells)} cells have {problem} in {source.root} (first: {cells[0]}); "
                                f"run `serbench run {spec.path or spec.name} --results {source.root}` first")
    if dest.resolve() == source.root.resolve():
        raise SerbenchError(f"{dest}: the destination is the source results directory")
    out = dest / "records"
    out.mkdir(parents=True, exist_ok=True)
    for path in found.paths:
        write_bytes_atomic(out / path.name, path.read_bytes())
    return len(found.paths)


__all__ = ["SpecRecords", "copy_spec_records", "spec_records"]
