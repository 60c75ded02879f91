"""Corruptions (SER-C): signal-dependent changes of clean speech at five severities.

Importing this imports the built-in corruption families, which register themselves.
"""

from serbench.corruptions.additive import Additive
from serbench.corruptions.base import SEVERITIES, Corruption, utterance_rngs
from serbench.corruptions.channel import HighPass, LowPass, MicEQ, Telephone
from serbench.corruptions.codec import MP3, Opus, PacketLoss, Vorbis, available_codecs
from serbench.corruptions.level import Clipping, Gain, PitchShift, SoftClipping, Speed, Tempo
from serbench.corruptions.room import RecordedRIR, Reverb

__all__ = ["SEVERITIES", "Additive", "Clipping", "Corruption", "Gain", "HighPass", "LowPass", "MP3", "MicEQ", "Opus",
           "PacketLoss", "PitchShift", "RecordedRIR", "Reverb", "SoftClipping", "Speed", "Telephone", "Tempo",
           "Vorbis", "available_codecs", "utterance_rngs"]
