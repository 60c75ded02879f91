"""benchmarks/perf.py runs end to end (``--quick``, a cheap subset of rows) and prints one finite, positive
ratio per row asked for; the goals are not checked here (timing on a shared test host is noise)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "perf.py"
CHEAP = ("trainer", "pgd-cnn", "pgd-rnn", "fgsm-eps", "leaderboard")


@pytest.mark.slow
def test_quick_table_has_a_finite_positive_ratio_for_every_row_asked_for(tmp_path):
    out = tmp_path / "perf.json"
    only = [arg for name in CHEAP for arg in ("--only", name)]
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--threads", "1", *only, "--json", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads(out.read_text())
    assert [r["name"] for r in rows] == list(CHEAP)
    for r in rows:
        assert math.isfinite(r["ratio"]) and r["ratio"] > 0, r
        assert r["a_s"] > 0 and r["b_s"] > 0 and math.isclose(r["ratio"], r["a_s"] / r["b_s"]), r
        assert r["goal"].split()[0] in ("<=", ">=")  # every row of this subset has the goal
    table = done.stdout.splitlines()
    for name in CHEAP:  # the printed table: one line per row, with its ratio as the JSON has it
        line = next(line for line in table if line.startswith(name + " "))
        assert f"{next(r['ratio'] for r in rows if r['name'] == name):6.3f}" in line


def test_an_unknown_row_is_refused_with_the_list_of_rows(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--only", "nope"], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    assert done.returncode != 0
    assert "--only: unknown row 'nope'; rows: trainer, pgd-cnn" in done.stderr
