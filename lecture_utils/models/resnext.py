"""ResNeXt's block written out as C parallel paths (Xie et al. 2017, Fig. 3a), to compare with the grouped conv.

Form (a): y = ReLU(BN(sum_i T_i(x)) + shortcut(x)), with C paths of the same topology
T_i = 1x1 conv (in -> d) -> BN -> ReLU -> 3x3 conv (d -> d) -> BN -> ReLU -> 1x1 conv (d -> out).
The sum of the paths' last 1x1 convs is one 1x1 conv over their concatenation, and C separate d -> d
3x3 convs on consecutive channel slices are one 3x3 conv with ``groups=C`` (form c, ``resnet.Bottleneck``
with ``groups``). ``MultiPathBlock.from_grouped(block)`` splits a grouped block's weights path by path;
both then compute the same function.
"""

from __future__ import annotations

import copy
from collections import OrderedDict

import torch
from torch import nn

from .resnet import Bottleneck, conv1x1, conv3x3


def _path(in_channels: int, width: int, out_channels: int, stride: int) -> nn.Sequential:
    """One path T_i: 1x1 (in -> d), 3x3 (d -> d, stride), 1x1 (d -> out); BN + ReLU after the first two."""
    layers = OrderedDict(
        conv1=conv1x1(in_channels, width),
        bn1=nn.BatchNorm2d(width),
        relu1=nn.ReLU(),
        conv2=conv3x3(width, width, stride),
        bn2=nn.BatchNorm2d(width),
        relu2=nn.ReLU(),
        conv3=conv1x1(width, out_channels),
    )
    return nn.Sequential(layers)


class MultiPathBlock(nn.Module):
    """ResNeXt block as ``cardinality`` explicit paths of width ``path_width``, summed (see module doc)."""

    def __init__(self, in_channels: int, out_channels: int, cardinality: int = 32, path_width: int = 4,
                 stride: int = 1, downsample: nn.Module | None = None):  # fmt: skip
        super().__init__()
        self.paths = nn.ModuleList(_path(in_channels, path_width, out_channels, stride) for _ in range(cardinality))
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn3(torch.stack([path(x) for path in self.paths]).sum(dim=0))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))

    @classmethod
    @torch.no_grad()
    def from_grouped(cls, block: Bottleneck) -> MultiPathBlock:
        """The same block with ``block``'s weights: path i takes channel slice i of each grouped layer."""
        if block.plain:
            raise ValueError("from_grouped needs a residual block (plain=False); a ResNeXt block has a shortcut")
        cardinality = block.conv2.groups
        width = block.conv2.in_channels // cardinality
        paths = cls(block.conv1.in_channels, block.conv3.out_channels, cardinality, width, block.conv2.stride[0],
                    copy.deepcopy(block.downsample))  # fmt: skip
        for i, path in enumerate(paths.paths):
            rows = slice(i * width, (i + 1) * width)
            path.conv1.weight.copy_(block.conv1.weight[rows])
            path.conv2.weight.copy_(block.conv2.weight[rows])  # group i: outputs rows, inputs rows
            path.conv3.weight.copy_(block.conv3.weight[:, rows])
            for name in ("bn1", "bn2"):
                for key, value in getattr(block, name).state_dict().items():
                    getattr(path, name).state_dict()[key].copy_(value if value.dim() == 0 else value[rows])
        paths.bn3.load_state_dict(block.bn3.state_dict())
        return paths.train(block.training)
