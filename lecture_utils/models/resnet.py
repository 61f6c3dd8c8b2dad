"""Residual networks (He et al. 2015) and their relatives, all from one ``ResNet`` class.

A block computes y = ReLU(F(x) + shortcut(x)); its "plain" twin computes y = ReLU(F(x)). Shortcut
options of the paper (Sec. 3.3 and Table 3), for when a block changes the shape (stride 2, more channels):

- "A": identity; where the shape changes, subsample and append zero channels (no parameters);
- "B": identity; where the shape changes, a projection W_s x (1x1 conv + BN). torchvision's choice;
- "C": a projection in every block.

ImageNet nets (``resnet18`` ... ``resnet152``, ``wide_resnet50_2``, ``resnext50_32x4d``) have the keys
of torchvision's. torchvision's bottleneck puts the stride on the 3x3 conv ("ResNet v1.5"); the paper
put it on the first 1x1 conv. CIFAR nets (``resnet20`` ... ``resnet110``): 6n+2 layers, option A.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .common import check_input, he_init, lookup

SHORTCUTS = {
    "A": "identity; zero-padding shortcut where the shape changes (no parameters)",
    "B": "identity; projection shortcut (1x1 conv + BN) where the shape changes",
    "C": "projection shortcut in every block",
}


def conv3x3(in_channels: int, out_channels: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    """3x3 convolution, padding 1, no bias (the BN after it has one)."""
    return nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, groups=groups, bias=False)


def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution, no bias."""
    return nn.Conv2d(in_channels, out_channels, 1, stride, bias=False)


