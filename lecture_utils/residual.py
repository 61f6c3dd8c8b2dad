"""Why residual networks train: degradation, gradient flow at initialisation, and lesions (Veit et al. 2016).

- Degradation (He et al. 2015): a deeper *plain* net reaches a higher *training* error than a shallower one
  after the same budget; it is an optimisation problem, not overfitting. Shortcuts y = F(x) + x remove it.
- Gradient flow: dL/dx_l = dL/dx_L * prod_k (I + dF_k/dx_k) for a residual net: the product contains the
  identity path, so the gradient reaching the early layers does not depend on every layer being well scaled.
  A plain net's product prod_k dF_k/dx_k has no such path.
- Lesions: unrolled, n residual blocks are 2^n paths of different lengths (an "ensemble of relatively shallow
  networks"). Deleting one block (y = shortcut(x)) removes half of the paths but leaves the other half
  intact, so the error rises a little; a plain net has a single path and collapses.
"""

from __future__ import annotations

import copy

import matplotlib.pyplot as plt
import pandas as pd
import torch
from matplotlib.ticker import MaxNLocator
from torch import nn

from . import training
from .data import to_float
from .models.resnet import ResidualBlock, ZeroPadShortcut


def residual_blocks(model: nn.Module) -> dict[str, ResidualBlock]:
    """The model's residual (or plain) blocks by name, in forward order, e.g. ``layer2.0``."""
    blocks = {name: m for name, m in model.named_modules() if isinstance(m, ResidualBlock)}
    if not blocks:
        raise ValueError(f"model must contain residual blocks (models.resnet), got {type(model).__name__}")
    return blocks


def _shape_change(block: ResidualBlock) -> tuple[int, int, int]:
    """(input channels, output channels, stride) of a block."""
    stride = max(m.stride[0] for m in block.modules() if isinstance(m, nn.Conv2d))
    return block.conv1.in_channels, getattr(block, block.last_bn).num_features, stride


def is_downsampling(block: ResidualBlock) -> bool:
    """True for a block that changes the shape (stride 2, more channels): its shortcut is not the identity."""
    in_channels, out_channels, stride = _shape_change(block)
    return stride != 1 or in_channels != out_channels


def shortcut_of(block: ResidualBlock) -> nn.Module:
    """What is left when a block is deleted: its shortcut, y = x, or option A's parameter-free downsampling
    (every second pixel, zero channels appended) where the shape changes. A plain block gets the same
    parameter-free map, so that the net still runs; it has no such path during training."""
    if getattr(block, "downsample", None) is not None:
        return block.downsample
    if is_downsampling(block):
        return ZeroPadShortcut(*_shape_change(block))
    return nn.Identity()


def without_blocks(model: nn.Module, names) -> nn.Module:
    """A copy of ``model`` in which each block in ``names`` is replaced by its shortcut (the model is unchanged)."""
    blocks = residual_blocks(model)
    unknown = [name for name in names if name not in blocks]
    if unknown:
        raise ValueError(f"names must be block names of the model ({', '.join(list(blocks)[:4])}, ...), "
                         f"got unknown {unknown}")
    lesioned = copy.deepcopy(model)
    copies = residual_blocks(lesioned)
    for name in names:
        parent, _, index = name.rpartition(".")
        lesioned.get_submodule(parent)[int(index)] = shortcut_of(copies[name])
    return lesioned.eval()


def single_deletions(model: nn.Module) -> dict[str, list[str]]:
    """The lesions of Veit et al.'s Fig. 3: ``{"none": [], "layer1.0": ["layer1.0"], ...}``, forward order."""
    return {"none": [], **{name: [name] for name in residual_blocks(model)}}


def random_deletions(model: nn.Module, counts=(2, 4, 8), trials: int = 10, seed: int = 0,
                     exclude=()) -> dict[tuple[int, int], list[str]]:
    """``trials`` random sets of k identity blocks for each k in ``counts`` (Veit et al., Fig. 5), keyed by
    (k, trial). Candidates: the blocks whose shortcut is the identity, minus ``exclude``."""
    candidates = [name for name, block in residual_blocks(model).items()
                  if not is_downsampling(block) and name not in exclude]
    if any(not 0 <= k <= len(candidates) for k in counts) or trials < 1:
        raise ValueError(f"counts must lie in [0, {len(candidates)}] and trials >= 1, got {counts}, {trials}")
    generator = torch.Generator().manual_seed(seed)
    return {(k, trial): [candidates[i] for i in sorted(torch.randperm(len(candidates), generator=generator)[:k])]
            for k in counts for trial in range(trials)}


@torch.inference_mode()
def correct_after_deleting(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, deletions: dict,
                           batch_size: int = 250) -> pd.DataFrame:
    """Which images the model classifies right with each set of blocks deleted: rows ``deletions``' keys,
    columns the images, values bool. ``deletions``: key -> block names (``[]``: the intact model).

    Every lesioned net shares the intact net's computation up to its first deleted block, so each batch
    runs the intact net once, keeps the input of every block, and starts each lesion from the input of its
    first deleted block: single deletions cost about half a forward pass each instead of one.
    """
    blocks = residual_blocks(model)
    names = list(blocks)
    sets = {key: set(chosen) for key, chosen in deletions.items()}
    unknown = sorted(set().union(*sets.values()) - set(names))
    if unknown:
        raise ValueError(f"deletions must name blocks of the model ({', '.join(names[:4])}, ...), got {unknown}")
    was_training = model.training
    model.eval()
    shortcuts = {name: shortcut_of(block) for name, block in blocks.items()}
    device = next(model.parameters()).device
    correct = {key: [] for key in deletions}
    try:
        for start in range(0, len(images), batch_size):
            x = model.stem(to_float(images[start : start + batch_size]).to(device))
            y = labels[start : start + batch_size].to(device)
            inputs = []  # inputs[i]: the intact net's input of block i
            for block in blocks.values():
                inputs.append(x)
                x = block(x)
            for key, chosen in sets.items():
                first = min((names.index(name) for name in chosen), default=len(names))
                h = inputs[first] if first < len(names) else x
                for name in names[first:]:
                    h = (shortcuts if name in chosen else blocks)[name](h)
                correct[key].append((model.head(h).argmax(dim=1) == y).cpu())
    finally:
        model.train(was_training)
    return pd.DataFrame({key: torch.cat(parts).numpy() for key, parts in correct.items()}).T


