"""Architectures of the lectures, from scratch and readable (state-dict compatible with torchvision).

Topic modules: ``blueprint`` (the cs231n pattern), ``classic`` (LeNet-5, AlexNet, NiN), ``vgg``,
``inception`` (GoogLeNet), ``resnet`` (ImageNet and CIFAR ResNets, plain twins, shortcut options A/B/C,
ImageNet Wide ResNet, ResNeXt), ``wide_resnet`` (the CIFAR WRN-d-k), ``resnext`` (the multi-path block),
``densenet``, ``efficientnet`` (and compound scaling), ``efficientnet_lite`` (Lite0: no SE, ReLU6),
``fully_conv`` (FC layers as convolutions: a classifier becomes a heat map), ``imagenet_weights``
(``pretrained``, ``imagenet_classes``), ``shifted`` (the seeds' shifted-MNIST nets).
Constructors named as torchvision's take ``num_classes`` and ``in_channels`` and have its parameter
counts and state-dict keys, so ``ours.load_state_dict(torchvision_model.state_dict())`` works.
"""

from .blueprint import LECTURE_EXAMPLES, blueprint, expand_pattern, layer_pattern
from .classic import LENET_C3_TABLE, AlexNet, TableConv2d, alexnet, connection_mask, lenet5, mlpconv, nin
from .common import check_input
from .densenet import DenseNet, densenet121
from .efficientnet import (
    EFFICIENTNET_B0,
    EfficientNet,
    EfficientNetConfig,
    MBConvStage,
    compound_coefficients,
    compound_scaling,
    efficientnet_b0,
)
from .efficientnet_lite import EFFICIENTNET_LITE0, efficientnet_lite0
from .fully_conv import FullyConvNet, fc_to_conv, linear_to_conv
from .imagenet_weights import WeightsUnavailableError, imagenet_classes, pretrained, weights_for
from .inception import GoogLeNet, Inception, NaiveInception, googlenet
from .resnet import (
    SHORTCUTS,
    BasicBlock,
    Bottleneck,
    ResNet,
    cifar_resnet,
    resnet,
    resnet18,
    resnet20,
    resnet32,
    resnet34,
    resnet44,
    resnet50,
    resnet56,
    resnet101,
    resnet110,
    resnet152,
    resnext50_32x4d,
    wide_resnet50_2,
)
from .resnext import MultiPathBlock
from .shifted import cnn_flatten, cnn_gap
from .vgg import VGG, VGG_CONFIGS, vgg, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn
from .wide_resnet import WideBlock, WideResNet, wide_resnet

__all__ = [
    "EFFICIENTNET_B0",
    "EFFICIENTNET_LITE0",
    "LECTURE_EXAMPLES",
    "LENET_C3_TABLE",
    "SHORTCUTS",
    "VGG_CONFIGS",
    "AlexNet",
    "BasicBlock",
    "Bottleneck",
    "DenseNet",
    "EfficientNet",
    "EfficientNetConfig",
    "FullyConvNet",
    "GoogLeNet",
    "Inception",
    "MBConvStage",
    "MultiPathBlock",
    "NaiveInception",
    "ResNet",
    "TableConv2d",
    "VGG",
    "WeightsUnavailableError",
    "WideBlock",
    "WideResNet",
    "alexnet",
    "blueprint",
    "check_input",
    "cifar_resnet",
    "cnn_flatten",
    "cnn_gap",
    "compound_coefficients",
    "compound_scaling",
    "connection_mask",
    "densenet121",
    "efficientnet_b0",
    "efficientnet_lite0",
    "expand_pattern",
    "fc_to_conv",
    "googlenet",
    "imagenet_classes",
    "layer_pattern",
    "lenet5",
    "linear_to_conv",
    "mlpconv",
    "nin",
    "pretrained",
    "resnet",
    "resnet18",
    "resnet20",
    "resnet32",
    "resnet34",
    "resnet44",
    "resnet50",
    "resnet56",
    "resnet101",
    "resnet110",
    "resnet152",
    "resnext50_32x4d",
    "vgg",
    "vgg11",
    "vgg11_bn",
    "vgg13",
    "vgg13_bn",
    "vgg16",
    "vgg16_bn",
    "vgg19",
    "vgg19_bn",
    "weights_for",
    "wide_resnet",
    "wide_resnet50_2",
]
