"""Decision-based black-box attacks through ART, with a query budget: ``art.hopskipjump`` and ``art.boundary``.

They see only the model's predicted label. The query budget (``max_queries`` per utterance) is part of the
threat model, so serbench, not ART, counts queries: every ``predict`` ART makes goes through an
:class:`_Oracle` that counts the rows sent to the model and stops ART (by raising) at the budget. ART's
own loops have no budget, and its attacks draw their random start from an unseeded ``RandomState``, so
the start is drawn here from a seeded one (ART's recipe: uniform noise in the bounds, then a binary
search towards the clean input) and passed to ART as ``x_adv_init``.

Inside the budget ball: the oracle sees every point ART queries; the first misclassified one inside the
cell's eps ball (the smallest of the probes it came with) is the attack's example, and the attack stops
there. Where the budget runs out first, the clean input is returned (a minimal-perturbation attack's
convention): an example is never projected into the ball, because a projected point is one the attack
never saw classified. So every returned example is inside the budget by construction, and it is misclassified
exactly where the report says ``flipped``.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import art.attacks.evasion as art_evasion
import numpy as np
import torch
from torch import nn

import serbench
from serbench_art.attacks import VERSION
from serbench_art.estimator import art_classifier, from_numpy, numpy_seed, to_numpy


class _Stop(Exception):
    """Raised through ART when the budget is spent or an example inside the ball was found."""


class _Oracle:
    """The only way ART reaches the model for one utterance: counts queries, stops at the budget or a success.

    A point asked for again (the clean input, the start ART re-predicts) is answered from memory and costs
    nothing; the clean prediction is known before the attack (``square`` does not count it either).
    """

    def __init__(self, predict: Any, x0: np.ndarray, label: int, logits0: np.ndarray, norm: str, radius: float,
                 budget: int) -> None:
        self.predict, self.x0, self.label, self.norm = predict, x0, int(label), norm
        self.radius, self.budget = float(radius), int(budget)
        self.known: dict[bytes, np.ndarray] = {self._key(x0): logits0}
        self.used = 0
        self.found: np.ndarray | None = None  # the example inside the ball, once found
        self.closest = math.inf  # size of the closest misclassified point queried

    @staticmethod
    def _key(row: np.ndarray) -> bytes:
        return hashlib.blake2b(np.ascontiguousarray(row, dtype=np.float32).tobytes(), digest_size=16).digest()

    def size(self, rows: np.ndarray) -> np.ndarray:
        """Per-row perturbation size in the threat's norm, measured as the harness does (float32 difference)."""
        delta = (rows.astype(np.float32) - self.x0[None]).reshape(len(rows), -1).astype(np.float64)
        return np.abs(delta).max(axis=1) if self.norm == "linf" else np.linalg.norm(delta, axis=1)

    def __call__(self, x: np.ndarray, batch_size: int = 128, **kwargs: Any) -> np.ndarray:
        rows = np.asarray(x, dtype=np.float32)
        keys = [self._key(r) for r in rows]
        new: dict[bytes, int] = {}
        for i, k in enumerate(keys):
            if k not in self.known and k not in new:
                new[k] = i
        ask = list(new.values())[: max(self.budget - self.used, 0)]
        if ask:
            logits = np.asarray(self.predict(rows[ask], batch_size=batch_size, **kwargs))
            self.used += len(ask)
            for i, z in zip(ask, logits):
                self.known[keys[i]] = z
            self._record(rows[ask], logits)
        if self.found is not None or len(ask) < len(new):
            raise _Stop
        return np.stack([self.known[k] for k in keys])

    def _record(self, rows: np.ndarray, logits: np.ndarray) -> None:
        wrong = logits.argmax(axis=1) != self.label
        if not wrong.any():
            return
        size = self.size(rows)
        self.closest = min(self.closest, float(size[wrong].min()))
        inside = wrong & (size <= self.radius)
        if inside.any():
            self.found = rows[np.flatnonzero(inside)[np.argmin(size[inside])]]


