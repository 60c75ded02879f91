"""leaderboard/ in the repository: the public leaderboard (benchmarks/leaderboard.yaml) and, in leaderboard/ser-c/,
the corruption suite (benchmarks/corruptions.yaml), each generated from exactly its spec's current records
(`serbench results collect`) and up to date."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from serbench.bench.collect import spec_records
from serbench.bench.spec import load_spec
from serbench.bench.store import Store
from serbench.cli.main import app

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "leaderboard"


FOLDERS = {"leaderboard.yaml": FOLDER, "corruptions.yaml": FOLDER / "ser-c"}


@pytest.mark.parametrize("spec", sorted(FOLDERS))
def test_committed_records_are_exactly_their_specs_cells(spec):
    folder = FOLDERS[spec]
    found = spec_records(load_spec(ROOT / "benchmarks" / spec), Store(folder))  # keys: data fingerprint, versions
    assert not found.missing and not found.failed, f"{folder}/records lacks {spec} cells: run `make leaderboard`"
    assert {p.name for p in (folder / "records").glob("*.json")} == {p.name for p in found.paths}, \
        f"{folder}/records holds other cells"


@pytest.mark.parametrize("spec", sorted(FOLDERS))
def test_committed_leaderboard_is_up_to_date_with_its_records(spec):
    folder = FOLDERS[spec]
    res = CliRunner().invoke(app, ["leaderboard", "--results", str(folder), "--check", str(folder)])
    assert res.exit_code == 0, f"{folder} is stale (run `make leaderboard`):\n{res.output}"


def test_every_embedded_corpus_board_of_the_public_leaderboard_has_twenty_rows_over_two_seeds():
    import json

    boards = json.loads((FOLDER / "leaderboard.json").read_text())["boards"]
    embedded = [b for b in boards if not b["corpus"].startswith("cross-corpus")]
    assert embedded and all(len(b["rows"]) >= 20 for b in embedded), [(b["slug"], len(b["rows"])) for b in boards]
    for board in embedded:  # mean +- std over the seeds: every measured value of every row is the mean of two runs
        measured = {c["title"] for c in board["columns"] if c["kind"] in ("clean", "attack", "noise", "corruption")}
        assert measured and all(row["cells"][title]["n"] >= 2 for row in board["rows"] for title in measured
                                if title in row["cells"]), board["slug"]
