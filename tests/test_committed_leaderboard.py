"""leaderboard/ in the repository: generated from the current quickstart spec's records, and up to date."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from serbench.bench.runner import LocalRunner
from serbench.bench.spec import load_spec
from serbench.bench.store import Store
from serbench.cli.main import app

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "leaderboard"


def test_committed_records_are_the_quickstart_matrix():
    spec = load_spec(ROOT / "benchmarks" / "quickstart.yaml")
    trains = LocalRunner(spec, Store(FOLDER), device="cpu").train_cells()  # keys hold the data's fingerprint
    want = {e.key for tc in trains for e in spec.eval_cells(tc)} | {tc.key for tc in trains}
    records = list(Store(FOLDER).records())
    assert {r["key"] for r in records} == want, "leaderboard/records is stale: run `make leaderboard`"
    assert all(r["status"] == "ok" for r in records)


def test_committed_leaderboard_is_up_to_date_with_its_records():
    res = CliRunner().invoke(app, ["leaderboard", "--results", str(FOLDER), "--check", str(FOLDER)])
    assert res.exit_code == 0, f"leaderboard/ is stale (run `make leaderboard`):\n{res.output}"
