"""The runner's feature domain: normalisation fitted without padding, attacks inside its bounds and out of
the padding, eps stated in dB per bin in records and boards, the normalisation in the train key."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import serbench
from serbench.attacks.base import Attack
from serbench.bench import conditions
from serbench.bench.folds import load_partition
from serbench.bench.runner import LocalRunner
from serbench.bench.spec import parse_spec
from serbench.bench.store import Store
from serbench.data.feature_cache import FeatureCache
from serbench.engine.lengths import PadOrCrop
from serbench.features import LogSpectrogram
from serbench.leaderboard.aggregate import build_boards
from serbench.normalization import DB_PER_NEPER_POWER, FLOOR_TOLERANCE_DB, floor_db, from_state

SEEN: dict[str, list] = {"bounds": [], "x_min": []}


class PaddingOnly(Attack):
    """Moves only the values at the normalisation's lower bound (padding) by eps, and notes what it was given."""

    def generate(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        low, _ = self.threat.bounds
        SEEN["bounds"].append(self.threat.bounds)
        SEEN["x_min"].append(float(x.min()))
        return torch.where(x <= low, x + self.eps, x).detach()


@pytest.fixture
def padding_only():
    serbench.registry("attacks").register("test.paddingonly", summary="writes into the padding only")(PaddingOnly)
    SEEN["bounds"].clear()
    SEEN["x_min"].clear()
    yield
    serbench.registry("attacks").unregister("test.paddingonly")


def tiny(**frontend) -> dict:
    return {"name": "tiny", "dataset": {"name": "synthetic", "params": {"utterances_per_class": 3}, "folds": [0]},
            "frontend": {"seconds": 3.0, **frontend}, "training": {"iterations": 4, "eval_every": 2, "batch_size": 8},
            "models": ["cnn4.tiny"],
            "attacks": [{"name": "test.paddingonly", "eps": [0.1]}, {"name": "fgsm", "eps": [0.1]}]}


def run(tmp_path, spec: dict) -> tuple[Store, LocalRunner]:
    store = Store(tmp_path / "results")
    runner = LocalRunner(parse_spec(spec), store, device="cpu")
    summary = runner.run()
    assert summary.ok, summary.failed
    return store, runner


def test_normalisation_statistics_are_those_of_the_unpadded_training_audio(tmp_path, padding_only):
    """Every synthetic utterance is at most 2 s, padded to 3 s: a third or more of each row is padding. The
    fitted centre and maximum are those of the utterances' own features (the old min-max scaler's minimum
    was the -100 dB floor the padding reaches)."""
    store, runner = run(tmp_path, tiny())
    ((tc, _),) = runner.plan()
    state = store.load_checkpoint(tc.key)["scaler"]
    norm = from_state(state)
    assert norm.name == "natural-log"
    corpus = runner.corpus(0)
    ids = corpus.fold("leave-one-session-out", 0).partition("train")
    values = torch.cat([LogSpectrogram()(torch.from_numpy(corpus.load_audio(corpus[i]))[None]).flatten() for i in ids])
    values = values[values > floor_db() + FLOOR_TOLERANCE_DB].double()
    # the last frame of each utterance sees zeros where the unpadded STFT reflects: a small difference
    assert norm.center_db == pytest.approx(float(values.mean()), abs=0.5)
    assert norm.high_db == pytest.approx(float(values.max()), abs=0.5)
    assert float(values.mean()) > floor_db() + 30  # what a padding-weighted mean would come nowhere near


def test_feature_attacks_run_in_the_normalisations_bounds_and_never_in_the_padding(tmp_path, padding_only):
    store, runner = run(tmp_path, tiny())
    ((tc, evals),) = runner.plan()
    norm = from_state(store.load_checkpoint(tc.key)["scaler"])
    assert SEEN["bounds"] and set(SEEN["bounds"]) == {norm.bounds}
    assert min(SEEN["x_min"]) < 0.0  # natural-log features: the domain is not [0, 1]
    recs = {e.condition.attack["name"]: store.read(e.key) for e in evals if isinstance(e.condition, conditions.Attack)}
    # everything the attack wrote was padding: restricted to the utterances, nothing is left
    assert recs["test.paddingonly"]["metrics"]["perturbation"]["linf_max"] == 0.0
    assert recs["test.paddingonly"]["metrics"]["success_rate"] == 0.0
    assert recs["fgsm"]["metrics"]["perturbation"]["linf_max"] == pytest.approx(0.1, abs=1e-6)
    units = recs["fgsm"]["metrics"]["eps_units"]
    assert units["normalization"] == "natural-log" and units["eps_scaled"] == 0.1
    assert units["db_per_bin_mean"] == pytest.approx(0.1 * DB_PER_NEPER_POWER)
    train = store.read(tc.key)
    assert train["data"]["normalization"]["name"] == "natural-log"
    assert train["data"]["normalization"]["bounds"] == pytest.approx(list(norm.bounds))
    (board,) = [b for b in build_boards(list(store.records())) if b.threat != "none"]
    assert board.threat == "feature/linf · natural-log"
    assert board.title.endswith("(1 eps = 4.34 dB per bin)")


def test_standardize_states_its_per_bin_range(tmp_path, padding_only):
    store, _ = run(tmp_path, tiny(normalization={"name": "standardize", "clip": 4}))
    (board,) = [b for b in build_boards(list(store.records())) if b.threat != "none"]
    assert board.threat == "feature/linf · standardize"
    assert "dB per bin on average" in board.title


def test_the_normalisation_is_part_of_the_train_key(padding_only):
    keys = {name: parse_spec(tiny(normalization=name)).train_cells({}, {0: "data"})[0].key
            for name in ("natural-log", "standardize", "minmax")}
    assert len(set(keys.values())) == 3
    default = parse_spec({**tiny(), "frontend": {"seconds": 3.0}}).train_cells({}, {0: "data"})[0]
    assert default.key == keys["natural-log"]  # the default, named in the key like any other
    assert default.identity["frontend"]["normalization"] == {"name": "natural-log"}


def test_partitions_know_where_each_utterance_ends(tmp_path):
    corpus = serbench.get("datasets", "synthetic", utterances_per_class=3)
    ids = [u.id for u in corpus.utterances][:12]
    part = load_partition(corpus, ids, PadOrCrop(int(1.5 * corpus.sample_rate)), FeatureCache(tmp_path))
    (group,) = part.groups
    true = np.array([len(corpus.load_audio(corpus[i])) for i in ids])
    assert group.lengths.tolist() == np.minimum(true, group.waves.shape[1]).tolist()
    assert (true > group.waves.shape[1]).any() and (true < group.waves.shape[1]).any()  # both cut and padded
    for row, n in zip(group.waves, group.lengths.tolist()):
        assert not row[n:].any()
