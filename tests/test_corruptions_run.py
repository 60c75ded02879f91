"""Corruptions (SER-C) in a spec and through the real runner: the severity axis, the additive family, the
condition's records and board columns, and the key."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from serbench.bench.conditions import Corrupted, condition_from
from serbench.bench.runner import LocalRunner
from serbench.bench.spec import parse_spec
from serbench.bench.store import Store
from serbench.corruptions import Corruption, utterance_rngs
from serbench.corruptions.additive import NOISE_VERSIONS
from serbench.errors import SerbenchError, SpecError
from serbench.leaderboard.aggregate import build_boards
from serbench.registry import registry

SPEC = {
    "name": "corrupt",
    "dataset": {"name": "synthetic", "params": {"utterances_per_class": 4}, "folds": [0]},
    "frontend": {"seconds": 1.0},
    "training": {"iterations": 20, "eval_every": 10, "batch_size": 16},
    "models": ["cnn4.tiny"],
    "defenses": ["standard", "noise-aug"],
    "corruptions": [{"name": "additive", "severity": [1, 5]}, {"name": "additive", "params": {"noise": "pink"}}],
}


def _spec(**changes):
    return parse_spec({**SPEC, **changes})


def test_severity_defaults_to_all_five_and_is_checked():
    spec = _spec()
    assert [c.severity for c in spec.corruptions] == [(1, 5), (1, 2, 3, 4, 5)]
    for bad, message in [([0], "severity must be in 1..5"), ([6], "severity must be in 1..5"),
                         (["3"], "expected an integer"), ([2, 2], "duplicate severity")]:
        with pytest.raises(SpecError, match=message) as err:
            _spec(corruptions=[{"name": "additive", "severity": bad}])
        assert "corruptions[0].severity" in str(err.value)
    with pytest.raises(SpecError, match="did you mean"):
        _spec(corruptions=["additiv"])


def test_a_plugin_noise_is_refused_by_the_additive_family():
    with pytest.raises(SerbenchError, match="not one of the built-in noises"):
        registry("corruptions").create("additive", noise="other.noise")


def test_the_additive_family_pins_the_noise_versions_it_covers():
    # Its cells' keys hold only its own version: a built-in noise that changes version must bump it.
    assert {n: registry("noises").info(n).version for n in NOISE_VERSIONS} == NOISE_VERSIONS


def _speech(rows: int, width: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    t = torch.arange(width) / 16000
    waves = torch.stack([torch.sin(2 * torch.pi * (150 + 20 * i) * t) * (0.2 + 0.1 * i) for i in range(rows)])
    lengths = torch.tensor([width - 1000 * i for i in range(rows)])
    return waves * (torch.arange(width) < lengths.unsqueeze(1)), lengths


def test_additive_hits_each_severity_snr_over_speech_and_keeps_padding_silent():
    corruption: Corruption = registry("corruptions").create("additive")
    waves, lengths = _speech(3, 16000)
    for severity, snr in enumerate((20.0, 15.0, 10.0, 5.0, 0.0), 1):
        out = corruption.apply(waves, 16000, severity, utterance_rngs(0, "additive", severity, "abc"), lengths)
        for row, n in enumerate(lengths.tolist()):
            clean, noise = waves[row, :n].double(), (out[row, :n] - waves[row, :n]).double()
            assert 10 * torch.log10(clean.pow(2).sum() / noise.pow(2).sum()).item() == pytest.approx(snr, abs=1e-3)
            assert not out[row, n:].any()


def test_a_batch_gives_what_each_utterance_gives_alone_and_a_generator_fixes_the_audio():
    corruption = registry("corruptions").create("additive", noise="pink")
    waves, lengths = _speech(3, 12000)
    batch = corruption.apply(waves, 16000, 3, utterance_rngs(1, "additive", 3, "xyz"), lengths)
    again = corruption.apply(waves, 16000, 3, utterance_rngs(1, "additive", 3, "xyz"), lengths)
    assert torch.equal(batch, again)
    for row, uid in enumerate("xyz"):
        n = int(lengths[row])
        alone = corruption.apply(waves[row:row + 1, :n], 16000, 3, utterance_rngs(1, "additive", 3, [uid]))
        torch.testing.assert_close(batch[row, :n], alone[0], rtol=0, atol=1e-6)
    other = corruption.apply(waves, 16000, 3, utterance_rngs(2, "additive", 3, "xyz"), lengths)
    assert not torch.equal(batch, other)


def test_severity_outside_the_ladder_is_refused():
    corruption = registry("corruptions").create("additive")
    waves, _ = _speech(1, 4000)
    with pytest.raises(SerbenchError, match="severity must be an integer in 1..5"):
        corruption.apply(waves, 16000, 6, utterance_rngs(0, "additive", 6, "a"))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("corrupt"))
    spec = parse_spec(SPEC)
    summary = LocalRunner(spec, store, device="cpu").run()
    assert summary.ok, summary.failed
    return spec, store


def test_every_severity_is_an_eval_cell_with_its_own_key(run):
    spec, store = run
    evals = [r for r in store.records() if r["kind"] == "eval"]
    corrupted = [r for r in evals if r["condition"]["type"] == "corruption"
                 and r["train"]["defense"]["name"] == "standard"]
    assert sorted((r["condition"]["corruption"]["params"]["noise"], r["condition"]["severity"]) for r in corrupted) \
        == [("pink", s) for s in range(1, 6)] + [("white", 1), ("white", 5)]
    assert len({r["key"] for r in corrupted}) == 7
    for r in corrupted:
        assert isinstance(condition_from(r["condition"]), Corrupted)
        assert r["status"] == "ok" and len(r["metrics"]["predictions"]) == r["metrics"]["n"]


def test_the_same_cell_computed_again_gives_the_same_predictions(run, tmp_path):
    spec, store = run
    again = Store(tmp_path)
    assert LocalRunner(parse_spec(SPEC), again, device="cpu").run().ok
    first = {r["key"]: r["metrics"]["predictions"] for r in store.records() if r["kind"] == "eval"}
    second = {r["key"]: r["metrics"]["predictions"] for r in again.records() if r["kind"] == "eval"}
    assert first == second


def test_models_of_one_front_end_share_each_corrupted_test_set_made_once(run, tmp_path, monkeypatch):
    # The corrupted audio does not depend on the model: the second model reads the first's cached
    # features, and scores exactly what it would have scored computing them itself.
    calls = []
    additive = type(registry("corruptions").create("additive"))
    apply = additive.apply
    monkeypatch.setattr(additive, "apply", lambda self, *a, **k: calls.append(1) or apply(self, *a, **k))
    alone = Store(tmp_path / "alone")
    assert LocalRunner(_spec(defenses=["noise-aug"]), alone, device="cpu").run().ok
    made_alone = len(calls)
    assert made_alone >= 7  # one per length group of each of the 7 (noise, severity) cells
    _, shared = run
    ours = {r["key"]: r["metrics"]["predictions"] for r in alone.records() if r["kind"] == "eval"}
    theirs = {r["key"]: r["metrics"]["predictions"] for r in shared.records() if r["kind"] == "eval"}
    assert ours and all(theirs[k] == v for k, v in ours.items())
    calls.clear()
    both = Store(tmp_path / "both")
    assert LocalRunner(_spec(), both, device="cpu").run().ok
    assert len(calls) == made_alone  # two models, one corrupted test set each


def test_excluding_by_corruption_and_severity(run):
    spec = _spec(exclude=[{"corruption": "additive", "severity": [2, 3, 4, 5]}])
    store = run[1]
    trains = LocalRunner(spec, Store(store.root), device="cpu").train_cells()
    kept = [c for c in spec.eval_cells(trains[0]) if isinstance(c.condition, Corrupted)]
    assert sorted(c.condition.severity for c in kept) == [1, 1]


def test_corruptions_get_their_own_board_with_means_and_corruption_errors(run):
    _, store = run
    (board,) = build_boards(list(store.records()))  # clean joins it; no clean-only board beside it
    assert board.threat == "corruptions" and board.title.endswith("corruptions (SER-C)")
    per_severity = [c.title for c in board.columns if c.kind == "corruption"]
    assert per_severity == [f"additive(noise=pink) s{s}" for s in range(1, 6)] + ["additive(noise=white) s1",
                                                                                   "additive(noise=white) s5"]
    assert [c.title for c in board.shown_columns] == ["clean", "additive(noise=pink)", "additive(noise=white)",
                                                      "mean corruption", "mCE", "rel. mCE"]
    assert board.robust_column == "mean corruption"
    standard, augmented = board.rows[("cnn4.tiny", "standard")], board.rows[("cnn4.tiny", "noise-aug")]
    assert standard["mCE"].mean == pytest.approx(1.0) and standard["rel. mCE"].mean == pytest.approx(1.0)

    def uar(cells, name, s):
        return cells[f"additive(noise={name}) s{s}"].mean

    ladders = {"pink": range(1, 6), "white": (1, 5)}
    ce = [sum(1 - uar(augmented, n, s) for s in ladder) / sum(1 - uar(standard, n, s) for s in ladder)
          for n, ladder in ladders.items()]
    rel = [sum(augmented["clean"].mean - uar(augmented, n, s) for s in ladder)
           / sum(standard["clean"].mean - uar(standard, n, s) for s in ladder) for n, ladder in ladders.items()]
    assert augmented["mCE"].mean == pytest.approx(np.mean(ce))
    assert augmented["rel. mCE"].mean == pytest.approx(np.mean(rel))
    means = [np.mean([uar(augmented, n, s) for s in ladder]) for n, ladder in ladders.items()]
    assert augmented["mean corruption"].mean == pytest.approx(np.mean(means))
    ranked = board.ranked_rows()
    assert augmented["mean corruption"].mean != standard["mean corruption"].mean
    assert ranked[0] == max(ranked, key=lambda r: board.rows[r]["mean corruption"].mean)
    best_ce = board.best("mCE")
    assert best_ce == {min(board.rows, key=lambda r: board.rows[r]["mCE"].mean)}  # lower is better


def test_a_named_reference_row_replaces_each_models_standard_row(run):
    _, store = run
    (board,) = build_boards(list(store.records()), ce_reference=("cnn4.tiny", "noise-aug"))
    assert board.rows[("cnn4.tiny", "noise-aug")]["mCE"].mean == pytest.approx(1.0)


def test_the_board_has_a_severity_heat_map_and_the_cli_checks_the_reference(run, tmp_path):
    from serbench.leaderboard.plots import board_plots

    _, store = run
    records = list(store.records())
    (board,) = build_boards(records)
    (heat,) = [p for p in board_plots(board, records) if p.kind == "heatmap"]
    assert heat.data["corruptions"] == ["additive(noise=pink)", "additive(noise=white)"]
    assert heat.data["rows"]["cnn4.tiny + standard"][1] == [
        board.rows[("cnn4.tiny", "standard")][f"additive(noise=white) s{s}"].mean if s in (1, 5) else None
        for s in range(1, 6)]
    assert heat.render("png")[:4] == b"\x89PNG"
    import subprocess
    import sys

    bad = subprocess.run([sys.executable, "-m", "serbench", "leaderboard", "--results", str(store.root),
                          "--ce-reference", "cnn4.tiny+mixup"], capture_output=True, text=True)
    assert bad.returncode == 1 and "no such row on a corruption board" in bad.stderr
    assert "cnn4.tiny+noise-aug" in bad.stderr
    good = subprocess.run([sys.executable, "-m", "serbench", "leaderboard", "--results", str(store.root),
                           "--ce-reference", "cnn4.tiny+noise-aug", "-f", "markdown"], capture_output=True, text=True)
    assert good.returncode == 0 and "| mCE |" in good.stdout


class _Unseeded(Corruption):
    """Draws from the global generator instead of the ones it is given."""

    levels = tuple({"scale": s} for s in (0.1, 0.2, 0.3, 0.4, 0.5))

    def corrupt_one(self, speech, sample_rate, params, rng):
        return speech + params["scale"] * np.random.standard_normal(len(speech)).astype(np.float32)


class _MildestLast(Corruption):
    """A ladder written in the wrong order."""

    levels = tuple({"gain": g} for g in (0.2, 0.4, 0.6, 0.8, 0.9))

    def corrupt_one(self, speech, sample_rate, params, rng):
        return speech * params["gain"]


def test_validate_passes_the_additive_family_and_catches_broken_corruptions():
    from serbench.validation import validate

    assert validate("corruptions", "additive").ok
    reg = registry("corruptions")
    reg.register("testing.unseeded")(_Unseeded)
    reg.register("testing.mildest-last")(_MildestLast)
    try:
        unseeded = validate("corruptions", "testing.unseeded")
        assert [c for c, ok, _ in unseeded.rows() if not ok] == ["deterministic from the generators",
                                                                 "batch equals each utterance alone"]
        backwards = validate("corruptions", "testing.mildest-last")
        assert [m for c, ok, m in backwards.rows() if not ok][0].startswith("distortion falls at severity 2")
    finally:  # test-only classes: other tests check that every built-in registers beside its definition
        for name in ("testing.unseeded", "testing.mildest-last"):
            reg._builtins.pop(name, None)


def test_the_html_links_a_listening_page_only_where_the_site_has_one(run, tmp_path):
    import subprocess
    import sys

    _, store = run

    def board(*args):
        return subprocess.run([sys.executable, "-m", "serbench", "leaderboard", "--results", str(store.root), *args],
                              capture_output=True, text=True)

    site = tmp_path / "site"
    assert board("--out", str(site)).returncode == 0
    assert 'href="listen/index.html"' not in (site / "leaderboard.html").read_text()
    (site / "listen").mkdir()
    (site / "listen" / "index.html").write_text("<html></html>")
    assert board("--check", str(site)).returncode == 1  # the page exists now: the HTML must link it
    assert board("--out", str(site)).returncode == 0
    assert 'href="listen/index.html"' in (site / "leaderboard.html").read_text()
    assert board("--check", str(site)).returncode == 0
    assert (site / "listen" / "index.html").is_file()  # --out leaves the listening page alone


def test_results_ls_names_the_corruption_and_severity(run):
    import subprocess
    import sys

    _, store = run
    done = subprocess.run([sys.executable, "-m", "serbench", "results", "ls", "--results", str(store.root)],
                          capture_output=True, text=True, env={"COLUMNS": "250", **__import__("os").environ})
    assert done.returncode == 0, done.stderr
    assert "corruption additive severity 5" in done.stdout and "corruption additive severity 3" in done.stdout
