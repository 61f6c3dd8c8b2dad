"""DenseNet (Huang et al. 2017): inside a dense block every layer sees the concatenation of all earlier maps.

Layer l of a block gets k0 + (l - 1) * k channels and adds k new ones (k: growth rate). Transitions
between blocks halve the channels (1x1 conv, "compression" 0.5) and the size (2x2 average pool).
``densenet121()`` has torchvision's keys: 7,978,856 parameters.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from .common import check_input, he_init, lookup

DENSENET_CONFIGS = {
    # name: (growth rate k, layers per dense block, channels of the stem)
    "densenet121": (32, (6, 12, 24, 16), 64),
    "densenet169": (32, (6, 12, 32, 32), 64),
    "densenet201": (32, (6, 12, 48, 32), 64),
    "densenet161": (48, (6, 12, 36, 24), 96),
}


class DenseLayer(nn.Module):
    """BN -> ReLU -> 1x1 conv (to bn_size * k) -> BN -> ReLU -> 3x3 conv (k new maps): DenseNet-B."""

    def __init__(self, in_channels: int, growth_rate: int, bn_size: int = 4):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(in_channels, bn_size * growth_rate, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))


class DenseBlock(nn.Module):
    """x_l = H_l([x_0, x_1, ..., x_{l-1}]); the block outputs [x_0, ..., x_L] (k0 + L * k channels)."""

    def __init__(self, num_layers: int, in_channels: int, growth_rate: int, bn_size: int = 4):
        super().__init__()
        for i in range(num_layers):
            self.add_module(f"denselayer{i + 1}", DenseLayer(in_channels + i * growth_rate, growth_rate, bn_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.children():
            features.append(layer(torch.cat(features, dim=1)))
        return torch.cat(features, dim=1)


def transition(in_channels: int, out_channels: int) -> nn.Sequential:
    """BN -> ReLU -> 1x1 conv -> 2x2 average pool: fewer channels, half the size."""
    layers = {
        "norm": nn.BatchNorm2d(in_channels),
        "relu": nn.ReLU(),
        "conv": nn.Conv2d(in_channels, out_channels, 1, bias=False),
        "pool": nn.AvgPool2d(2, stride=2),
    }
    return nn.Sequential(OrderedDict(layers))


class DenseNet(nn.Module):
    """stem (7x7/2 conv, BN, ReLU, 3x3/2 max-pool) -> [dense block -> transition]*3 -> dense block -> BN
    -> ReLU -> global average pool -> fc."""

    def __init__(self, config: str = "densenet121", num_classes: int = 1000, in_channels: int = 3):
        super().__init__()
        growth_rate, block_layers, channels = lookup(DENSENET_CONFIGS, config, "DenseNet config")
        self.features = nn.Sequential()
        self.features.add_module("conv0", nn.Conv2d(in_channels, channels, 7, stride=2, padding=3, bias=False))
        self.features.add_module("norm0", nn.BatchNorm2d(channels))
        self.features.add_module("relu0", nn.ReLU())
        self.features.add_module("pool0", nn.MaxPool2d(3, stride=2, padding=1))
        for i, num_layers in enumerate(block_layers, start=1):
            self.features.add_module(f"denseblock{i}", DenseBlock(num_layers, channels, growth_rate))
            channels += num_layers * growth_rate
            if i < len(block_layers):
                self.features.add_module(f"transition{i}", transition(channels, channels // 2))
                channels //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(channels))
        self.classifier = nn.Linear(channels, num_classes)
        self.in_channels, self.min_size, self.input_size = in_channels, 29, None
        he_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(self, x)
        x = F.adaptive_avg_pool2d(F.relu(self.features(x)), 1)
        return self.classifier(torch.flatten(x, 1))


def densenet121(num_classes: int = 1000, in_channels: int = 3) -> DenseNet:
    """DenseNet-121: k = 32, blocks of 6, 12, 24, 16 layers; 7,978,856 parameters."""
    return DenseNet("densenet121", num_classes, in_channels)
