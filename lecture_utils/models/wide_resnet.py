"""Wide ResNet for CIFAR (Zagoruyko & Komodakis 2016): WRN-d-k, "F x k filters instead of F".

A CIFAR ResNet of ``depth`` d = 6N + 4 layers: a 3x3 conv (16 filters), three groups of N blocks with
16k, 32k and 64k filters (the widening factor k multiplies the original 16, 32, 64), global average
pooling and a linear classifier. The blocks are pre-activation ones (BN -> ReLU -> conv, twice), with
optional dropout between the two convolutions; a 1x1 projection shortcut where the shape changes.
WRN-28-10 has 36.5M parameters; WRN-16-8 11.0M; WRN-40-4 8.9M (the paper's Table 4).

``wide_resnet50_2`` in ``resnet`` is the ImageNet variant (bottleneck blocks, torchvision's keys).
"""

from __future__ import annotations

import torch
from torch import nn

from .common import check_input, he_init
from .resnet import conv1x1, conv3x3


class WideBlock(nn.Module):
    """Pre-activation block: y = x + conv2(drop(ReLU(BN(conv1(ReLU(BN(x))))))), x projected if needed."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dropout: float = 0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.relu = nn.ReLU()
        same_shape = stride == 1 and in_channels == out_channels
        self.shortcut = None if same_shape else conv1x1(in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.relu(self.bn1(x))  # a projection reads the activated input, as in the paper's code
        out = self.conv2(self.dropout(self.relu(self.bn2(self.conv1(pre)))))
        return out + (x if self.shortcut is None else self.shortcut(pre))


class WideResNet(nn.Module):
    """WRN-``depth``-``k``, built for 32x32 inputs; other sizes work too (the pooling is global)."""

    def __init__(self, depth: int = 28, k: int = 10, dropout: float = 0.0, num_classes: int = 10,
                 in_channels: int = 3):
        super().__init__()
        if not isinstance(depth, int) or depth < 10 or (depth - 4) % 6:
            raise ValueError(f"Wide ResNet depth must be 6N+4 with N >= 1 (10, 16, 22, 28, 40, ...), got {depth!r}")
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"widening factor k must be a positive integer, got {k!r}")
        n = (depth - 4) // 6
        widths = [16 * k, 32 * k, 64 * k]
        self.conv1 = conv3x3(in_channels, 16)
        channels = 16
        for i, width in enumerate(widths):
            blocks = [WideBlock(channels if j == 0 else width, width, 2 if i > 0 and j == 0 else 1, dropout)
                      for j in range(n)]
            self.add_module(f"group{i + 1}", nn.Sequential(*blocks))
            channels = width
        self.bn = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(channels, num_classes)
        self.in_channels, self.min_size, self.input_size = in_channels, 1, None
        he_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(self, x)
        x = self.group3(self.group2(self.group1(self.conv1(x))))
        return self.fc(torch.flatten(self.avgpool(self.relu(self.bn(x))), 1))


def wide_resnet(depth: int = 28, k: int = 10, dropout: float = 0.0, num_classes: int = 10,
                in_channels: int = 3) -> WideResNet:
    """WRN-``depth``-``k`` for CIFAR; ``wide_resnet(28, 10)`` is the paper's headline net (36,479,194 params)."""
    return WideResNet(depth, k, dropout, num_classes, in_channels)
