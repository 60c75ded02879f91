"""Boards from records: grouping, mean +- std over seeds, failed cells kept, same-named corpora apart, costs."""

from __future__ import annotations

import pytest

from serbench.leaderboard.aggregate import build_boards, defense_costs


def rec(uar, seed=0, model="cnn4", defense="standard", params=None, status="ok", cond=None, warnings=(),
        defense_params=None):
    return {
        "kind": "eval", "status": status, "partition": "test", "warnings": list(warnings),
        "train": {"dataset": {"name": "x", "params": params or {"seed": 0}, "protocol": "p", "fold": 0},
                  "model": {"name": model}, "defense": {"name": defense, "params": defense_params or {}},
                  "seed": seed},
        "condition": cond or {"type": "clean"}, "metrics": {"uar": uar} if status == "ok" else {},
    }


def test_mean_std_over_seeds_failed_and_warnings_kept():
    attack = {"type": "attack", "attack": {"name": "fgsm"},
              "threat": {"domain": "feature", "norm": "linf", "eps": 0.01}}
    (board,) = build_boards([
        rec(0.6, seed=0), rec(0.8, seed=1), rec(0.3, cond=attack, warnings=["flag"]),
        rec(None, seed=1, cond=attack, status="failed"), rec(0.9, model="vgg16"), rec(0.2, model="vgg16", cond=attack),
    ])
    assert [c.title for c in board.columns] == ["clean", "fgsm 0.01"]
    clean = board.rows[("cnn4", "standard")]["clean"]
    assert clean.mean == pytest.approx(0.7) and clean.std == pytest.approx(0.1)
    fgsm = board.rows[("cnn4", "standard")]["fgsm 0.01"]
    assert fgsm.failed == 1 and fgsm.warnings == ["flag"] and fgsm.values == [0.3]
    assert board.ranked_rows()[0] == ("cnn4", "standard")


def test_a_model_never_attacked_stays_off_the_attack_board_it_would_top_on_clean_numbers():
    attack = {"type": "attack", "attack": {"name": "fgsm"},
              "threat": {"domain": "feature", "norm": "linf", "eps": 0.01}}
    boards = build_boards([rec(0.6), rec(0.3, cond=attack), rec(0.9, model="vgg16")])
    assert [(b.threat, sorted(b.rows)) for b in boards] == [("feature/linf · minmax", [("cnn4", "standard")]),
                                                            ("none", [("vgg16", "standard")])]


def test_same_named_corpora_with_different_params_get_separate_boards():
    boards = build_boards([rec(0.5, params={"source": "a", "target": "b"}),
                           rec(0.4, params={"source": "b", "target": "a"})])
    assert [b.corpus for b in boards] == ["x(source=a, target=b)", "x(source=b, target=a)"]


def test_defense_variants_get_rows_of_their_own_named_by_the_params_that_differ():
    (board,) = build_boards([
        rec(0.8), rec(0.7, defense="vanilla-adv", defense_params={"eps": 0.02, "start_iteration": 1000}),
        rec(0.6, defense="vanilla-adv", defense_params={"eps": 0.04, "start_iteration": 1000}),
    ])
    assert sorted(board.rows) == [("cnn4", "standard"), ("cnn4", "vanilla-adv(eps=0.02)"),
                                  ("cnn4", "vanilla-adv(eps=0.04)")]
    assert board.rows[("cnn4", "vanilla-adv(eps=0.04)")]["clean"].values == [0.6]


def test_defense_cost_relative_to_standard():
    def train(defense, spi):
        return {"kind": "train", "status": "ok", "timings": {"seconds_per_iteration": spi},
                "train": {"dataset": {"name": "x"}, "frontend": {}, "training": {}, "seed": 0,
                          "model": {"name": "cnn4"}, "defense": {"name": defense}}}
    costs = defense_costs([train("standard", 0.1), train("vanilla-adv", 0.25)])
    assert costs[("cnn4", "vanilla-adv")]["relative_time_per_iteration"] == pytest.approx(2.5)
    assert costs[("cnn4", "standard")]["relative_time_per_iteration"] == pytest.approx(1.0)
