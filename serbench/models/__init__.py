"""Model architectures. Importing this imports the built-in models, which
register themselves.

Variants tagged ``.small`` / ``.tiny`` shrink a model for quick CPU runs; they
are not the papers' models and listings say so.
"""

from serbench.models.base import SERModel, conv_bn_relu
from serbench.models.cnn4 import CNN4
from serbench.models.cnn5 import CNN5
from serbench.models.m5 import M5
from serbench.models.waveform import WaveformModel, active_lengths
from serbench.models.densenet import DenseNet, DenseNetLSTM, DenseNetLSTMHighway
from serbench.models.recurrent import SequenceLSTM
from serbench.models.satt import SattCNN, SattCNNLSTM
from serbench.models.torchvision_nets import VGG16, ResNet50

__all__ = [
    "SERModel", "conv_bn_relu", "SequenceLSTM", "CNN4", "CNN5", "VGG16", "ResNet50", "SattCNN", "SattCNNLSTM",
    "DenseNet", "DenseNetLSTM", "DenseNetLSTMHighway", "M5", "WaveformModel", "active_lengths",
]
