"""serbench attacks that run ART's implementations: ``art.fgsm``, ``art.bim``, ``art.pgd``, ``art.evasion``.

Each adapter takes serbench's threat model (domain, norm, eps) and the same
parameters and defaults as the native attack of the same name, builds an ART
``PyTorchClassifier`` whose ``clip_values`` are the domain's bounds, and runs
the ART attack on the batch. Float32 rounding overshoot of an L2 ball (a few
ulps) is snapped back; anything larger is returned as is, so the harness's
budget check rejects it.
"""

from __future__ import annotations

import abc
import inspect
from importlib import metadata
from typing import Any

import art.attacks.evasion as art_evasion
import numpy as np
import torch
from art.attacks.attack import EvasionAttack
from torch import nn

import serbench
from serbench_art import __version__
from serbench_art.estimator import art_classifier, from_numpy, numpy_seed, to_numpy

ART_VERSION = metadata.version("adversarial-robustness-toolbox")
# The component version names ART's: a new ART release makes new cells.
VERSION = f"{__version__}+art{ART_VERSION}"
ART_NORM = {"linf": np.inf, "l2": 2, "snr": 2}


class _ArtAttack(serbench.Attack):
    """Shared plumbing: input checks, eps = 0, classifier set-up, seeding, numpy round trip."""

    seed: int = 0

    @abc.abstractmethod
    def build(self, classifier: Any, x: torch.Tensor) -> EvasionAttack:
        """The ART attack for ``classifier`` and inputs like ``x``."""

    def finish(self, x: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor:
        return self.snap(x, x_adv)

    def generate(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        if self.zero_budget:
            return x.detach().clone()
        with art_classifier(model, x, self.threat.bounds) as clf, numpy_seed(self.seed):
            attack = self.build(clf, x)
            adv = attack.generate(x=to_numpy(x), y=y.detach().cpu().numpy())
        return self.finish(x, from_numpy(adv, x))


def _check_steps(name: str, steps: int, alpha: float | None) -> None:
    if int(steps) != steps or steps < 1:
        raise serbench.SerbenchError(f"attack {name!r}: steps must be a positive integer, got {steps!r}")
    if alpha is not None and not float(alpha) > 0:
        raise serbench.SerbenchError(f"attack {name!r}: alpha (step size) must be > 0, got {alpha!r}")


@serbench.component(
    name="art.fgsm", version=VERSION,
    summary="ART FastGradientMethod, Linf: x + eps * sign(grad), clipped to the range (= native fgsm)",
    paper="Goodfellow et al., ICLR 2015; Nicolae et al., ART, arXiv:1807.01069",
    tags=("art", "white-box", "linf", "single-step"),
)
class ArtFGSM(_ArtAttack):
    """ART's FastGradientMethod with norm inf and eps_step = eps (single step, no random init).

    Same result as serbench's ``fgsm`` with eta = eps.
    """

    norms = ("linf",)

    def __init__(self, eps: float = 0.0, norm: str = "linf", domain: str = "feature") -> None:
        super().__init__(eps=eps, norm=norm, domain=domain)

    def build(self, classifier: Any, x: torch.Tensor) -> EvasionAttack:
        return art_evasion.FastGradientMethod(
            classifier, norm=np.inf, eps=self.eps, eps_step=self.eps, targeted=False, num_random_init=0,
            batch_size=len(x), minimal=False,
        )


@serbench.component(
    name="art.bim", version=VERSION,
    summary="ART BasicIterativeMethod, Linf, 10 steps of 1.25*eps/10 (= native bim)",
    paper="Kurakin et al., ICLR workshop 2017; Nicolae et al., ART, arXiv:1807.01069",
    tags=("art", "white-box", "linf", "iterative"),
)
class ArtBIM(_ArtAttack):
    """ART's BasicIterativeMethod; ``steps`` -> max_iter, ``alpha`` -> eps_step (default 1.25 * eps / steps)."""

    norms = ("linf",)

    def __init__(self, eps: float = 0.0, norm: str = "linf", domain: str = "feature", steps: int = 10,
                 alpha: float | None = None) -> None:
        super().__init__(eps=eps, norm=norm, domain=domain)
        _check_steps(self.name, steps, alpha)
        self.steps = int(steps)
        self.alpha = 1.25 * self.eps / self.steps if alpha is None else float(alpha)

    def build(self, classifier: Any, x: torch.Tensor) -> EvasionAttack:
        return art_evasion.BasicIterativeMethod(
            classifier, eps=self.eps, eps_step=self.alpha, max_iter=self.steps, targeted=False,
            batch_size=len(x), verbose=False,
        )


@serbench.component(
    name="art.pgd", version=VERSION,
    summary="ART ProjectedGradientDescent, Linf / L2 / SNR dB, 10 steps of 2.5*eps/10 (= native pgd)",
    paper="Madry et al., ICLR 2018; Nicolae et al., ART, arXiv:1807.01069",
    tags=("art", "white-box", "linf", "l2", "snr", "iterative"),
)
class ArtPGD(_ArtAttack):
    """ART's ProjectedGradientDescent (its PyTorch implementation).

    ``steps`` -> max_iter; ``alpha`` -> eps_step, default 2.5 * eps / steps
    (SNR: a fraction of each example's radius, default 2.5 / steps);
    ``random_start`` -> num_random_init 1 (ART draws uniformly inside the
    ball from numpy's RNG, seeded with ``seed``). SNR budgets run as ART
    per-example L2 eps arrays; ART cannot draw random starts in such balls, so
    SNR needs ``random_start: false``.
    """

    norms = ("linf", "l2", "snr")

    def __init__(self, eps: float = 0.0, norm: str = "linf", domain: str = "feature", steps: int = 10,
                 alpha: float | None = None, random_start: bool = True, seed: int = 0) -> None:
        super().__init__(eps=eps, norm=norm, domain=domain)
        _check_steps(self.name, steps, alpha)
        if norm == "snr" and random_start:
            raise serbench.SerbenchError(
                "attack 'art.pgd': ART cannot draw a random start inside per-example (SNR) L2 balls; "
                "set params.random_start: false, or use the native pgd"
            )
        self.steps, self.random_start, self.seed = int(steps), bool(random_start), int(seed)
        self.alpha = None if alpha is None else float(alpha)

    def build(self, classifier: Any, x: torch.Tensor) -> EvasionAttack:
        eps: float | np.ndarray
        eps_step: float | np.ndarray
        if self.threat.norm == "snr":
            shape = (len(x),) + (1,) * (x.dim() - 1)
            r = self.radius(x).cpu().numpy()
            frac = 2.5 / self.steps if self.alpha is None else self.alpha
            eps = r.reshape(shape)
            eps_step = np.maximum(r * frac, 1e-12).reshape(shape)  # ART wants every step > 0 (silent inputs)
        else:
            eps = self.eps
            eps_step = 2.5 * self.eps / self.steps if self.alpha is None else self.alpha
        return art_evasion.ProjectedGradientDescent(
            classifier, norm=ART_NORM[self.threat.norm], eps=eps, eps_step=eps_step, max_iter=self.steps,
            targeted=False, num_random_init=1 if self.random_start else 0, batch_size=len(x), verbose=False,
        )


def _evasion_classes() -> dict[str, type]:
    return {n: c for n, c in vars(art_evasion).items() if inspect.isclass(c) and issubclass(c, EvasionAttack)}


@serbench.component(
    name="art.evasion", version=VERSION,
    summary="Any ART evasion attack by class name (params.cls), with its own keyword arguments",
    paper="Nicolae et al., ART, arXiv:1807.01069",
    tags=("art", "generic"),
)
class ArtEvasion(_ArtAttack):
    """Run the ART evasion attack ``cls`` (e.g. ``ProjectedGradientDescent``, ``DeepFool``) with ``**kwargs``.

    The threat model fills ``eps`` and ``norm`` when the class takes them;
    ``batch_size`` defaults to the whole batch and ``verbose`` to False. Other
    keyword arguments go to the class unchanged (ART's own defaults apply,
    e.g. eps_step 0.1 for PGD). An attack without an ``eps`` (DeepFool,
    Carlini-Wagner) is unbounded: its output fails the harness's budget
    check unless ``project`` is true, which moves it to the nearest point of
    the budget ball (a different, weaker attack; say so when you report it).
    SNR budgets: use ``art.pgd``.
    """

    norms = ("linf", "l2")

    def __init__(self, eps: float = 0.0, norm: str = "linf", domain: str = "feature", cls: str = "",
                 project: bool = False, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(eps=eps, norm=norm, domain=domain)
        # ART's first constructor argument is the estimator (named estimator or classifier): serbench's.
        self.attack_class, self.signature = serbench.library_attack_class(
            "art.evasion", cls, _evasion_classes(), f"an ART {ART_VERSION} evasion attack",
            "ProjectedGradientDescent", kwargs, {"eps", "norm", "estimator", "classifier"})
        self.cls = cls
        self.kwargs, self.project_output, self.seed = dict(kwargs), bool(project), int(seed)

    def build(self, classifier: Any, x: torch.Tensor) -> EvasionAttack:
        kw = dict(self.kwargs)
        if "eps" in self.signature:
            kw["eps"] = self.eps
        if "norm" in self.signature:
            kw["norm"] = ART_NORM[self.threat.norm]
        if "batch_size" in self.signature:
            kw.setdefault("batch_size", len(x))
        if "verbose" in self.signature:
            kw.setdefault("verbose", False)
        try:
            return self.attack_class(classifier, **kw)
        except (ValueError, TypeError) as exc:  # ART validates its parameters in the constructor
            raise serbench.SerbenchError(f"attack 'art.evasion': ART's {self.cls} refused its parameters: {exc}") \
                from exc

    def finish(self, x: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor:
        return self.project(x, x_adv) if self.project_output else self.snap(x, x_adv)
