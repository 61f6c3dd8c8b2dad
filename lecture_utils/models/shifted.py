"""The seeds' two shifted-MNIST nets: the same convolutional trunk, then flatten or global average pooling.

Layer names follow the seeds' Keras summaries (conv1, pool1, ..., classifier, output), so
``counting.summary`` prints the slide's tables. On a 64x64 canvas: CNN-flatten has 388,298
parameters, CNN-GAP 101,578.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn


def _trunk(in_channels: int) -> list[tuple[str, nn.Module]]:
    """conv(3x3, 32) -> pool -> conv(3x3, 64) -> pool -> conv(3x3, 128), ReLU after each conv."""
    return [
        ("conv1", nn.Conv2d(in_channels, 32, 3)),
        ("relu1", nn.ReLU()),
        ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(32, 64, 3)),
        ("relu2", nn.ReLU()),
        ("pool2", nn.MaxPool2d(2)),
        ("conv3", nn.Conv2d(64, 128, 3)),
        ("relu3", nn.ReLU()),
    ]


def _head(features: int, num_classes: int, dropout: float) -> list[tuple[str, nn.Module]]:
    """dropout -> dense(64) -> ReLU -> dropout -> dense(num_classes)."""
    return [
        ("dropout1", nn.Dropout(dropout)),
        ("classifier", nn.Linear(features, 64)),
        ("relu4", nn.ReLU()),
        ("dropout2", nn.Dropout(dropout)),
        ("output", nn.Linear(64, num_classes)),
    ]


def trunk_size(canvas: int) -> int:
    """Side of conv3's feature map for a square ``canvas`` input (64 -> 12)."""
    side = canvas
    for _ in range(2):  # conv 3x3 (valid) then max-pool 2
        side = (side - 2) // 2
    return side - 2


def cnn_flatten(canvas: int = 64, in_channels: int = 1, num_classes: int = 10, dropout: float = 0.5) -> nn.Sequential:
    """CNN-flatten: trunk -> pool3 -> flatten -> dense head. Fixed input size ``canvas`` x ``canvas``."""
    side = trunk_size(canvas) // 2
    if side < 1:
        raise ValueError(f"canvas={canvas} is too small for CNN-flatten; use canvas >= 22")
    layers = _trunk(in_channels) + [("pool3", nn.MaxPool2d(2)), ("flatten", nn.Flatten())]
    return nn.Sequential(OrderedDict(layers + _head(128 * side * side, num_classes, dropout)))


def cnn_gap(in_channels: int = 1, num_classes: int = 10, dropout: float = 0.5) -> nn.Sequential:
    """CNN-GAP: trunk -> global average pooling -> dense head. Any input of at least 22x22."""
    layers = _trunk(in_channels) + [("gpooling", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten())]
    return nn.Sequential(OrderedDict(layers + _head(128, num_classes, dropout)))
