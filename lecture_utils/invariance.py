"""Shift invariance: why CNN-GAP classifies shifted digits and CNN-flatten does not.

The convolutional trunk is shift-equivariant: a shifted digit gives shifted feature maps. What the
head does with them decides the rest:

- flatten + dense: ``h = W vec(f) + b`` has its own weight for every (channel, position), so a shifted
  feature map meets weights that never saw a digit there;
- global average pooling: ``F_k = (1/HW) sum_(x,y) f_k(x, y)`` forgets where, so a shifted feature map
  gives the same ``F_k`` (up to the border and to shifts that are not multiples of the trunk's stride).

Offsets are measured from the centred placement, in canvas pixels, as ``(rows, cols)``.
"""

from __future__ import annotations

import math

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn

from . import training
from .data import place_on_canvas

SEED_METRICS = {  # the seeds' slides: 64x64 zero-padded MNIST, both nets trained on centred digits only
    ("CNN-flatten", "centred"): {"accuracy": 0.9936, "precision": 0.9935, "recall": 0.9936, "f1": 0.9935},
    ("CNN-flatten", "shifted"): {"accuracy": 0.1103, "precision": 0.0435, "recall": 0.1151, "f1": 0.0537},
    ("CNN-GAP", "centred"): {"accuracy": 0.9934, "precision": 0.9934, "recall": 0.9933, "f1": 0.9933},
    ("CNN-GAP", "shifted"): {"accuracy": 0.9906, "precision": 0.9906, "recall": 0.9905, "f1": 0.9905},
}


def max_offset(size: int, image_size: int = 28) -> int:
    """The largest shift from the centre that keeps an ``image_size`` digit on the canvas in every direction."""
    if size < image_size:
        raise ValueError(f"size={size} must be at least the image size {image_size}")
    return (size - image_size) // 2


def positions_at_distance(n: int, distance: float, size: int = 64, image_size: int = 28, seed: int = 0) -> torch.Tensor:
    """Top-left corners (n, 2) of digits shifted by ``distance`` pixels from the centre, in random directions.

    offset = round(distance * (sin t, cos t)) with t ~ U[0, 2 pi) (seeded): Euclidean length ``distance``
    up to rounding (at most 0.71 pixel).
    """
    limit = max_offset(size, image_size)
    if not 0 <= distance <= limit:
        raise ValueError(f"distance must lie in [0, {limit}] for a {image_size}-pixel digit on a {size} canvas, "
                         f"got {distance}")
    angle = torch.rand(n, generator=torch.Generator().manual_seed(seed)) * 2 * math.pi
    offsets = torch.stack([angle.sin(), angle.cos()], dim=1).mul(distance).round().long()
    return offsets + (size - image_size) // 2


def shifted_canvases(images: torch.Tensor, distance: float, size: int = 64, seed: int = 0) -> torch.Tensor:
    """``images`` (N, C, h, w) pasted on ``size`` canvases, each shifted by ``distance`` from the centre."""
    positions = positions_at_distance(len(images), distance, size, images.shape[-1], seed)
    return place_on_canvas(images, size, positions)[0]


def accuracy_vs_shift(models: dict[str, nn.Module], images: torch.Tensor, labels: torch.Tensor, size: int = 64,
                      distances=None, seed: int = 0) -> pd.DataFrame:
    """Accuracy of each model on the test digits shifted by each distance (rows) from the centre.

    ``distances`` default: 0, 2, ..., the largest shift that fits (18 on a 64 canvas for 28x28 digits).
    """
    distances = range(0, max_offset(size, images.shape[-1]) + 1, 2) if distances is None else distances
    rows = {}
    for d in distances:
        canvases = shifted_canvases(images, d, size, seed)
        rows[d] = {name: training.evaluate(model, canvases, labels).accuracy for name, model in models.items()}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("shift (pixels)")


def metrics_table(models: dict[str, nn.Module], test_sets: dict[str, tuple[torch.Tensor, torch.Tensor]],
                  lecture: dict = SEED_METRICS) -> pd.DataFrame:
    """Accuracy, macro precision, recall and F1 of every model on every test set, beside the lecture's values.

    Rows: (model, test set); columns: (metric, ``lecture`` / ``ours``).
    """
    rows = {}
    for name, model in models.items():
        for set_name, (images, labels) in test_sets.items():
            ours = training.evaluate(model, images, labels).as_dict()
            theirs = lecture.get((name, set_name), {})
            rows[(name, set_name)] = {(m, who): v for m in ours for who, v in
                                      (("lecture", theirs.get(m, float("nan"))), ("ours", ours[m]))}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(["model", "test set"])


