"""Feature cache: keyed by canonical JSON, written atomically, loaded with weights_only."""

from __future__ import annotations

import pytest
import torch

from serbench.data import synthetic
from serbench.data.feature_cache import FeatureCache, cache_key, feature_key
from serbench.errors import SerbenchError


def test_compute_once_then_load(tmp_path):
    cache = FeatureCache(tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return torch.arange(6.0).reshape(2, 3)

    key = {"corpus": "abc", "ids": ["u1", "u2"], "frontend": {"n_mels": 64}, "length": {"seconds": 2.0}}
    first = cache.get_or_compute(key, compute)
    second = cache.get_or_compute(dict(reversed(list(key.items()))), compute)  # key order does not matter
    assert torch.equal(first, second) and len(calls) == 1
    cache.get_or_compute({**key, "frontend": {"n_mels": 128}}, compute)
    assert len(calls) == 2
    assert not list(tmp_path.rglob(".*.tmp"))  # no temp file left behind
    assert key in cache


def test_unreadable_file_is_recomputed_with_a_warning(tmp_path):
    cache = FeatureCache(tmp_path)
    key = {"ids": ["a"]}
    cache.path(key).parent.mkdir(parents=True)
    cache.path(key).write_bytes(b"truncated")
    with pytest.warns(UserWarning, match="unreadable"):
        out = cache.get_or_compute(key, lambda: torch.ones(2))
    assert torch.equal(out, torch.ones(2))
    assert torch.equal(torch.load(cache.path(key), weights_only=True), torch.ones(2))


def test_keys(tmp_path):
    corpus = synthetic(sessions=3, utterances_per_class=1)
    length = {"policy": "pad_or_crop", "samples": 32000}
    parts = feature_key(corpus, ["b", "a"], {"preset": "ren2020"}, length)
    assert parts["corpus"] == corpus.fingerprint()
    assert cache_key(parts) != cache_key({**parts, "ids": ["a", "b"]})  # order of ids matters
    with pytest.raises(SerbenchError, match="not plain JSON"):
        cache_key({"x": torch.ones(1)})
    with pytest.raises(SerbenchError, match="tensor"):
        FeatureCache(tmp_path).get_or_compute({"x": 1}, lambda: [1, 2])
