"""serbench attacks backed by the Adversarial Robustness Toolbox (ART).

Entry points (group ``serbench.attacks``): ``art.fgsm``, ``art.bim``,
``art.pgd``, ``art.apgd``, ``art.autoattack``, the decision-based black-box
``art.hopskipjump`` and ``art.boundary`` (:mod:`serbench_art.blackbox`), the
minimal-perturbation ``art.cw`` and ``art.deepfool`` (:mod:`serbench_art.minimal`)
and ``art.evasion`` (any ART evasion attack by class name). Uses serbench's
public API only.
"""

__version__ = "0.1.0"
