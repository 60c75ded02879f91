"""A ranking that gradient masking cannot top: worst cases over transfer attacks too, masked rows ranked last.

Audit (issue 21): two gradient-masked models were broken by a transfer attack yet ranked above the honest one,
because the worst case ignored transfer attacks and masking warnings only reached footnotes.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import serbench
from serbench.bench.runner import LocalRunner
from serbench.bench.spec import parse_spec
from serbench.bench.store import Store
from serbench.leaderboard import build_boards
from serbench.leaderboard.board_table import board_table
from serbench.leaderboard.export import to_csv, to_json
from serbench.leaderboard.html import table_html
from serbench.leaderboard.markdown import table_markdown
from serbench.leaderboard.terminal import rich_table
from serbench.models.cnn4 import CNN4

sys.path.insert(0, str(Path(__file__).parent))
from leaderboard_store import _rec, fgsm, pgd  # noqa: E402

MASKED = "gradient masking? 48 of 48 examples (100.0%) have an all-zero input gradient"
THREAT = {"domain": "feature", "norm": "linf", "eps": 0.02}


def transfer(source: str) -> dict:
    return {"type": "transfer", "attack": {"name": "fgsm"}, "threat": THREAT,
            "source": {"model": {"name": source}, "defense": {"name": "standard"}}}


def _store_records(tmp_path: Path, table: dict, warned: set[str]) -> list[dict]:
    """Records written through Store.write (so they carry digests) and read back verified."""
    store, n = Store(tmp_path), 0
    for (model, defense), conds in table.items():
        for cond, uar in conds:
            n += 1
            warnings = [MASKED] if model in warned and cond["type"] == "attack" else []
            store.write(_rec(f"{n:064x}", model, defense, 0, cond, uar, warnings=warnings))
    return list(store.records())


@pytest.fixture
def masked_board_records(tmp_path: Path) -> list[dict]:
    # "masked" survives the white-box attacks (its gradient is zero) and would top a robust-UAR ranking
    table = {
        ("honest", "standard"): [({"type": "clean"}, 0.70), (fgsm(0.02), 0.40), (pgd(0.02), 0.35)],
        ("masked", "standard"): [({"type": "clean"}, 0.72), (fgsm(0.02), 0.70), (pgd(0.02), 0.69)],
    }
    return _store_records(tmp_path, table, warned={"masked"})


def test_a_masked_row_ranks_below_an_honest_one_and_is_marked_everywhere(masked_board_records):
    (board,) = build_boards(masked_board_records)
    assert board.robust_column == "worst-case 0.02 (min)"
    assert board.rows[("masked", "standard")]["worst-case 0.02 (min)"].mean > \
        board.rows[("honest", "standard")]["worst-case 0.02 (min)"].mean
    assert board.ranked_rows() == [("honest", "standard"), ("masked", "standard")]
    assert board.unreliable == {("masked", "standard")}

    rows = json.loads(to_json([board], masked_board_records))["boards"][0]["rows"]
    assert [(r["model"], r["rank"], r["reliable"]) for r in rows] == [("honest", 1, True), ("masked", 2, False)]
    table = list(csv.DictReader(io.StringIO(to_csv([board]))))
    assert {(r["model"], r["reliable"]) for r in table} == {("honest", "1"), ("masked", "0")}

    md = table_markdown(board_table(board))
    assert "| 2 | masked † unreliable | standard |" in md and "| 1 | honest | standard |" in md
    assert "ranks below every reliable row" in md
    html = table_html(board_table(board), [], {})
    assert html.count("† unreliable</span>") == 1 and '<tr class="unreliable">' in html
    from rich.console import Console

    console = Console(width=300, record=True, color_system=None)
    console.print(rich_table(board_table(board)))
    text = console.export_text()
    lines = [line for line in text.splitlines() if "honest" in line or "masked" in line]
    assert "honest" in lines[0] and "masked † unreliable" in lines[1]


def test_unreliable_rows_rank_among_themselves_by_robust_uar(tmp_path: Path):
    table = {
        ("honest", "standard"): [({"type": "clean"}, 0.70), (fgsm(0.02), 0.30)],
        ("masked_a", "standard"): [({"type": "clean"}, 0.90), (fgsm(0.02), 0.50)],
        ("masked_b", "standard"): [({"type": "clean"}, 0.60), (fgsm(0.02), 0.80)],
    }
    (board,) = build_boards(_store_records(tmp_path, table, warned={"masked_a", "masked_b"}))
    assert board.ranked_rows() == [("honest", "standard"), ("masked_b", "standard"), ("masked_a", "standard")]


def test_derived_worst_case_takes_the_minimum_over_transfer_attacks_too(tmp_path: Path):
    # the transfer from "honest" breaks "masked" (1 %); "honest" has no self-transfer cell
    table = {
        ("honest", "standard"): [({"type": "clean"}, 0.70), (fgsm(0.02), 0.40), (pgd(0.02), 0.35)],
        ("masked", "standard"): [({"type": "clean"}, 0.72), (fgsm(0.02), 0.70), (pgd(0.02), 0.69),
                                 (transfer("honest"), 0.01)],
    }
    (board,) = build_boards(_store_records(tmp_path, table, warned=set()))
    worst = "worst-case 0.02 (min)"
    assert board.robust_column == worst
    assert board.rows[("masked", "standard")][worst].mean == pytest.approx(0.01)
    assert board.rows[("honest", "standard")][worst].mean == pytest.approx(0.35)
    assert board.ranked_rows() == [("honest", "standard"), ("masked", "standard")]


# -- spec expansion ----------------------------------------------------------------------------------------------
SPEC = {
    "name": "wc", "dataset": {"name": "synthetic", "folds": [0]}, "frontend": {"seconds": 1.0},
    "training": {"iterations": 4, "eval_every": 2, "batch_size": 8},
    "models": ["cnn4.tiny", "cnn4.small"], "worst_case": True,
    "attacks": [{"name": "fgsm", "eps": [0.01]}],
    "transfer": [{"source": {"model": "cnn4.small"}, "attack": "fgsm", "eps": [0.01, 0.02]}],
}


def test_worst_case_lists_transfer_inputs_and_comes_after_them():
    spec = parse_spec(SPEC)
    by_model = {tc.identity["model"]["name"]: spec.eval_cells(tc) for tc in spec.train_cells()}
    cells = by_model["cnn4.tiny"]
    types = [c.condition.identity["type"] for c in cells]
    worst = [c for c in cells if c.condition.identity["type"] == "worst_case"]
    # eps 0.01: fgsm + its transfer; eps 0.02: a lone transfer is no worst case of two
    assert [w.condition.identity["threat"]["eps"] for w in worst] == [0.01]
    (wc,) = worst
    assert [a["name"] for a in wc.condition.identity["attacks"]] == ["fgsm"]
    (tr,) = wc.condition.identity["transfers"]
    assert tr["source"]["model"]["name"] == "cnn4.small" and tr["attack"]["name"] == "fgsm"
    assert max(i for i, t in enumerate(types) if t in ("attack", "transfer")) < types.index("worst_case")
    # its transfer input is a cell of this train cell: same condition identity as the transfer cell
    transfer = {"type": "transfer", **tr, "threat": wc.condition.identity["threat"]}
    assert transfer in [c.condition.identity for c in cells]
    # the source model attacks no copy of itself: one white-box attack alone is no worst case
    assert [c.condition.identity["type"] for c in by_model["cnn4.small"]].count("worst_case") == 0


def test_worst_case_keys_without_transfer_stay_as_they_were():
    spec = parse_spec({**{k: v for k, v in SPEC.items() if k != "transfer"},
                       "attacks": [{"name": "fgsm", "eps": [0.01]}, {"name": "pgd", "eps": [0.01]}]})
    for tc in spec.train_cells():
        (wc,) = [c for c in spec.eval_cells(tc) if c.condition.identity["type"] == "worst_case"]
        assert set(wc.condition.identity) == {"type", "threat", "attacks"}


# -- a real run: a quantising model, honest-looking to white-box FGSM, broken by a transfer ------------------------
class RoundCNN(CNN4):
    """CNN-4 behind input quantisation: torch.round has a zero gradient, so white-box FGSM does nothing."""

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward_features(torch.round(x * 3) / 3)


@pytest.fixture
def round_model():
    serbench.registry("models").register("test.roundcnn", summary="CNN-4 behind torch.round")(RoundCNN)
    yield
    serbench.registry("models").unregister("test.roundcnn")


@pytest.mark.slow
def test_a_real_worst_case_includes_the_transfer_that_breaks_a_quantising_model(tmp_path: Path, round_model):
    spec = parse_spec({
        "name": "masked", "dataset": {"name": "synthetic", "params": {"utterances_per_class": 6}, "folds": [0]},
        "frontend": {"seconds": 1.0}, "training": {"iterations": 40, "eval_every": 20, "batch_size": 16},
        "models": [{"name": "test.roundcnn", "params": {"width": 0.125}}], "worst_case": True,
        "attacks": [{"name": "fgsm", "eps": [0.3]}],
        "transfer": [{"source": {"model": "cnn4.tiny"}, "attack": "fgsm", "eps": [0.3]}],
    })
    store = Store(tmp_path)
    summary = LocalRunner(spec, store, device="cpu").run()
    assert summary.ok, summary.failed
    evals = {r["condition"]["type"]: r for r in store.records() if r["kind"] == "eval"}
    white, tr, wc = evals["attack"], evals["transfer"], evals["worst_case"]
    assert any(w.startswith("gradient masking?") for w in white["warnings"])
    assert white["metrics"]["uar"] == pytest.approx(evals["clean"]["metrics"]["uar"])  # zero gradient: no change
    assert wc["metrics"]["attacks"] == ["fgsm", "fgsm←cnn4.tiny"]
    y = np.asarray(wc["metrics"]["targets"])
    survive = (np.asarray(white["metrics"]["predictions"]) == y) & (np.asarray(tr["metrics"]["predictions"]) == y)
    assert wc["metrics"]["uar"] == pytest.approx(np.mean([survive[y == c].mean() for c in np.unique(y)]))
    assert wc["metrics"]["uar"] <= tr["metrics"]["uar"] + 1e-12
    assert wc["metrics"]["uar"] < white["metrics"]["uar"]  # the transfer breaks what white-box FGSM could not
    (board,) = build_boards(store.records())
    assert board.robust_column == "worst-case 0.3" and board.unreliable == set(board.rows)
