"""Model architectures. Importing this registers the built-in models.

Variants tagged ``.small`` / ``.tiny`` shrink a model for quick CPU runs; they
are not the papers' models and listings say so.
"""

from serbench.models.base import SERModel, conv_bn_relu
from serbench.models.cnn4 import CNN4
from serbench.models.cnn5 import CNN5
from serbench.models.densenet import DenseNet, DenseNetLSTM, DenseNetLSTMHighway
from serbench.models.recurrent import SequenceLSTM
from serbench.models.satt import SattCNN, SattCNNLSTM
from serbench.models.torchvision_nets import VGG16, ResNet50
from serbench.registry import register

REN = "Ren et al., ICASSP 2020"
LATIF = "Latif et al., Interspeech 2020"

register(
    "models", "cnn4", version="1.0",
    summary="CNN-4 (Ren et al. 2020): conv 64/128/256/512 5x5 + 2x2 max pool, global max pool, FC",
    paper=REN, tags=("cnn", "paper"),
    variants={"small": {"width": 0.25}, "tiny": {"width": 0.125}},
)(CNN4)
register(
    "models", "cnn5", version="1.0",
    summary="CNN-5 (robust SER on IEMOCAP): five 5x5 conv blocks 64..512 + 2x2 max pool stride 2, FC",
    paper="Robust SER under FGSM adversarial training on IEMOCAP (seed C)", tags=("cnn", "paper"),
    variants={"small": {"width": 0.25}},
)(CNN5)
register(
    "models", "vgg16", version="1.0",
    summary="VGG-16 (torchvision, configuration D), 1-channel input, global average pooling + FC head",
    paper=f"Simonyan & Zisserman 2015; {REN}", tags=("cnn", "paper", "torchvision"),
)(VGG16)
register(
    "models", "resnet50", version="1.0",
    summary="ResNet-50 (torchvision bottlenecks [3,4,6,3]), 1-channel 7x7 stem, global average pooling + FC",
    paper=f"He et al. 2016; {REN}", tags=("cnn", "paper", "torchvision"),
)(ResNet50)
register(
    "models", "cnn", version="1.0",
    summary="Spectrogram CNN baseline after Satt et al. 2017 (layer sizes serbench's: 3 conv blocks 32..128)",
    paper=f"Satt et al., Interspeech 2017; {LATIF}", tags=("cnn", "baseline"),
    variants={"small": {"width": 0.5, "hidden": 64}},
)(SattCNN)
register(
    "models", "cnn-lstm", version="1.0",
    summary="CNN-LSTM baseline after Satt et al. 2017: conv blocks read over time by an LSTM",
    paper=f"Satt et al., Interspeech 2017; {LATIF}", tags=("cnn", "recurrent", "baseline"),
    variants={"small": {"width": 0.5, "hidden": 64}},
)(SattCNNLSTM)
register(
    "models", "densenet", version="1.0",
    summary="DenseNet baseline: 3 DenseBlocks (L=6, G=16), global average pooling, FC 1000",
    paper=LATIF, tags=("densenet", "baseline"),
    variants={"small": {"growth": 8, "fc": 128}},
)(DenseNet)
register(
    "models", "densenet-lstm", version="1.0",
    summary="DenseNet-LSTM baseline: 3 DenseBlocks (L=6, G=16) read over time by an LSTM",
    paper=LATIF, tags=("densenet", "recurrent", "baseline"),
    variants={"small": {"growth": 8, "hidden": 64}},
)(DenseNetLSTM)
register(
    "models", "densenet-lstm-highway", version="1.0",
    summary="Latif et al.'s model: 2 DenseBlocks (L=6, G=24), LSTM, summed skips, 3 highway layers of 128",
    paper=LATIF, tags=("densenet", "recurrent", "highway", "paper"),
    variants={"small": {"growth": 12, "hidden": 64, "highway": 64}},
)(DenseNetLSTMHighway)

__all__ = [
    "SERModel", "conv_bn_relu", "SequenceLSTM", "CNN4", "CNN5", "VGG16", "ResNet50", "SattCNN", "SattCNNLSTM",
    "DenseNet", "DenseNetLSTM", "DenseNetLSTMHighway",
]