def _positive(name: str, what: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise serbench.SerbenchError(f"attack {name!r}: {what} must be a positive integer, got {value!r}")
    return value


def _utterance_seed(seed: int, x0: np.ndarray) -> int:
    """A seed per utterance from the attack's seed and the utterance itself: the same whatever the batch."""
    digest = hashlib.blake2b(str(seed).encode() + np.ascontiguousarray(x0).tobytes(), digest_size=4).digest()
    return int.from_bytes(digest, "little")


class _DecisionAttack(serbench.Attack):
    """Shared plumbing: per-utterance runs through an :class:`_Oracle`, the seeded start, the report."""

    def __init__(self, eps: float, norm: str, domain: str, max_queries: int, init_size: int, seed: int) -> None:
        super().__init__(eps=eps, norm=norm, domain=domain)
        self.max_queries = _positive(self.name, "max_queries", max_queries)
        self.init_size = _positive(self.name, "init_size", init_size)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise serbench.SerbenchError(f"attack {self.name!r}: seed must be an integer, got {seed!r}")
        self.seed = seed
        self.last_report: dict | None = None

    def build(self, classifier: Any, batch_size: int) -> Any:
        """The ART attack, untargeted, with enough iterations that the query budget binds first."""
        raise NotImplementedError

    def start(self, oracle: _Oracle, rng: np.random.RandomState, low: float, high: float) -> np.ndarray | None:
        """ART's starting point, seeded: uniform noise in the bounds until misclassified (``init_size`` draws),
        then a binary search on the blend towards the clean input (to 1e-3, as ART's HopSkipJump)."""
        x0 = oracle.x0
        for _ in range(self.init_size):
            noise = rng.uniform(low, high, size=x0.shape).astype(np.float32)
            if oracle(noise[None])[0].argmax() != oracle.label:
                break
        else:
            return None
        lo, hi = 0.0, 1.0
        while hi - lo > 1e-3:
            mid = (lo + hi) / 2
            blend = ((1 - mid) * x0 + mid * noise).astype(np.float32)
            if oracle(blend[None])[0].argmax() != oracle.label:
                hi = mid
            else:
                lo = mid
        return ((1 - hi) * x0 + hi * noise).astype(np.float32)

    def _report(self, queries: list[int], flipped: list[bool], closest: list[float | None], attacked: int) -> None:
        self.last_report = {
            "totals": {"queries": int(sum(queries)), "attacked": attacked, "flipped": int(sum(flipped))},
            "per_utterance": {"queries": queries, "flipped": flipped, "closest": closest},
            "info": {"max_queries": self.max_queries, "norm": self.threat.norm},
        }

    def generate(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = x.detach()
        n = len(x)
        queries, flipped, closest = [0] * n, [False] * n, [None] * n
        out = x.clone()
        if self.zero_budget or n == 0:
            self._report(queries, flipped, closest, 0)
            return out
        with torch.no_grad():
            clean = model(x).float()
        correct = (clean.argmax(1) == y.to(x.device)).cpu().tolist()
        radius = self.radius(x).tolist()
        low, high = self.threat.bounds
        x_np, logits_np, labels = to_numpy(x), clean.cpu().numpy(), y.cpu().tolist()
        with art_classifier(model, x, self.threat.bounds) as clf:
            predict = clf.predict
            attack = self.build(clf, n)
            for i in (i for i in range(n) if correct[i]):
                oracle = _Oracle(predict, x_np[i], labels[i], logits_np[i], self.threat.norm, radius[i],
                                 self.max_queries)
                seed = _utterance_seed(self.seed, x_np[i])
                clf.predict = oracle
                try:
                    with numpy_seed(seed):  # ART's own draws (HopSkipJump's directions, Boundary's steps)
                        init = self.start(oracle, np.random.RandomState(seed), low, high)
                        if init is not None:
                            attack.generate(x=x_np[i][None], y=np.array([labels[i]]), x_adv_init=init[None])
                except _Stop:
                    pass
                finally:
                    clf.predict = predict
                queries[i], flipped[i] = oracle.used, oracle.found is not None
                closest[i] = self._closest(oracle.closest, x_np[i])
                if oracle.found is not None:
                    out[i] = from_numpy(oracle.found, x)
        self._report(queries, flipped, closest, sum(correct))
        return self.snap(x, out)

    def _closest(self, size: float, x0: np.ndarray) -> float | None:
        """The closest misclassified point queried, in the threat's units (SNR: dB); None where none was."""
        if not math.isfinite(size):
            return None
        if self.threat.norm != "snr":
            return size
        signal = float(np.linalg.norm(x0.astype(np.float64)))
        return math.inf if size == 0 else 20 * math.log10(max(signal, 1e-300) / size)


@serbench.component(
    name="art.hopskipjump", version=VERSION,
    summary="ART HopSkipJump, decision-based black-box, Linf / L2 / SNR dB, max_queries per utterance (5000)",
    paper="Chen, Jordan & Wainwright, IEEE S&P 2020; Nicolae et al., ART, arXiv:1807.01069",
    tags=("art", "black-box", "decision-based", "linf", "l2", "snr", "query-budget"),
)
class ArtHopSkipJump(_DecisionAttack):
    """ART's HopSkipJump (untargeted) under a query budget.

    Sees only predicted labels. Each iteration: a binary search to the decision boundary, a gradient
    direction estimated from ``init_eval * sqrt(t)`` (at most ``max_eval``) labelled random probes, and a
    geometric step-size search. ``norm`` ``linf`` runs ART's Linf variant; ``l2`` and ``snr`` (an L2 ball
    of radius ``||x||_2 * 10^(-eps/20)`` per utterance) its L2 variant. Each utterance uses at most
    ``max_queries`` model evaluations and stops at the first misclassified point inside the budget ball,
    which it returns; where the budget runs out first it returns the clean input.

    Arguments:
        max_queries (int): query budget per utterance, part of the threat model. (Default: 5000)
        init_eval (int), max_eval (int): probes for the first and largest gradient estimate. (Default: 100, 10000)
        init_size (int): random draws for a misclassified start. (Default: 100)
        seed (int): seeds the start and ART's probes (per utterance, from its content). (Default: 0)
    """

    norms = ("linf", "l2", "snr")

    def __init__(self, eps: float = 0.0, norm: str = "linf", domain: str = "feature", max_queries: int = 5000,
                 init_eval: int = 100, max_eval: int = 10000, init_size: int = 100, seed: int = 0) -> None:
        super().__init__(eps, norm, domain, max_queries, init_size, seed)
        self.init_eval = _positive(self.name, "init_eval", init_eval)
        self.max_eval = _positive(self.name, "max_eval", max_eval)
        if self.init_eval > self.max_eval:
            raise serbench.SerbenchError(f"attack {self.name!r}: init_eval ({init_eval}) must not exceed max_eval "
                                         f"({max_eval})")

    def build(self, classifier: Any, batch_size: int) -> Any:
        return art_evasion.HopSkipJump(
            classifier, batch_size=batch_size, targeted=False, norm=np.inf if self.threat.norm == "linf" else 2,
            max_iter=self.max_queries, max_eval=self.max_eval, init_eval=self.init_eval, init_size=self.init_size,
            verbose=False,
        )


@serbench.component(
    name="art.boundary", version=VERSION,
    summary="ART Boundary attack, decision-based black-box, L2 / SNR dB, max_queries per utterance (5000)",
    paper="Brendel, Rauber & Bethge, ICLR 2018; Nicolae et al., ART, arXiv:1807.01069",
    tags=("art", "black-box", "decision-based", "l2", "snr", "query-budget"),
)
class ArtBoundary(_DecisionAttack):
    """ART's BoundaryAttack (untargeted) under a query budget.

    Sees only predicted labels. From a misclassified start, it walks along the decision boundary: batches of
    ``sample_size`` random orthogonal steps (``spherical_step``, ART's ``delta``) and steps towards the clean
    input (``source_step``, ART's ``epsilon``), both sizes adapted by ``step_adapt``. L2 geometry, so L2 and
    SNR budgets only. Stops at the first misclassified point inside the budget ball (returned) or after
    ``max_queries`` model evaluations (clean input returned); ART also gives up early when ``num_trial``
    batches in a row find nothing, leaving queries unspent.

    Arguments:
        max_queries (int): query budget per utterance, part of the threat model. (Default: 5000)
        spherical_step (float), source_step (float): initial step sizes. (Default: 0.01, 0.01)
        step_adapt (float): factor the step sizes adapt by, in (0, 1). (Default: 0.667)
        num_trial (int), sample_size (int): trials per step and probes per trial. (Default: 25, 20)
        init_size (int): random draws for a misclassified start. (Default: 100)
        seed (int): seeds the start and ART's steps (per utterance, from its content). (Default: 0)
    """

    norms = ("l2", "snr")

    def __init__(self, eps: float = 0.0, norm: str = "l2", domain: str = "feature", max_queries: int = 5000,
                 spherical_step: float = 0.01, source_step: float = 0.01, step_adapt: float = 0.667,
                 num_trial: int = 25, sample_size: int = 20, init_size: int = 100, seed: int = 0) -> None:
        super().__init__(eps, norm, domain, max_queries, init_size, seed)
        for what, value in (("spherical_step", spherical_step), ("source_step", source_step)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise serbench.SerbenchError(f"attack {self.name!r}: {what} must be > 0, got {value!r}")
        if isinstance(step_adapt, bool) or not isinstance(step_adapt, (int, float)) or not 0 < step_adapt < 1:
            raise serbench.SerbenchError(f"attack {self.name!r}: step_adapt must be in (0, 1), got {step_adapt!r}")
        self.spherical_step, self.source_step = float(spherical_step), float(source_step)
        self.step_adapt = float(step_adapt)
        self.num_trial = _positive(self.name, "num_trial", num_trial)
        self.sample_size = _positive(self.name, "sample_size", sample_size)

    def build(self, classifier: Any, batch_size: int) -> Any:
        return art_evasion.BoundaryAttack(
            classifier, batch_size=batch_size, targeted=False, delta=self.spherical_step, epsilon=self.source_step,
            step_adapt=self.step_adapt, max_iter=self.max_queries, num_trial=self.num_trial,
            sample_size=self.sample_size, init_size=self.init_size, verbose=False,
        )
