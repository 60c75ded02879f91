"""The store never hands out a record or checkpoint it cannot vouch for (issue 13, store part).

Records carry a digest and their uar/wa must follow from their predictions; the
runner treats a bad record or checkpoint as missing (moved to quarantine/), the
leaderboard refuses it loudly. Checkpoints carry a sha256 written before them.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from serbench.bench.store import Store, record_digest
from serbench.engine.metrics import classification_metrics
from serbench.errors import RecordError, SerbenchError

LABELS = ["angry", "happy", "neutral", "sad"]


def eval_record(key: str = "a" * 64, uar: float | None = None) -> dict:
    targets = [0, 1, 2, 3, 0, 1, 2, 3]
    pred = [0, 1, 2, 0, 0, 2, 2, 3]
    m = classification_metrics(np.array(targets), np.array(pred), tuple(LABELS))
    return {
        "key": key, "kind": "eval", "status": "ok", "error": None, "partition": "test",
        "train": {"model": {"name": "cnn4"}}, "condition": {"type": "clean"}, "warnings": [],
        "metrics": {**m, "uar": m["uar"] if uar is None else uar, "predictions": pred, "targets": targets,
                    "success_rate": float("nan")},
    }


def test_written_records_carry_a_digest_that_verifies_nan_included(tmp_path):
    store = Store(tmp_path)
    store.write(eval_record())
    rec = store.read("a" * 64)
    assert rec["digest"] == record_digest(rec) and len(rec["digest"]) == 64
    assert math.isnan(rec["metrics"]["success_rate"])
    assert store.verify(rec) is None
    # rewriting a record read back (as the runner's warnings pass does) replaces the digest
    store.write({**rec, "warnings": ["flag"]})
    again = store.read("a" * 64)
    assert again["warnings"] == ["flag"] and store.verify(again) is None and again["digest"] != rec["digest"]


def test_verify_names_each_problem(tmp_path):
    store = Store(tmp_path)
    store.write(eval_record())
    rec = store.read("a" * 64)
    assert "digest does not match" in store.verify({**rec, "metrics": {**rec["metrics"], "uar": 0.99}})
    assert "no digest" in store.verify({k: v for k, v in rec.items() if k != "digest"})
    assert "not a record" in store.verify(None) and "not a record" in store.verify([1, 2])
    # a digest recomputed by the editor does not help: uar must follow from predictions and targets
    forged = {**rec, "metrics": {**rec["metrics"], "uar": 0.99}}
    forged["digest"] = record_digest(forged)
    assert "uar 0.99 does not follow" in store.verify(forged)
    forged = {**rec, "metrics": {**rec["metrics"], "wa": rec["metrics"]["wa"] + 1e-6}}
    forged["digest"] = record_digest(forged)
    assert "its wa" in store.verify(forged)


@pytest.mark.parametrize("content", [b"\x00\x89PNG\xff\xfe binary", b"null", b"[1, 2]", b"{not json"],
                         ids=["binary", "null", "list", "truncated"])
def test_unreadable_records_are_refused_by_records_and_quarantined_by_read(tmp_path, content):
    store = Store(tmp_path)
    store.write(eval_record("b" * 64))
    bad = store.record_path("a" * 64)
    bad.write_bytes(content)
    with pytest.raises(RecordError) as exc:
        list(store.records())
    msg = str(exc.value)
    assert str(bad) in msg and "rerun `serbench run SPEC` to recompute it, or delete it" in msg and "\n" not in msg
    with pytest.warns(UserWarning, match="invalid record skipped"):
        assert [r["key"] for r in store.records(strict=False)] == ["b" * 64]
    assert bad.exists()  # listing moves nothing
    assert store.status("a" * 64, quarantine=False) is None and bad.exists()
    with pytest.warns(UserWarning, match=str(bad)):
        assert store.read("a" * 64) is None  # treated as missing: a rerun recomputes it
    assert not bad.exists()
    (moved,) = (tmp_path / "quarantine").iterdir()
    assert moved.name == f"{bad.name}.invalid" and moved.read_bytes() == content
    assert [r["key"] for r in store.records()] == ["b" * 64]


def test_hand_edited_and_old_records_are_refused(tmp_path):
    store = Store(tmp_path)
    store.write(eval_record())
    path = store.record_path("a" * 64)
    rec = json.loads(path.read_text())
    path.write_text(json.dumps({**rec, "metrics": {**rec["metrics"], "uar": 0.9}}))
    with pytest.raises(RecordError, match="digest does not match"):
        list(store.records())
    path.write_text(json.dumps({k: v for k, v in rec.items() if k != "digest"}))  # written by an older serbench
    with pytest.raises(RecordError, match="no digest"):
        list(store.records())
    with pytest.warns(UserWarning):
        assert store.status("a" * 64) is None
    assert list(store.records()) == []


def test_metrics_name_a_prediction_outside_the_label_set():
    y = np.array([0, 1, 2, 3])
    with pytest.raises(SerbenchError, match="prediction class index 4 is outside the 4 classes.*more logits"):
        classification_metrics(y, np.array([0, 1, 4, 3]), tuple(LABELS))
    with pytest.raises(SerbenchError, match="prediction class index -1"):
        classification_metrics(y, np.array([0, 1, -1, 3]), tuple(LABELS))  # numpy would count it as class 3


def payload() -> dict:
    return {"model": {"w": torch.arange(4.0)}, "scaler": {"low": 0.0, "high": 1.0}}


def test_checkpoints_round_trip_with_a_digest(tmp_path):
    store = Store(tmp_path)
    store.save_checkpoint("k", payload())
    assert store.checkpoint_digest_path("k").read_text().strip() != ""
    assert torch.equal(store.load_checkpoint("k")["model"]["w"], torch.arange(4.0))


@pytest.mark.parametrize("damage,reason", [
    (lambda s: s.checkpoint_path("k").write_bytes(b"\x80\x02garbage"), "digest-mismatch"),
    (lambda s: s.checkpoint_digest_path("k").unlink(), "no-digest"),
    (lambda s: torch.save({"model": {"w": torch.zeros(4)}, "scaler": {}}, s.checkpoint_path("k")), "digest-mismatch"),
])
def test_a_damaged_checkpoint_is_quarantined_with_a_warning(tmp_path, damage, reason):
    store = Store(tmp_path)
    store.save_checkpoint("k", payload())
    damage(store)
    path = store.checkpoint_path("k")
    with pytest.warns(UserWarning, match=str(path)):
        assert store.load_checkpoint("k") is None
    assert not path.exists() and (tmp_path / "quarantine" / f"k.pt.{reason}").exists()


def test_an_unloadable_checkpoint_with_a_matching_digest_is_quarantined_without_weights_only_advice(tmp_path):
    import hashlib

    store = Store(tmp_path)
    data = b"\x80\x04not a torch file"
    store.checkpoints_dir.mkdir(parents=True)
    store.checkpoint_path("k").write_bytes(data)
    store.checkpoint_digest_path("k").write_text(hashlib.sha256(data).hexdigest())
    with pytest.warns(UserWarning) as caught:
        assert store.load_checkpoint("k") is None
    (msg,) = [str(w.message) for w in caught if "quarantine" in str(w.message)]
    assert "k.pt" in msg and "does not load" in msg and "weights_only" not in msg
    assert (tmp_path / "quarantine" / "k.pt.unloadable").exists()


def test_a_writer_killed_between_digest_and_checkpoint_leaves_nothing_to_load(tmp_path, monkeypatch):
    import serbench.bench.store as store_mod

    store = Store(tmp_path)
    calls = []
    real = store_mod.write_bytes_atomic

    def dies_on_second_write(path, data, durable=False):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt  # stands for SIGKILL: the atomic write never renames its temp file
        real(path, data, durable=durable)

    monkeypatch.setattr(store_mod, "write_bytes_atomic", dies_on_second_write)
    with pytest.raises(KeyboardInterrupt):
        store.save_checkpoint("k", payload())
    assert calls == [store.checkpoint_digest_path("k"), store.checkpoint_path("k")]
    assert store.load_checkpoint("k") is None and not store.checkpoint_path("k").exists()
