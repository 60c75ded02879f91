"""Length policies: Latif et al.'s segments end to end (grouping, windows, mean posteriors, attacks, runs)."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch
from torch import nn

from serbench.attacks.fgsm import FGSM
from serbench.bench.runner import LocalRunner
from serbench.bench.spec import parse_spec
from serbench.bench.store import Store
from serbench.engine.evaluate import evaluate_attack
from serbench.engine.lengths import PadOrCrop, SegmentedClassifier, Segments, group_waves, scatter
from serbench.errors import SpecError
from serbench.features import LogSpectrogram, frontend_config


class WindowMean(nn.Module):
    """A window classifier whose logits are simple functions of the window (so posteriors differ)."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(3, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stats = torch.stack([x.mean(dim=(1, 2, 3)), x.amax(dim=(1, 2, 3)), x[..., :1].mean(dim=(1, 2, 3))], 1)
        return self.proj(stats)


def test_latif_stft_front_end_agrees_with_librosa():
    config = frontend_config("latif2020")
    wave = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    ours = LogSpectrogram(config)(torch.from_numpy(wave)[None])[0, 0].numpy()
    power = np.abs(librosa.stft(wave, n_fft=400, hop_length=160, win_length=400, window="hamming",
                                center=True, pad_mode="reflect")) ** 2
    ref = 10 * np.log10(np.maximum(power[:128], 1e-10))
    assert ours.shape == (128, 101) == ref.shape
    np.testing.assert_allclose(ours, ref, atol=2e-3)


