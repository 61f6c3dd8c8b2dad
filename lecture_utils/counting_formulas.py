"""Counting by hand: one formula per function (parameters, multiply-adds, sizes, memory, receptive field).

A multiply-add (MAC) is one ``w * x`` accumulated into a sum; papers, cs231n and torchvision's "GFLOPS"
metadata count these. ``torch.utils.flop_counter`` counts 2 FLOPs per multiply-add. Bias additions,
batch norm, pooling and activations are cheap elementwise work and are not counted.

Sizes may be an int (square) or a tuple (one entry per spatial axis). ``counting.summary`` uses these
same functions for every row of its table, so the table and a hand count always agree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import torch
from torch import nn

Size = int | Sequence[int]


def _as_tuple(value: Size, name: str) -> tuple[int, ...]:
    """``value`` as a tuple of positive ints; an int means a square (``k`` -> ``(k, k)``)."""
    values = (value, value) if isinstance(value, int) else tuple(value)
    if not values or not all(isinstance(v, int) and v > 0 for v in values):
        raise ValueError(f"{name} must be a positive int or a tuple of positive ints, got {value!r}")
    return values


def _check_groups(c_in: int, c_out: int, groups: int) -> None:
    if groups < 1 or c_in % groups or c_out % groups:
        raise ValueError(f"groups={groups} must divide c_in={c_in} and c_out={c_out}")


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output side of a convolution along one axis.

    ``H_out = (H + 2p - d(k-1) - 1) // s + 1``  (e.g. 64, k=3, no padding -> 62; 224, k=11, s=4, p=2 -> 55).
    """
    out = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    if out < 1:
        raise ValueError(
            f"size={size} is too small for kernel={kernel}, dilation={dilation}, padding={padding}: "
            f"the output would have {out} positions"
        )
    return out


def pool_output_size(
    size: int, kernel: int, stride: int | None = None, padding: int = 0, ceil_mode: bool = False
) -> int:
    """Output side of a max/average pooling along one axis (stride defaults to the kernel).

    ``H_out = floor_or_ceil((H + 2p - k) / s) + 1``; with ``ceil_mode`` the last window must still start
    inside the input or the left padding (PyTorch's rule). Pooling has no parameters.
    """
    stride = stride or kernel
    if not ceil_mode:
        return conv_output_size(size, kernel, stride, padding)
    out = math.ceil((size + 2 * padding - kernel) / stride) + 1
    if (out - 1) * stride >= size + padding:
        out -= 1
    if out < 1:
        raise ValueError(f"size={size} is too small for a pooling window of kernel={kernel}")
    return out


