"""One formatter for every table's values: boards and the paper layouts write numbers the same way."""

from __future__ import annotations

import numpy as np
import pytest

from serbench.attacks.ensemble import correct_uar
from serbench.engine.metrics import classification_metrics, uar_of_correct, uar_of_predictions
from serbench.leaderboard.aggregate import Scores
from serbench.leaderboard.text import FRACTION, PERCENT, mean_text, number_text, value_text


@pytest.mark.parametrize("x,style,want", [(61.54, PERCENT, "61.5"), (0.8364, FRACTION, ".836"),
                                          (1.0, FRACTION, "1.000"), (0.0, FRACTION, ".000")])
def test_number_text(x, style, want):
    assert number_text(x, style) == want


def test_mean_text_styles():
    assert mean_text(61.5, 1.46) == "61.5 ± 1.5"
    assert mean_text(0.836, 0.012, style=FRACTION) == ".836±.012"
    assert mean_text(61.5, None, failed=2) == "61.5 (+2 failed)"


def test_board_cells_use_the_formatter():
    assert value_text(None) == "—"
    assert value_text(Scores(values=[], failed=2)) == "failed×2"
    assert value_text(Scores(values=[0.5, 0.6], failed=1)) == "55.0 ± 5.0 (+1 failed)"
    assert value_text(Scores(values=[0.599])) == "59.9"


def test_uar_helpers_agree_with_the_confusion_matrix_uar():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 5, 300)
    y[y == 2] = 4  # class 2 absent: it must not count
    pred = np.where(rng.random(300) < 0.7, y, rng.integers(0, 5, 300))
    want = classification_metrics(y, pred, tuple("abcde"))["uar"]
    assert uar_of_predictions(y, pred, 5)[0] == pytest.approx(want, abs=1e-15)
    assert uar_of_correct(y, y == pred, 5)[0] == pytest.approx(want, abs=1e-15)
    assert correct_uar(y + 10, y == pred) == pytest.approx(want, abs=1e-15)  # label values need not index
    assert np.isnan(correct_uar([], []))
