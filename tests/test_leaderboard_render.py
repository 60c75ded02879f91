"""Leaderboard renderers on a small fixed store: Markdown and JSON goldens, CSV, --out and --check."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from serbench.leaderboard import build_boards
from serbench.leaderboard.export import to_csv, to_json
from serbench.leaderboard.publish import MANIFEST, build, check, write

sys.path.insert(0, str(Path(__file__).parent))
from leaderboard_store import records, write_store  # noqa: E402

GOLDEN = Path(__file__).parent / "golden"
REGENERATE = os.environ.get("SERBENCH_REGENERATE_GOLDEN") == "1"  # SERBENCH_REGENERATE_GOLDEN=1 pytest ...


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if REGENERATE:
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed; if on purpose: SERBENCH_REGENERATE_GOLDEN=1 pytest {__file__}"


def test_boards_rank_by_robust_uar_and_keep_failures():
    (board,) = build_boards(records())
    assert [c.title for c in board.columns] == ["clean", "fgsm 0.01", "fgsm 0.02", "pgd 0.02",
                                                "worst-case 0.02 (min)", "white 10 dB"]
    assert board.robust_column == "worst-case 0.02 (min)"
    assert board.ranked_rows() == [("cnn4", "vanilla-adv"), ("cnn4", "standard"), ("vgg16", "standard")]
    worst = board.rows[("cnn4", "vanilla-adv")]["worst-case 0.02 (min)"]
    assert worst.mean == pytest.approx(0.41)  # min(fgsm mean .46, pgd mean .41)
    assert board.rows[("vgg16", "standard")]["white 10 dB"].failed == 1
    assert board.best("clean") == {("vgg16", "standard")}
    assert board.warnings() == ["pgd weaker than fgsm at eps 0.02"]


def test_markdown_and_json_goldens():
    files, _ = build(records(), render=False)
    golden("leaderboard.md", files["leaderboard.md"].decode())
    golden("leaderboard.json", files["leaderboard.json"].decode())
    data = json.loads(files["leaderboard.json"])
    assert data["schema"] == 1 and data["boards"][0]["ranked_by"] == "worst-case 0.02 (min)"


def test_csv_reads_back_to_the_boards():
    boards = build_boards(records())
    rows = list(csv.DictReader(io.StringIO(to_csv(boards))))
    clean = {(r["model"], r["defense"]): float(r["mean"]) for r in rows if r["column"] == "clean"}
    assert clean == {("cnn4", "standard"): 0.71, ("cnn4", "vanilla-adv"): 0.65, ("vgg16", "standard"): 0.74}
    failed = [r for r in rows if r["failed"] == "1"]
    assert [(r["model"], r["column"]) for r in failed] == [("vgg16", "white 10 dB")]
    assert json.loads(to_json(boards, records()))["boards"][0]["rows"][0]["rank"] == 1


def test_out_then_check_both_ways(tmp_path):
    files, _ = build(records())
    write(tmp_path / "lb", files)
    (tmp_path / "lb" / "README.md").write_text("kept\n")  # not generated: never touched, never reported
    assert check(tmp_path / "lb", records()) == []
    changed = records()
    changed[0]["metrics"]["uar"] = 0.99
    problems = check(tmp_path / "lb", changed)
    assert any(p.endswith("leaderboard.md: differs from what the results give") for p in problems)
    assert any("leaderboard.html: drawn from other data" in p for p in problems)
    (tmp_path / "lb" / "plots" / "old-eps.png").write_bytes(b"x")  # not in the manifest: not ours, not reported
    assert check(tmp_path / "lb", records()) == []
    manifest = tmp_path / "lb" / MANIFEST  # an earlier run wrote it: stale
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**data, "files": data["files"] + ["plots/old-eps.png"]}))
    problems = check(tmp_path / "lb", records())
    assert any("old-eps.png: not produced by these results (stale)" in p for p in problems)
    assert any(p.endswith(f"{MANIFEST}: differs from what the results give") for p in problems)
    assert (tmp_path / "lb" / "README.md").read_text() == "kept\n"


def test_cli_check_exits_1_on_a_stale_folder_and_0_when_in_sync(tmp_path):
    write_store(tmp_path / "results")

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "serbench", "leaderboard", "--results",
                               str(tmp_path / "results"), *args], capture_output=True, text=True, timeout=300)

    assert cli("--out", str(tmp_path / "lb")).returncode == 0
    ok = cli("--check", str(tmp_path / "lb"))
    assert ok.returncode == 0, ok.stderr
    (tmp_path / "lb" / "leaderboard.csv").write_text("edited\n")
    stale = cli("--check", str(tmp_path / "lb"))
    assert stale.returncode == 1 and "leaderboard.csv: differs" in stale.stderr
    md = cli("--format", "markdown")
    assert md.returncode == 0 and md.stdout == (tmp_path / "lb" / "leaderboard.md").read_text()
