"""Counting by code: a Keras-style per-layer summary, a flop-counter cross-check, torchvision's metadata,
and the rate at which a device does the counted multiply-adds.

``summary(model, input_size)`` runs one forward pass on a zero image (batch of 1) on the model's device
(build a big model under ``with torch.device("meta"):`` and nothing is computed or allocated), records
every leaf module's output with forward hooks (removed afterwards), and counts each row's parameters,
activations and multiply-adds, the latter with the hand formulas of ``counting_formulas`` (re-exported
here, so ``counting.conv_params`` etc. work).

Shapes are PyTorch's channels-first ``(C, H, W)`` without the batch axis; ``to_text(channels_last=True)``
prints Keras' ``(None, H, W, C)`` as on the slides.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from numbers import Integral

import pandas as pd
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models import get_model_weights

from . import runtime
from .counting_formulas import (
    activation_memory,
    batchnorm_params,
    conv_macs,
    conv_output_size,
    conv_params,
    inception_cost,
    linear_macs,
    linear_params,
    pool_output_size,
    receptive_field,
    receptive_field_table,
)

__all__ = [
    "IMAGENET_MODELS",
    "Layer",
    "Summary",
    "activation_memory",
    "batchnorm_params",
    "conv_macs",
    "conv_output_size",
    "conv_params",
    "flop_counter_macs",
    "inception_cost",
    "layer_mult_adds",
    "linear_macs",
    "linear_params",
    "mult_adds_per_second",
    "pool_output_size",
    "receptive_field",
    "receptive_field_table",
    "summary",
    "torchvision_reference",
]

# Modules whose output shares its input's storage: they add no activation memory.
_VIEWS = (nn.Flatten, nn.Unflatten, nn.Identity)


@dataclass(frozen=True)
class Layer:
    """One call of a leaf module: its output shape (no batch axis), parameters, multiply-adds, activations."""

    name: str
    type: str
    output_shape: tuple
    params: int
    mult_adds: int
    activations: int


@dataclass(frozen=True)
class Summary:
    """Result of ``summary``: rows (``layers``), totals, ``.table`` (DataFrame) and Keras-style ``str``."""

    layers: tuple[Layer, ...]
    input_shape: tuple[int, ...]
    total_params: int
    trainable_params: int
    mult_adds: int
    activation_elements: int
    activation_bytes: int
    hide: tuple[str, ...] = ()

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    @property
    def unlisted_params(self) -> int:
        """Parameters in no row: modules the forward pass did not run (e.g. auxiliary heads in eval mode)."""
        return self.total_params - sum(layer.params for layer in self.layers)

    def visible(self) -> list[Layer]:
        """The rows whose type is not in ``hide``."""
        return [layer for layer in self.layers if layer.type not in self.hide]

    @property
    def table(self) -> pd.DataFrame:
        """The visible rows as a DataFrame (output_shape channels-first, without the batch axis)."""
        columns = ["name", "type", "output_shape", "params", "mult_adds", "activations"]
        return pd.DataFrame([[getattr(layer, c) for c in columns] for layer in self.visible()], columns=columns)

    def to_text(self, channels_last: bool = False) -> str:
        """The table as Keras prints it: "Layer (type)", "Output Shape", "Param #", plus "Mult-Adds"."""
        rows = [("Layer (type)", "Output Shape", "Param #", "Mult-Adds")]
        rows += [
            (
                f"{r.name} ({r.type})",
                _shape_text(r.output_shape, channels_last),
                str(r.params),
                f"{r.mult_adds:,}",
            )
            for r in self.visible()
        ]
        widths = [max(len(row[i]) for row in rows) + 3 for i in range(3)]
        lines = [
            "".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)) + row[3] for row in rows
        ]
        rule = "=" * max(len(line) for line in lines)
        mb = self.activation_bytes / 1e6
        footer = [
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.non_trainable_params:,}",
            f"Total mult-adds: {self.mult_adds:,} ({self.mult_adds / 1e6:,.1f}M)",
            f"Activations per image: {self.activation_elements:,} values, {mb:,.2f} MB (input included)",
        ]
        if self.unlisted_params:
            footer.insert(3, f"Params in no row (modules not run by this forward pass): {self.unlisted_params:,}")
        header = f"Input: {_shape_text(self.input_shape, channels_last)}"
        return "\n".join([header, lines[0], rule, *lines[1:], rule, *footer])

    def __str__(self) -> str:
        return self.to_text()

    __repr__ = __str__


def _shape_text(shape: tuple, channels_last: bool) -> str:
    """``(None, C, H, W)``, or Keras' ``(None, H, W, C)``; nested for modules that return several tensors."""
    if shape and isinstance(shape[0], tuple):
        return "[" + ", ".join(_shape_text(s, channels_last) for s in shape) + "]"
    dims = (*shape[1:], shape[0]) if channels_last and len(shape) > 1 else shape
    return "(" + ", ".join(["None", *map(str, dims)]) + ")"


