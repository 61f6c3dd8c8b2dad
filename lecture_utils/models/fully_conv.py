"""Fully connected layers rewritten as convolutions (Long et al. 2015, FCN): a classifier becomes a heat map.

A fully connected layer on a flattened C x H x W map computes, for each output o,
``y_o = b_o + sum_{c,i,j} W[o, c*H*W + i*W + j] * x[c, i, j]``: exactly a convolution with ``out_features``
filters of size C x H x W (kernel H x W), evaluated at the one position where it fits. Later fully
connected layers see a vector, that is a C x 1 x 1 map: they become 1x1 convolutions. With the same
weights, the rewritten net gives the same scores on the original size, as a (N, classes, 1, 1) map. On a
larger image the kernel H x W fits at many positions: the net outputs a (N, classes, h, w) heat map, each
cell the classifier's scores for one window of the input, windows ``stride`` pixels apart (the product
of the strides before the first fully connected layer), computed with shared convolutions instead of
one forward pass per window. (Exactly the scores of the cropped window when the convolutions have no
padding; with padding, a window's border sees its neighbours in the image instead of zeros.)

``linear_to_conv(linear, in_shape)`` rewrites one layer; ``fc_to_conv(model, input_size)`` rewrites a
whole classifier that is a chain of layers (LeNet-5, AlexNet, VGG, the blueprint nets, CNN-flatten).
"""

from __future__ import annotations

import copy
import math
from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

# Layers that only reshape: their job is done by the kernel H x W of the rewritten first FC layer.
_RESHAPES = (nn.Flatten, nn.Identity)
_ADAPTIVE_POOLS = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


def _shape3(value, name: str) -> tuple[int, int, int]:
    """``value`` as a (C, H, W) tuple of positive ints, else a ValueError naming ``name``."""
    ok = isinstance(value, Sequence) and len(value) == 3 and all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    if not ok:
        raise ValueError(f"{name} must be (C, H, W), three positive ints without the batch axis, got {value!r}")
    return tuple(value)


@torch.no_grad()
def linear_to_conv(linear: nn.Linear, in_shape: Sequence[int]) -> nn.Conv2d:
    """The convolution that computes ``linear`` on a flattened ``in_shape`` = (C, H, W) map, same weights.

    Kernel H x W, ``out_features`` filters: ``conv.weight[o, c, i, j] = linear.weight[o, c*H*W + i*W + j]``
    (PyTorch's flatten order: channels, then rows, then columns); the bias is copied. A layer on a vector
    has ``in_shape = (in_features, 1, 1)``: a 1x1 convolution. Parameters: the same count.
    """
    if not isinstance(linear, nn.Linear):
        raise ValueError(f"linear must be an nn.Linear, got {type(linear).__name__}")
    c, h, w = _shape3(in_shape, "in_shape")
    if c * h * w != linear.in_features:
        raise ValueError(
            f"in_shape={tuple(in_shape)} has C*H*W = {c * h * w:,} values, but the linear layer takes "
            f"in_features={linear.in_features:,}; give the shape of the map that was flattened into it"
        )
    weight = linear.weight
    conv = nn.Conv2d(c, linear.out_features, (h, w), bias=linear.bias is not None,
                     device=weight.device, dtype=weight.dtype)
    conv.weight.copy_(weight.reshape(linear.out_features, c, h, w))
    if linear.bias is not None:
        conv.bias.copy_(linear.bias)
    return conv


class FullyConvNet(nn.Sequential):
    """A classifier with its FC layers as convolutions, made by ``fc_to_conv``.

    Input (N, C, H', W') with H' >= H and W' >= W, the ``window`` (H, W) the classifier was built for;
    output (N, classes, h, w): cell (i, j) scores the window whose top-left corner is at
    ``(i * stride[0], j * stride[1])`` (the classifier's scores on that crop if no layer pads), with
    h = (H' - H) // stride[0] + 1 (likewise w) when H' - H is a multiple of the stride. On the original
    size: (N, classes, 1, 1), the classifier's own scores.
    """

    def __init__(self, layers: dict[str, nn.Module], in_channels: int, window: tuple[int, int],
                 stride: tuple[int, int]):
        super().__init__(OrderedDict(layers))
        self.in_channels, self.window, self.stride = in_channels, window, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected a batch (N, {self.in_channels}, H, W), got shape {tuple(x.shape)}")
        (h, w), (min_h, min_w) = x.shape[2:], self.window
        if h < min_h or w < min_w:
            raise ValueError(f"input {h}x{w} is smaller than the {min_h}x{min_w} window the classifier was built "
                             f"for; a fully convolutional net takes that size or larger")
        return super().forward(x)


Call = tuple[str, nn.Module, tuple, tuple]  # name, module, input shape, output shape


