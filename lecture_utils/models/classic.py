"""The classics: LeNet-5 (1998), AlexNet (2012), Network in Network (2013).

``alexnet()`` is torchvision's AlexNet (same keys, 61,100,840 parameters); ``alexnet(paper=True)`` is
the paper's two-GPU net (96-256-384-384-256 filters, grouped convolutions where the GPUs did not talk,
LRN), 60,965,224 parameters.
"""

from __future__ import annotations

import torch
from torch import nn

from .common import CheckedSequential, check_input, he_init, lookup


def krizhevsky_lrn() -> nn.LocalResponseNorm:
    """AlexNet's local response normalisation: b = a / (k + alpha * sum_{5 neighbours} a^2)^beta.

    Paper: k=2, alpha=1e-4, beta=0.75. PyTorch divides alpha by the window size n=5, so alpha=5e-4 here.
    """
    return nn.LocalResponseNorm(size=5, alpha=5e-4, beta=0.75, k=2.0)


# ---------------------------------------------------------------- LeNet-5


# Table I of LeCun et al. (1998): the S2 maps (0-5) that each of the 16 C3 maps reads. Maps 0-5 read three
# neighbouring S2 maps, 6-11 four neighbouring ones, 12-14 four non-neighbouring ones, 15 all six: 60 pairs.
# "Why not connect every S2 feature map to every C3 feature map? ... it forces a break of symmetry."
LENET_C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5), (0, 1, 2, 3, 4, 5),
)


def connection_mask(table: tuple[tuple[int, ...], ...], in_maps: int) -> torch.Tensor:
    """Bool (out maps, in maps): True where output map j reads input map i (``i in table[j]``)."""
    mask = torch.zeros(len(table), in_maps, dtype=torch.bool)
    for j, inputs in enumerate(table):
        mask[j, list(inputs)] = True
    return mask


class TableConv2d(nn.Conv2d):
    """A convolution whose output map j sees only the input maps its connection table lists:
    y_j = b_j + sum_{i in table[j]} w_ji * x_i. The unused weights are multiplied by 0, so they get no gradient."""

    def __init__(self, table: tuple[tuple[int, ...], ...], in_channels: int, kernel_size: int):
        super().__init__(in_channels, len(table), kernel_size)
        self.register_buffer("mask", connection_mask(table, in_channels)[:, :, None, None].float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.weight * self.mask, self.bias)


def lenet5(num_classes: int = 10, in_channels: int = 1, input_size: int = 32, c3_table: bool = False
           ) -> CheckedSequential:
    """LeNet-5 (LeCun et al. 1998): C1 conv5x5x6 -> S2 pool -> C3 conv5x5x16 -> S4 pool -> C5 conv5x5x120
    -> F6 fc84 -> output; tanh after each layer but the last. 61,706 parameters (10 classes).

    C3: by default it sees all six S2 maps (2,416 parameters), as modern reimplementations do;
    ``c3_table=True`` uses the paper's sparse connection table (:data:`LENET_C3_TABLE`, 60 of the 96
    map pairs, 60 * 25 + 16 = 1,516 parameters in use). Other simplifications: S2/S4 are plain 2x2
    average pooling (paper: a trainable coefficient and bias); the output is linear (paper: Euclidean RBF
    units). C5 is a convolution, as in the paper: on a 32x32 input it covers the whole 5x5 map, so it is
    a fully connected layer written as a conv.
    ``input_size=28`` (MNIST) pads C1 by 2, like the paper padded its 28x28 digits to 32x32.
    """
    padding = {32: 0, 28: 2}
    layers = {
        "c1": nn.Conv2d(in_channels, 6, 5, padding=lookup(padding, input_size, "LeNet-5 input_size")),
        "tanh1": nn.Tanh(),
        "s2": nn.AvgPool2d(2),
        "c3": TableConv2d(LENET_C3_TABLE, 6, 5) if c3_table else nn.Conv2d(6, 16, 5),
        "tanh3": nn.Tanh(),
        "s4": nn.AvgPool2d(2),
        "c5": nn.Conv2d(16, 120, 5),
        "tanh5": nn.Tanh(),
        "flatten": nn.Flatten(),
        "f6": nn.Linear(120, 84),
        "tanh6": nn.Tanh(),
        "output": nn.Linear(84, num_classes),
    }
    return CheckedSequential(layers, in_channels, min_size=input_size, input_size=input_size)


