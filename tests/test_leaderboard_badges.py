"""Badges: valid SVG, the ranking value of the board (as the JSON export gives it), file names safe and distinct."""

from __future__ import annotations

import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from serbench.leaderboard import build_boards
from serbench.leaderboard.badges import CHAR_WIDTH, GREY, badges
from serbench.leaderboard.export import to_json

sys.path.insert(0, str(Path(__file__).parent))
from leaderboard_store import _rec, fgsm, pgd, records  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"
MASKED = "gradient masking? 48 of 48 examples (100.0%) have an all-zero input gradient"


def _records() -> list[dict]:
    """The store's board, a row with hostile names, two rows whose names make the same file name, a masked row."""
    out = records()
    rows = {("a/b<&>", "x'y"): 0.5, ('c"d', "e f"): 0.4, ("a_b___", "x_y"): 0.45, ("../..", "def"): 0.3,
            ("masked", "standard"): 0.6}
    for (model, defense), robust in rows.items():
        for cond, uar in (({"type": "clean"}, 0.7), (fgsm(0.01), robust + 0.1), (fgsm(0.02), robust),
                          (pgd(0.02), robust)):
            warned = [MASKED] if model == "masked" and cond["type"] == "attack" else []
            out.append(_rec(f"{len(out) + 1:064x}", model, defense, 0, cond, uar, warnings=warned))
    return out


def _texts(svg: bytes) -> list[str]:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def test_every_badge_is_valid_svg_naming_its_row_and_showing_the_ranking_value():
    recs = _records()
    boards = build_boards(recs)
    files = badges(boards)
    data = json.loads(to_json(boards, recs))
    want = {}
    for board in data["boards"]:
        for row in board["rows"]:
            mean = row["cells"][board["ranked_by"]]["mean"]
            want[(board["slug"], row["model"], row["defense"])] = (f"{100 * mean:.1f} %", row["reliable"])
    assert len(files) == len(want) == 8
    seen = set()
    for path, svg in files.items():
        folder, slug, name = path.split("/")
        assert folder == "badges" and re.fullmatch(r"[A-Za-z0-9_+-][A-Za-z0-9._+-]*\.svg", name), path
        texts = _texts(svg)
        label, value = texts[1], texts[3]  # each text twice: its shadow, then itself
        model, _, defense = label.rpartition("+")
        number, reliable = want[(slug, model, defense)]
        assert value == number + ("" if reliable else " †")
        seen.add((slug, model, defense))
        root = ET.fromstring(svg)
        rects = list(root.iter(f"{SVG}rect"))
        assert int(root.get("width")) == int(rects[1].get("width")) + int(rects[2].get("width"))
        lengths = [int(t.get("textLength")) for t in root.iter(f"{SVG}text")]
        assert lengths == [CHAR_WIDTH * len(label)] * 2 + [CHAR_WIDTH * len(value)] * 2
        assert (rects[2].get("fill") == GREY) == (not reliable)
    assert seen == set(want)


def test_file_names_are_safe_and_rows_never_share_one():
    files = badges(build_boards(_records()))
    names = [p.rsplit("/", 1)[1] for p in files]
    assert len(set(names)) == len(names)
    assert not any(".." in p.split("/") or "<" in p or " " in p for p in files)
    assert "cnn4+vanilla-adv.svg" in names
    clashing = [n for n in names if n.startswith("a_b___+x_y")]
    assert len(clashing) == 2 and all(re.fullmatch(r"a_b___\+x_y-[0-9a-f]{8}\.svg", n) for n in clashing)
    assert "_..+def.svg" in names and "c_d+e_f.svg" in names
