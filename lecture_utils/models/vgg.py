"""VGG (Simonyan & Zisserman 2014): configurations A, A-LRN, B, C, D, E from one table (the paper's Table 1).

Each configuration is five stages of convolutions, each stage followed by a 2x2 max-pool, then three
fully connected layers. Parameters: 133, 133, 134, 138, 144 million (A, A-LRN, B, C, D, E); most of them
in the first FC layer (7 * 7 * 512 * 4096 = 102.8 M). torchvision names: vgg11 = A, vgg13 = B,
vgg16 = D, vgg19 = E (``_bn``: batch norm after each conv, not in the paper); same state-dict keys.
"""

from __future__ import annotations

import torch
from torch import nn

from .classic import krizhevsky_lrn
from .common import check_input, he_init, lookup

VGG_CONFIGS: dict[str, list[list[str]]] = {
    # one inner list per stage, in the paper's notation: "conv<kernel>-<filters>", "LRN"
    "A": [["conv3-64"], ["conv3-128"], ["conv3-256"] * 2, ["conv3-512"] * 2, ["conv3-512"] * 2],
    "A-LRN": [["conv3-64", "LRN"], ["conv3-128"], ["conv3-256"] * 2, ["conv3-512"] * 2, ["conv3-512"] * 2],
    "B": [["conv3-64"] * 2, ["conv3-128"] * 2, ["conv3-256"] * 2, ["conv3-512"] * 2, ["conv3-512"] * 2],
    "C": [["conv3-64"] * 2, ["conv3-128"] * 2, ["conv3-256"] * 2 + ["conv1-256"],
          ["conv3-512"] * 2 + ["conv1-512"], ["conv3-512"] * 2 + ["conv1-512"]],
    "D": [["conv3-64"] * 2, ["conv3-128"] * 2, ["conv3-256"] * 3, ["conv3-512"] * 3, ["conv3-512"] * 3],
    "E": [["conv3-64"] * 2, ["conv3-128"] * 2, ["conv3-256"] * 4, ["conv3-512"] * 4, ["conv3-512"] * 4],
}  # fmt: skip


def vgg_features(config: str, batch_norm: bool = False, in_channels: int = 3) -> nn.Sequential:
    """The convolutional part: per stage its convs (padding k//2 keeps the size; [BN]; ReLU), then max-pool."""
    layers: list[nn.Module] = []
    for stage in lookup(VGG_CONFIGS, config, "VGG configuration"):
        for layer in stage:
            if layer == "LRN":
                layers.append(krizhevsky_lrn())
                continue
            kernel, filters = (int(v) for v in layer.removeprefix("conv").split("-"))
            layers.append(nn.Conv2d(in_channels, filters, kernel, padding=kernel // 2))
            if batch_norm:
                layers.append(nn.BatchNorm2d(filters))
            layers.append(nn.ReLU())
            in_channels = filters
        layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """features -> 7x7 average pool (identity on 224x224 inputs) -> fc4096 -> fc4096 -> fc(num_classes)."""

    def __init__(
        self,
        config: str = "D",
        batch_norm: bool = False,
        num_classes: int = 1000,
        in_channels: int = 3,
        dropout: float = 0.5,
    ):
        super().__init__()
        self.features = vgg_features(config, batch_norm, in_channels)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(4096, num_classes),
        )
        self.in_channels, self.min_size, self.input_size = in_channels, 32, None  # five 2x2 pools: 2**5
        he_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(self, x)
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def vgg(config: str = "D", batch_norm: bool = False, num_classes: int = 1000, in_channels: int = 3) -> VGG:
    """VGG from the paper's configuration name: "A", "A-LRN", "B", "C", "D" or "E"."""
    return VGG(config, batch_norm, num_classes, in_channels)


def vgg11(num_classes: int = 1000, in_channels: int = 3) -> VGG:
    """VGG-11, configuration A."""
    return VGG("A", False, num_classes, in_channels)


def vgg11_bn(num_classes: int = 1000, in_channels: int = 3) -> VGG:
    """VGG-11 with batch norm."""
    return VGG("A", True, num_classes, in_channels)


def vgg13(num_classes: int = 1000, in_channels: int = 3) -> VGG:
    """VGG-13, configuration B."""
    return VGG("B", False, num_classes, in_channels)


def vgg13_bn(num_classes: int = 1000, in_channels: int = 3) -> VGG:
    """VGG-13 with batch norm."""
    return VGG("B", True, num_classes, in_channels)


def vgg16(num_classes: int = 1000, in_channels: int = 3) -> VGG:
    """VGG-16, configuration D."""
    return VGG("D", False, num_classes, in_channels)


def vgg16_bn(num_classes: int = 1000, in_channels: int = 3) -> VGG:
    """VGG-16 with batch norm."""
    return VGG("D", True, num_classes, in_channels)


def vgg19(num_classes: int = 1000, in_channels: int = 3) -> VGG:
    """VGG-19, configuration E."""
    return VGG("E", False, num_classes, in_channels)


def vgg19_bn(num_classes: int = 1000, in_channels: int = 3) -> VGG:
    """VGG-19 with batch norm."""
    return VGG("E", True, num_classes, in_channels)
