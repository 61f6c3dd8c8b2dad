"""What every architecture here shares: config lookup, input checks, He initialisation.

Each model carries three plain attributes that ``check_input`` reads:

- ``in_channels``: channels it expects (3 for RGB, 1 for MNIST);
- ``min_size``: the smallest side (pixels) its downsampling leaves at least one pixel for;
- ``input_size``: the exact side its fully connected head was sized for, or ``None`` when a global
  (adaptive) pooling layer makes any side >= ``min_size`` acceptable.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Mapping
from typing import TypeVar

import torch
from torch import nn

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def lookup(table: Mapping[K, V], name: K, what: str) -> V:
    """``table[name]``, or a ValueError that names ``what`` and lists the valid names."""
    if name not in table:
        valid = ", ".join(repr(key) for key in table)
        raise ValueError(f"unknown {what} {name!r}; valid: {valid}")
    return table[name]


def check_input(model: nn.Module, x: torch.Tensor) -> None:
    """Raise ValueError unless ``x`` is an (N, C, H, W) batch ``model`` can take (see module doc)."""
    name = type(model).__name__
    if x.dim() != 4:
        raise ValueError(f"{name} expects a batch of images (N, C, H, W), got a tensor of shape {tuple(x.shape)}")
    channels, height, width = x.shape[1:]
    if channels != model.in_channels:
        raise ValueError(
            f"{name} expects in_channels={model.in_channels}, got {channels} (input shape {tuple(x.shape)}); "
            f"build it with in_channels={channels} or convert the images"
        )
    if model.input_size is not None and (height, width) != (model.input_size, model.input_size):
        raise ValueError(
            f"{name} takes exactly {model.input_size}x{model.input_size} inputs (its fully connected head "
            f"is sized for them), got {height}x{width}"
        )
    if min(height, width) < model.min_size:
        raise ValueError(
            f"input {height}x{width} is too small for {name}: it needs at least "
            f"{model.min_size}x{model.min_size} pixels (each side is halved by its strided layers)"
        )


class CheckedSequential(nn.Sequential):
    """``nn.Sequential`` that checks its input first (for the nets that are a plain stack of layers)."""

    def __init__(self, layers: Mapping[str, nn.Module], in_channels: int, min_size: int, input_size: int | None):
        super().__init__(OrderedDict(layers))
        self.in_channels, self.min_size, self.input_size = in_channels, min_size, input_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(self, x)
        return super().forward(x)


def he_init(model: nn.Module) -> nn.Module:
    """He (Kaiming) initialisation as torchvision's VGG/ResNet use it, applied in place.

    Conv: W ~ N(0, 2 / (k * k * c_out)) ("fan_out"), bias 0. BatchNorm: gamma 1, beta 0.
    Linear: W ~ N(0, 0.01^2), bias 0.
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0.0, 0.01)
            nn.init.zeros_(module.bias)
    return model
