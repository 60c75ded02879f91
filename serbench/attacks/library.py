"""Adapters to third-party attack libraries: pick an attack class by name and check its parameters.

Plugins that expose "any attack of library X by class name" (``art.evasion``,
``torchattacks.generic``) share this: one-line errors with a did-you-mean, and
the parameters serbench sets itself (threat model, model) refused in params.
"""

from __future__ import annotations

import inspect
from typing import Any, Mapping

from serbench.errors import SerbenchError
from serbench.suggest import did_you_mean


def library_attack_class(owner: str, cls: str, classes: Mapping[str, type], what: str, example: str,
                         kwargs: Mapping[str, Any], reserved: set[str]) -> tuple[type, Mapping[str, Any]]:
    """Return ``classes[cls]`` and its constructor's parameters after validating ``kwargs`` against them.

    ``owner`` is the serbench component (``'art.evasion'``), ``what`` describes a member of
    ``classes`` (``"an ART 1.20 evasion attack"``), ``reserved`` the names serbench sets itself.
    """
    if not cls:
        raise SerbenchError(f"attack {owner!r} needs params.cls, the class name of {what}, e.g. cls: {example}")
    if cls not in classes:
        hint = did_you_mean(cls, classes, n=3, cutoff=0.5)
        raise SerbenchError(f"attack {owner!r}: {cls!r} is not {what}{hint}")
    attack_class = classes[cls]
    signature = inspect.signature(attack_class.__init__).parameters
    taken = sorted(set(reserved) & set(kwargs))
    if taken:
        raise SerbenchError(
            f"attack {owner!r} ({cls}): {taken[0]!r} is set by serbench (threat model / model); remove it from params"
        )
    unknown = sorted(set(kwargs) - set(signature))
    if unknown and not any(p.kind is p.VAR_KEYWORD for p in signature.values()):
        allowed = ", ".join(p for p in list(signature)[2:] if p not in ("eps", "norm"))
        raise SerbenchError(f"attack {owner!r}: {cls} has no parameter {unknown[0]!r}; its parameters: {allowed}")
    return attack_class, signature