def _calls_in_order(model: nn.Module, x: torch.Tensor) -> tuple[list[Call], torch.Tensor]:
    """(name, module, input shape, output shape) of every leaf module call, in the order the forward pass
    runs them, and the model's output (eval mode, no gradients; hooks removed, train flags restored)."""
    calls = []

    def hook(name):
        return lambda module, args, output: calls.append((name, module, tuple(args[0].shape), tuple(output.shape)))

    leaves = [(name, m) for name, m in model.named_modules() if not any(m.children())]
    handles = [module.register_forward_hook(hook(name)) for name, module in leaves]
    flags = {module: module.training for module in model.modules()}
    try:
        with torch.no_grad():
            output = model.eval()(x)
    except (RuntimeError, ValueError) as err:
        raise ValueError(f"input_size={tuple(x.shape[1:])} does not fit this {type(model).__name__}: {err}; "
                         "give the (C, H, W) size the classifier was built for") from err
    finally:
        for handle in handles:
            handle.remove()
        for module, training in flags.items():
            module.training = training
    return calls, output


def fc_to_conv(model: nn.Module, input_size: Sequence[int]) -> FullyConvNet:
    """``model`` with every ``nn.Linear`` rewritten as a convolution (``linear_to_conv``), same weights.

    ``input_size``: the (C, H, W) the classifier was built for (e.g. (1, 64, 64) for CNN-flatten,
    (3, 224, 224) for VGG/AlexNet). The layers are taken in the order one forward pass at that size runs
    them; Flatten layers are dropped, and so are adaptive pools that are the identity at that size (VGG's
    7x7 pool: on a larger input it would squeeze the map back to 7x7). The first FC layer gets the shape
    of the map before it, the later ones (F, 1, 1). The result is a copy (training it leaves ``model``
    unchanged) and is checked on one random input: same scores as ``model``, else ValueError (``model``
    then does more than run its layers one after the other, e.g. residual additions, global pooling).
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    input_size = _shape3(input_size, "input_size")
    if not any(isinstance(m, nn.Linear) for m in model.modules()):
        raise ValueError(f"{type(model).__name__} has no nn.Linear layer: nothing to rewrite "
                         "(it is already fully convolutional)")
    weight = next(model.parameters())  # there is one: the linear layer's
    x = torch.randn(2, *input_size, generator=torch.Generator().manual_seed(0)).to(weight.device, weight.dtype)
    calls, expected = _calls_in_order(model, x)
    layers, map_shape, stride, seen_fc = {}, input_size, (1, 1), False
    for name, module, in_shape, out_shape in calls:
        key = name.replace(".", "_") or "layer"
        key = key if key not in layers else f"{key}_{len(layers)}"  # a module called twice
        if isinstance(module, nn.Linear):
            if len(in_shape) != 2:
                raise ValueError(f"layer {name!r} applies nn.Linear to a {len(in_shape)}-d tensor; fc_to_conv "
                                 "rewrites linear layers on flattened maps (N, C*H*W)")
            if not seen_fc and math.prod(map_shape) != module.in_features:
                raise ValueError(
                    f"the first fully connected layer {name!r} takes {module.in_features:,} features, but the "
                    f"map before it is {map_shape} = {math.prod(map_shape):,} values: something between them "
                    "(global pooling, a functional call) is not a layer fc_to_conv can rewrite")
            layers[key] = linear_to_conv(module, map_shape if not seen_fc else (module.in_features, 1, 1))
            seen_fc = True
        elif isinstance(module, _RESHAPES):
            continue
        elif isinstance(module, _ADAPTIVE_POOLS):
            _check_identity_pool(name, module, in_shape, out_shape)
            continue
        else:
            layers[key] = copy.deepcopy(module)
            if not seen_fc:
                stride = tuple(total * step for total, step in zip(stride, _stride(module), strict=True))
        if len(out_shape) == 4 and not seen_fc:
            map_shape = out_shape[1:]
    net = FullyConvNet(layers, input_size[0], input_size[1:], stride)
    try:
        with torch.no_grad():
            same = torch.allclose(net.eval()(x).flatten(1), expected, rtol=1e-4, atol=1e-5)
    except (RuntimeError, ValueError):  # e.g. a layer that needs flat vectors, or a shape that differs
        same = False
    if not same:
        raise ValueError(
            f"the rewritten {type(model).__name__} does not reproduce its scores: fc_to_conv handles classifiers "
            "that are a chain of layers, each feeding the next (no residual additions or functional calls "
            "between layers, no layers that need flat vectors such as BatchNorm1d)")
    return net.train(model.training)


def _check_identity_pool(name: str, module: nn.Module, in_shape: tuple, out_shape: tuple) -> None:
    """An adaptive pool can be dropped only where it is the identity (VGG's 7x7 pool on a 224x224 input)."""
    if out_shape[2:] == (1, 1):
        raise ValueError(
            f"layer {name!r} ({type(module).__name__}) pools globally: the net already takes any input size and "
            "averages over positions before its FC layers, so they cannot score each window")
    if in_shape != out_shape:
        raise ValueError(
            f"layer {name!r} ({type(module).__name__}) maps {in_shape[1:]} to {out_shape[1:]} at this input_size: "
            f"it outputs {out_shape[2:]} on any input, so no heat map could appear; use the input size where it "
            "is the identity (224 for VGG and AlexNet)")


def _stride(module: nn.Module) -> tuple[int, int]:
    """(rows, columns) stride of a conv or pooling layer; (1, 1) for any other layer."""
    stride = getattr(module, "stride", 1)
    return (stride, stride) if isinstance(stride, int) else tuple(stride)
