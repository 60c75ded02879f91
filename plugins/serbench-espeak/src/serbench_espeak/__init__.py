"""serbench-espeak: the embedded corpus ``espeak.acted`` (eSpeak NG voices acting four emotions).

Kept empty on purpose: the generator process imports :mod:`serbench_espeak.engine`
without serbench or torch, and the entry point targets :mod:`serbench_espeak.corpus`.
"""