def lesion_study(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> pd.DataFrame:
    """Test error after deleting each single block (rows, forward order), beside the intact model's error.

    Columns: ``downsampling`` (bool), ``error``; the row ``none`` is the intact model.
    """
    correct = correct_after_deleting(model, images, labels, single_deletions(model))
    blocks = residual_blocks(model)
    return pd.DataFrame({"downsampling": [name in blocks and is_downsampling(blocks[name]) for name in correct.index],
                         "error": 1 - correct.mean(axis=1)}, index=correct.index).rename_axis("deleted block")


def delete_several(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, counts=(1, 2, 4, 8),
                   trials: int = 3, seed: int = 0, exclude=()) -> pd.DataFrame:
    """Mean and spread of the test error after deleting k random identity blocks, for k in ``counts``
    (Veit et al., Fig. 5): ``trials`` random sets per k (:func:`random_deletions`). Rows: k; columns: mean
    error, min, max."""
    chosen = random_deletions(model, counts, trials, seed, exclude)
    errors = 1 - correct_after_deleting(model, images, labels, chosen).mean(axis=1)
    rows = {k: {"mean error": errors[k].mean(), "min": errors[k].min(), "max": errors[k].max()} for k in counts}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("blocks deleted")


def gradient_norms(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, relative: bool = False) -> pd.Series:
    """||dL/dW|| of every convolution and linear weight, in forward order, for one batch in training mode;
    with ``relative``: ||dL/dW|| / ||W||, the size of a gradient step relative to the weights it moves
    (a trained net's weights have other norms than at initialisation, so raw norms do not compare).

    Computed on a copy (training mode updates BatchNorm's running statistics), with ``torch.autograd.grad``:
    the model's weights, buffers, mode and ``.grad`` are untouched.
    """
    net = copy.deepcopy(model).train()
    names = [name for name, m in net.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    weights = [net.get_submodule(name).weight for name in names]
    device = weights[0].device
    loss = nn.functional.cross_entropy(net(to_float(images).to(device)), labels.to(device).long())
    grads = torch.autograd.grad(loss, weights)
    values = [(g.norm() / (w.norm() if relative else 1)).item() for g, w in zip(grads, weights, strict=True)]
    return pd.Series(values, index=pd.Index(names, name="layer"),
                     name="relative gradient norm" if relative else "gradient norm")


def plot_training_curves(histories: dict[str, training.History], groups: dict[str, list[str]]) -> plt.Figure:
    """He et al.'s Fig. 6: per group (one panel), training error (dashed) and test error (solid) per epoch.

    Training error is the running error of each epoch (training mode), as in the paper's curves.
    """
    fig, axes = plt.subplots(1, len(groups), figsize=(4.5 * len(groups), 3.2), sharey=True, squeeze=False)
    for ax, (title, names) in zip(axes[0], groups.items(), strict=True):
        for color, name in zip(plt.rcParams["axes.prop_cycle"].by_key()["color"], names, strict=False):
            history = histories[name]
            epochs = range(1, len(history.train_acc) + 1)
            ax.plot(epochs, [1 - a for a in history.train_acc], "--", color=color, label=f"{name} train")
            if history.test_acc:
                ax.plot(epochs, [1 - a for a in history.test_acc], "-", color=color, lw=2, label=f"{name} test")
        ax.set(title=title, xlabel="epoch", ylabel="error")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs only
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_gradient_norms(norms: dict[str, pd.Series], ax=None) -> plt.Figure:
    """Gradient norm per layer (log scale), one line per model, layers in forward order."""
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6, 3))
    for name, series in norms.items():
        ax.plot(range(len(series)), series.to_numpy(), marker=".", label=name)
    relative = next(iter(norms.values())).name == "relative gradient norm"
    ax.set(xlabel="layer (input -> output)", ylabel="||dL/dW|| / ||W||" if relative else "||dL/dW||", yscale="log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_lesions(tables: dict[str, pd.DataFrame], chance: float | None = None) -> plt.Figure:
    """Test error after deleting each single block (bars; downsampling blocks in red), one panel per model,
    with the intact model's error as a dashed line (Veit et al., Fig. 3)."""
    fig, axes = plt.subplots(1, len(tables), figsize=(5 * len(tables), 3), sharey=True, squeeze=False)
    for ax, (name, table) in zip(axes[0], tables.items(), strict=True):
        blocks = table.drop(index="none")
        colors = ["tab:red" if down else "tab:blue" for down in blocks["downsampling"]]
        ax.bar(range(len(blocks)), blocks["error"], color=colors)
        ax.axhline(table.loc["none", "error"], color="k", ls="--", lw=1, label="intact")
        if chance is not None:
            ax.axhline(chance, color="gray", ls=":", lw=1, label="chance")
        ax.set(title=f"{name}: delete one block (red: downsampling)", xlabel="deleted block (input -> output)",
               ylabel="test error", ylim=(0, 1.15), xticks=range(len(blocks)))  # headroom: the legend above chance
        ax.legend(fontsize=8, loc="upper center", ncol=2)
    fig.tight_layout()
    return fig
