"""serbench attacks that run torchattacks: ``torchattacks.fgsm``, ``.bim``, ``.pgd``, ``.apgd``, ``.autoattack``,
``.generic``.

Both domains are supported through an explicit, checked map to [0, 1]
(:mod:`serbench_torchattacks.unitbox`): torchattacks only ever attacks a
model that verifies each input lies in [0, 1]. The adapters take serbench's
threat model and the same parameters and defaults as the native attack of the
same name; eps and step sizes are in the domain's units and converted.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from typing import Any

import torch
from torch import nn

import serbench
from serbench_torchattacks import __version__
from serbench_torchattacks.unitbox import UnitBoxModel

try:
    import torchattacks
    from torchattacks.attack import Attack as TorchattacksAttack
except ImportError as exc:  # reported by serbench's registry as a broken plugin, with this hint
    raise ImportError(
        f"torchattacks is not installed ({exc}); install it with `pip install --no-deps torchattacks==3.5.1` "
        "(--no-deps keeps its requests~=2.25.1 pin out of your environment)"
    ) from exc

TORCHATTACKS_VERSION = metadata.version("torchattacks")
VERSION = f"{__version__}+torchattacks{TORCHATTACKS_VERSION}"
TA_NORM = {"linf": "Linf", "l2": "L2"}


@contextmanager
def torch_seed(seed: int, device: torch.device) -> Iterator[None]:
    """torchattacks draws random starts from torch's global RNG: seed it for the call, then restore it."""
    devices = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


