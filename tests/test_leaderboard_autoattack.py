"""A board with ``autoattack`` cells ranks by the ensemble's robust UAR, keeps its per-attack breakdown, and marks
a row with gradient-masking warnings (†) in every output."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import pytest
from rich.console import Console

from serbench.bench.store import Store
from serbench.leaderboard import build_boards
from serbench.leaderboard.board_table import AUTOATTACK_NOTE, board_table
from serbench.leaderboard.export import to_csv, to_json
from serbench.leaderboard.markdown import table_markdown
from serbench.leaderboard.terminal import rich_table
from serbench.leaderboard.text import RANKING_NOTE

sys.path.insert(0, str(Path(__file__).parent))
from leaderboard_store import _rec, fgsm, pgd  # noqa: E402

MASKED = "gradient masking? black-box autoattack's square at eps 0.02 flips 9 of 24 utterances"


def autoattack(eps: float) -> dict:
    return {"type": "attack", "attack": {"name": "autoattack"},
            "threat": {"domain": "feature", "norm": "linf", "eps": eps}}


def report(flips: dict[str, int], robust: int) -> dict:
    """An autoattack ``attack_report`` as the harness records it (totals only: the leaderboard reads those)."""
    totals = {f"flipped.{m}": flips.get(m, 0) for m in ("apgd-ce", "apgd-t", "apgd-t-ce", "square")}
    return {"totals": {**totals, "clean_wrong": 2, "robust": robust, "queries.square": 100 * robust},
            "per_utterance": {}, "info": {"order": ["apgd-ce", "apgd-t", "apgd-t-ce", "square"], "skipped": {}}}


def _store_records(tmp_path: Path, table: dict, warned: frozenset = frozenset()) -> list[dict]:
    """Records through Store.write and back (digests checked); an autoattack uar comes with its report."""
    store, n = Store(tmp_path), 0
    for (model, defense), cells in table.items():
        for seed, conds in enumerate(cells):
            for cond, uar, rep in conds:
                n += 1
                warnings = [MASKED] if model in warned and cond["type"] == "attack" else []
                rec = _rec(f"{n:064x}", model, defense, seed, cond, uar, warnings=warnings)
                if rep is not None:
                    rec["metrics"]["attack_report"] = rep
                store.write(rec)
    return list(store.records())


def _seed(clean: float, pgd02: float, aa01: float, aa02: float, flips: dict[str, int], robust: int) -> list:
    return [({"type": "clean"}, clean, None), (fgsm(0.02), pgd02 + 0.1, None), (pgd(0.02), pgd02, None),
            (autoattack(0.01), aa01, report({"apgd-ce": 3}, robust + 3)),
            (autoattack(0.02), aa02, report(flips, robust))]


@pytest.fixture
def table() -> dict:
    # PGD ranks "pgd_fooled" first; autoattack finds it much weaker ("apgd-t" and "square" flip what PGD missed)
    return {
        ("pgd_fooled", "standard"): [_seed(0.70, 0.50, 0.30, 0.20, {"apgd-ce": 8, "apgd-t": 6, "square": 3}, 5),
                                     _seed(0.72, 0.52, 0.32, 0.22, {"apgd-ce": 9, "apgd-t": 5, "square": 2}, 6)],
        ("honest", "vanilla-adv"): [_seed(0.66, 0.45, 0.42, 0.40, {"apgd-ce": 9}, 11),
                                    _seed(0.64, 0.43, 0.40, 0.38, {"apgd-ce": 10}, 10)],
    }


def test_a_board_with_autoattack_ranks_by_it(tmp_path: Path, table: dict) -> None:
    recs = _store_records(tmp_path, table)
    (board,) = build_boards(recs)
    assert board.robust_column == "autoattack 0.02" and board.ranked_by_autoattack
    # the per-attack minimum would rank the other way round: PGD alone overstates "pgd_fooled"
    assert board.rows[("pgd_fooled", "standard")]["pgd 0.02"].mean > board.rows[("honest", "vanilla-adv")][
        "pgd 0.02"].mean
    assert board.ranked_rows() == [("honest", "vanilla-adv"), ("pgd_fooled", "standard")]

    data = json.loads(to_json([board], recs))["boards"][0]
    assert data["ranked_by"] == "autoattack 0.02"
    first, second = data["rows"]
    assert (first["model"], second["model"]) == ("honest", "pgd_fooled")
    # the breakdown: each member's flips summed over the two seeds
    assert second["cells"]["autoattack 0.02"]["breakdown"] == {
        "clean_wrong": 4, "flipped.apgd-ce": 17, "flipped.apgd-t": 11, "flipped.apgd-t-ce": 0, "flipped.square": 5,
        "queries.square": 1100, "robust": 11}
    assert "breakdown" not in second["cells"]["pgd 0.02"] and "masking" not in second  # nothing to report there

    md = table_markdown(board_table(board))
    assert "autoattack 0.02 ★" in md and AUTOATTACK_NOTE in md and RANKING_NOTE not in md
    assert md.index("| 1 | honest |") < md.index("| 2 | pgd_fooled |")


def test_the_largest_eps_every_row_has_is_the_one(tmp_path: Path, table: dict) -> None:
    table[("honest", "vanilla-adv")] = [[c for c in seed if c[0] != autoattack(0.02)]
                                        for seed in table[("honest", "vanilla-adv")]]
    (board,) = build_boards(_store_records(tmp_path, table))
    assert board.robust_column == "autoattack 0.01"
    assert board.ranked_rows() == [("honest", "vanilla-adv"), ("pgd_fooled", "standard")]


def test_without_autoattack_the_ranking_is_as_before(tmp_path: Path, table: dict) -> None:
    plain = {row: [[c for c in seed if c[0]["type"] != "attack" or c[0]["attack"]["name"] != "autoattack"]
                   for seed in seeds] for row, seeds in table.items()}
    (board,) = build_boards(_store_records(tmp_path, plain))
    assert board.robust_column == "worst-case 0.02 (min)" and not board.ranked_by_autoattack
    assert board.ranked_rows() == [("pgd_fooled", "standard"), ("honest", "vanilla-adv")]
    assert RANKING_NOTE in table_markdown(board_table(board))


def test_a_masked_row_is_last_and_marked_in_every_output(tmp_path: Path, table: dict) -> None:
    # "honest" is best under autoattack, but its attack cells carry a gradient-masking warning
    recs = _store_records(tmp_path, table, warned=frozenset({"honest"}))
    (board,) = build_boards(recs)
    assert board.unreliable == {("honest", "vanilla-adv")}
    assert board.ranked_rows() == [("pgd_fooled", "standard"), ("honest", "vanilla-adv")]

    rows = json.loads(to_json([board], recs))["boards"][0]["rows"]
    assert [(r["model"], r["reliable"]) for r in rows] == [("pgd_fooled", True), ("honest", False)]
    assert rows[1]["masking"] == [MASKED] and "masking" not in rows[0]
    assert {(r["model"], r["reliable"]) for r in csv.DictReader(io.StringIO(to_csv([board])))} == {
        ("pgd_fooled", "1"), ("honest", "0")}
    md = table_markdown(board_table(board))
    assert "| 2 | honest † unreliable | vanilla-adv |" in md and MASKED in md
    console = Console(width=400, record=True, color_system=None)
    console.print(rich_table(board_table(board)))
    lines = [line for line in console.export_text().splitlines() if "honest" in line or "pgd_fooled" in line]
    assert "pgd_fooled" in lines[0] and "honest † unreliable" in lines[1]
