"""pytest fixtures for serbench plugin authors, loaded automatically once serbench is installed (``pytest11``).

In a plugin's tests, no conftest is needed::

    import serbench

    def test_conforms(serbench_validate):
        serbench_validate("models", "myns.mynet")          # fails the test with every failing check

    def test_attack_hurts(serbench_trained_model):
        m = serbench_trained_model                         # tiny trained model, front end, fitted scaler
        attack = serbench.get("attacks", "myns.step", eps=0.5)
        attack.threat = attack.threat.with_bounds(m.bounds)
        assert m.accuracy(attack.generate(m.model, m.x, m.y)) <= m.accuracy()

Fixtures: ``serbench_validate`` (:func:`serbench.validation.validate` for every kind, datasets included),
``serbench_trained_model`` (:class:`serbench.testing.kit.TinyModel`, once per session), ``serbench_corpus_tree``
(:class:`serbench.testing.kit.CorpusTree`, once per session) and ``serbench_generator`` (a seeded CPU
``torch.Generator``). pytest imports this module in every session of the environment, serbench's own and
unrelated projects' alike, so it imports only pytest at module level: torch and serbench load inside the
fixtures that need them, and nothing here is autouse.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

GENERATOR_SEED = 0


@pytest.fixture
def serbench_validate() -> Callable[..., Any]:
    """``serbench_validate(kind, name, **params)``: run serbench's conformance checks of a component
    (``serbench validate KIND NAME``) and fail the test listing every failing check; returns the report."""

    def run(kind: str, name: str, **params: Any) -> Any:
        from serbench.validation import validate

        report = validate(kind, name, **params)
        if not report.ok:
            pytest.fail(f"serbench validate {kind} {name}: {len(report.failures())} check(s) failed\n  "
                        + "\n  ".join(report.failures()), pytrace=False)
        return report

    return run


@pytest.fixture(scope="session")
def serbench_corpus_tree(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A tiny corpus on disk (48 speech-like 16 kHz WAVs and ``labels.csv``): for dataset plugins that read
    files. See :class:`serbench.testing.kit.CorpusTree`; ``.corpus()`` reads it the way a correct loader does."""
    from serbench.testing.kit import corpus_tree

    return corpus_tree(tmp_path_factory.mktemp("serbench-corpus-tree"), tmp_path_factory.mktemp("serbench-cache"))


@pytest.fixture(scope="session")
def serbench_trained_model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A tiny ``cnn4.tiny`` trained on serbench's synthetic corpus on the CPU (seconds, once per session), with
    its front end, fitted normalisation and held-out data. See :class:`serbench.testing.kit.TinyModel`.

    Every test of the session shares it: treat it as read-only (``copy.deepcopy(m.model)`` to train one)."""
    from serbench.testing.kit import tiny_trained_model

    return tiny_trained_model(tmp_path_factory.mktemp("serbench-cache"))


@pytest.fixture
def serbench_generator() -> Any:
    """A CPU ``torch.Generator`` seeded with 0, fresh for every test: the kind the harness hands defenses
    (``TrainBatch.generator``); draw from it, never from torch's global generator."""
    import torch

    return torch.Generator(device="cpu").manual_seed(GENERATOR_SEED)
