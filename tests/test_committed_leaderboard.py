"""leaderboard/ in the repository: generated from the current quickstart and corruption suite specs' records
(exactly those: `serbench results collect` of each), and up to date."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from serbench.bench.collect import spec_records
from serbench.bench.spec import load_spec
from serbench.bench.store import Store
from serbench.cli.main import app

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "leaderboard"


def test_committed_records_are_the_quickstart_and_corruption_suite_matrices():
    want = set()
    for name in ("quickstart.yaml", "corruptions.yaml"):  # keys hold the data's fingerprint and versions
        found = spec_records(load_spec(ROOT / "benchmarks" / name), Store(FOLDER))
        assert not found.missing and not found.failed, f"leaderboard/records lacks {name} cells: run `make leaderboard`"
        want |= {p.name for p in found.paths}
    assert {p.name for p in (FOLDER / "records").glob("*.json")} == want, "leaderboard/records holds other cells"


def test_committed_leaderboard_is_up_to_date_with_its_records():
    res = CliRunner().invoke(app, ["leaderboard", "--results", str(FOLDER), "--check", str(FOLDER)])
    assert res.exit_code == 0, f"leaderboard/ is stale (run `make leaderboard`):\n{res.output}"
