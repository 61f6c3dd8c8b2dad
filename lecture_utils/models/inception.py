"""GoogLeNet / Inception v1 (Szegedy et al. 2014): Inception modules, naive and with 1x1 reductions.

Two versions, one class:

- ``googlenet()`` is torchvision's (same keys, 6,624,904 parameters without the auxiliary heads): every
  conv is followed by batch norm (added after the paper, from Inception v2), and the "5x5" branch uses a
  3x3 convolution (a known torchvision bug kept for its pretrained weights), no LRN.
- ``googlenet(paper=True)`` is the paper's: conv + bias + ReLU, a true 5x5 branch, local response
  normalisation after the first pool and after conv3, auxiliary heads with 5x5/3 average pooling, dropout 0.4.
"""

from __future__ import annotations

from collections import namedtuple

import torch
from torch import nn

from .classic import krizhevsky_lrn
from .common import check_input

GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])

INCEPTION_TABLE: dict[str, tuple[int, ...]] = {
    # the paper's Table 1: in, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj
    "inception3a": (192, 64, 96, 128, 16, 32, 32),
    "inception3b": (256, 128, 128, 192, 32, 96, 64),
    "inception4a": (480, 192, 96, 208, 16, 48, 64),
    "inception4b": (512, 160, 112, 224, 24, 64, 64),
    "inception4c": (512, 128, 128, 256, 24, 64, 64),
    "inception4d": (512, 112, 144, 288, 32, 64, 64),
    "inception4e": (528, 256, 160, 320, 32, 128, 128),
    "inception5a": (832, 256, 160, 320, 32, 128, 128),
    "inception5b": (832, 384, 192, 384, 48, 128, 128),
}


