"""A tiny wav2vec 2.0 (serbench-ssl) through a real run on the embedded corpus: trained, attacked on the waveform at
SNR budgets inside the harness's budget check, scored under noise; UAR falls as the budget grows."""

from __future__ import annotations

from test_waveform_models import run_spec

SPEC = {
    "name": "ssl-run",
    "dataset": {"name": "synthetic", "params": {"utterances_per_class": 8}, "folds": [0]},
    "frontend": {"seconds": 1.0},
    "training": {"iterations": 200, "eval_every": 50, "batch_size": 16, "threads": 1},
    "models": ["ssl.wav2vec2.tiny-finetune"],
    "attacks": [{"name": "pgd", "domain": "waveform", "norm": "snr", "eps": [50, 30, 10], "params": {"steps": 5}}],
    "noises": [{"name": "white", "snr": [10]}],
    "evaluation": {"attack_batch_size": 16},
}


def test_waveform_pgd_on_the_tiny_encoder_stays_in_budget_and_hurts_more_as_the_budget_grows(tmp_path):
    records = run_spec(SPEC, tmp_path)
    assert records and all(r["status"] == "ok" for r in records)
    train = next(r for r in records if r["kind"] == "train")
    assert train["data"]["input"] == "waveform" and train["train"]["model"]["input"] == "waveform"
    assert 0 < train["data"]["parameters"]["trainable"] < train["data"]["parameters"]["total"]  # frozen extractor
    evals = [r for r in records if r["kind"] == "eval"]
    clean = next(r for r in evals if r["condition"]["type"] == "clean")["metrics"]["uar"]
    by_snr = {r["condition"]["threat"]["eps"]: r["metrics"] for r in evals if r["condition"]["type"] == "attack"}
    for snr, metrics in by_snr.items():  # the harness measured every batch: a violation would fail the cell
        assert metrics["perturbation"]["snr_db_min"] >= snr - 1e-6
    uars = [by_snr[snr]["uar"] for snr in (50, 30, 10)]
    assert clean > 0.3, "the tiny encoder learned nothing: the attack's effect would mean nothing"
    assert clean >= uars[0] >= uars[1] >= uars[2] and uars[2] < clean
