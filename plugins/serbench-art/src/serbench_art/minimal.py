"""ART's minimal-perturbation attacks as serbench attacks: ``art.cw`` (Carlini & Wagner) and ``art.deepfool``.

Same eps semantics and report as the native ``cw`` and ``deepfool`` (:mod:`serbench.attacks.minimal`):
ART searches without a budget; per utterance its example is returned when it is misclassified and
inside the cell's budget, else the clean input, and the size of every misclassified example ART
found is reported, so a cell's curve of UAR against budget and its median size to flip compare
directly with the native attacks' (``tests/test_cw_agreement.py``).
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

import art.attacks.evasion as art_evasion
import torch
from torch import nn

import serbench
from serbench_art import __version__
from serbench_art.estimator import art_classifier, from_numpy, numpy_seed, to_numpy

# The component version names ART's: a new ART release makes new cells.
VERSION = f"{__version__}+art{metadata.version('adversarial-robustness-toolbox')}"


def _positive_int(name: str, what: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or value < 1:
        raise serbench.SerbenchError(f"attack {name!r}: {what} must be a positive integer, got {value!r}")
    return int(value)


def _non_negative(name: str, what: str, value: Any, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value > 0 if positive else value >= 0):
        raise serbench.SerbenchError(f"attack {name!r}: {what} must be a number {'> 0' if positive else '>= 0'}, "
                                     f"got {value!r}")
    return float(value)


class _ArtMinimal(serbench.Attack):
    """Shared plumbing: input checks, ART classifier over the threat model's bounds, selection and report."""

    norms = ("l2", "snr")
    finish_report = staticmethod(serbench.minimal_summary)

    def build(self, classifier: Any, x: torch.Tensor) -> Any:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def generate(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = x.detach()
        self.last_report = None
        if self.zero_budget or len(x) == 0:
            return x.clone()
        y = y.to(x.device)
        with torch.no_grad():
            clean_wrong = model(x).float().argmax(1) != y
        with art_classifier(model, x, self.threat.bounds) as clf, numpy_seed(0):
            adv = self.build(clf, x).generate(x=to_numpy(x), y=y.cpu().numpy())
        out, self.last_report = serbench.select_minimal(self.threat, self.radius(x), model, x, y, clean_wrong,
                                                        from_numpy(adv, x))
        return out


@serbench.component(
    name="art.cw", version=VERSION,
    summary="ART Carlini & Wagner (CarliniL2Method; Linf: CarliniLInfMethod), minimal perturbation, "
            "returned where it fits eps",
    paper="Carlini & Wagner, IEEE S&P 2017; Nicolae et al., ART, arXiv:1807.01069",
    tags=("art", "white-box", "l2", "linf", "minimal-perturbation"),
)
class ArtCW(_ArtMinimal):
    """ART's C&W: ``CarliniL2Method`` (L2, SNR) or ``CarliniLInfMethod`` (Linf, the paper's tau method).

    ``steps`` -> max_iter, ``binary_search_steps``, ``initial_const``, ``lr`` -> learning_rate,
    ``kappa`` -> confidence. ART's L2 optimiser is gradient descent with a line search on the
    learning rate (halving / doubling), not the native ``cw``'s Adam; its Linf method is the paper's
    iterative tau method (``binary_search_steps`` and ``initial_const`` unused there), where the native
    ``cw`` runs PGD on C&W's loss with a search on the radius.
    """

    norms = ("l2", "linf", "snr")

    def __init__(self, eps: float = 0.0, norm: str = "l2", domain: str = "feature", steps: int = 100,
                 binary_search_steps: int = 9, initial_const: float = 0.01, lr: float = 0.01,
                 kappa: float = 0.0) -> None:
        super().__init__(eps=eps, norm=norm, domain=domain)
        self.steps = _positive_int(self.name, "steps", steps)
        self.binary_search_steps = _positive_int(self.name, "binary_search_steps", binary_search_steps)
        self.initial_const = _non_negative(self.name, "initial_const", initial_const, positive=True)
        self.lr = _non_negative(self.name, "lr", lr, positive=True)
        self.kappa = _non_negative(self.name, "kappa", kappa)
        self.last_report: dict[str, Any] | None = None

    def build(self, classifier: Any, x: torch.Tensor) -> Any:
        if self.threat.norm == "linf":
            return art_evasion.CarliniLInfMethod(
                classifier, confidence=self.kappa, targeted=False, learning_rate=self.lr, max_iter=self.steps,
                batch_size=len(x), verbose=False,
            )
        return art_evasion.CarliniL2Method(
            classifier, confidence=self.kappa, targeted=False, learning_rate=self.lr,
            binary_search_steps=self.binary_search_steps, max_iter=self.steps, initial_const=self.initial_const,
            batch_size=len(x), verbose=False,
        )


@serbench.component(
    name="art.deepfool", version=VERSION,
    summary="ART DeepFool, L2, overshoot 0.02, 50 steps, minimal perturbation, returned where it fits eps",
    paper="Moosavi-Dezfooli et al., CVPR 2016; Nicolae et al., ART, arXiv:1807.01069",
    tags=("art", "white-box", "l2", "minimal-perturbation"),
)
class ArtDeepFool(_ArtMinimal):
    """ART's ``DeepFool`` (L2 only), every class's gradient, ``steps`` -> max_iter, ``overshoot`` -> epsilon.

    ART applies the overshoot once, to the final perturbation (the native ``deepfool`` scores each
    iterate with it), and scales each step by the width of the bounds (1 for features in [0, 1]).
    """

    def __init__(self, eps: float = 0.0, norm: str = "l2", domain: str = "feature", steps: int = 50,
                 overshoot: float = 0.02) -> None:
        super().__init__(eps=eps, norm=norm, domain=domain)
        self.steps = _positive_int(self.name, "steps", steps)
        self.overshoot = _non_negative(self.name, "overshoot", overshoot)
        self.last_report: dict[str, Any] | None = None

    def build(self, classifier: Any, x: torch.Tensor) -> Any:
        return art_evasion.DeepFool(classifier, max_iter=self.steps, epsilon=self.overshoot,
                                    nb_grads=classifier.nb_classes, batch_size=len(x), verbose=False)
