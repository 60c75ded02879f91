"""BIM, the basic iterative method (Kurakin et al. 2017): iterated FGSM clipped to the eps ball."""

from __future__ import annotations

from serbench.attacks.pgd import PGD


class BIM(PGD):
    r"""Basic iterative method (iterative FGSM): x_{n+1} = Clip_{x, eps}(x_n + alpha * sign(grad)).

    Paper: Kurakin et al., "Adversarial examples in the physical world",
    ICLR workshop 2017. Used at eps 0.08 by Latif et al. (Interspeech 2020).

    Distance measure: Linf. Starts at the clean input (no random start, so it
    is deterministic); each step is clipped to [x - eps, x + eps] and to the
    domain's bounds. Returns the last iterate. Untargeted.

    Arguments:
        eps (float): Linf budget in the domain's units. (Default: 0.0)
        norm (str): ``linf`` only.
        domain (str): ``feature`` or ``waveform``. (Default: feature)
        steps (int): number of iterations; torchattacks' default. (Default: 10)
        alpha (float | None): step size; default ``1.25 * eps / steps``:
            Kurakin et al. take alpha = 1 grey level and min(eps + 4, 1.25 eps)
            steps, i.e. a total travel of 1.25 eps for small eps; serbench keeps
            that ratio since features have no grey-level quantum. (Default: None)

    Shape:
        ``x``: (B, ...) inside the domain's bounds; ``y``: (B,) class indices;
        output: like ``x``, detached.

    Examples::
        >>> attack = serbench.get("attacks", "bim", eps=0.08)
        >>> x_adv = attack(model, x, y)
    """

    norms = ("linf",)
    alpha_rule = 1.25

    def __init__(self, eps: float = 0.0, norm: str = "linf", domain: str = "feature", steps: int = 10,
                 alpha: float | None = None) -> None:
        super().__init__(eps=eps, norm=norm, domain=domain, steps=steps, alpha=alpha, random_start=False)