def _batch_shape(output) -> tuple:
    """Shape of a module's output without the batch axis (a tuple of shapes for tuple outputs)."""
    if isinstance(output, torch.Tensor):
        return tuple(output.shape[1:])
    if isinstance(output, tuple | list):
        return tuple(_batch_shape(o) for o in output)
    return ()


def layer_mult_adds(module: nn.Module, x: torch.Tensor, output: torch.Tensor) -> int:
    """Multiply-adds of one call of a convolution or linear layer on one image (0 for any other layer).

    Convolution: ``conv_macs`` over the output positions; a transposed convolution does the same work
    per *input* position. Linear: ``linear_macs`` per output vector. ``x`` and ``output`` have batch 1.
    """
    if isinstance(module, nn.modules.conv._ConvNd):
        positions = tuple((x if module.transposed else output).shape[2:])
        return conv_macs(module.kernel_size, module.in_channels, module.out_channels, positions, module.groups)
    if isinstance(module, nn.Linear):
        return linear_macs(module.in_features, module.out_features) * (output.numel() // module.out_features)
    return 0


def _check_input_size(input_size) -> tuple[int, ...]:
    """``input_size`` as a tuple of ints: one image's shape without the batch axis, e.g. (3, 224, 224)."""
    is_sequence = isinstance(input_size, Sequence) and not isinstance(input_size, str)
    if not is_sequence or not input_size or not all(_positive_int(v) for v in input_size):
        raise ValueError(
            f"input_size must be a tuple of positive ints without the batch axis, e.g. (3, 224, 224); "
            f"got {input_size!r}"
        )
    return tuple(int(v) for v in input_size)


def _positive_int(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool) and value > 0


def _check_conv_input(module: nn.Module, x: torch.Tensor) -> None:
    """A convolution needs a batched (N, C_in, *spatial) input (PyTorch would take (C, H, W) as unbatched)."""
    dims = len(module.kernel_size)
    if x.dim() != dims + 2:
        layout = "(C, " + ", ".join("DHW"[-dims:]) + ")"
        raise ValueError(f"{type(module).__name__} expects input_size with {dims + 1} entries {layout}")
    if x.shape[1] != module.in_channels:
        raise ValueError(f"{type(module).__name__} expects {module.in_channels} input channels, got {x.shape[1]}")


def _forward(model: nn.Module, input_size, on_output=None, context=None) -> torch.Tensor:
    """Run ``model`` on a zero batch of one image in eval mode without gradients; return that input.

    ``on_output(name, module, x, output)`` is called after every leaf module (forward hooks, removed
    afterwards); ``context`` (e.g. a FlopCounterMode) wraps the call. Every module's train/eval flag is
    restored. Errors of the forward pass are re-raised as ValueError naming ``input_size`` and the layer.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    input_size = _check_input_size(input_size)
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.dtype.is_floating_point else torch.float32
    x = torch.zeros((1, *input_size), device=device, dtype=dtype)
    flags = {module: module.training for module in model.modules()}
    state = {"entered": None, "finished": None}

    def enter(name):
        def hook(module, args):
            state["entered"] = name
            if isinstance(module, nn.modules.conv._ConvNd) and args:
                _check_conv_input(module, args[0])

        return hook

    def leave(name):
        def hook(module, args, output):
            state["finished"] = name
            if on_output is not None:
                on_output(name, module, args[0] if args else None, output)

        return hook

    handles = []
    try:
        for name, module in model.named_modules():
            if not any(module.children()):
                handles += [
                    module.register_forward_pre_hook(enter(name)),
                    module.register_forward_hook(leave(name)),
                ]
        model.eval()
        with torch.no_grad(), context or nullcontext():
            model(x)
    except (RuntimeError, ValueError, IndexError) as err:
        entered, finished = state["entered"], state["finished"]
        where = f"in layer {entered}" if entered != finished else f"after layer {finished}"
        raise ValueError(
            f"input_size={input_size} does not fit this {type(model).__name__} "
            f"({where if entered else 'before its first layer'}): {err}"
        ) from err
    finally:
        for handle in handles:
            handle.remove()
        for module, training in flags.items():
            module.training = training
    return x


def summary(model: nn.Module, input_size: Sequence[int], hide: Sequence[str] = ()) -> Summary:
    """Per-layer table of ``model`` on one image of ``input_size`` (no batch axis, e.g. ``(1, 64, 64)``).

    One row per call of a leaf module: output shape, parameters (on the first call of a shared module),
    multiply-adds (``layer_mult_adds``) and activations stored (output values; 0 for in-place layers and
    views such as Flatten). Totals: parameters from ``model.parameters()`` (trainable = requires_grad),
    multiply-adds summed over rows, activation memory = input + every stored output (forward pass only;
    training keeps about as much again for the backward pass). ``hide``: type names of rows to leave out
    of the printed table, e.g. ``hide=("ReLU",)`` to match Keras, where the ReLU lives inside Conv2D.
    """
    rows, seen = [], set()

    def record(name, module, x, output):
        params = 0 if module in seen else sum(p.numel() for p in module.parameters())
        seen.add(module)
        stored = not (getattr(module, "inplace", False) or isinstance(module, _VIEWS))
        shape = _batch_shape(output)
        activations = output.numel() if stored and isinstance(output, torch.Tensor) else 0
        rows.append(Layer(name, type(module).__name__, shape, params, layer_mult_adds(module, x, output), activations))

    x = _forward(model, input_size, on_output=record)
    elements = x.numel() + sum(row.activations for row in rows)
    parameters = list(model.parameters())
    return Summary(
        layers=tuple(rows),
        input_shape=tuple(x.shape[1:]),
        total_params=sum(p.numel() for p in parameters),
        trainable_params=sum(p.numel() for p in parameters if p.requires_grad),
        mult_adds=sum(row.mult_adds for row in rows),
        activation_elements=elements,
        activation_bytes=elements * x.element_size(),
        hide=tuple(hide),
    )


def flop_counter_macs(model: nn.Module, input_size: Sequence[int]) -> int:
    """Multiply-adds counted by ``torch.utils.flop_counter.FlopCounterMode`` (its FLOPs / 2) on one image.

    An independent check of ``summary``: PyTorch counts the matrix multiplications and convolutions it
    actually dispatches, at 2 FLOPs (a multiply and an add) per multiply-add.
    """
    counter = FlopCounterMode(display=False)
    _forward(model, input_size, context=counter)
    return counter.get_total_flops() // 2


def mult_adds_per_second(nets: Mapping[str, nn.Module], x: torch.Tensor, rounds: int = 7) -> pd.DataFrame:
    """Multiply-adds per second of each net's forward pass on the batch ``x``, measured ``rounds`` times.

    rate = (multiply-adds per image, from :func:`summary`) * batch size / seconds of one forward pass.
    Every net runs once as a warm-up, then each round times every net once, in turn: the ratio of two
    nets' rates within a round shares that round's machine load, so per-round ratios are the fair
    comparison. Eval mode, no autograd, on ``runtime.device()``. One row per round, one column per net.
    """
    if not nets:
        raise ValueError("nets must map at least one name to a model, got an empty mapping")
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f"x must be a batch of images shaped (N, C, H, W), got {getattr(x, 'shape', type(x))}")
    if not _positive_int(rounds):
        raise ValueError(f"rounds must be a positive integer, got {rounds!r}")
    device = runtime.device()
    x = x.to(device)
    macs = {name: summary(net.eval().to(device), tuple(x.shape[1:])).mult_adds * len(x) for name, net in nets.items()}

    def seconds(net: nn.Module) -> float:
        start = time.perf_counter()
        net(x)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    with torch.inference_mode():
        for net in nets.values():
            seconds(net)  # warm-up: first-call allocations and kernel selection
        rows = [{name: macs[name] / seconds(net) for name, net in nets.items()} for _ in range(rounds)]
    return pd.DataFrame(rows, columns=list(nets)).rename_axis("round")


IMAGENET_MODELS = (
    "alexnet",
    "vgg11",
    "vgg16",
    "vgg19",
    "googlenet",
    "inception_v3",
    "resnet18",
    "resnet50",
    "resnet152",
    "densenet121",
    "resnext50_32x4d",
    "wide_resnet50_2",
    "mobilenet_v2",
    "efficientnet_b0",
)


def torchvision_reference(models: Sequence[str] = IMAGENET_MODELS, weights: str = "IMAGENET1K_V1") -> pd.DataFrame:
    """Parameters, multiply-adds and ImageNet accuracy of torchvision's pretrained weights, read offline.

    The numbers come from the weights' metadata (nothing is downloaded). torchvision calls its ``_ops``
    figure "GFLOPS", but it counts multiply-adds (half of ``flop_counter``'s FLOPs), at ``resolution``.
    """
    rows = []
    for name in models:
        try:
            entry = get_model_weights(name)[weights]
        except (ValueError, KeyError) as err:
            raise ValueError(f"torchvision has no {weights!r} weights for model {name!r}") from err
        rows.append(
            {
                "model": name,
                "params": entry.meta["num_params"],
                "mult_adds": round(entry.meta["_ops"] * 1e9),
                "resolution": entry.transforms.keywords["crop_size"],
                "acc@1": entry.meta["_metrics"]["ImageNet-1K"]["acc@1"],
                "acc@5": entry.meta["_metrics"]["ImageNet-1K"]["acc@5"],
            }
        )
    return pd.DataFrame(rows)
