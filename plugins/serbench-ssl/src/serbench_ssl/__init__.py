"""serbench models on self-supervised speech encoders (wav2vec 2.0, HuBERT, WavLM) built with torchaudio.

Entry points (group ``serbench.models``): ``ssl.wav2vec2``, ``ssl.hubert``, ``ssl.wavlm`` (sizes ``tiny``, ``base``,
``large``; weights from a local torchaudio state dict or Hugging Face directory) and ``ssl.hf`` (any local Hugging
Face wav2vec2/HuBERT/WavLM directory). Heads: ``probe`` (frozen encoder, weighted sum of layers, SUPERB/EmoBox) and
``finetune``. Uses serbench's public API only; never downloads anything.
"""

__version__ = "0.1.0"