def test_groups_sit_on_the_window_grid_of_the_real_front_end():
    config = frontend_config("latif2020")
    policy = Segments(window=256, hop=128, max_samples=16000 * 6, hop_length=config.hop_length)
    lengths = [8000, 40000, 41000, 16000 * 10, 3000, 70000]  # frames: 51, 251, 257, 601 (capped), 19, 438
    groups = policy.group_lengths(lengths)
    assert [index for index, _ in groups] == [[0, 1, 4], [2], [5], [3]]
    frontend = LogSpectrogram(config)
    for index, samples in groups:
        frames = frontend(torch.zeros(1, samples)).shape[-1]
        k = policy.windows_for(lengths[index[0]])
        assert frames == (k - 1) * 128 + 256
        assert all(frames >= 1 + min(lengths[i], policy.max_samples) // 160 for i in index)  # none dropped
    # 10 s is capped at 6 s: 601 frames -> 4 windows of 256 every 128
    assert policy.windows_for(16000 * 10) == 4


def test_segmented_classifier_is_the_mean_posterior_of_its_windows():
    torch.manual_seed(0)
    model = WindowMean()
    x = torch.rand(3, 1, 5, 32 + 2 * 16)  # 3 windows of 32 every 16
    out = SegmentedClassifier(model, 32, 16)(x)
    for i in range(3):
        windows = torch.stack([x[i, :, :, s : s + 32] for s in (0, 16, 32)])
        expected = torch.softmax(model(windows), -1).mean(0)
        torch.testing.assert_close(out[i].exp(), expected)
    with pytest.raises(ValueError, match="grid"):
        SegmentedClassifier(model, 32, 16)(torch.rand(1, 1, 5, 40))


def test_training_windows_carry_their_utterance_label():
    policy = Segments(window=4, hop=2, max_samples=10**6, hop_length=1)
    feats = torch.arange(2 * 8, dtype=torch.float32).reshape(2, 1, 1, 8)
    x, y, _ = policy.training_inputs(feats, torch.tensor([3, 1]))
    assert x.shape == (6, 1, 1, 4) and y.tolist() == [3, 3, 3, 1, 1, 1]
    assert torch.equal(x[4, 0, 0], torch.tensor([10.0, 11, 12, 13]))


def test_grouped_attack_keeps_the_budget_and_the_partition_order():
    torch.manual_seed(0)
    model = SegmentedClassifier(WindowMean(), 8, 8)
    policy = Segments(window=8, hop=8, max_samples=10**6, hop_length=1)
    waves = [np.random.default_rng(i).random(n).astype(np.float32) for i, n in enumerate([5, 20, 7, 12])]
    groups = group_waves(policy, waves)
    assert [g.index.tolist() for g in groups] == [[0, 2], [3], [1]]  # 1, 2 and 3 windows
    # "features" with hop_length 1: the samples plus the centred STFT's one extra frame
    feats = [nn.functional.pad(g.waves, (0, 1))[:, None, None, :] for g in groups]
    y = torch.tensor([0, 1, 2, 3])
    clean = scatter(groups, [model(f).detach() for f in feats], 4)
    attack = FGSM(eps=0.05)
    metrics, correct = evaluate_attack("fgsm", attack, model, [(g.index, f) for g, f in zip(groups, feats)], y,
                                       clean, ("a", "b", "c", "d"), batch_size=1, threat=attack.threat)
    assert metrics["perturbation"]["linf_max"] <= 0.05 + 1e-6 and len(metrics["predictions"]) == 4
    # one group, one tensor: the grouped path gives exactly the plain path's answer
    pad = PadOrCrop(20)
    (g,) = group_waves(pad, waves)
    plain = FGSM(eps=0.05)
    m = SegmentedClassifier(model.model, 20, 20)
    f = g.waves[:, None, None, :]
    a, _ = evaluate_attack("fgsm", plain, m, f, y, m(f).detach(), ("a", "b", "c", "d"), threat=plain.threat)
    b, _ = evaluate_attack("fgsm", plain, m, [(g.index, f)], y, m(f).detach(), ("a", "b", "c", "d"),
                           threat=plain.threat)
    assert a["predictions"] == b["predictions"] and a["uar"] == b["uar"]


SEGMENT_SPEC = {
    "name": "segments",
    "dataset": {"name": "synthetic", "params": {"utterances_per_class": 6, "seed": 3},
                "protocol": "leave-one-session-out", "folds": [0]},
    "frontend": {"preset": "latif2020", "seconds": 3.0, "segments": {"window": 64, "hop": 32}},
    "training": {"schedule": "ren2020", "iterations": 30, "eval_every": 15, "batch_size": 16},
    "models": ["cnn4.small"],
    "attacks": [{"name": "fgsm", "eps": [0.01]}, {"name": "fgsm", "domain": "waveform", "norm": "linf",
                                                  "eps": [0.001]}],
    "noises": [{"name": "white", "snr": [10]}],
}


@pytest.mark.slow
def test_a_segment_run_trains_on_windows_and_scores_utterances(tmp_path):
    spec = parse_spec(SEGMENT_SPEC)
    store = Store(tmp_path)
    summary = LocalRunner(spec, store, device="cpu").run()
    assert summary.ok, summary.failed
    records = list(store.records())
    (train,) = [r for r in records if r["kind"] == "train"]
    assert train["train"]["frontend"]["segments"] == {"window": 64, "hop": 32}
    assert train["data"]["length"]["policy"] == "segments"
    assert train["data"]["train_inputs"] > train["data"]["train_expanded"] == train["data"]["train"]
    evals = [r for r in records if r["kind"] == "eval"]
    assert len(evals) == 4 and all(r["status"] == "ok" for r in evals)
    for r in evals:
        assert len(r["metrics"]["predictions"]) == len(r["metrics"]["ids"]) == train["data"]["test"]
    waveform = [r for r in evals if r["condition"].get("threat", {}).get("domain") == "waveform"]
    assert waveform[0]["metrics"]["perturbation"]["linf_max"] <= 0.001 + 1e-7


@pytest.mark.parametrize("segments, where", [
    ({"window": 64, "hop": 128}, "frontend.segments.hop"),
    ({"window": 0}, "frontend.segments.window"),
    ({"windows": 3}, "frontend.segments.windows"),
])
def test_bad_segment_options_name_the_field(segments, where):
    with pytest.raises(SpecError, match=f"<spec>: {where}:"):
        parse_spec({**SEGMENT_SPEC, "frontend": {"preset": "latif2020", "segments": segments}})
