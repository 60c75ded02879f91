"""Decision-based black-box attacks through ART (``art.hopskipjump``, ``art.boundary``) under a query budget:
inside the budget in every domain and norm, queries counted independently of the attack, more queries never
weaker, no gradient ever, and through a non-differentiable quantiser where PGD moves nothing."""

from __future__ import annotations

import pytest
import torch
from test_attacks_setup import synthetic_task, trained_feature_model, waveform_batch

import serbench
from serbench.engine.evaluate import evaluate_attack, predict
from serbench.features import FeaturePipeline, LogSpectrogram, frontend_config
from serbench.normalization import normalization

LABELS = ("a", "b", "c", "d")


@pytest.fixture(autouse=True)
def _one_thread():
    """Many small forward passes: one thread is faster and keeps CPU digits fixed."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class Counting(torch.nn.Module):
    """Counts the rows the model is asked about, and fails on any backward pass or forward that records a graph."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model, self.rows, self.graph_forwards = model, 0, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.rows += len(x)
        self.graph_forwards += int(torch.is_grad_enabled())
        return _NoBackward.apply(self.model(x))


class _NoBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z: torch.Tensor) -> torch.Tensor:
        return z.clone()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        raise AssertionError("a decision-based attack called backward")


class Quantised(torch.nn.Module):
    """A model behind a non-differentiable 8-bit quantiser: every input gradient is exactly zero."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(torch.round(x * 255) / 255)


def _waveform_task() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """The trained tiny CNN behind a log-Mel front end: tones are class 0, loud noise is not (so a start exists)."""
    x, _ = waveform_batch()
    frontend = LogSpectrogram(frontend_config(n_mels=32))
    with torch.no_grad():
        scaler = normalization("minmax").fit(frontend(x))
    model = FeaturePipeline(frontend, scaler, trained_feature_model()).eval()
    with torch.no_grad():
        y = model(x).argmax(1)
    return model, x, y


def _accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).double().mean())


# eps near the middle of the distances the attacks reach in 60 queries: some utterances flip, some do not.
CASES = [
    ("art.hopskipjump", "feature", "linf", 0.65), ("art.hopskipjump", "feature", "l2", 8.0),
    ("art.boundary", "feature", "l2", 8.0),
    ("art.hopskipjump", "waveform", "linf", 0.155), ("art.hopskipjump", "waveform", "l2", 5.0),
    ("art.hopskipjump", "waveform", "snr", 9.0), ("art.boundary", "waveform", "l2", 5.0),
    ("art.boundary", "waveform", "snr", 9.0),
]


@pytest.mark.parametrize("name, domain, norm, eps", CASES)
def test_inside_budget_and_flips_as_reported(name: str, domain: str, norm: str, eps: float) -> None:
    """The harness's check passes; flipped utterances are misclassified inside the ball, the rest are returned
    clean having spent the whole budget."""
    if domain == "feature":
        model = trained_feature_model()
        x, y = synthetic_task(8, seed=5)
    else:
        model, x, y = _waveform_task()
    attack = serbench.get("attacks", name, eps=eps, norm=norm, domain=domain, max_queries=60)
    x_adv = attack.generate(model, x, y)
    serbench.check_budget(name, attack.threat, x, x_adv)
    report = attack.last_report
    flipped = torch.tensor(report["per_utterance"]["flipped"])
    queries = torch.tensor(report["per_utterance"]["queries"])
    with torch.no_grad():
        wrong = model(x_adv).argmax(1) != y
    assert 0 < int(flipped.sum()) < len(x), report["per_utterance"]  # a case that tests something
    assert torch.equal(wrong, flipped)
    assert torch.equal(x_adv[~flipped], x[~flipped]) and torch.all(queries[~flipped] == 60)
    assert torch.all((queries >= 1) & (queries <= 60))
    assert report["totals"] == {"queries": int(queries.sum()), "attacked": 8, "flipped": int(flipped.sum())}
    assert report["info"] == {"max_queries": 60, "norm": norm}


def test_bounds_of_the_threat_model() -> None:
    """Starts and probes stay inside the bounds the harness sets, and use them (a scaled feature domain)."""
    seen: list[torch.Tensor] = []

    class Scaled(torch.nn.Module):  # the trained model on features scaled to [-1.5, 2.5]; records what it sees
        def __init__(self) -> None:
            super().__init__()
            self.model = trained_feature_model()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(torch.stack([x.min(), x.max()]))
            return self.model((x + 1.5) / 4.0)

    model = Scaled().eval()
    x, y = synthetic_task(8, seed=5)
    xs = -1.5 + 4.0 * x
    attack = serbench.get("attacks", "art.hopskipjump", eps=2.0, norm="linf", max_queries=40)
    attack.threat = attack.threat.with_bounds((-1.5, 2.5))
    x_adv = attack.generate(model, xs, y)
    serbench.check_budget("art.hopskipjump", attack.threat, xs, x_adv)
    seen_t = torch.stack(seen)
    assert float(seen_t[:, 0].min()) >= -1.5 and float(seen_t[:, 1].max()) <= 2.5
    assert float(seen_t[:, 0].min()) < -1.4 and float(seen_t[:, 1].max()) > 2.4
    assert attack.last_report["totals"]["flipped"] > 0


@pytest.mark.parametrize("name, norm, eps", [("art.hopskipjump", "linf", 0.5), ("art.hopskipjump", "l2", 6.0),
                                             ("art.boundary", "l2", 6.0)])
def test_queries_counted_independently(name: str, norm: str, eps: float) -> None:
    """Rows the model saw, counted by a wrapper: exactly the clean batch, ART's one-row class probe and the
    reported queries; one utterance at a time, never more than max_queries. No backward, no graph."""
    model = Counting(trained_feature_model()).eval()
    x, y = synthetic_task(8, seed=5)
    y[0] = (y[0] + 1) % 4  # wrong on the clean input: attacked not at all
    attack = serbench.get("attacks", name, eps=eps, norm=norm, max_queries=50)
    x_adv = attack.generate(model, x, y)
    report = attack.last_report
    assert model.rows == len(x) + 1 + report["totals"]["queries"]
    assert report["per_utterance"]["queries"][0] == 0 and torch.equal(x_adv[0], x[0])
    assert report["totals"]["attacked"] == 7
    for i in range(1, 4):
        model.rows = 0
        attack.generate(model, x[i : i + 1], y[i : i + 1])
        assert model.rows - 2 == attack.last_report["totals"]["queries"] <= 50
        assert attack.last_report["per_utterance"]["queries"][0] == report["per_utterance"]["queries"][i]
    assert model.graph_forwards == 0
    assert all(p.grad is None for p in model.parameters())


def test_same_example_alone_or_in_a_batch() -> None:
    """The seed is per utterance (from its content): an utterance's example does not depend on its batch,
    and the same seed gives the same examples."""
    model = trained_feature_model()
    x, y = synthetic_task(6, seed=5)
    attack = lambda seed=0: serbench.get("attacks", "art.hopskipjump", eps=6.0, norm="l2",  # noqa: E731
                                         max_queries=40, seed=seed)
    batch = attack().generate(model, x, y)
    alone = torch.cat([attack().generate(model, x[i : i + 1], y[i : i + 1]) for i in range(len(x))])
    assert torch.equal(batch, alone) and torch.equal(attack().generate(model, x, y), batch)
    assert not torch.equal(attack(seed=1).generate(model, x, y), batch)


def test_more_queries_never_weaker() -> None:
    """With a fixed seed the queries of a smaller budget are the first ones of a larger one, so what a small
    budget flips a larger one flips too: robust accuracy does not rise, and does fall."""
    model = trained_feature_model()
    x, y = synthetic_task(12, seed=5)
    flipped, accuracy = [], []
    for budget in (40, 120, 360):
        attack = serbench.get("attacks", "art.hopskipjump", eps=6.0, norm="l2", max_queries=budget)
        x_adv = attack.generate(model, x, y)
        flipped.append(torch.tensor(attack.last_report["per_utterance"]["flipped"]))
        accuracy.append(_accuracy(model, x_adv, y))
    assert accuracy[0] >= accuracy[1] >= accuracy[2] and accuracy[2] < accuracy[0], accuracy
    assert torch.all(flipped[1] >= flipped[0]) and torch.all(flipped[2] >= flipped[1])


def test_needs_no_gradient_quantiser() -> None:
    """Behind a quantiser every input gradient is zero: PGD and APGD leave every utterance correct, HopSkipJump
    (labels only) does not. Measured on 16 utterances, L2 6.0: 1.00, 1.00 and 0.62 at 200 queries."""
    model = Quantised(trained_feature_model()).eval()
    x, y = synthetic_task(16, seed=5)
    pgd = _accuracy(model, serbench.get("attacks", "pgd", eps=6.0, norm="l2").generate(model, x, y), y)
    apgd = _accuracy(model, serbench.get("attacks", "apgd", eps=6.0, norm="l2", steps=20).generate(model, x, y), y)
    hsj = serbench.get("attacks", "art.hopskipjump", eps=6.0, norm="l2", max_queries=200)
    x_adv = hsj.generate(model, x, y)
    serbench.check_budget("art.hopskipjump", hsj.threat, x, x_adv)
    assert pgd == apgd == 1.0 and _accuracy(model, x_adv, y) < 0.8, (pgd, apgd, _accuracy(model, x_adv, y))


def test_harness_records_queries_per_utterance() -> None:
    """Through the harness, in two length groups and batches of 3: the report lands on the right utterances."""
    model = trained_feature_model()
    x, y = synthetic_task(10, seed=5)
    y[[1, 6]] = (y[[1, 6]] + 1) % 4
    order = torch.randperm(10, generator=torch.Generator().manual_seed(0))
    groups = [(order[:4], x[order[:4]]), (order[4:], x[order[4:]][..., :20])]
    clean = torch.zeros(10, 4)
    for index, xg in groups:
        clean[index] = predict(model, xg)
    attack = serbench.get("attacks", "art.hopskipjump", eps=6.0, norm="l2", max_queries=30)
    metrics, correct = evaluate_attack("art.hopskipjump", attack, model, groups, y, clean, LABELS, batch_size=3,
                                       threat=attack.threat)
    report = metrics["attack_report"]
    queries = torch.tensor(report["per_utterance"]["queries"])
    flipped = torch.tensor(report["per_utterance"]["flipped"])
    wrong_clean = clean.argmax(1) != y
    assert torch.all(queries[wrong_clean] == 0) and torch.all(queries[~wrong_clean] >= 1)
    assert torch.equal(flipped, ~wrong_clean & ~torch.as_tensor(correct))
    assert report["totals"]["queries"] == int(queries.sum()) and report["info"]["max_queries"] == 30


@pytest.mark.parametrize("name, params, match", [
    ("art.hopskipjump", {"max_queries": 0}, "max_queries must be a positive integer"),
    ("art.hopskipjump", {"init_eval": 200, "max_eval": 100}, "init_eval"),
    ("art.boundary", {"norm": "linf"}, "supports norms l2, snr"),
    ("art.boundary", {"step_adapt": 1.5}, "step_adapt must be in"),
])
def test_bad_parameters_one_line(name: str, params: dict, match: str) -> None:
    with pytest.raises(serbench.SerbenchError, match=match) as info:
        serbench.get("attacks", name, eps=1.0, **params)
    assert "\n" not in str(info.value) and name in str(info.value)


def test_query_budget_is_in_the_key() -> None:
    """max_queries is a resolved parameter, so cells of different budgets have different keys."""
    res = serbench.resolve("attacks", "art.hopskipjump", {"max_queries": 1000})
    assert res.params["max_queries"] == 1000
    assert serbench.resolve("attacks", "art.boundary", {}).params["max_queries"] == 5000
