"""eSpeak NG through ctypes, using the library and voices bundled by ``espeakng-loader``.

Only numpy, ctypes and espeakng_loader are imported here: this module runs in
the generator process (:mod:`serbench_espeak.worker`), which must start fast.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import espeakng_loader
import numpy as np

AUDIO_OUTPUT_SYNCHRONOUS = 2
POS_CHARACTER = 1
ESPEAK_CHARS_UTF8 = 1
# espeak_PARAMETER
RATE, VOLUME, PITCH, RANGE, WORDGAP = 1, 2, 3, 4, 7

_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class ESpeak:
    """One initialised eSpeak NG library in synchronous mode; :meth:`synth` returns int16 samples."""

    def __init__(self) -> None:
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Info.argtypes = [ctypes.c_void_p]
        lib.espeak_Info.restype = ctypes.c_char_p
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_Synchronize.argtypes = []
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        data_parent = str(Path(espeakng_loader.get_data_path()).parent).encode()
        rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data_parent, 0)
        if rate <= 0:
            raise RuntimeError(f"espeak-ng failed to initialise with data in {data_parent.decode()}")
        self.lib, self.sample_rate = lib, int(rate)
        self.version = lib.espeak_Info(None).decode()
        self._chunks: list[np.ndarray] = []

        def collect(wav, n, _events):  # called by eSpeak with each buffer of samples
            if wav and n > 0:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
            return 0

        self._callback = _CALLBACK(collect)  # keep a reference: eSpeak holds the pointer
        lib.espeak_SetSynthCallback(self._callback)

    def synth(self, text: str, voice: str, rate: int, pitch: int, pitch_range: int, volume: int,
              wordgap: int = 0, seed: int = 0) -> np.ndarray:
        """``text`` spoken by ``voice`` (``en-us+f2``) with the given prosody, as int16 samples."""
        lib = self.lib
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise RuntimeError(f"espeak-ng {self.version} has no voice {voice!r}")
        for param, value in ((RATE, rate), (VOLUME, volume), (PITCH, pitch), (RANGE, pitch_range),
                             (WORDGAP, wordgap)):
            if lib.espeak_SetParameter(param, int(value), 0) != 0:
                raise RuntimeError(f"espeak-ng refused parameter {param} = {value}")
        lib.espeak_ng_SetRandSeed(int(seed))
        self._chunks = []
        data = text.encode()
        status = lib.espeak_Synth(data, len(data) + 1, 0, POS_CHARACTER, 0, ESPEAK_CHARS_UTF8, None, None)
        lib.espeak_Synchronize()
        if status != 0 or not self._chunks:
            raise RuntimeError(f"espeak-ng failed to speak {text!r} with {voice!r} (status {status})")
        return np.concatenate(self._chunks)
