"""Cell keys cover the data: content fingerprints of local and generated corpora, resolved protocols and
folds, and caches (generated audio, features) that are regenerated when truncated, never trusted."""

from __future__ import annotations

import os
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from test_corpus_fakes import make_emodb, make_iemocap, make_msp_improv, write_wav

import serbench
from serbench.bench.runner import LocalRunner
from serbench.bench.spec import parse_spec
from serbench.bench.store import Store
from serbench.data import cross_corpus, emodb, msp_improv, synthetic
from serbench.data.corpus import Corpus, Utterance, declared_protocols
from serbench.data.feature_cache import FeatureCache, cache_key, feature_key
from serbench.errors import DataError, SerbenchError, SpecError

TINY = {"sessions": 3, "utterances_per_class": 1, "max_seconds": 0.2}


def spec_for(dataset: dict) -> dict:
    return {"dataset": dataset, "frontend": {"seconds": 0.1}, "training": {"iterations": 1},
            "models": ["cnn4.tiny"], "noises": [{"name": "white", "snr": [10]}]}


def plan(tmp_path: Path, dataset: dict) -> list:
    spec = parse_spec(spec_for(dataset))
    return LocalRunner(spec, Store(tmp_path / "results"), device="cpu").train_cells()


def keys(tmp_path: Path, root: Path) -> list[str]:
    """Train and eval keys of an emodb spec on the copy at ``root``."""
    spec = parse_spec(spec_for({"name": "emodb", "params": {"root": str(root)}, "folds": [0, 1]}))
    trains = LocalRunner(spec, Store(tmp_path / "results"), device="cpu").train_cells()
    return [tc.key for tc in trains] + [e.key for tc in trains for e in spec.eval_cells(tc)]


def features_key(root: Path) -> str:
    corpus = emodb(root=str(root))
    ids = [u.id for u in corpus.utterances]
    return cache_key(feature_key(corpus, ids, {"preset": "ren2020"}, {"policy": "pad_or_crop", "samples": 800}))


def rewrite(path: Path, freq: float) -> None:
    """New content for ``path``, and a modification time that surely differs from the old one."""
    before = path.stat().st_mtime_ns
    write_wav(path, freq=freq, seconds=0.06)
    os.utime(path, ns=(before + 5_000_000_000, before + 5_000_000_000))


# -- local copies -------------------------------------------------------------------------------------------


def test_the_data_is_part_of_every_key_and_its_location_is_not(tmp_path):
    make_emodb(tmp_path / "a")
    shutil.copytree(tmp_path / "a", tmp_path / "b")  # the same tree elsewhere (sizes and mtimes kept)
    shutil.copytree(tmp_path / "a", tmp_path / "c")
    rewrite(tmp_path / "c" / "wav" / "08a01Wa.wav", freq=660.0)  # a fixed copy of one file

    same_a, same_b, other = (keys(tmp_path, tmp_path / x) for x in "abc")
    assert same_a == same_b
    assert not set(same_a) & set(other)  # every train and eval cell is new on the other data
    assert features_key(tmp_path / "a") == features_key(tmp_path / "b") != features_key(tmp_path / "c")
    assert "root" not in plan(tmp_path, {"name": "emodb", "params": {"root": str(tmp_path / "a")},
                                         "folds": [0]})[0].identity["dataset"]["params"]


def test_rewriting_a_file_changes_the_keys_on_the_next_load(tmp_path):
    make_emodb(tmp_path / "a")
    before, features = keys(tmp_path, tmp_path / "a"), features_key(tmp_path / "a")
    assert keys(tmp_path, tmp_path / "a") == before  # loading again without a change: same keys
    rewrite(tmp_path / "a" / "wav" / "03a01Wa.wav", freq=880.0)
    assert not set(keys(tmp_path, tmp_path / "a")) & set(before)
    assert features_key(tmp_path / "a") != features
    first = emodb(root=str(tmp_path / "a"))
    fingerprint = first.fingerprint()
    rewrite(tmp_path / "a" / "wav" / "03a01Wa.wav", freq=990.0)
    assert first.fingerprint() == fingerprint  # a loaded corpus describes the files as it found them
    assert emodb(root=str(tmp_path / "a")).fingerprint() != fingerprint