class _TorchattacksAttack(serbench.Attack):
    """Shared plumbing: checks, eps = 0, the [0, 1] map, seeding, eval mode."""

    norms: tuple[str, ...] = ("linf",)
    seed: int = 0

    def __init__(self, eps: float = 0.0, norm: str = "linf", domain: str = "feature") -> None:
        super().__init__(eps=eps, norm=norm, domain=domain)
        self.last_unit_range: tuple[float, float] | None = None  # what the model saw, for audits and tests
        self.last_model_calls = 0

    @abc.abstractmethod
    def build(self, model: nn.Module, scale: float) -> TorchattacksAttack:
        """The torchattacks attack on ``model``, its budget multiplied by ``scale`` (the unit box's)."""

    def finish(self, x: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor:
        return self.snap(x, x_adv)

    def generate(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = x.detach()
        if self.zero_budget:
            return x.clone()
        box = UnitBoxModel(model, self.threat.bounds, x)
        lo, hi = (float(v) for v in torch.aminmax(box.u0))
        if lo < 0.0 or hi > 1.0:  # torchattacks would clamp these silently
            raise serbench.SerbenchError(
                f"attack {self.name!r}: the clean input maps to [{lo:.6g}, {hi:.6g}], not inside [0, 1]; "
                f"keep {self.threat.domain} inputs within {list(self.threat.bounds)}"
            )
        was_training = model.training
        box.train(was_training)  # torchattacks puts the model back in train mode if it found it there
        try:
            with torch_seed(self.seed, x.device):
                u_adv = self.build(box, box.scale)(box.u0, y.to(x.device))
        finally:
            model.train(was_training)
        self.last_unit_range, self.last_model_calls = (box.seen_min, box.seen_max), box.calls
        return self.finish(x, box.from_unit(u_adv.detach()).to(x.dtype))


def _check_steps(name: str, steps: int, alpha: float | None) -> None:
    if int(steps) != steps or steps < 1:
        raise serbench.SerbenchError(f"attack {name!r}: steps must be a positive integer, got {steps!r}")
    if alpha is not None and not float(alpha) > 0:
        raise serbench.SerbenchError(f"attack {name!r}: alpha (step size) must be > 0, got {alpha!r}")


@serbench.component(
    name="torchattacks.fgsm", version=VERSION,
    summary="torchattacks FGSM, Linf: x + eps * sign(grad), clipped to the range (= native fgsm)",
    paper="Goodfellow et al., ICLR 2015; Kim, torchattacks, arXiv:2010.01950",
    tags=("torchattacks", "white-box", "linf", "single-step"),
)
class TorchattacksFGSM(_TorchattacksAttack):
    """torchattacks.FGSM on the [0, 1]-mapped domain; same result as serbench's ``fgsm`` with eta = eps."""

    norms = ("linf",)

    def __init__(self, eps: float = 0.0, norm: str = "linf", domain: str = "feature") -> None:
        super().__init__(eps=eps, norm=norm, domain=domain)

    def build(self, model: nn.Module, scale: float) -> TorchattacksAttack:
        return torchattacks.FGSM(model, eps=self.eps / scale)


@serbench.component(
    name="torchattacks.bim", version=VERSION,
    summary="torchattacks BIM, Linf, 10 steps of 1.25*eps/10 (= native bim)",
    paper="Kurakin et al., ICLR workshop 2017; Kim, torchattacks, arXiv:2010.01950",
    tags=("torchattacks", "white-box", "linf", "iterative"),
)
class TorchattacksBIM(_TorchattacksAttack):
    """torchattacks.BIM; ``alpha`` defaults to 1.25 * eps / steps as serbench's ``bim`` (not 2/255)."""

    norms = ("linf",)

    def __init__(self, eps: float = 0.0, norm: str = "linf", domain: str = "feature", steps: int = 10,
                 alpha: float | None = None) -> None:
        super().__init__(eps=eps, norm=norm, domain=domain)
        _check_steps(self.name, steps, alpha)
        self.steps = int(steps)
        self.alpha = 1.25 * self.eps / self.steps if alpha is None else float(alpha)

    def build(self, model: nn.Module, scale: float) -> TorchattacksAttack:
        return torchattacks.BIM(model, eps=self.eps / scale, alpha=self.alpha / scale, steps=self.steps)


@serbench.component(
    name="torchattacks.pgd", version=VERSION,
    summary="torchattacks PGD (Linf) / PGDL2 (L2), 10 steps of 2.5*eps/10, random start (= native pgd)",
    paper="Madry et al., ICLR 2018; Kim, torchattacks, arXiv:2010.01950",
    tags=("torchattacks", "white-box", "linf", "l2", "iterative"),
)
class TorchattacksPGD(_TorchattacksAttack):
    """torchattacks.PGD (norm linf) or PGDL2 (norm l2); defaults as serbench's ``pgd``.

    torchattacks has no SNR budget: use the native ``pgd`` or ``art.pgd``.
    """

    norms = ("linf", "l2")

    def __init__(self, eps: float = 0.0, norm: str = "linf", domain: str = "feature", steps: int = 10,
                 alpha: float | None = None, random_start: bool = True, seed: int = 0) -> None:
        super().__init__(eps=eps, norm=norm, domain=domain)
        _check_steps(self.name, steps, alpha)
        self.steps, self.random_start, self.seed = int(steps), bool(random_start), int(seed)
        self.alpha = 2.5 * self.eps / self.steps if alpha is None else float(alpha)

    def build(self, model: nn.Module, scale: float) -> TorchattacksAttack:
        cls = torchattacks.PGD if self.threat.norm == "linf" else torchattacks.PGDL2
        return cls(model, eps=self.eps / scale, alpha=self.alpha / scale, steps=self.steps,
                   random_start=self.random_start)


def _classes(box: UnitBoxModel) -> int:
    """The number of classes the model behind ``box`` scores: one forward pass on one clean row."""
    with torch.no_grad():
        return int(box(box.u0[:1]).shape[-1])


def _positive(name: str, what: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise serbench.SerbenchError(f"attack {name!r}: {what} must be a positive integer, got {value!r}")
    return value


@serbench.component(
    name="torchattacks.apgd", version=VERSION,
    summary="torchattacks APGD (CE / DLR) or APGDT (targeted DLR), Linf / L2, 100 steps (= native apgd)",
    paper="Croce & Hein, ICML 2020; Kim, torchattacks, arXiv:2010.01950",
    tags=("torchattacks", "white-box", "linf", "l2", "iterative", "parameter-free"),
)
class TorchattacksAPGD(_TorchattacksAttack):
    """torchattacks.APGD (``loss`` ce or dlr) or, with ``targeted``, torchattacks.APGDT (targeted DLR only).

    Parameters and defaults as serbench's ``apgd`` (steps 100, not torchattacks' 10). torchattacks
    reviews the step size at ``0.22 * steps`` and then every ``max(int(0.03 * steps), 1)`` fewer
    iterations: the paper's checkpoints, which the native ``apgd`` uses, for ``steps`` a multiple of 100,
    more frequent below 34 steps. No SNR budget (use the native ``apgd``).
    """

    norms = ("linf", "l2")

    def __init__(self, eps: float = 0.0, norm: str = "linf", domain: str = "feature", steps: int = 100,
                 loss: str = "ce", targeted: bool = False, n_target_classes: int = 9, n_restarts: int = 1,
                 seed: int = 0) -> None:
        super().__init__(eps=eps, norm=norm, domain=domain)
        _check_steps(self.name, steps, None)
        if loss not in ("ce", "dlr"):
            raise serbench.SerbenchError(f"attack {self.name!r}: loss must be ce or dlr, got {loss!r}")
        if targeted and loss != "dlr":
            raise serbench.SerbenchError(f"attack {self.name!r}: torchattacks' targeted APGD (APGDT) has the DLR loss "
                                         "only; set loss: dlr, or use the native apgd for targeted CE")
        self.steps, self.loss, self.targeted, self.seed = int(steps), loss, bool(targeted), int(seed)
        self.n_target_classes = _positive(self.name, "n_target_classes", n_target_classes)
        self.n_restarts = _positive(self.name, "n_restarts", n_restarts)

    def build(self, model: nn.Module, scale: float) -> TorchattacksAttack:
        classes = _classes(model)
        need = 4 if self.targeted else 3 if self.loss == "dlr" else 2
        if classes < need:
            raise serbench.SerbenchError(f"attack {self.name!r}: the {'targeted ' if self.targeted else ''}"
                                         f"{self.loss.upper()} loss needs at least {need} classes, the model has "
                                         f"{classes}; use loss: ce")
        common = {"norm": TA_NORM[self.threat.norm], "eps": self.eps / scale, "steps": self.steps,
                  "n_restarts": self.n_restarts, "seed": self.seed}
        if self.targeted:  # APGDT tries n_classes - 1 targets
            return torchattacks.APGDT(model, n_classes=min(self.n_target_classes, classes - 1) + 1, **common)
        return torchattacks.APGD(model, loss=self.loss, **common)


@serbench.component(
    name="torchattacks.autoattack", version=VERSION,
    summary="torchattacks AutoAttack (standard: APGD-CE, APGD-T, FAB-T, Square), Linf / L2, features",
    paper="Croce & Hein, ICML 2020; Kim, torchattacks, arXiv:2010.01950",
    tags=("torchattacks", "white-box", "black-box", "ensemble", "linf", "l2"),
)
class TorchattacksAutoAttack(_TorchattacksAttack):
    """torchattacks.AutoAttack: its members in sequence, each on the examples still classified correctly.

    ``steps`` sets the iterations of every gradient member (torchattacks builds them with its own
    default, 10, unlike the paper's 100) and ``n_queries`` Square's budget (5000). Feature domain
    only: torchattacks' Square draws 2-D squares, which a (B, L) waveform shown as (B, 1, 1, L) cannot
    hold. The number of classes comes from the model.
    """

    # The library's L2 Square fails on small, non-square spectrograms (ART: a broadcast error; torchattacks: a
    # division by zero); serbench's native ``autoattack`` covers L2.
    norms = ("linf",)
    domains = ("feature",)

    def __init__(self, eps: float = 0.0, norm: str = "linf", domain: str = "feature", version: str = "standard",
                 steps: int = 10, n_queries: int = 5000, seed: int = 0) -> None:
        super().__init__(eps=eps, norm=norm, domain=domain)
        if version not in ("standard", "plus", "rand"):
            raise serbench.SerbenchError(f"attack {self.name!r}: version must be standard, plus or rand, "
                                         f"got {version!r}")
        _check_steps(self.name, steps, None)
        self.version, self.steps, self.seed = version, int(steps), int(seed)
        self.n_queries = _positive(self.name, "n_queries", n_queries)
        self.last_report: dict | None = None

    def build(self, model: nn.Module, scale: float) -> TorchattacksAttack:
        attack = torchattacks.AutoAttack(model, norm=TA_NORM[self.threat.norm], eps=self.eps / scale,
                                         version=self.version, n_classes=_classes(model), seed=self.seed)
        multi = attack._autoattack
        for member in multi.attacks:  # torchattacks builds its members with default sizes
            if isinstance(member, torchattacks.Square):
                member.n_queries = self.n_queries
            elif hasattr(member, "steps"):
                member.steps = self.steps
        multi._accumulate_multi_atk_records = True  # its own count: the batch, then what is left after each member
        multi._multi_atk_records = [0.0] * (len(multi.attacks) + 1)  # (once nothing is left: zeros)
        self._multi = multi
        return attack

    def finish(self, x: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor:
        """Snap, and report how many examples each member flipped (torchattacks counts, per batch, what is
        left correct after each member; the clean-wrong ones count as the first member's)."""
        left = [int(v) for v in self._multi._multi_atk_records]
        names = [type(m).__name__.lower() for m in self._multi.attacks]
        totals = {f"flipped.{n}": left[i] - left[i + 1] for i, n in enumerate(names)}
        self.last_report = {"totals": {**totals, "robust": left[-1]}, "info": {"order": names}}
        return self.snap(x, x_adv)


def _attack_classes() -> dict[str, type]:
    return {n: c for n, c in vars(torchattacks).items()
            if inspect.isclass(c) and issubclass(c, TorchattacksAttack) and c is not TorchattacksAttack}


@serbench.component(
    name="torchattacks.generic", version=VERSION,
    summary="Any torchattacks attack by class name (params.cls), with its own keyword arguments",
    paper="Kim, torchattacks, arXiv:2010.01950",
    tags=("torchattacks", "generic"),
)
class TorchattacksGeneric(_TorchattacksAttack):
    """Run torchattacks' ``cls`` (e.g. ``APGD``, ``MIFGSM``, ``DeepFool``) with ``**kwargs``.

    ``eps`` comes from the threat model and, like ``alpha``, is converted to
    torchattacks' [0, 1] units; ``norm`` is passed as torchattacks spells it
    ("Linf"/"L2") when the class takes one; other keyword arguments go to
    the class unchanged (in its own units). Pick ``norm`` to match the class
    (PGDL2 is L2, PGD is Linf): the harness's budget check rejects a mismatch.
    Unbounded attacks (DeepFool, CW) fail that check unless ``project`` is
    true, which moves each example to the nearest point of the budget ball.
    """

    norms = ("linf", "l2")

    def __init__(self, eps: float = 0.0, norm: str = "linf", domain: str = "feature", cls: str = "",
                 project: bool = False, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(eps=eps, norm=norm, domain=domain)
        self.attack_class, self.signature = serbench.library_attack_class(
            "torchattacks.generic", cls, _attack_classes(), f"a torchattacks {TORCHATTACKS_VERSION} attack",
            "MIFGSM", kwargs, {"model", "eps", "norm"})
        self.cls = cls
        self.kwargs, self.project_output, self.seed = dict(kwargs), bool(project), int(seed)

    def build(self, model: nn.Module, scale: float) -> TorchattacksAttack:
        kw = dict(self.kwargs)
        if "eps" in self.signature:
            kw["eps"] = self.eps / scale
        if "alpha" in kw:
            kw["alpha"] = float(kw["alpha"]) / scale
        if "norm" in self.signature:
            kw["norm"] = TA_NORM[self.threat.norm]
        try:
            return self.attack_class(model, **kw)
        except (ValueError, TypeError, AssertionError) as exc:
            raise serbench.SerbenchError(
                f"attack 'torchattacks.generic': torchattacks' {self.cls} refused its parameters: {exc}"
            ) from exc

    def finish(self, x: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor:
        return self.project(x, x_adv) if self.project_output else self.snap(x, x_adv)
