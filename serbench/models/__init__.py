"""Model architectures. Importing this registers the built-in models."""

from serbench.models.base import SERModel, conv_bn_relu
from serbench.models.cnn4 import CNN4
from serbench.registry import register

register(
    "models", "cnn4", version="1.0",
    summary="CNN-4 (Ren et al. 2020): conv 64/128/256/512 5x5 + 2x2 max pool, global max pool, FC",
    paper="Ren et al., ICASSP 2020",
    tags=("cnn", "paper"),
    variants={"small": {"width": 0.25}, "tiny": {"width": 0.125}},
)(CNN4)

__all__ = ["SERModel", "CNN4", "conv_bn_relu"]