def conv_params(kernel: Size, c_in: int, c_out: int, groups: int = 1, bias: bool = True) -> int:
    """Parameters of a convolution: ``(k_h * k_w * C_in / groups + 1) * C_out`` (the +1 is the bias).

    3x3 from 32 to 64 channels: (9 * 32 + 1) * 64 = 18,496.
    """
    _check_groups(c_in, c_out, groups)
    return (math.prod(_as_tuple(kernel, "kernel")) * c_in // groups + int(bias)) * c_out


def conv_macs(kernel: Size, c_in: int, c_out: int, out_size: Size, groups: int = 1) -> int:
    """Multiply-adds of a convolution: ``k_h * k_w * C_in / groups * C_out * H_out * W_out``.

    Each output value is a dot product of length ``k_h * k_w * C_in / groups``.
    """
    _check_groups(c_in, c_out, groups)
    kernel_area = math.prod(_as_tuple(kernel, "kernel"))
    positions = math.prod(_as_tuple(out_size, "out_size"))
    return kernel_area * c_in // groups * c_out * positions


def linear_params(in_features: int, out_features: int, bias: bool = True) -> int:
    """Parameters of a fully connected layer: ``(in + 1) * out`` (4608 -> 64: 294,976)."""
    return (in_features + int(bias)) * out_features


def linear_macs(in_features: int, out_features: int) -> int:
    """Multiply-adds of a fully connected layer on one vector: ``in * out``."""
    return in_features * out_features


def batchnorm_params(channels: int, affine: bool = True) -> int:
    """Trainable parameters of batch norm: ``2C`` (scale gamma and shift beta per channel).

    The running mean and variance (another ``2C`` numbers) are buffers, not parameters, in PyTorch;
    Keras lists them as "non-trainable params", so a Keras summary shows ``4C`` for the same layer.
    """
    return 2 * channels if affine else 0


def activation_memory(shape: Sequence[int], dtype: torch.dtype = torch.float32) -> tuple[int, int]:
    """Elements and bytes of one activation tensor per image: ``C * H * W`` and ``C * H * W * bytes``.

    VGG's first conv output (64, 224, 224): 3,211,264 floats, 12.8 MB (float32).
    """
    shape = tuple(shape)
    if not shape or not all(isinstance(v, int) and v > 0 for v in shape):
        raise ValueError(f"shape must be a non-empty tuple of positive ints (C, H, W), got {shape!r}")
    elements = math.prod(shape)
    return elements, elements * torch.empty((), dtype=dtype).element_size()


def _kernel_stride_dilation(layer) -> tuple[int, int, int] | None:
    """(k, s, d) of a (k, s[, d]) tuple or of a conv/pool module (height axis); None for other modules."""
    if isinstance(layer, nn.Module):
        if not hasattr(layer, "kernel_size") or not hasattr(layer, "stride"):
            return None
        first = [v if isinstance(v, int) else v[0] for v in (layer.kernel_size, layer.stride)]
        dilation = getattr(layer, "dilation", 1)
        return first[0], first[1], dilation if isinstance(dilation, int) else dilation[0]
    values = tuple(layer)
    if len(values) not in (2, 3) or not all(isinstance(v, int) and v > 0 for v in values):
        raise ValueError(f"each layer must be (kernel, stride[, dilation]) or a conv/pool module, got {layer!r}")
    return values if len(values) == 3 else (*values, 1)


def receptive_field_table(layers) -> pd.DataFrame:
    """Receptive field ``r`` and jump ``j`` (input pixels between neighbouring outputs) after each layer.

    Start with ``r = 1, j = 1``; a layer with kernel ``k``, stride ``s`` and dilation ``d`` gives
    ``r_out = r_in + (k_eff - 1) * j_in`` with ``k_eff = d(k - 1) + 1``, and ``j_out = j_in * s``.
    ``layers``: (kernel, stride[, dilation]) tuples or modules (conv and pooling layers are used, others
    such as ReLU skipped; non-square kernels along the height axis).
    """
    rows, r, j = [], 1, 1
    for index, layer in enumerate(layers):
        ksd = _kernel_stride_dilation(layer)
        if ksd is None:
            continue
        k, s, d = ksd
        r, j = r + d * (k - 1) * j, j * s
        name = type(layer).__name__ if isinstance(layer, nn.Module) else f"layer {index + 1}"
        rows.append({"layer": name, "kernel": k, "stride": s, "dilation": d, "receptive_field": r, "jump": j})
    if not rows:
        raise ValueError("layers has no convolution or pooling layer to compute a receptive field from")
    return pd.DataFrame(rows)


def receptive_field(layers) -> int:
    """Receptive field of a stack of layers (see ``receptive_field_table``): three 3x3 convs -> 7."""
    return int(receptive_field_table(layers)["receptive_field"].iloc[-1])


def inception_cost(
    h: int = 28,
    w: int = 28,
    c_in: int = 256,
    ch1x1: int = 128,
    ch3x3: int = 192,
    ch5x5: int = 96,
    ch3x3red: int | None = None,
    ch5x5red: int | None = None,
    pool_proj: int | None = None,
) -> pd.DataFrame:
    """Multiply-adds of one Inception module, conv by conv (``same`` padding: every branch stays h x w).

    Each term is ``h * w * C_out * k * k * C_in`` (``conv_macs``). Argument names follow torchvision's
    ``Inception`` block; leave the reductions at None for the naive module.

    Naive module on 28x28x256 (1x1 128, 3x3 192, 5x5 96, 3x3 max-pool): 25.7M + 346.8M + 481.7M
    = 854,196,224 multiply-adds (the slides' "854M ops"), output depth 672.

    With 1x1 reductions (``ch3x3red=64, ch5x5red=64, pool_proj=64``, cs231n's example): six terms,
    1x1 128: 25.7M, 1x1 64 (x3: before 3x3, before 5x5, after pooling): 12.8M each, 3x3 192 on 64
    channels: 86.7M, 5x5 96 on 64 channels: 120.4M; total 271,351,808 (271M), output depth 480.
    The slides' "358M ops" (copied from cs231n) is 358,055,936 = 271,351,808 + 86,704,128: the 3x3 term
    counted as if its input had 128 channels (28*28*192*3*3*128 = 173.4M) instead of the 64 the
    reduction gives. No consistent module gives 358M: a 128-channel 3x3 reduction would also double its
    own 1x1 cost (-> 370.9M). Either way the reductions cut the cost about 3x (854M -> 271M).
    """
    reduced = {"ch3x3red": ch3x3red, "ch5x5red": ch5x5red, "pool_proj": pool_proj}
    if len({v is None for v in reduced.values()}) > 1:
        raise ValueError(f"give all of ch3x3red, ch5x5red, pool_proj (reduced module) or none (naive): {reduced}")
    convs = [("1x1", 1, c_in, ch1x1)]  # (branch, kernel, C_in, C_out)
    if ch3x3red is None:
        convs += [("3x3", 3, c_in, ch3x3), ("5x5", 5, c_in, ch5x5)]
    else:
        convs += [("3x3", 1, c_in, ch3x3red), ("3x3", 3, ch3x3red, ch3x3)]
        convs += [("5x5", 1, c_in, ch5x5red), ("5x5", 5, ch5x5red, ch5x5), ("pool", 1, c_in, pool_proj)]
    rows = [
        {
            "branch": branch,
            "conv": f"{k}x{k} conv, {c_out}",
            "input": f"{h}x{w}x{c}",
            "term": f"{h}*{w}*{c_out}*{k}*{k}*{c}",
            "mult_adds": conv_macs(k, c, c_out, (h, w)),
        }
        for branch, k, c, c_out in convs
    ]
    return pd.DataFrame(rows)