def test_label_files_enter_the_fingerprint_by_content(tmp_path):
    make_msp_improv(tmp_path)
    evaluation = tmp_path / "Evaluation.txt"
    before = msp_improv(root=str(tmp_path)).fingerprint()
    stat = evaluation.stat()
    text = evaluation.read_text()
    first = text.index("; N;")  # relabel one utterance neutral -> sad: same size, same mtime
    evaluation.write_text(text[:first] + "; S;" + text[first + 4:])
    os.utime(evaluation, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert evaluation.stat().st_size == stat.st_size
    assert msp_improv(root=str(tmp_path)).fingerprint() != before


def test_a_changed_file_of_a_running_plan_fails_its_cell_with_a_named_error(tmp_path):
    make_emodb(tmp_path / "a")
    spec = parse_spec(spec_for({"name": "emodb", "params": {"root": str(tmp_path / "a")}, "folds": [0]}))
    planner = LocalRunner(spec, Store(tmp_path / "results"), device="cpu")
    tc = planner.train_cells()[0]
    worker = LocalRunner(parse_spec(spec_for(spec.source["dataset"])), Store(tmp_path / "results"), device="cpu")
    rewrite(tmp_path / "a" / "wav" / "03a01Wa.wav", freq=880.0)
    with pytest.raises(DataError, match=r"dataset 'emodb': its files changed since the cells were planned"):
        worker._corpus_for(tc)


# -- generated and composed corpora ---------------------------------------------------------------------------


def test_generated_corpora_are_fingerprinted_by_parameters_and_generator_version(monkeypatch):
    base = synthetic(**TINY).fingerprint()
    assert synthetic(**TINY).fingerprint() == base  # no audio is generated for it
    assert synthetic(**{**TINY, "max_seconds": 0.3}).fingerprint() != base
    assert synthetic(**{**TINY, "seed": 1}).fingerprint() != base
    monkeypatch.setattr(sys.modules["serbench.data.synthetic"], "GENERATOR_VERSION", "test-bump")
    assert synthetic(**TINY).fingerprint() != base


def test_a_cross_corpus_pair_follows_the_data_of_both_halves(tmp_path):
    make_iemocap(tmp_path / "iemocap")
    kept = sorted(make_msp_improv(tmp_path / "msp"))
    shutil.copytree(tmp_path / "msp", tmp_path / "msp-moved")

    def pair(msp: str) -> Corpus:
        return cross_corpus(source_params={"root": str(tmp_path / "iemocap")},
                            target_params={"root": str(tmp_path / msp)})

    before = pair("msp").fingerprint()
    assert pair("msp-moved").fingerprint() == before
    rewrite(next((tmp_path / "msp").rglob(f"{kept[0]}.wav")), freq=700.0)
    assert pair("msp").fingerprint() != before


def test_a_truncated_generated_corpus_cache_is_regenerated(tmp_path, monkeypatch):
    monkeypatch.setenv("SERBENCH_CACHE", str(tmp_path))
    first = synthetic(**TINY)
    utt = first.utterances[0]
    wave = first.load_audio(utt)
    path = first.cache_path()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    again = synthetic(**TINY)
    with pytest.warns(UserWarning, match=r"corpus cache is unusable .*regenerating"):
        assert np.array_equal(again.load_audio(utt), wave)
    with np.load(path) as z:  # rewritten whole
        assert sorted(z.files) == sorted(u.id for u in first.utterances)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(synthetic(**TINY).load_audio(utt), wave)  # and trusted from then on


def test_an_incomplete_generated_corpus_cache_is_regenerated(tmp_path, monkeypatch):
    monkeypatch.setenv("SERBENCH_CACHE", str(tmp_path))
    corpus = synthetic(**TINY)
    audio = {u.id: corpus.load_audio(u) for u in corpus.utterances}
    kept = dict(list(audio.items())[1:])  # one utterance missing: a valid zip, but not this corpus's audio
    with open(corpus.cache_path(), "wb") as fh:
        np.savez(fh, **kept)
    with pytest.warns(UserWarning, match="is missing"):
        assert np.array_equal(synthetic(**TINY).load_audio(corpus.utterances[0]), audio[corpus.utterances[0].id])


# -- the feature cache ---------------------------------------------------------------------------------------


def test_a_truncated_or_mismatched_feature_cache_entry_is_recomputed(tmp_path):
    cache = FeatureCache(tmp_path)
    key = {"corpus": "x", "ids": ["a", "b"], "frontend": {}, "length": {}}
    cache.get_or_compute(key, lambda: torch.ones(2, 3))
    path = cache.path(key)
    torch.save(torch.zeros(2, 100), path)  # loads, right rows, but not the bytes that were written
    with pytest.warns(UserWarning, match="bytes"):
        assert torch.equal(cache.get_or_compute(key, lambda: torch.ones(2, 3)), torch.ones(2, 3))
    path.with_suffix(".json").unlink()
    torch.save(torch.zeros(5), path)  # one row per utterance, or it is not this entry
    with pytest.warns(UserWarning, match="not one row per each of 2 utterances"):
        assert torch.equal(cache.get_or_compute(key, lambda: torch.ones(2, 3)), torch.ones(2, 3))
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    with pytest.warns(UserWarning, match="unreadable"):
        assert torch.equal(cache.get_or_compute(key, lambda: torch.ones(2, 3)), torch.ones(2, 3))


# -- protocols and folds ----------------------------------------------------------------------------------


def test_the_default_protocol_is_named_in_the_key(tmp_path):
    implicit = plan(tmp_path, {"name": "synthetic", "params": TINY, "folds": [0]})
    explicit = plan(tmp_path, {"name": "synthetic", "params": TINY, "folds": [0],
                               "protocol": "leave-one-session-out"})
    assert [tc.key for tc in implicit] == [tc.key for tc in explicit]
    assert implicit[0].identity["dataset"]["protocol"] == "leave-one-session-out"
    other = plan(tmp_path, {"name": "synthetic", "params": TINY, "folds": [0], "protocol": "leave-one-speaker-out"})
    assert other[0].key != implicit[0].key
    spec = parse_spec(spec_for({"name": "synthetic", "params": TINY}))
    assert spec.datasets[0].protocol == "leave-one-session-out"  # resolved when read, before any data


def test_an_unknown_protocol_is_refused_when_the_spec_is_read():
    with pytest.raises(SpecError) as info:
        parse_spec(spec_for({"name": "synthetic", "protocol": "leave-one-sesion-out"}))
    msg = str(info.value)
    assert msg.startswith("<spec>: dataset.protocol: unknown protocol 'leave-one-sesion-out'") and "\n" not in msg
    assert "leave-one-session-out, leave-one-speaker-out" in msg and "did you mean" in msg
    two = {k: v for k, v in spec_for({}).items() if k != "dataset"}
    two["datasets"] = [{"name": "synthetic"}, {"name": "emodb", "protocol": "ren2020"}]  # no data needed
    with pytest.raises(SpecError, match=r"datasets\[1\]\.protocol: unknown protocol 'ren2020'"):
        parse_spec(two)


@pytest.mark.parametrize("folds, where, message", [
    ([0, 7], r"dataset\.folds\[1\]", "has no fold 7; its 3 folds are 0..2"),
    (["session-09"], r"dataset\.folds\[0\]", "has no fold 'session-09'.*session-01, session-02, session-03"),
])
def test_an_unknown_fold_is_refused_when_the_cells_are_planned(tmp_path, folds, where, message):
    with pytest.raises(SpecError, match=f"^<spec>: {where}: protocol 'leave-one-session-out' of dataset "
                                        f"'synthetic' {message}"):
        plan(tmp_path, {"name": "synthetic", "params": TINY, "folds": folds})


def test_a_corpus_that_declares_no_protocols_is_resolved_when_loaded(tmp_path):
    def tiny(flavour: str = "plain") -> Corpus:
        utts = [Utterance(f"u{s}{i}", label, f"spk{s}", f"s{s}") for s in range(3) for i, label in
                enumerate(("a", "b"))]
        return Corpus("undeclared", utts, ("a", "b"), 16000,
                      {"by-session": serbench.leave_one_session_out, "other": serbench.leave_one_session_out},
                      "by-session", loader=lambda u: np.ones(800, dtype=np.float32))

    reg = serbench.registry("datasets")
    reg.register("test-undeclared")(tiny)
    try:
        assert parse_spec(spec_for({"name": "test-undeclared"})).datasets[0].protocol is None
        implicit = plan(tmp_path, {"name": "test-undeclared", "folds": [0]})
        explicit = plan(tmp_path, {"name": "test-undeclared", "folds": [0], "protocol": "by-session"})
        assert [tc.key for tc in implicit] == [tc.key for tc in explicit]
        with pytest.raises(SpecError, match=r"dataset\.protocol: unknown protocol 'nope' .*by-session, other"):
            plan(tmp_path, {"name": "test-undeclared", "protocol": "nope"})
        with pytest.raises(SerbenchError, match="has no protocol"):  # unresolved cells have no key
            parse_spec(spec_for({"name": "test-undeclared", "folds": [0]})).train_cells(None, {0: "f"})[0].key
    finally:
        reg.unregister("test-undeclared")


def test_declared_protocols_are_the_corpora_protocols(tmp_path):
    make_emodb(tmp_path / "emodb")
    make_msp_improv(tmp_path / "msp")
    for factory, corpus in ((synthetic, synthetic(**TINY)), (emodb, emodb(root=str(tmp_path / "emodb"))),
                            (msp_improv, msp_improv(root=str(tmp_path / "msp")))):
        default, names = declared_protocols(factory)
        assert (default, set(names)) == (corpus.default_protocol, set(corpus.protocols)), corpus.name
    for name in serbench.list_components("datasets"):  # every built-in declares them
        assert declared_protocols(serbench.info("datasets", name).factory) is not None, name


def test_keys_need_the_data(tmp_path):
    spec = parse_spec(spec_for({"name": "synthetic", "params": TINY, "folds": [0]}))
    assert len(spec.train_cells()) == 1  # listing and matching cells needs no data
    with pytest.raises(SerbenchError, match="has no fingerprint: expand the spec through a runner"):
        spec.train_cells()[0].key
    with pytest.raises(SerbenchError, match="has no fingerprint"):
        spec.eval_cells(spec.train_cells()[0])[0].key


def test_a_short_synthetic_corpus_is_finite_speech(tmp_path, monkeypatch):
    monkeypatch.setenv("SERBENCH_CACHE", str(tmp_path))
    corpus = synthetic(**TINY)  # 0.2 s: the first syllable, cropped (was all zero, then NaN once scaled)
    for u in corpus.utterances:
        wave = corpus.load_audio(u)
        assert np.all(np.isfinite(wave)) and np.any(wave), u.id
    with pytest.raises(SerbenchError, match="'max_seconds' is 0.1; it must be at least 0.15 s"):
        synthetic(max_seconds=0.1)
