"""serbench attacks backed by torchattacks.

Entry points (group ``serbench.attacks``): ``torchattacks.fgsm``,
``torchattacks.bim``, ``torchattacks.pgd``, ``torchattacks.apgd``,
``torchattacks.autoattack`` and ``torchattacks.generic`` (any torchattacks
attack by class name). Uses serbench's public API only.
"""

__version__ = "0.1.0"
