"""Image classification architectures (notes §3.3–§3.4.2), one family per module.

Every zoo model shares :class:`ImageClassifier`'s interface (``forward_features``,
``forward_head``, ``reset_classifier``, ``stages``, ``in_channels``, and the feature
maps ``feature_info`` / ``forward_intermediates``); those that torchvision also has
are state-dict compatible with it.
"""

from ._base import FeatureInfo, FeatureMapsMixin, FeatureStage, ImageClassifier
from .alexnet import AlexNet
from .densenet import DenseNet
from .efficientnet import EfficientNet
from .googlenet import GoogLeNet, auxiliary_loss
from .inception import Inception3
from .lenet import LeNet5
from .mobilenet import MobileNetV1, MobileNetV2, MobileNetV3
from .nin import NiN
from .plain_cnn import PlainCNN
from .resnet import CifarResNet, ResNet
from .squeezenet import SqueezeNet
from .vgg import VGG

__all__ = [
    "AlexNet", "CifarResNet", "DenseNet", "EfficientNet", "FeatureInfo", "FeatureMapsMixin", "FeatureStage",
    "GoogLeNet", "ImageClassifier", "Inception3", "LeNet5",
    "MobileNetV1", "MobileNetV2", "MobileNetV3", "NiN", "PlainCNN", "ResNet", "SqueezeNet", "VGG", "auxiliary_loss",
]
