"""Corruptions (SER-C): signal-dependent changes of clean speech at five severities.

Importing this imports the built-in corruption families, which register themselves.
"""

from serbench.corruptions.additive import Additive
from serbench.corruptions.base import SEVERITIES, Corruption, utterance_rngs

__all__ = ["SEVERITIES", "Additive", "Corruption", "utterance_rngs"]