def layers_up_to(model: nn.Module, last: str) -> nn.Sequential:
    """The first layers of a shifted-MNIST net, up to and including the one named ``last``."""
    names = [name for name, _ in model.named_children()]
    if last not in names:
        raise ValueError(f"model has no layer named {last!r} (layers: {', '.join(names)})")
    return model[: names.index(last) + 1]


def head_input(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """What the dense head of a shifted-MNIST net sees: the output of its ``flatten`` layer, (N, features)."""
    return training.predict(layers_up_to(model, "flatten"), images)


def conv3_maps(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The trunk's last feature maps (after conv3's ReLU), (N, 128, 12, 12) on 64x64 canvases."""
    return training.predict(layers_up_to(model, "relu3"), images)


def shifted_from_centre(images: torch.Tensor, offset: tuple[int, int], size: int = 64) -> torch.Tensor:
    """``images`` on ``size`` canvases, every one moved by the same ``offset`` (rows, cols) from the centre."""
    centre = (size - images.shape[-1]) // 2
    corner = torch.tensor([[centre + offset[0], centre + offset[1]]])
    return place_on_canvas(images, size, corner.expand(len(images), 2))[0]


def offset_label(offset: tuple[int, int]) -> str:
    """``(rows, cols)`` as the tables print it, e.g. ``(+8, +0)``."""
    return f"({offset[0]:+d}, {offset[1]:+d})"


def feature_changes(model: nn.Module, images: torch.Tensor, offsets, size: int = 64) -> pd.DataFrame:
    """Relative change of the head's input, per digit (rows) and offset (columns), when the digit moves.

    change = ||v(shifted) - v(centred)|| / ||v(centred)||, v the output of the ``flatten`` layer. Offsets
    that are multiples of the trunk's stride (4) move conv3's maps by whole positions.
    """
    before = head_input(model, shifted_from_centre(images, (0, 0), size))
    return pd.DataFrame({
        offset_label(offset): ((head_input(model, shifted_from_centre(images, offset, size)) - before).norm(dim=1)
                               / before.norm(dim=1).clamp_min(1e-12)).numpy()
        for offset in offsets
    }).rename_axis(columns="shift (rows, cols)")


def correct(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    """Which images (bool, one per image) ``model`` classifies right: the outcomes behind its accuracy."""
    return (training.predict(model, images).argmax(1) == labels).numpy()


def correct_after_shift(models: dict[str, nn.Module], images: torch.Tensor, labels: torch.Tensor, offsets,
                        size: int = 64) -> pd.DataFrame:
    """Which digits (rows) each model classifies right when all move by one offset; columns (model, offset)."""
    columns = {}
    for offset in offsets:
        canvases = shifted_from_centre(images, offset, size)
        for name, model in models.items():
            columns[(name, offset_label(offset))] = correct(model, canvases, labels)
    return pd.DataFrame(columns)


def input_sensitivity(model: nn.Module, size: int = 64, n: int = 8, seed: int = 0) -> torch.Tensor:
    """sum over n random canvases of |d sum(v) / d x|, v the head's input: (size, size).

    Zero at a pixel that no feature depends on: there the trunk cannot see the input at all.
    """
    x = torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(seed), requires_grad=True)
    layers_up_to(model, "flatten").eval()(x).sum().backward()
    return x.grad.abs().sum(dim=(0, 1))


def footprint_margins(model: nn.Module, images: torch.Tensor, size: int = 64) -> pd.DataFrame:
    """Per centred digit: the free positions of conv3's maps above, below, left and right of its footprint.

    The footprint is where conv3's maps differ from those of the empty canvas (its receptive field sees ink).
    A shift by 4k pixels moves the footprint by k positions; GAP's averages stay exactly the same only while
    the footprint stays on the map (margin >= k in that direction).
    """
    maps = conv3_maps(model, shifted_from_centre(images, (0, 0), size))
    blank = conv3_maps(model, torch.zeros(1, *images.shape[1:-2], size, size, dtype=images.dtype))
    seen = (maps - blank).abs().amax(dim=1) > 1e-6  # (N, h, w)
    rows, cols = seen.any(dim=2), seen.any(dim=1)
    return pd.DataFrame({"top": _first_true(rows), "bottom": _first_true(rows.flip(1)),
                         "left": _first_true(cols), "right": _first_true(cols.flip(1))}).rename_axis("digit")


def _first_true(mask: torch.Tensor) -> torch.Tensor:
    """Index of the first True in each row of a boolean (N, L) mask."""
    return mask.int().argmax(dim=1)


def plot_shifted_maps(model: nn.Module, image: torch.Tensor, offsets=((0, 0), (0, 4), (0, 2)), size: int = 64,
                      channel: int | None = None) -> plt.Figure:
    """Top: one digit moved by each offset. Bottom: conv3's map ``channel`` for each, on one colour scale.

    ``channel``: default the map with the largest average on the centred digit. Each title gives that map's
    average F_k and the relative change of all 128 averages against the centred digit.
    """
    canvases = torch.cat([shifted_from_centre(image[None], offset, size) for offset in offsets])
    maps = conv3_maps(model, canvases)
    averages = maps.mean(dim=(2, 3))
    centred = conv3_maps(model, shifted_from_centre(image[None], (0, 0), size)).mean(dim=(2, 3))[0]
    channel = int(centred.argmax()) if channel is None else channel
    fig, axes = plt.subplots(2, len(offsets), figsize=(2.3 * len(offsets), 4.6), squeeze=False)
    top = maps[:, channel].max().item()
    for column, offset in enumerate(offsets):
        change = ((averages[column] - centred).norm() / centred.norm()).item()
        axes[0, column].imshow(canvases[column, 0].numpy(), cmap="gray")
        axes[0, column].set_title(f"shift {offset_label(offset)}", fontsize=9)
        axes[1, column].imshow(maps[column, channel].numpy(), cmap="magma", vmin=0, vmax=top)
        axes[1, column].set_title(f"conv3 map {channel}: F = {averages[column, channel]:.4f}\n"
                                  f"all 128 averages: {change:.1%} change", fontsize=8)
    for ax in axes.flat:
        ax.set(xticks=[], yticks=[])
    fig.tight_layout()
    return fig


def plot_vs_shift(table: pd.DataFrame, ylabel: str = "accuracy", ax=None) -> plt.Figure:
    """One line per column of ``table`` against its index (the shift distance)."""
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(5, 3))
    for name in table.columns:
        ax.plot(table.index, table[name], marker="o", label=name)
    ax.set(xlabel="shift from the centre (pixels)", ylabel=ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def flatten_features(size: int) -> int:
    """How many features CNN-flatten's ``flatten`` layer gives on a ``size`` canvas: 128 * s * s."""
    from .models.shifted import trunk_size

    return 128 * (trunk_size(size) // 2) ** 2


def accuracy_on_canvas_sizes(models: dict[str, nn.Module], images: torch.Tensor, labels: torch.Tensor,
                             sizes=(48, 64, 96, 128), positions: str = "center", seed: int = 0) -> pd.DataFrame:
    """Accuracy of each model (columns) on canvases of each size (rows); NaN where the model cannot run.

    ``positions``: ``"center"`` or ``"random"``, as in ``data.place_on_canvas``.
    """
    rows = {}
    for size in sizes:
        canvases = place_on_canvas(images, size, positions, seed)[0]
        rows[size] = {}
        for name, model in models.items():
            try:
                rows[size][name] = training.evaluate(model, canvases, labels).accuracy
            except RuntimeError:  # a dense layer sized for another canvas: shapes cannot be multiplied
                rows[size][name] = float("nan")
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("canvas")


def gap_matrix(channels: int, height: int, width: int) -> torch.Tensor:
    """Global average pooling as a matrix acting on the channel-major flattened maps vec(f), (C, C*H*W).

    ``GAP(f) = G vec(f)`` with ``G = I_C kron (1/HW) 1^T``: block diagonal, every block constant.
    """
    if min(channels, height, width) < 1:
        raise ValueError(f"channels, height and width must be >= 1, got {channels}, {height}, {width}")
    return torch.kron(torch.eye(channels), torch.full((1, height * width), 1.0 / (height * width)))


def dense_weights(model: nn.Module, channel: int) -> torch.Tensor:
    """The weights CNN-flatten's ``classifier`` gives to feature map ``channel``: (64, s, s), one map per unit."""
    weight = model.classifier.weight.detach().cpu()
    maps = weight.shape[1] // 128
    side = math.isqrt(maps)
    if side * side * 128 != weight.shape[1] or not 0 <= channel < 128:
        raise ValueError(f"need a CNN-flatten classifier over 128 square maps and 0 <= channel < 128, "
                         f"got in_features={weight.shape[1]}, channel={channel}")
    return weight.view(-1, 128, side, side)[:, channel]


def plot_head_matrices(flatten_net: nn.Module, channels: int = 3, units: int = 4) -> plt.Figure:
    """Left: GAP's matrix on ``channels`` 6x6 maps. Middle: the dense layer's matrix on the same inputs.
    Right: per-position weights of a few dense units on feature map 0."""
    dense = dense_weights(flatten_net, 0)
    side = dense.shape[-1]
    fig, axes = plt.subplots(1, 2 + units, figsize=(11, 2.6), gridspec_kw={"width_ratios": [3, 3] + [1] * units})
    matrices = {
        f"GAP: block-diagonal, constant\n({channels} maps of {side}x{side})": gap_matrix(channels, side, side),
        f"dense: one weight per position\n(first {units * 2} of 64 units)": flatten_net.classifier.weight.detach()
        .cpu()[: units * 2, : channels * side * side],
    }
    for ax, (title, matrix) in zip(axes[:2], matrices.items(), strict=True):
        bound = matrix.abs().max().item()
        ax.imshow(matrix, cmap="coolwarm", vmin=-bound, vmax=bound, aspect="auto", interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set(xlabel="input: vec(f), channel-major", yticks=[])
    for unit, ax in enumerate(axes[2:]):
        bound = dense[unit].abs().max().item()
        ax.imshow(dense[unit], cmap="coolwarm", vmin=-bound, vmax=bound)
        ax.set_title(f"unit {unit}, map 0", fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    return fig


def compare_heads(models: dict[str, nn.Module], train, test, name: str, config: dict,
                  **fit_kwargs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train each model (cached as ``{name}-{model}``) with the same recipe.

    Returns a table (one row per head: parameters, train error, test error) and which test images (rows)
    each head (columns) classifies right, for paired comparisons on the same test set.
    """
    rows, outcomes = [], {}
    for head, model in models.items():
        key = f"{name}-{head.replace(' + ', '-')}"
        trained, _ = training.cached(key, {**config, "head": head}, lambda model=model: model,
                                     lambda m: training.fit(m, train, progress=False, **fit_kwargs))
        outcomes[head] = correct(trained, *test)
        rows.append({
            "head": head,
            "parameters": sum(p.numel() for p in trained.parameters()),
            "train error": 1 - training.evaluate(trained, *train).accuracy,
            "test error": 1 - outcomes[head].mean(),
        })
    return pd.DataFrame(rows).set_index("head"), pd.DataFrame(outcomes)


def probabilities(models: dict[str, nn.Module], canvas: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each model's softmax probabilities (classes,) for one canvas (C, H, W)."""
    return {name: training.predict(model, canvas[None]).softmax(1)[0] for name, model in models.items()}


def plot_moved_digit(models: dict[str, nn.Module], image: torch.Tensor, rows: int = 0, cols: int = 0,
                     size: int = 64) -> plt.Figure:
    """The digit ``image`` (C, h, w) shifted by (rows, cols) from the centre, and each model's probabilities."""
    corner = torch.tensor([[rows, cols]]) + (size - image.shape[-1]) // 2
    canvas, box = place_on_canvas(image[None], size, corner)
    fig, axes = plt.subplots(1, 1 + len(models), figsize=(2.6 * (1 + len(models)), 2.4))
    axes[0].imshow(canvas[0, 0].numpy(), cmap="gray")
    axes[0].set_title(f"shift ({rows:+d}, {cols:+d})", fontsize=9)
    axes[0].axis("off")
    for ax, (name, probs) in zip(axes[1:], probabilities(models, canvas[0]).items(), strict=True):
        probs, best = probs.numpy(), int(probs.argmax())
        ax.bar(range(len(probs)), probs, color=["C3" if i == best else "C0" for i in range(len(probs))])
        ax.set(ylim=(0, 1), xticks=range(len(probs)), title=f"{name}: {best} ({probs[best]:.0%})")
        ax.title.set_fontsize(9)
    fig.tight_layout()
    return fig


def moving_digit_demo(models: dict[str, nn.Module], image: torch.Tensor, size: int = 64,
                      start: tuple[int, int] = (0, 0)) -> None:
    """Sliders move the digit on the canvas; both nets' probabilities follow. Static figure at ``start`` first."""
    from IPython.display import display

    from .widgets import show_widget

    limit = max_offset(size, image.shape[-1])

    def draw(rows: int, cols: int) -> None:
        fig = plot_moved_digit(models, image, rows, cols, size)
        display(fig)
        plt.close(fig)

    sliders = {axis: ipywidgets.IntSlider(value=v, min=-limit, max=limit, description=axis, continuous_update=False)
               for axis, v in zip(("rows", "cols"), start, strict=True)}
    show_widget(ipywidgets.interactive(draw, **sliders), plot_moved_digit(models, image, *start, size),
                caption=f"Default: the digit shifted by {start} pixels (rows, cols)")
