"""Square attack (Andriushchenko et al., ECCV 2020): score-based random search, no gradient at all."""

from __future__ import annotations

import math

import torch
from torch import nn

from serbench.attacks.base import Attack
from serbench.attacks.projection import project
from serbench.attacks.subsets import model_rows
from serbench.errors import SerbenchError
from serbench.registry import register

# The paper's schedule of the share p of the input a square covers, as a function of the iteration
# rescaled to a budget of 10000 queries: p_init, halved at each of these iterations.
P_HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


def square_share(p_init: float, iteration: int, n_queries: int) -> float:
    """The share of the input the square of ``iteration`` covers (AutoAttack's rescaled schedule)."""
    it = int(iteration / n_queries * 10000)
    return p_init / 2 ** sum(it > h for h in P_HALVINGS)


def margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``z_y - max_{i != y} z_i`` per example: > 0 while the prediction is right."""
    z_y = logits.gather(1, y[:, None])[:, 0]
    others = logits.scatter(1, y[:, None], -math.inf)
    return z_y - others.amax(dim=1)


@register(
    "attacks", "square", version="1.0",
    summary="Square attack: score-based random search (no gradients), Linf, query budget n_queries (default 5000)",
    paper="Andriushchenko et al., ECCV 2020",
    tags=("native", "black-box", "score-based", "linf", "query-budget"),
)
class Square(Attack):
    r"""Square attack: random square updates at the Linf boundary, kept when they lower the margin.

    Paper: Andriushchenko, Croce, Flammarion & Hein, "Square attack: a
    query-efficient black-box adversarial attack via random search", ECCV 2020;
    the version AutoAttack runs (margin loss, ``p_init`` 0.8, the schedule
    rescaled to the query budget).

    Distance measure: Linf. Needs only the model's scores (logits), never a
    gradient, so a masked or obfuscated gradient does not stop it. Starts from
    vertical stripes of +-eps (one sign per time frame / sample and channel),
    then each query moves a random square (features: over the mel x frame
    plane; waveforms: a window of consecutive samples) to x +- eps, one sign
    per channel, and keeps it when the margin ``z_y - max_{i!=y} z_i`` drops
    (or the prediction flips). Squares are drawn per example. Only utterances
    classified correctly are attacked, and each query runs on those not fooled
    yet. Every utterance uses at most ``n_queries`` model evaluations (the
    start counts as one; the clean prediction is not counted, as in the
    reference); the number each used is reported in :attr:`last_report`.
    Returns the lowest-margin point found (the misclassified one when it
    flipped). Deterministic given ``seed``.

    Arguments:
        eps (float): Linf budget in the domain's units. (Default: 0.0)
        norm (str): ``linf`` only.
        domain (str): ``feature`` or ``waveform``. (Default: feature)
        n_queries (int): query budget per utterance, part of the threat
            model (AutoAttack's 5000). (Default: 5000)
        p_init (float): initial share of the input a square covers, in
            (0, 1]. (Default: 0.8)
        seed (int): seeds the squares and signs. (Default: 0)

    Shape:
        ``x``: (B, ...) inside the domain's bounds; ``y``: (B,) class indices;
        output: like ``x``, detached. Features (B, C, F, T): squares over
        (F, T); waveforms (B, L): windows over L.

    Examples::
        >>> attack = serbench.get("attacks", "square", eps=0.02, n_queries=1000)
        >>> x_adv = attack(model, x, y)
        >>> attack.last_report["totals"]["queries"]
    """

    norms = ("linf",)

    def __init__(self, eps: float = 0.0, norm: str = "linf", domain: str = "feature", n_queries: int = 5000,
                 p_init: float = 0.8, seed: int = 0) -> None:
        super().__init__(eps=eps, norm=norm, domain=domain)
        if (isinstance(n_queries, bool) or not isinstance(n_queries, (int, float)) or not math.isfinite(n_queries)
                or int(n_queries) != n_queries or n_queries < 1):
            raise SerbenchError(f"attack {self.name!r}: n_queries must be a positive integer, got {n_queries!r}")
        if isinstance(p_init, bool) or not isinstance(p_init, (int, float)) or not 0 < p_init <= 1:
            raise SerbenchError(f"attack {self.name!r}: p_init must be in (0, 1], got {p_init!r}")
        self.n_queries, self.p_init, self.seed = int(n_queries), float(p_init), int(seed)
        self._generators: dict[str, torch.Generator] = {}
        self.last_report: dict | None = None

    def _generator(self, device: torch.device) -> torch.Generator:
        key = str(device)
        if key not in self._generators:
            self._generators[key] = torch.Generator(device=device).manual_seed(self.seed)
        return self._generators[key]

    def _report(self, queries: torch.Tensor) -> None:
        used = queries.tolist()
        self.last_report = {"totals": {"queries": int(sum(used)), "attacked": int(sum(q > 0 for q in used))},
                            "per_utterance": {"queries": [int(q) for q in used]},
                            "info": {"n_queries": self.n_queries}}

    def generate(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = x.detach()
        queries = torch.zeros(len(x), dtype=torch.long)
        if self.zero_budget or len(x) == 0:
            self._report(queries)
            return x.clone()
        y = y.to(x.device)
        with torch.no_grad():
            clean = model(x).float()
        out = x.clone()
        index = (clean.argmax(1) == y).nonzero()[:, 0]
        if len(index):
            adv, used = self.search(model_rows(model, index, len(x)), x[index], y[index])
            out[index] = adv
            queries[index.cpu()] = used.cpu()
        self._report(queries)
        return out

    @torch.no_grad()
    def search(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The random search on rows the model gets right: (best points, queries each used)."""
        g = self._generator(x.device)
        low, high = self.threat.bounds
        eps = self.eps
        grid = x.reshape(len(x), -1, 1, x.shape[-1]) if x.dim() < 4 else x.reshape(len(x), -1, *x.shape[-2:])
        c, h, w = grid.shape[1:]
        signs = lambda *shape: 2.0 * torch.randint(0, 2, shape, generator=g, device=x.device).to(x.dtype) - 1  # noqa: E731
        best = project("linf", x, x + eps * signs(len(x), c, 1, w).expand_as(grid).reshape(x.shape), eps, (low, high))
        m_best = margin(model(best).float(), y)
        used = torch.ones(len(x), dtype=torch.long, device=x.device)
        rows_h = torch.arange(h, device=x.device)
        rows_w = torch.arange(w, device=x.device)
        active = (m_best > 0).nonzero()[:, 0]
        sub = model_rows(model, active, len(x))
        for i in range(self.n_queries - 1):
            if len(active) == 0:
                break
            p = square_share(self.p_init, i, self.n_queries)
            if h == 1:  # a window of consecutive samples (or frames)
                s_h, s_w = 1, min(w, max(int(round(p * w)), 1))
            else:
                side = max(int(round(math.sqrt(p * h * w))), 1)
                s_h, s_w = min(side, h), min(side, w)
            n = len(active)
            top = torch.randint(0, h - s_h + 1, (n,), generator=g, device=x.device)
            left = torch.randint(0, w - s_w + 1, (n,), generator=g, device=x.device)
            in_h = (rows_h[None] >= top[:, None]) & (rows_h[None] < (top + s_h)[:, None])
            in_w = (rows_w[None] >= left[:, None]) & (rows_w[None] < (left + s_w)[:, None])
            square = (in_h[:, None, :, None] & in_w[:, None, None, :]).reshape(n, *x.shape[1:])
            x_a, best_a = x[active], best[active]
            moved = x_a + eps * signs(n, c, 1, 1).expand(n, c, h, w).reshape(x_a.shape)
            candidate = project("linf", x_a, torch.where(square, moved, best_a), eps, (low, high))
            m_new = margin(sub(candidate).float(), y[active])
            used[active] += 1
            keep = (m_new < m_best[active]) | (m_new <= 0)
            best[active] = torch.where(keep.view(-1, *([1] * (x.dim() - 1))), candidate, best_a)
            m_best[active] = torch.where(keep, m_new, m_best[active])
            still = m_best[active] > 0
            if not bool(still.all()):
                active = active[still]
                sub = model_rows(model, active, len(x))
        return best, used
