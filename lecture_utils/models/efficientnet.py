"""EfficientNet (Tan & Le 2019): a mobile baseline (B0) of MBConv blocks, scaled up by one compound coefficient.

Compound scaling: depth d = alpha^phi, width w = beta^phi, resolution r = gamma^phi, with alpha = 1.2,
beta = 1.1, gamma = 1.15 found by a grid search at phi = 1 under alpha * beta^2 * gamma^2 ~ 2, so the
FLOPs (linear in depth, quadratic in width and resolution) grow by about 2^phi. ``compound_scaling(phi)``
returns the scaled configuration; ``EfficientNet(config)`` builds any configuration. (The released
B1-B7 use hand-rounded coefficients, e.g. B1 = depth 1.1, width 1.0, 240 px.)
``efficientnet_b0()`` has torchvision's keys (``features.N.M.block...``): 5,288,548 parameters.
The config also carries what EfficientNet-Lite changes (``efficientnet_lite``): activation, squeeze-
excitation on or off, padding, BatchNorm epsilon.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from .common import check_input, he_init


@dataclass(frozen=True)
class MBConvStage:
    """One row of the paper's Table 1: ``layers`` MBConv blocks (expansion ``expand_ratio``, depthwise
    ``kernel`` x ``kernel``) with ``channels`` outputs; the first block has stride ``stride``."""

    expand_ratio: int
    kernel: int
    stride: int
    channels: int
    layers: int


@dataclass(frozen=True)
class EfficientNetConfig:
    """A whole net: stem conv (``stem`` channels), the MBConv stages, 1x1 head conv, classifier.

    ``activation``, ``squeeze_excitation``, ``padding`` ("symmetric": k // 2 on every side, as torchvision;
    "same": TensorFlow's, see :class:`Conv2dSame`) and ``bn_eps`` say how the blocks are built.
    """

    stages: tuple[MBConvStage, ...]
    stem: int = 32
    head: int = 1280
    resolution: int = 224
    dropout: float = 0.2
    stochastic_depth: float = 0.2  # drop probability of the last block; it grows linearly from 0
    activation: type[nn.Module] = nn.SiLU
    squeeze_excitation: bool = True
    padding: str = "symmetric"
    bn_eps: float = 1e-5

    def __post_init__(self):
        if self.padding not in ("symmetric", "same"):
            raise ValueError(f"padding must be 'symmetric' or 'same', got {self.padding!r}")


EFFICIENTNET_B0 = EfficientNetConfig(
    stages=(
        MBConvStage(1, 3, 1, 16, 1),
        MBConvStage(6, 3, 2, 24, 2),
        MBConvStage(6, 5, 2, 40, 2),
        MBConvStage(6, 3, 2, 80, 3),
        MBConvStage(6, 5, 1, 112, 3),
        MBConvStage(6, 5, 2, 192, 4),
        MBConvStage(6, 3, 1, 320, 1),
    )
)


def round_channels(channels: float, divisor: int = 8) -> int:
    """Nearest multiple of ``divisor``, but never more than 10% below ``channels`` (the official rule)."""
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * channels else rounded


def compound_coefficients(phi: float, alpha: float = 1.2, beta: float = 1.1, gamma: float = 1.15):
    """(d, w, r) = (alpha^phi, beta^phi, gamma^phi): depth, width and resolution multipliers."""
    return alpha**phi, beta**phi, gamma**phi


def compound_scaling(
    phi: float,
    alpha: float = 1.2,
    beta: float = 1.1,
    gamma: float = 1.15,
    base: EfficientNetConfig = EFFICIENTNET_B0,
) -> EfficientNetConfig:
    """``base`` scaled by the compound coefficient phi: layers per stage ceil(d * L), channels
    round_channels(w * C), input side round(r * 224). FLOPs factor: (alpha * beta^2 * gamma^2)^phi."""
    depth, width, resolution = compound_coefficients(phi, alpha, beta, gamma)
    stages = tuple(
        replace(s, channels=round_channels(s.channels * width), layers=math.ceil(s.layers * depth)) for s in base.stages
    )
    return replace(
        base,
        stages=stages,
        stem=round_channels(base.stem * width),
        head=round_channels(base.head * width),
        resolution=round(base.resolution * resolution),
    )


class Conv2dSame(nn.Conv2d):
    """Convolution with TensorFlow's "same" padding: output side ceil(i / s) for input side i, stride s.

    Total padding p = max((ceil(i / s) - 1) * s + k - i, 0), p // 2 before and the rest after. With
    stride 1 and odd k that is k // 2 on each side (as PyTorch pads); with stride 2 on an even side it is
    asymmetric (k = 3: 0 before, 1 after), so weights trained in TensorFlow need it to give their outputs.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1,
                 bias: bool = True):  # fmt: skip
        super().__init__(in_channels, out_channels, kernel, stride, 0, groups=groups, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for side, kernel, stride in zip(x.shape[:1:-1], self.kernel_size[::-1], self.stride[::-1], strict=True):
            total = max((math.ceil(side / stride) - 1) * stride + kernel - side, 0)
            pads += [total // 2, total - total // 2]  # F.pad order: left, right, top, bottom
        return super().forward(F.pad(x, pads))


class ConvBNAct(nn.Sequential):
    """conv (padding as ``config.padding``, no bias) -> BN -> ``config.activation`` (``act=False``: none)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1,
                 act: bool = True, config: EfficientNetConfig = EFFICIENTNET_B0):  # fmt: skip
        if config.padding == "same":
            conv = Conv2dSame(in_channels, out_channels, kernel, stride, groups=groups, bias=False)
        else:
            conv = nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, groups=groups, bias=False)
        layers = [conv, nn.BatchNorm2d(out_channels, eps=config.bn_eps)]
        super().__init__(*layers, *([config.activation()] if act else []))


class SqueezeExcitation(nn.Module):
    """x * sigmoid(fc2(SiLU(fc1(GAP(x))))): reweight the channels by a gate computed from their means."""

    def __init__(self, channels: int, squeeze_channels: int):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, channels, 1)
        self.activation = nn.SiLU()
        self.scale_activation = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))


def stochastic_depth(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """In training, zero each sample's residual branch with probability p and scale the rest by 1 / (1 - p)."""
    if not training or p == 0.0:
        return x
    keep = torch.empty(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device).bernoulli_(1.0 - p)
    return x * keep / (1.0 - p)


class MBConv(nn.Module):
    """Inverted residual (MobileNetV2) + squeeze-excitation: 1x1 expand (x ``expand_ratio``) -> kxk depthwise
    -> SE (squeeze to in/4; none when ``config.squeeze_excitation`` is False) -> 1x1 project (no activation).
    Residual when stride 1 and in == out."""

    def __init__(self, in_channels: int, stage: MBConvStage, stride: int, drop_prob: float,
                 config: EfficientNetConfig = EFFICIENTNET_B0):  # fmt: skip
        super().__init__()
        expanded = round_channels(in_channels * stage.expand_ratio)
        layers = [ConvBNAct(in_channels, expanded, 1, config=config)] if expanded != in_channels else []
        layers.append(ConvBNAct(expanded, expanded, stage.kernel, stride, groups=expanded, config=config))
        if config.squeeze_excitation:
            layers.append(SqueezeExcitation(expanded, max(1, in_channels // 4)))
        layers.append(ConvBNAct(expanded, stage.channels, 1, act=False, config=config))
        self.block = nn.Sequential(*layers)
        self.use_residual = stride == 1 and in_channels == stage.channels
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + stochastic_depth(out, self.drop_prob, self.training) if self.use_residual else out


class EfficientNet(nn.Module):
    """features = [stem 3x3/2 conv, stage 1, ..., stage 7, 1x1 head conv] -> GAP -> dropout -> fc."""

    def __init__(self, config: EfficientNetConfig = EFFICIENTNET_B0, num_classes: int = 1000, in_channels: int = 3):
        super().__init__()
        layers: list[nn.Module] = [ConvBNAct(in_channels, config.stem, 3, stride=2, config=config)]
        total_blocks, block_id, channels = sum(s.layers for s in config.stages), 0, config.stem
        for stage in config.stages:
            blocks = []
            for i in range(stage.layers):
                drop_prob = config.stochastic_depth * block_id / total_blocks
                blocks.append(MBConv(channels, stage, stage.stride if i == 0 else 1, drop_prob, config))
                channels, block_id = stage.channels, block_id + 1
            layers.append(nn.Sequential(*blocks))
        layers.append(ConvBNAct(channels, config.head, 1, config=config))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(config.head, num_classes))
        self.in_channels, self.min_size, self.input_size = in_channels, 1, None
        he_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(self, x)
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def efficientnet_b0(num_classes: int = 1000, in_channels: int = 3) -> EfficientNet:
    """EfficientNet-B0 (224x224): 5,288,548 parameters."""
    return EfficientNet(EFFICIENTNET_B0, num_classes, in_channels)