class BasicConv2d(nn.Module):
    """conv -> [BN] -> ReLU. torchvision: conv without bias, then BN (eps 1e-3). Paper: conv with bias."""

    def __init__(self, in_channels: int, out_channels: int, batch_norm: bool = True, **conv_args):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=not batch_norm, **conv_args)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001) if batch_norm else nn.Identity()
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class NaiveInception(nn.Module):
    """Naive Inception module (paper Fig. 2a): 1x1, 3x3, 5x5 convs and 3x3 max-pool side by side,
    concatenated along channels. Output channels: ch1x1 + ch3x3 + ch5x5 + in_channels (the pool
    branch keeps all input channels, so stacking these modules blows the width up)."""

    def __init__(self, in_channels: int, ch1x1: int, ch3x3: int, ch5x5: int):
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, False, kernel_size=1)
        self.branch2 = BasicConv2d(in_channels, ch3x3, False, kernel_size=3, padding=1)
        self.branch3 = BasicConv2d(in_channels, ch5x5, False, kernel_size=5, padding=2)
        self.branch4 = nn.MaxPool2d(3, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


class Inception(nn.Module):
    """Inception module with dimension reductions (paper Fig. 2b): 1x1 convs shrink the channels before
    the 3x3 and 5x5 convs, and project the pooled branch. Output: ch1x1 + ch3x3 + ch5x5 + pool_proj."""

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj, paper: bool = False):
        super().__init__()
        bn, k5 = not paper, 5 if paper else 3  # torchvision: BN, and 3x3 in the "5x5" branch
        self.branch1 = BasicConv2d(in_channels, ch1x1, bn, kernel_size=1)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_channels, ch3x3red, bn, kernel_size=1),
            BasicConv2d(ch3x3red, ch3x3, bn, kernel_size=3, padding=1),
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, ch5x5red, bn, kernel_size=1),
            BasicConv2d(ch5x5red, ch5x5, bn, kernel_size=k5, padding=k5 // 2),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
            BasicConv2d(in_channels, pool_proj, bn, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


class InceptionAux(nn.Module):
    """Auxiliary classifier on a 14x14 map: pool to 4x4 -> 1x1 conv 128 -> fc 1024 -> dropout 0.7 -> fc.
    Its loss (weight 0.3 in the paper) pushes gradient into the middle of the net during training."""

    def __init__(self, in_channels: int, num_classes: int, paper: bool = False, dropout: float = 0.7):
        super().__init__()
        # torchvision pools adaptively to 4x4; the paper uses a 5x5 window, stride 3 (14x14 -> 4x4)
        self.pool = nn.AvgPool2d(5, stride=3) if paper else nn.AdaptiveAvgPool2d((4, 4))
        self.paper = paper
        self.conv = BasicConv2d(in_channels, 128, not paper, kernel_size=1)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.paper and x.shape[-2:] != (14, 14):
            raise ValueError(
                f"the paper's auxiliary head (5x5/3 average pool, fc over 4x4x128) needs the 14x14 map of a "
                f"224x224 input, got {tuple(x.shape[-2:])}; for other sizes use paper=False or aux_logits=False"
            )
        x = torch.flatten(self.conv(self.pool(x)), 1)
        return self.fc2(self.dropout(self.relu(self.fc1(x))))


class GoogLeNet(nn.Module):
    """stem (7x7/2 conv, pool, 1x1 conv, 3x3 conv, pool) -> inception 3a, 3b -> pool -> 4a..4e -> pool
    -> 5a, 5b -> global average pool -> dropout -> fc. Auxiliary heads after 4a and 4d (training only).

    In training mode with ``aux_logits`` it returns ``GoogLeNetOutputs(logits, aux_logits2, aux_logits1)``,
    else the logits. ``transform_input`` maps ImageNet-normalised inputs to the [-1, 1] scaling the
    ported pretrained weights expect (torchvision's option).
    """

    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        aux_logits: bool = True,
        transform_input: bool = False,
        paper: bool = False,
        dropout: float | None = None,
        dropout_aux: float = 0.7,
    ):
        super().__init__()
        if transform_input and in_channels != 3:
            raise ValueError(f"transform_input needs RGB inputs (in_channels=3), got in_channels={in_channels}")
        bn = not paper
        self.conv1 = BasicConv2d(in_channels, 64, bn, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.lrn1 = krizhevsky_lrn() if paper else nn.Identity()
        self.conv2 = BasicConv2d(64, 64, bn, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, bn, kernel_size=3, padding=1)
        self.lrn2 = krizhevsky_lrn() if paper else nn.Identity()
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        for name, channels in INCEPTION_TABLE.items():
            self.add_module(name, Inception(*channels, paper=paper))
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)  # after inception3b
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)  # after inception4e
        self.aux_logits, self.transform_input = aux_logits, transform_input
        self.aux1 = InceptionAux(512, num_classes, paper, dropout_aux) if aux_logits else None
        self.aux2 = InceptionAux(528, num_classes, paper, dropout_aux) if aux_logits else None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout((0.4 if paper else 0.2) if dropout is None else dropout)
        self.fc = nn.Linear(1024, num_classes)
        self.in_channels, self.min_size, self.input_size = in_channels, 15, None
        for module in self.modules():  # torchvision's initialisation
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(module.weight, mean=0.0, std=0.01, a=-2, b=2)

    def _transform(self, x: torch.Tensor) -> torch.Tensor:
        """x * std / 0.5 + (mean - 0.5) / 0.5 per channel: undo ImageNet normalisation, rescale to [-1, 1]."""
        mean = x.new_tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = x.new_tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        return x * (std / 0.5) + (mean - 0.5) / 0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor | GoogLeNetOutputs:
        check_input(self, x)
        if self.transform_input:
            x = self._transform(x)
        x = self.maxpool2(self.lrn2(self.conv3(self.conv2(self.lrn1(self.maxpool1(self.conv1(x)))))))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux1 = self.aux1(x) if self.aux1 is not None and self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if self.aux2 is not None and self.training else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        logits = self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))
        return GoogLeNetOutputs(logits, aux2, aux1) if self.training and self.aux_logits else logits


def googlenet(num_classes: int = 1000, in_channels: int = 3, aux_logits: bool = True, paper: bool = False,
              transform_input: bool = False) -> GoogLeNet:  # fmt: skip
    """GoogLeNet: torchvision's version (default) or the paper's (``paper=True``); see the module doc."""
    return GoogLeNet(num_classes, in_channels, aux_logits, transform_input, paper)