class ZeroPadShortcut(nn.Module):
    """Option A: take every ``stride``-th pixel, then append ``out - in`` zero channels."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.extra_channels, self.stride = out_channels - in_channels, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))


def make_shortcut(option: str, in_channels: int, out_channels: int, stride: int) -> nn.Module | None:
    """The shortcut of one block under option "A", "B" or "C" (see ``SHORTCUTS``); None is the identity."""
    lookup(SHORTCUTS, option, "shortcut option")
    same_shape = stride == 1 and in_channels == out_channels
    if option == "C" or (option == "B" and not same_shape):
        return nn.Sequential(conv1x1(in_channels, out_channels, stride), nn.BatchNorm2d(out_channels))
    if option == "A" and not same_shape:
        return ZeroPadShortcut(in_channels, out_channels, stride)
    return None


class ResidualBlock(nn.Module):
    """y = ReLU(F(x) + shortcut(x)), or y = ReLU(F(x)) for the plain twin. Subclasses define F (``residual``).

    The shortcut is stored as ``downsample`` (torchvision's name, so the keys match), registered last.
    """

    expansion = 1  # output channels = expansion * planes
    last_bn = ""  # name of the BN that ends F (its gamma = 0 makes F(x) = 0)

    def __init__(self, plain: bool):
        super().__init__()
        self.plain = plain

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.residual(x)
        if not self.plain:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class BasicBlock(ResidualBlock):
    """F(x) = BN(conv3x3(ReLU(BN(conv3x3(x))))): two 3x3 layers (ResNet-18/34, CIFAR ResNets)."""

    last_bn = "bn2"

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        shortcut: str = "B",
        plain: bool = False,
        groups: int = 1,
        base_width: int = 64,
    ):
        super().__init__(plain)
        if groups != 1 or base_width != 64:
            raise ValueError(f"BasicBlock has no groups/width options, got groups={groups}, base_width={base_width}")
        self.conv1 = conv3x3(in_channels, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None if plain else make_shortcut(shortcut, in_channels, planes, stride)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))


class Bottleneck(ResidualBlock):
    """F(x): 1x1 conv (reduce to ``width``) -> 3x3 conv (``groups`` groups) -> 1x1 conv (expand to 4 * planes),
    BN after each, ReLU after the first two. width = planes * base_width / 64 * groups:
    ResNet-50: base_width 64, groups 1; Wide ResNet-50-2: base_width 128; ResNeXt-50 32x4d: 4 and 32.
    """

    expansion = 4
    last_bn = "bn3"

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        shortcut: str = "B",
        plain: bool = False,
        groups: int = 1,
        base_width: int = 64,
    ):
        super().__init__(plain)
        width = int(planes * base_width / 64) * groups
        self.conv1 = conv1x1(in_channels, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride, groups)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU()
        self.downsample = None if plain else make_shortcut(shortcut, in_channels, planes * 4, stride)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))


class ResNet(nn.Module):
    """stem -> stages of blocks (``layer1``, ``layer2``, ...) -> global average pool -> fc.

    ImageNet stem: 7x7 conv stride 2, BN, ReLU, 3x3 max-pool stride 2. CIFAR stem: 3x3 conv, BN, ReLU.
    Stage i has ``blocks[i]`` blocks of ``widths[i]`` planes; every stage but the first starts with stride 2.
    ``zero_init_residual``: gamma = 0 in each block's last BN, so every block starts as the identity.
    """

    def __init__(
        self,
        block: type[ResidualBlock],
        blocks: list[int],
        widths: tuple[int, ...] = (64, 128, 256, 512),
        stem: str = "imagenet",
        shortcut: str = "B",
        plain: bool = False,
        groups: int = 1,
        width_per_group: int = 64,
        num_classes: int = 1000,
        in_channels: int = 3,
        zero_init_residual: bool = False,
    ):
        super().__init__()
        lookup(SHORTCUTS, shortcut, "shortcut option")
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, widths[0], 7, stride=2, padding=3, bias=False)
        elif stem == "cifar":
            self.conv1 = conv3x3(in_channels, widths[0])
        else:
            raise ValueError(f"stem must be 'imagenet' or 'cifar', got {stem!r}")
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1) if stem == "imagenet" else nn.Identity()
        channels = widths[0]
        for i, (planes, count) in enumerate(zip(widths, blocks, strict=True)):
            stage = []
            for j in range(count):
                stride = 2 if i > 0 and j == 0 else 1
                stage.append(block(channels, planes, stride, shortcut, plain, groups, width_per_group))
                channels = planes * block.expansion
            self.add_module(f"layer{i + 1}", nn.Sequential(*stage))
        self.num_stages = len(blocks)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(channels, num_classes)
        self.in_channels, self.min_size, self.input_size = in_channels, 1, None
        he_init(self)
        if zero_init_residual:
            for module in self.modules():
                if isinstance(module, ResidualBlock):
                    nn.init.zeros_(getattr(module, module.last_bn).weight)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """The layers before the first block: conv, BN, ReLU (and max-pool for the ImageNet stem)."""
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))

    def head(self, x: torch.Tensor) -> torch.Tensor:
        """The layers after the last block: global average pool, fc."""
        return self.fc(torch.flatten(self.avgpool(x), 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(self, x)
        x = self.stem(x)
        for i in range(1, self.num_stages + 1):
            x = getattr(self, f"layer{i}")(x)
        return self.head(x)


IMAGENET_DEPTHS: dict[int, tuple[type[ResidualBlock], list[int]]] = {
    18: (BasicBlock, [2, 2, 2, 2]),
    34: (BasicBlock, [3, 4, 6, 3]),
    50: (Bottleneck, [3, 4, 6, 3]),
    101: (Bottleneck, [3, 4, 23, 3]),
    152: (Bottleneck, [3, 8, 36, 3]),
}
"""The paper's Table 1: depth -> (block, blocks per stage)."""


def resnet(depth: int, num_classes: int = 1000, in_channels: int = 3, **options) -> ResNet:
    """ImageNet ResNet of ``depth`` 18, 34, 50, 101 or 152. ``options``: shortcut ("A"/"B"/"C"), plain,
    zero_init_residual, groups, width_per_group (see ``ResNet``)."""
    block, blocks = lookup(IMAGENET_DEPTHS, depth, "ResNet depth")
    return ResNet(block, blocks, num_classes=num_classes, in_channels=in_channels, **options)


def resnet18(num_classes: int = 1000, in_channels: int = 3, **options) -> ResNet:
    """ResNet-18 (basic blocks); 11,689,512 parameters with option B."""
    return resnet(18, num_classes, in_channels, **options)


def resnet34(num_classes: int = 1000, in_channels: int = 3, **options) -> ResNet:
    """ResNet-34 (basic blocks)."""
    return resnet(34, num_classes, in_channels, **options)


def resnet50(num_classes: int = 1000, in_channels: int = 3, **options) -> ResNet:
    """ResNet-50 (bottleneck blocks); 25,557,032 parameters with option B."""
    return resnet(50, num_classes, in_channels, **options)


def resnet101(num_classes: int = 1000, in_channels: int = 3, **options) -> ResNet:
    """ResNet-101 (bottleneck blocks)."""
    return resnet(101, num_classes, in_channels, **options)


def resnet152(num_classes: int = 1000, in_channels: int = 3, **options) -> ResNet:
    """ResNet-152 (bottleneck blocks); 60,192,808 parameters with option B."""
    return resnet(152, num_classes, in_channels, **options)


def wide_resnet50_2(num_classes: int = 1000, in_channels: int = 3, **options) -> ResNet:
    """Wide ResNet-50-2: ResNet-50 with bottlenecks twice as wide (F x k filters, k=2). 68,883,240 params."""
    return resnet(50, num_classes, in_channels, width_per_group=128, **options)


def resnext50_32x4d(num_classes: int = 1000, in_channels: int = 3, **options) -> ResNet:
    """ResNeXt-50 32x4d: ResNet-50 whose 3x3 conv has 32 groups ("paths") of width 4 (x planes / 64).
    25,028,904 parameters. See ``resnext.MultiPathBlock`` for the same block as 32 explicit paths."""
    return resnet(50, num_classes, in_channels, groups=32, width_per_group=4, **options)


def cifar_resnet(depth: int, num_classes: int = 10, in_channels: int = 3, **options) -> ResNet:
    """CIFAR ResNet (paper Sec. 4.2): 3x3 conv (16), 3 stages of n basic blocks with 16, 32, 64 filters,
    global average pool, fc: depth = 6n + 2 layers. Option A shortcuts (``shortcut`` changes it)."""
    if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet depth must be 6n+2 with n >= 1 (20, 32, 44, 56, 110, ...), got {depth!r}")
    options.setdefault("shortcut", "A")
    n = (depth - 2) // 6
    return ResNet(BasicBlock, [n] * 3, (16, 32, 64), "cifar", num_classes=num_classes, in_channels=in_channels,
                  **options)  # fmt: skip


def resnet20(num_classes: int = 10, in_channels: int = 3, **options) -> ResNet:
    """CIFAR ResNet-20 (n=3): 269,722 parameters; ``plain=True`` for the plain-20 twin (same count)."""
    return cifar_resnet(20, num_classes, in_channels, **options)


def resnet32(num_classes: int = 10, in_channels: int = 3, **options) -> ResNet:
    """CIFAR ResNet-32 (n=5): 464,154 parameters."""
    return cifar_resnet(32, num_classes, in_channels, **options)


def resnet44(num_classes: int = 10, in_channels: int = 3, **options) -> ResNet:
    """CIFAR ResNet-44 (n=7): 658,586 parameters."""
    return cifar_resnet(44, num_classes, in_channels, **options)


def resnet56(num_classes: int = 10, in_channels: int = 3, **options) -> ResNet:
    """CIFAR ResNet-56 (n=9): 853,018 parameters."""
    return cifar_resnet(56, num_classes, in_channels, **options)


def resnet110(num_classes: int = 10, in_channels: int = 3, **options) -> ResNet:
    """CIFAR ResNet-110 (n=18): 1,727,962 parameters."""
    return cifar_resnet(110, num_classes, in_channels, **options)
