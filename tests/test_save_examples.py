"""Perceptual measures recorded with waveform cells, and ``--save-examples``: FLAC pairs beside the records, through
the real runner on the synthetic corpus (a waveform FGSM, a feature FGSM, a noise and a corruption cell)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

from serbench.attacks.fgsm import FGSM
from serbench.bench import examples
from serbench.bench.runner import LocalRunner
from serbench.bench.spec import parse_spec
from serbench.bench.store import Store
from serbench.engine import perceptual
from serbench.errors import SpecError

WAVE_EPS, PERCEPTUAL, SAVED = 0.002, 5, 3
SPEC = {
    "name": "listen",
    "dataset": {"name": "synthetic", "params": {"utterances_per_class": 4}, "folds": [0]},
    "frontend": {"seconds": 1.0},
    "training": {"iterations": 10, "eval_every": 10, "batch_size": 16},
    "models": ["cnn4.tiny"],
    "attacks": [{"name": "fgsm", "domain": "waveform", "eps": [WAVE_EPS]}, {"name": "fgsm", "eps": [0.05]}],
    "noises": [{"name": "white", "snr": [10]}],
    "corruptions": [{"name": "additive", "severity": [3]}],
    "evaluation": {"perceptual_utterances": PERCEPTUAL},
}


def _evals(store: Store) -> dict[str, dict]:
    out = {}
    for r in store.records():
        if r["kind"] == "eval":
            c = r["condition"]
            out[c["type"] + ("-" + c.get("threat", {}).get("domain", "") if c["type"] == "attack" else "")] = r
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("listen"))
    summary = LocalRunner(parse_spec(SPEC), store, device="cpu", save_examples=SAVED).run()
    assert summary.ok, summary.failed
    return store


def test_waveform_cells_record_perceptual_measures_over_the_subset(run):
    recs = _evals(run)
    assert {"attack-waveform", "attack-feature", "noise", "corruption", "clean"} <= set(recs)
    for kind in ("attack-waveform", "noise", "corruption"):
        p = recs[kind]["metrics"]["perceptual"]
        assert p["utterances"] == PERCEPTUAL and p["pesq_mode"] == "wb", kind
        assert set(perceptual.MEASURES) <= set(p)
        assert p["segsnr_db"]["n"] == PERCEPTUAL
        assert perceptual.SEGSNR_RANGE[0] <= p["segsnr_db"]["median"] <= perceptual.SEGSNR_RANGE[1]
    # white noise mixed at 10 dB over the speech: the measured SNR is that, to float32 rounding
    assert recs["noise"]["metrics"]["perceptual"]["snr_db"]["median"] == pytest.approx(10.0, abs=1e-3)
    assert recs["attack-feature"]["metrics"]["perceptual"] == {"utterances": 0, "note": examples.FEATURE_NOTE}
    assert "perceptual" not in recs["clean"]["metrics"]


def test_the_waveform_example_differs_from_clean_by_the_attack_perturbation(run):
    recs = _evals(run)
    rec = recs["attack-waveform"]
    folder = run.examples_dir(rec["key"])
    index = json.loads((folder / examples.INDEX).read_text())
    assert index["griffinlim"] is False and index["kind"] == "adversarial" and len(index["examples"]) == SAVED
    ids = rec["metrics"]["ids"]
    assert [e["utterance"] for e in index["examples"]] == sorted(ids)[:SAVED]  # first K by id
    for entry in index["examples"]:
        clean, sr = sf.read(folder / entry["clean"], dtype="float64")
        adv, _ = sf.read(folder / entry["adversarial"], dtype="float64")
        assert sr == 16000 and clean.shape == adv.shape
        assert entry["clean"].startswith(rec["key"][:12]) and examples.slug(entry["utterance"]) in entry["clean"]
        # FGSM's Linf perturbation is eps times the sign of the gradient: |difference| is eps, or 0 where the
        # gradient vanished or clipping held it, to 24-bit quantisation
        diff = np.abs(adv - clean)
        assert diff.max() <= WAVE_EPS + examples.QUANTISATION
        assert np.mean(np.abs(diff - WAVE_EPS) <= examples.QUANTISATION) > 0.5


def test_the_examples_are_the_waves_the_attack_made(run):
    """Recompute the adversarial waveform of the first utterance with the same model and compare sample by sample."""
    rec = _evals(run)["attack-waveform"]
    runner = LocalRunner(parse_spec(SPEC), run, device="cpu")
    tc = runner.train_cells()[0]
    tm = runner._trained(tc, {})
    pipeline, groups = tm.attacked("test", "waveform")
    index, x, _ = groups[0]
    part = tm.partitions["test"]
    first = sorted(part.ids)[0]
    row = [part.ids[p] for p in index.tolist()].index(first)
    y = part.labels[index[row : row + 1]]
    attack = FGSM(eps=WAVE_EPS, domain="waveform")
    attack.threat = tm.threat({"eps": WAVE_EPS, "norm": "linf", "domain": "waveform"})
    adv = attack.generate(pipeline, x[row : row + 1], y).detach()
    n = int(part.groups[0].lengths[row])
    entry = json.loads((run.examples_dir(rec["key"]) / examples.INDEX).read_text())["examples"][0]
    saved, _ = sf.read(run.examples_dir(rec["key"]) / entry["adversarial"], dtype="float64")
    assert np.abs(saved - adv[0, :n].double().numpy()).max() <= examples.QUANTISATION


def test_feature_domain_examples_are_rendered_with_griffin_lim_and_marked(run):
    rec = _evals(run)["attack-feature"]
    folder = run.examples_dir(rec["key"])
    index = json.loads((folder / examples.INDEX).read_text())
    assert index["griffinlim"] is True and len(index["examples"]) == SAVED
    for entry in index["examples"]:
        assert entry["griffinlim"] is True and "griffinlim" in entry["adversarial"]
        assert "griffinlim" in entry["clean_griffinlim"]
        for name in (entry["clean"], entry["clean_griffinlim"], entry["adversarial"]):
            audio, sr = sf.read(folder / name)
            assert sr == 16000 and audio.ndim == 1 and np.isfinite(audio).all() and np.abs(audio).max() > 0
    assert not any(p.name.endswith(".tmp") for p in folder.parent.iterdir())  # nothing half-written left


def test_noise_and_corruption_examples_exist_and_no_examples_without_the_option(run, tmp_path):
    recs = _evals(run)
    for kind, word in (("noise", "noisy"), ("corruption", "corrupted")):
        index = examples.read_index(run.examples_dir(recs[kind]["key"]))
        assert index is not None and index["kind"] == word and len(index["examples"]) == SAVED
    assert examples.read_index(run.examples_dir(recs["clean"]["key"])) is None


def test_keys_do_not_depend_on_the_perceptual_subset_and_it_is_checked():
    keys = lambda spec: sorted(e.key for tc in spec.train_cells({}, {0: "f"}) for e in spec.eval_cells(tc))  # noqa: E731
    assert keys(parse_spec(SPEC)) == keys(parse_spec({**SPEC, "evaluation": {}})) \
        == keys(parse_spec({**SPEC, "evaluation": {"perceptual_utterances": 0}}))
    with pytest.raises(SpecError, match="evaluation.perceptual_utterances"):
        parse_spec({**SPEC, "evaluation": {"perceptual_utterances": -1}})


def test_perceptual_off_records_nothing(tmp_path):
    spec = {k: v for k, v in SPEC.items() if k not in ("attacks", "corruptions")}
    spec["evaluation"] = {"perceptual_utterances": 0}
    store = Store(tmp_path)
    assert LocalRunner(parse_spec(spec), store, device="cpu").run().ok
    assert all("perceptual" not in r["metrics"] for r in store.records() if r["kind"] == "eval")
    assert not (tmp_path / "examples").exists()


def test_pairs_keep_only_the_subset_and_cut_padding():
    class Part:
        ids = ["c", "a", "d", "b"]
        groups = [type("G", (), {"index": torch.tensor([0, 1, 2, 3]), "lengths": torch.tensor([4, 3, 2, 4])})()]

    pairs = examples.Pairs(Part, 2)
    clean = torch.arange(16, dtype=torch.float32).reshape(4, 4)
    pairs.observe(torch.tensor([0, 1]), clean[:2], clean[:2] + 1)
    pairs.observe(torch.tensor([2, 3]), clean[2:], clean[2:] + 1)
    assert pairs.positions() == [1, 3]  # "a", "b"
    assert pairs.clean[1].tolist() == [4, 5, 6] and pairs.changed[3].tolist() == [13, 14, 15, 16]


def test_the_html_page_plays_the_examples_from_files_beside_it(run, tmp_path):
    import re

    from serbench.leaderboard import publish

    records = [r for r in run.records() if r["kind"] == "eval"]
    plain, _ = publish.build(records)
    assert "<audio" not in plain["leaderboard.html"].decode() and not any(k.startswith("audio/") for k in plain)
    files, _ = publish.build(records, examples_root=run.root)
    page = files["leaderboard.html"].decode()
    sources = re.findall(r'<audio controls preload="none" src="([^"]+)">', page)
    # 4 cells with examples x SAVED utterances: 2 players each, 3 for the Griffin-Lim cell (original, rendered, adv)
    assert len(sources) == 3 * SAVED * 2 + SAVED * 3 and set(sources) == {k for k in files if k.startswith("audio/")}
    assert all(not s.startswith(("/", "http")) for s in sources) and "Griffin-Lim rendering" in page
    assert "cnn4.tiny + standard" in page
    out = tmp_path / "board"
    publish.write(out, files)
    assert all((out / s).is_file() for s in sources)
    assert publish.check(out, records, examples_root=run.root) == []
    assert any("stale" in p for p in publish.check(out, records))  # built without them: the copies are extra


def test_a_corruption_scored_from_cached_features_measures_the_same_audio(run, tmp_path, monkeypatch):
    """The second model of a suite reads the corrupted features from the cache: its subset is corrupted again,
    and the measures and saved audio are those of the first."""
    from serbench.corruptions.additive import Additive

    rows, apply = [], Additive.apply
    monkeypatch.setattr(Additive, "apply", lambda self, waves, *a, **k: rows.append(len(waves)) or
                        apply(self, waves, *a, **k))
    spec = {k: v for k, v in SPEC.items() if k not in ("attacks", "noises")}
    shutil.copytree(run.root / "cache", tmp_path / "cache")  # the store's feature cache: as if computed here
    again = Store(tmp_path)
    assert LocalRunner(parse_spec(spec), again, device="cpu", save_examples=SAVED).run().ok
    assert rows and sum(rows) == PERCEPTUAL  # the cached features scored; only the subset corrupted again
    first, second = _evals(run)["corruption"], _evals(again)["corruption"]
    assert first["key"] == second["key"]
    assert second["metrics"]["perceptual"] == first["metrics"]["perceptual"]
    index = examples.read_index(again.examples_dir(second["key"]))
    for entry in index["examples"]:
        name = entry["corrupted"]
        assert (again.examples_dir(second["key"]) / name).read_bytes() == \
            (run.examples_dir(first["key"]) / name).read_bytes()


def test_every_model_of_a_suite_gets_the_measures_of_one_corrupted_audio_measured_once(tmp_path, monkeypatch):
    """Corrupted audio does not depend on the model: two models' corruption cells carry the same measures, and
    PESQ/STOI run once for them (the second cell takes them from the run's first)."""
    from serbench.bench import evaluators
    from serbench.engine import perceptual

    calls, measure = [], perceptual.measure
    monkeypatch.setattr(perceptual, "measure", lambda *a, **k: calls.append(1) or measure(*a, **k))
    monkeypatch.setattr(evaluators, "_MEASURED", {})
    spec = {**{k: v for k, v in SPEC.items() if k not in ("attacks", "noises")},
            "models": ["cnn4.tiny", "cnn.small"], "corruptions": [{"name": "additive", "severity": [2]}]}
    store = Store(tmp_path)
    assert LocalRunner(parse_spec(spec), store, device="cpu").run().ok
    cells = [r for r in store.records() if r["kind"] == "eval" and r["condition"]["type"] == "corruption"]
    assert len(cells) == 2 and cells[0]["train"]["model"]["name"] != cells[1]["train"]["model"]["name"]
    assert cells[0]["metrics"]["perceptual"] == cells[1]["metrics"]["perceptual"]
    assert cells[0]["metrics"]["perceptual"]["utterances"] == PERCEPTUAL
    assert len(calls) == PERCEPTUAL  # one model's subset measured, not two