# ---------------------------------------------------------------- AlexNet

ALEXNET_CONFIGS: dict[str, list] = {
    # (filters, kernel, stride, padding, groups) per conv, each followed by ReLU; "LRN"; "M": 3x3 max-pool, stride 2
    "torchvision": [(64, 11, 4, 2, 1), "M", (192, 5, 1, 2, 1), "M",
                    (384, 3, 1, 1, 1), (256, 3, 1, 1, 1), (256, 3, 1, 1, 1), "M"],
    "paper": [(96, 11, 4, 2, 1), "LRN", "M", (256, 5, 1, 2, 2), "LRN", "M",
              (384, 3, 1, 1, 1), (384, 3, 1, 1, 2), (256, 3, 1, 1, 2), "M"],
}  # fmt: skip


class AlexNet(nn.Module):
    """features (convolutions) -> 6x6 average pool -> classifier (dropout, fc4096, dropout, fc4096, fc)."""

    def __init__(
        self, config: str = "torchvision", num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5
    ):
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for item in lookup(ALEXNET_CONFIGS, config, "AlexNet config"):
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=3, stride=2))
            elif item == "LRN":
                layers.append(krizhevsky_lrn())
            else:
                filters, kernel, stride, padding, groups = item
                layers += [nn.Conv2d(channels, filters, kernel, stride, padding, groups=groups), nn.ReLU()]
                channels = filters
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(channels * 6 * 6, 4096),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(),
            nn.Linear(4096, num_classes),
        )
        self.in_channels, self.min_size, self.input_size = in_channels, 63, None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(self, x)
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def alexnet(num_classes: int = 1000, in_channels: int = 3, paper: bool = False, dropout: float = 0.5) -> AlexNet:
    """AlexNet: torchvision's single-GPU variant (default) or the paper's two-GPU net (``paper=True``)."""
    return AlexNet("paper" if paper else "torchvision", num_classes, in_channels, dropout)


# ---------------------------------------------------------------- Network in Network

NIN_BLOCKS = [
    # (kernel, padding, filters of the conv and its two 1x1 "cccp" layers), then the pooling after the block
    (5, 2, (192, 160, 96), "max"),
    (5, 2, (192, 192, 192), "avg"),
    (3, 1, (192, 192, None), "global"),  # None: num_classes maps, one per class, averaged by GAP
]
"""NiN for CIFAR-10 (Lin et al. 2013, their Caffe model): three mlpconv blocks, global average pooling."""


def mlpconv(in_channels: int, filters: tuple[int, int, int], kernel_size: int, padding: int) -> nn.Sequential:
    """mlpconv: a kxk convolution then two 1x1 convolutions, ReLU after each: an MLP slid over the image."""
    layers: list[nn.Module] = []
    for i, out in enumerate(filters):
        k, p = (kernel_size, padding) if i == 0 else (1, 0)
        layers += [nn.Conv2d(in_channels, out, k, padding=p), nn.ReLU()]
        in_channels = out
    return nn.Sequential(*layers)


def nin(num_classes: int = 10, in_channels: int = 3, dropout: float = 0.5) -> CheckedSequential:
    """Network in Network: [mlpconv -> 3x3 pool, stride 2 -> dropout]*2 -> mlpconv -> GAP -> flatten.

    The last 1x1 layer has ``num_classes`` maps; GAP turns each into one class score (no FC layer).
    966,986 parameters for CIFAR-10.
    """
    pools = {
        "max": nn.MaxPool2d(3, stride=2, ceil_mode=True),
        "avg": nn.AvgPool2d(3, stride=2, ceil_mode=True),
        "global": nn.AdaptiveAvgPool2d(1),
    }
    layers: dict[str, nn.Module] = {}
    channels = in_channels
    for i, (kernel, padding, filters, pool) in enumerate(NIN_BLOCKS, start=1):
        filters = tuple(num_classes if f is None else f for f in filters)
        layers[f"mlpconv{i}"] = mlpconv(channels, filters, kernel, padding)
        layers[f"pool{i}"] = pools[pool]
        if pool != "global":
            layers[f"dropout{i}"] = nn.Dropout(dropout)
        channels = filters[-1]
    layers["flatten"] = nn.Flatten()
    return he_init(CheckedSequential(layers, in_channels, min_size=4, input_size=None))
