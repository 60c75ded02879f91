"""serbench attacks backed by the Adversarial Robustness Toolbox (ART).

Entry points (group ``serbench.attacks``): ``art.fgsm``, ``art.bim``,
``art.pgd``, ``art.apgd``, ``art.autoattack`` and ``art.evasion`` (any ART
evasion attack by class name). Uses serbench's public API only.
"""

__version__ = "0.1.0"
