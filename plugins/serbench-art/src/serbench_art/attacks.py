"""serbench attacks that run ART's implementations: ``art.fgsm``, ``.bim``, ``.pgd``, ``.apgd``, ``.autoattack``,
``.evasion``.

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
from art.attacks.evasion.auto_attack import run_attack
from art.utils import check_and_transform_label_format
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


ART_LOSS = {"ce": "cross_entropy", "dlr": "difference_logits_ratio"}


def _positive(name: str, what: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise serbench.SerbenchError(f"attack {name!r}: {what} must be a positive integer, got {value!r}")
    return value


@serbench.component(
    name="art.apgd", version=VERSION,
    summary="ART AutoProjectedGradientDescent, CE / DLR, Linf / L2, 100 steps from 2*eps (= native apgd's setup)",
    paper="Croce & Hein, ICML 2020; Nicolae et al., ART, arXiv:1807.01069",
    tags=("art", "white-box", "linf", "l2", "iterative", "parameter-free"),
)
class ArtAPGD(_ArtAttack):
    """ART's AutoProjectedGradientDescent, untargeted; ``steps`` -> max_iter, ``n_restarts`` -> nb_random_init.

    The initial step is the paper's 2 * eps (ART's default eps_step is an absolute 0.1). ART keeps
    each example's final iterate where it is misclassified (the native ``apgd`` keeps the last
    misclassified one, or the best). No SNR budget (ART's APGD takes one eps for the batch).
    """

    norms = ("linf", "l2")

    def __init__(self, eps: float = 0.0, norm: str = "linf", domain: str = "feature", steps: int = 100,
                 loss: str = "ce", n_restarts: int = 1, seed: int = 0) -> None:
        super().__init__(eps=eps, norm=norm, domain=domain)
        _check_steps(self.name, steps, None)
        if loss not in ART_LOSS:
            raise serbench.SerbenchError(f"attack {self.name!r}: loss must be ce or dlr, got {loss!r}")
        self.steps, self.loss, self.seed = int(steps), loss, int(seed)
        self.n_restarts = _positive(self.name, "n_restarts", n_restarts)

    def build(self, classifier: Any, x: torch.Tensor) -> EvasionAttack:
        if self.loss == "dlr" and classifier.nb_classes < 3:
            raise serbench.SerbenchError(f"attack {self.name!r}: the DLR loss needs at least 3 classes, the model has "
                                         f"{classifier.nb_classes}; use loss: ce")
        return art_evasion.AutoProjectedGradientDescent(
            classifier, norm=ART_NORM[self.threat.norm], eps=self.eps, eps_step=2 * self.eps, max_iter=self.steps,
            targeted=False, nb_random_init=self.n_restarts, batch_size=len(x), loss_type=ART_LOSS[self.loss],
            verbose=False,
        )


@serbench.component(
    name="art.autoattack", version=VERSION,
    summary="ART AutoAttack (its default set: APGD-CE, APGD-DLR, DeepFool, Square), Linf / L2, features",
    paper="Croce & Hein, ICML 2020; Nicolae et al., ART, arXiv:1807.01069",
    tags=("art", "white-box", "black-box", "ensemble", "linf"),
)
class ArtAutoAttack(_ArtAttack):
    """ART's AutoAttack with the attack set ART uses by default, sized by the parameters.

    ART's set is not the paper's standard one: APGD-CE and APGD-DLR (``steps`` iterations,
    ``n_restarts`` random starts each, first step 2 * eps), DeepFool (100 iterations, overshoot
    1e-3) and Square (``n_queries`` iterations, ``n_restarts`` restarts; :func:`square_p_init`), each on
    the examples the previous ones left correct. ART accepts an example up to 1e-4 (relative) beyond eps, so the
    result is projected onto the budget ball (a no-op for everything inside it). Feature domain only:
    ART's Square needs (channels, height, width) inputs.

    Runs ART's own loop (``art.attacks.evasion.auto_attack.run_attack`` over the members, untargeted,
    as ``AutoAttack.generate`` does without a pool) rather than ``AutoAttack.generate``, which imports
    ``multiprocess`` (an ART extra) even when nothing runs in parallel. :attr:`last_report` says which
    member flipped each utterance, like the native ``autoattack``'s.
    """

    # The library's L2 Square fails on small, non-square spectrograms (ART: a broadcast error; torchattacks: a
    # division by zero); serbench's native ``autoattack`` covers L2.
    norms = ("linf",)
    domains = ("feature",)

    def __init__(self, eps: float = 0.0, norm: str = "linf", domain: str = "feature", steps: int = 100,
                 n_restarts: int = 5, n_queries: int = 5000, seed: int = 0) -> None:
        super().__init__(eps=eps, norm=norm, domain=domain)
        _check_steps(self.name, steps, None)
        self.steps, self.seed = int(steps), int(seed)
        self.n_restarts = _positive(self.name, "n_restarts", n_restarts)
        self.n_queries = _positive(self.name, "n_queries", n_queries)
        self.last_report: dict | None = None

    def build(self, classifier: Any, x: torch.Tensor) -> EvasionAttack:
        norm, n = ART_NORM[self.threat.norm], len(x)
        apgd = [art_evasion.AutoProjectedGradientDescent(
            classifier, norm=norm, eps=self.eps, eps_step=2 * self.eps, max_iter=self.steps, targeted=False,
            nb_random_init=self.n_restarts, batch_size=n, loss_type=loss, verbose=False)
            for loss in (("cross_entropy", "difference_logits_ratio") if classifier.nb_classes >= 3
                         else ("cross_entropy",))]
        members = [*apgd,
                   art_evasion.DeepFool(classifier, max_iter=100, epsilon=1e-3, nb_grads=10, batch_size=n,
                                        verbose=False),
                   art_evasion.SquareAttack(classifier, norm=norm, max_iter=self.n_queries, eps=self.eps,
                                            p_init=square_p_init(x), nb_restarts=self.n_restarts, batch_size=n,
                                            verbose=False)]
        return _Sequence(classifier, members, norm, self.eps, self)

    def finish(self, x: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor:
        return self.project(x, x_adv)


def square_p_init(x: torch.Tensor) -> float:
    """ART's 0.8, lowered so that its first square fits the shorter side of a (mels x frames) input.

    ART draws the square's corner in ``[0, side - tile)``: 0.8 of a 64 x 188 log-Mel is a 98-wide
    square, which does not fit 64 mels (images are square; spectrograms are not).
    """
    h, w = x.shape[-2:]
    return min(0.8, (min(h, w) - 1) ** 2 / (h * w))


class _Sequence:
    """ART's AutoAttack loop over ``members`` (each on the examples still correct), reporting to ``owner``."""

    def __init__(self, classifier: Any, members: list[EvasionAttack], norm: Any, eps: float, owner: Any) -> None:
        self.classifier, self.members, self.norm, self.eps, self.owner = classifier, members, norm, eps, owner

    def generate(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        short = {"cross_entropy": "apgd-ce", "difference_logits_ratio": "apgd-dlr"}
        names = [short.get(getattr(m, "loss_type", None), type(m).__name__.lower()) for m in self.members]
        labels = check_and_transform_label_format(y, nb_classes=self.classifier.nb_classes)
        x_adv = x.astype(np.float32)
        robust = np.argmax(self.classifier.predict(x_adv, batch_size=len(x)), axis=1) == y
        flipped_by: list[str | None] = [None if r else "clean" for r in robust.tolist()]
        for name, member in zip(names, self.members):
            if not robust.any():
                break
            before = robust.copy()
            x_adv, robust = run_attack(x=x_adv, y=labels, sample_is_robust=robust, attack=member,
                                       estimator_orig=self.classifier, norm=self.norm, eps=self.eps)
            for i in np.flatnonzero(before & ~robust).tolist():
                flipped_by[i] = name
        totals = {f"flipped.{name}": flipped_by.count(name) for name in names}
        totals.update({"clean_wrong": flipped_by.count("clean"), "robust": flipped_by.count(None)})
        self.owner.last_report = {"totals": totals, "per_utterance": {"flipped_by": flipped_by},
                                  "info": {"order": names}}
        return x_adv


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
