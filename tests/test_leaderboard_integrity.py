"""The leaderboard shows only verified numbers, each attack variant as its own column, no machine paths, no
eaten markup, one board per data set; and ``--out`` never deletes what it did not write."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from serbench.bench.store import Store
from serbench.cli.main import app, main
from serbench.engine.metrics import classification_metrics
from serbench.errors import RecordError, SerbenchError
from serbench.leaderboard import build_boards
from serbench.leaderboard.board_table import board_table
from serbench.leaderboard.export import to_csv, to_json
from serbench.leaderboard.html import page
from serbench.leaderboard.markdown import markdown
from serbench.leaderboard.plots import board_plots
from serbench.leaderboard.publish import MANIFEST, check, manifest, write
from serbench.leaderboard.terminal import footnotes, rich_table

sys.path.insert(0, str(Path(__file__).parent))
from leaderboard_store import write_store  # noqa: E402

LABELS = ("angry", "happy", "neutral", "sad")
_n = 0


def rec(uar=None, cond=None, status="ok", seed=0, defense=None, error=None, warnings=(), fingerprint=None,
        predictions=None, corpus_params=None):
    """An eval record; with ``predictions`` its metrics are computed from them (as the runner does)."""
    global _n
    _n += 1
    ds = {"name": "synthetic", "version": "1.0", "params": corpus_params or {}, "protocol": "loso", "fold": 0}
    if fingerprint:
        ds["fingerprint"] = fingerprint
    metrics: dict = {}
    if status == "ok" and predictions is not None:
        targets = [i % 4 for i in range(len(predictions))]
        metrics = classification_metrics(np.asarray(targets), np.asarray(predictions), LABELS)
        metrics.update(predictions=list(predictions), targets=targets)
    elif status == "ok":
        metrics = {"uar": uar, "wa": uar, "macro_f1": uar}
    return {"key": f"{_n:064x}", "kind": "eval", "status": status, "error": error, "partition": "test",
            "spec_name": "t", "warnings": list(warnings), "env": {"serbench": "0.1.0"},
            "train": {"dataset": ds, "model": {"name": "cnn4", "params": {}},
                      "defense": defense or {"name": "standard", "params": {}}, "seed": seed},
            "condition": cond or {"type": "clean"}, "metrics": metrics}


def fgsm(eps, **params):
    return {"type": "attack", "attack": {"name": "fgsm", "params": params, "version": "1.0"},
            "threat": {"domain": "feature", "norm": "linf", "eps": eps}}


def white(snr, **params):
    return {"type": "noise", "noise": {"name": "white", "params": params, "version": "1.0"}, "snr_db": snr}


def store_of(tmp_path, records) -> Path:
    store = Store(tmp_path / "results")
    for r in records:
        store.write(r)
    return store.root


# -- 1. an attack is its name and its parameters --------------------------------------------------------

def test_attack_and_noise_variants_get_columns_of_their_own_and_their_own_worst_case():
    (board,) = build_boards([
        rec(0.7), rec(0.5, fgsm(0.01, eta=0.001)), rec(0.3, fgsm(0.01, eta=0.01)), rec(0.1, fgsm(0.01, eta=0.1)),
        rec(0.6, white(10, color="white")), rec(0.4, white(10, color="pink")),
    ])
    titles = [c.title for c in board.columns]
    assert titles == ["clean", "fgsm(eta=0.001) 0.01", "fgsm(eta=0.01) 0.01", "fgsm(eta=0.1) 0.01",
                      "worst-case 0.01 (min)", "white(color=pink) 10 dB", "white(color=white) 10 dB"]
    cells = board.rows[("cnn4", "standard")]
    assert cells["fgsm(eta=0.01) 0.01"].values == [0.3] and cells["fgsm(eta=0.01) 0.01"].std == 0.0
    assert cells["worst-case 0.01 (min)"].mean == pytest.approx(0.1)
    assert board.robust_column == "worst-case 0.01 (min)"


def test_a_lone_variant_keeps_its_bare_name():
    (board,) = build_boards([rec(0.7), rec(0.5, fgsm(0.01, eta=0.001)), rec(0.4, fgsm(0.02, eta=0.001)),
                             rec(0.6, white(10, color="white"))])
    assert [c.title for c in board.columns] == ["clean", "fgsm 0.01", "fgsm 0.02", "white 10 dB"]
    assert board.robust_column == "fgsm 0.02"


def test_worst_case_cells_over_different_attack_sets_at_one_eps_stay_apart():
    def worst(eps, *etas):
        return {"type": "worst_case", "threat": {"domain": "feature", "norm": "linf", "eps": eps},
                "attacks": [fgsm(eps, eta=e)["attack"] for e in etas]}
    (board,) = build_boards([rec(0.5, fgsm(0.01, eta=0.1)), rec(0.4, fgsm(0.01, eta=0.2)),
                             rec(0.3, fgsm(0.01, eta=0.3)), rec(0.35, worst(0.01, 0.1, 0.2)),
                             rec(0.2, worst(0.01, 0.1, 0.2, 0.3))])
    worst_cols = [c.title for c in board.columns if c.kind == "worst_case"]
    assert worst_cols == ["worst-case(fgsm(eta=0.1), fgsm(eta=0.2)) 0.01",
                          "worst-case(fgsm(eta=0.1), fgsm(eta=0.2), fgsm(eta=0.3)) 0.01"]


def test_latif_table3_keeps_attack_variants_apart():
    from serbench.leaderboard.layouts import latif2020

    tables = latif2020([rec(0.7), rec(0.5, fgsm(0.01, eta=0.001)), rec(0.3, fgsm(0.01, eta=0.1))])
    (t3,) = [t for t in tables if "Table 3" in t.title]
    assert t3.header == ["model", "augmentation", "FGSM(eta=0.001) 0.01", "FGSM(eta=0.1) 0.01"]
    assert t3.rows == [["cnn4", "none", "50.0", "30.0"]]


# -- 2. only verified records ---------------------------------------------------------------------------

def test_cli_refuses_a_record_edited_by_hand_naming_its_file(tmp_path, capsys):
    root = store_of(tmp_path, [rec(predictions=[0, 1, 2, 3, 0, 1, 2, 0])])
    (path,) = (root / "records").glob("*.json")
    data = json.loads(path.read_text())
    data["metrics"]["uar"] = 0.99
    path.write_text(json.dumps(data))
    with pytest.raises(SystemExit) as exit_:
        main(["leaderboard", "--results", str(root)])
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and str(path) in " ".join(err.split()) and len(err.strip().splitlines()) == 1


def test_the_leaderboard_recomputes_every_metric_it_can_show_from_predictions(tmp_path, capsys):
    good = rec(predictions=[0, 1, 2, 3, 0, 1, 2, 0])
    bad = rec(predictions=[0, 1, 2, 3, 0, 1, 1, 0], cond=white(10))
    bad["metrics"]["macro_f1"] = 0.9  # digest and uar/wa intact: only a recomputation sees it
    root = store_of(tmp_path, [good, bad])
    with pytest.raises(SystemExit) as exit_:
        main(["leaderboard", "--results", str(root), "--metric", "macro_f1"])
    err = " ".join(capsys.readouterr().err.split())
    assert exit_.value.code == 1 and str(Store(root).record_path(bad["key"])) in err and "macro_f1" in err
    with pytest.raises(RecordError, match=f"record {bad['key']}: .*macro_f1"):
        build_boards([good, bad])  # records handed over in memory are checked too
    build_boards([good])


def test_a_copied_record_would_count_twice_and_is_refused(tmp_path):
    one = rec(0.5)
    with pytest.raises(RecordError, match="another file holds this cell's record too"):
        build_boards([one, dict(one)])


def test_the_shared_test_store_writes_through_store_write_with_digests(tmp_path):
    store = write_store(tmp_path / "s")
    paths = sorted((tmp_path / "s" / "records").glob("*.json"))
    assert paths and all("digest" in json.loads(p.read_text()) for p in paths)
    assert all(store.verify(json.loads(p.read_text())) is None for p in paths)


# -- 3. --out deletes only what it wrote ----------------------------------------------------------------

def files_of(*rels: str) -> dict[str, bytes]:
    files = {rel: f"generated {rel}\n".encode() for rel in rels}
    files[MANIFEST] = manifest(set(files))
    return files


def test_out_keeps_files_it_did_not_write_and_removes_what_it_no_longer_generates(tmp_path):
    out = tmp_path / "paper"
    write(out, files_of("leaderboard.md", "leaderboard.json", "plots/a-eps.png", "plots/b-eps.png"))
    (out / "leaderboard.tex").write_text("mine\n")
    (out / "plots" / "fig1_final.pdf").write_bytes(b"%PDF mine")
    stale = write(out, files_of("leaderboard.md", "leaderboard.json", "plots/a-eps.png"))
    assert stale == ["plots/b-eps.png"] and not (out / "plots" / "b-eps.png").exists()
    assert (out / "leaderboard.tex").read_text() == "mine\n" and (out / "plots" / "fig1_final.pdf").exists()
    assert json.loads((out / MANIFEST).read_text())["files"] == ["leaderboard.json", "leaderboard.md",
                                                                 "plots/a-eps.png"]


def test_out_refuses_a_folder_that_is_not_a_leaderboard_and_touches_nothing(tmp_path, capsys):
    write_store(tmp_path / "results")
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "leaderboard.tex").write_text("mine\n")
    with pytest.raises(SystemExit) as exit_:
        main(["leaderboard", "--results", str(tmp_path / "results"), "--out", str(out)])
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and len(err.strip().splitlines()) == 1 and MANIFEST in err
    assert sorted(p.name for p in out.iterdir()) == ["leaderboard.tex"]


def test_a_leaderboard_folder_from_before_manifests_loses_only_our_stale_files(tmp_path):
    from serbench.leaderboard.plots import DIGEST_KEY

    out = tmp_path / "lb"
    (out / "plots").mkdir(parents=True)
    (out / "leaderboard.json").write_text(json.dumps({"schema": 1, "metric": "uar", "provenance": {}, "boards": []}))
    (out / "leaderboard.tex").write_text("mine\n")
    (out / "plots" / "old-eps.svg").write_text(f"<svg><desc>{DIGEST_KEY}: {'0' * 64}</desc></svg>")
    (out / "plots" / "fig1_final.pdf").write_bytes(b"%PDF mine")
    (out / "plots" / "fig2.svg").write_text("<svg>mine</svg>")
    stale = write(out, files_of("leaderboard.json", "plots/a-eps.svg"))
    assert stale == ["plots/old-eps.svg"]
    assert sorted(p.name for p in (out / "plots").iterdir()) == ["a-eps.svg", "fig1_final.pdf", "fig2.svg"]
    assert (out / "leaderboard.tex").exists()


def test_out_into_the_results_folder_itself_as_make_leaderboard_does(tmp_path):
    root = tmp_path / "leaderboard"
    for r in (rec(0.7), rec(0.5, white(10))):
        Store(root).write(r)
    (root / "README.md").write_text("kept\n")
    runner = CliRunner()
    for _ in range(2):
        res = runner.invoke(app, ["leaderboard", "--results", str(root), "--out", str(root)])
        assert res.exit_code == 0, res.output
    assert len(list((root / "records").glob("*.json"))) == 2 and (root / "README.md").read_text() == "kept\n"
    assert (root / "plots").is_dir()
    res = runner.invoke(app, ["leaderboard", "--results", str(root), "--check", str(root)])
    assert res.exit_code == 0, res.output
    (root / MANIFEST).unlink()
    res = runner.invoke(app, ["leaderboard", "--results", str(root), "--check", str(root)])
    assert res.exit_code == 1 and f"{MANIFEST}: missing" in res.output.replace("\n", "")


def test_a_manifest_never_deletes_outside_its_folder(tmp_path):
    out = tmp_path / "lb"
    write(out, files_of("leaderboard.md"))
    (tmp_path / "precious.txt").write_text("x")
    (out / MANIFEST).write_text(json.dumps({"generator": "serbench leaderboard", "schema": 1,
                                            "files": ["leaderboard.md", "../precious.txt"]}))
    with pytest.raises(SerbenchError, match="not a file inside the folder"):
        write(out, files_of("leaderboard.md"))
    assert (tmp_path / "precious.txt").exists()
    assert any("not a file inside the folder" in p for p in check(out, [rec(0.5)]))


# -- 4. no machine paths in anything published ----------------------------------------------------------

PRIVATE = "/home/alice/corpora/iemocap/Session1/x.wav"


def test_absolute_paths_never_reach_a_rendered_leaderboard(tmp_path):
    records = [rec(0.7), rec(0.5, white(10), warnings=[f"clipped {PRIVATE} at 0 dBFS"]),
               rec(status="failed", cond=white(0), error=f"DataError: {PRIVATE}: unreadable; "
                   r"also C:\Users\alice\x.wav and results/ckpt.pt")]
    boards = build_boards(records)
    console = Console(record=True, width=400)
    tables = [board_table(b) for b in boards]
    for table in tables:
        console.print(rich_table(table))
        for line in footnotes(table):
            console.print(line)
    texts = {"terminal": console.export_text(), "markdown": markdown(tables), "json": to_json(boards, records),
             "csv": to_csv(boards), "html": page(tables, {}, {}, "0" * 64)}
    for fmt, text in texts.items():
        assert "alice" not in text and "/home" not in text, fmt
    assert "failed: DataError: <path>/x.wav: unreadable; also <path>/x.wav and results/ckpt.pt" in texts["markdown"]
    assert "<path>/x.wav" in texts["terminal"] and "<path>/x.wav" in texts["json"]
    row = next(r for r in csv.DictReader(io.StringIO(texts["csv"])) if r["column"] == "white 10 dB")
    assert row["warnings"] == "clipped <path>/x.wav at 0 dBFS"


def test_paths_under_the_results_folder_are_cut_too(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Store("res").write(rec(0.7))
    Store("res").write(rec(status="failed", cond=white(0), error="RecordError: res/checkpoints/k.pt: damaged"))
    res = CliRunner().invoke(app, ["leaderboard", "--results", "res", "--format", "markdown"])
    assert res.exit_code == 0, res.output
    assert "failed: RecordError: <path>/k.pt: damaged" in res.output and "res/checkpoints" not in res.output


# -- 5. rich markup in records survives the terminal -----------------------------------------------------

def test_terminal_shows_brackets_from_records_as_they_are(tmp_path):
    root = store_of(tmp_path, [
        rec(0.7), rec(0.6, defense={"name": "vanilla-adv", "params": {"eps": 0.02, "tag": "[draft]"}},
                      warnings=["bootstrap CI [nan, nan]"]),
        rec(0.5, defense={"name": "vanilla-adv", "params": {"eps": 0.02, "tag": "[final]"}})])
    res = CliRunner().invoke(app, ["leaderboard", "--results", str(root)])
    assert res.exit_code == 0, res.output
    assert "vanilla-adv(tag=[draft])" in res.output and "vanilla-adv(tag=[final])" in res.output
    assert "bootstrap CI [nan, nan]" in res.output


# -- 6. runs on different data are different boards ------------------------------------------------------

def test_boards_split_on_the_data_fingerprint_and_say_so_only_where_titles_would_clash():
    a, b = "1a2b3c4d" + "0" * 56, "9f8e7d6c" + "0" * 56
    recs = [rec(predictions=[0, 1, 2, 3], fingerprint=a), rec(predictions=[0, 0, 0, 0], fingerprint=b),
            rec(0.5, fingerprint=a, corpus_params={"sessions": 3})]
    boards = build_boards(recs)
    assert sorted(bd.corpus for bd in boards) == ["synthetic (data 1a2b3c4d)", "synthetic (data 9f8e7d6c)",
                                                  "synthetic(sessions=3)"]  # its params tell it apart already
    assert len({bd.slug for bd in boards}) == 3
    by = {bd.corpus: bd for bd in boards}
    assert by["synthetic (data 1a2b3c4d)"].rows[("cnn4", "standard")]["clean"].values == [1.0]
    assert by["synthetic (data 9f8e7d6c)"].rows[("cnn4", "standard")]["clean"].values == [0.25]
    (confusion,) = [p for p in board_plots(by["synthetic (data 1a2b3c4d)"], recs) if p.kind == "confusion"]
    assert confusion.data["matrices"]["cnn4 + standard"]["counts"] == np.eye(4, dtype=int).tolist()
    (one,) = build_boards([rec(0.5, fingerprint=a), rec(0.6, fingerprint=a, seed=1)])
    assert one.corpus == "synthetic" and one.rows[("cnn4", "standard")]["clean"].values == [0.5, 0.6]
