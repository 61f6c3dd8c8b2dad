"""Loss landscapes (Li et al. 2018): the loss along random, filter-normalised directions around a solution.

A net's loss lives in millions of dimensions; we look at a 1-D or 2-D slice through the trained weights theta:

    f(a) = L(theta + a d),    f(a, b) = L(theta + a d + b e),

with L the mean cross-entropy on a fixed subset. BatchNorm is evaluated in one of two ways (``batch_norm``):

- ``"running"``: eval mode, every BN layer normalises with the running statistics of the trained net, frozen
  while the weights move (what Li et al.'s code does). A step that scales a layer's output is then no longer
  undone by the next BN, and in a deep plain net such scale changes multiply through every layer;
- ``"batch"``: every BN layer normalises with the mean and variance of the evaluated images at the moved
  weights (all images in one batch), as in training; scale changes are undone at each BN.

In ``"running"`` mode each BN is folded into the convolution before it (``W' = W gamma / sqrt(var + eps)``,
``b' = beta - mean gamma / sqrt(var + eps)``, ``torch.nn.utils.fusion.fuse_conv_bn_weights``): the same function,
one pass over the activations less per layer.

A random Gaussian direction d is blind to scale: a ReLU net with BatchNorm computes the same function when a
filter's weights are multiplied by 10, so a step of 1 moves a small-norm filter a lot and a large-norm filter
hardly at all, and plots of two nets cannot be compared. Filter normalisation fixes the scale per filter:

    d_ij <- d_ij / ||d_ij|| * ||theta_ij||,

for filter j (slice along dim 0: one output channel of a conv layer, one unit of a linear layer) of layer i.
A step a = 1 then moves every filter by its own norm. Parameters with one dimension (biases, BatchNorm's
gamma and beta) get a zero direction, as in the reference code's ``--xignore biasbn``: they have no filters
to normalise by, and a bias or BN shift perturbed by its own (often near-zero) norm would be a tiny move
while a Gaussian step of size 1 would swamp it; keeping them fixed removes that arbitrary choice.

Nothing here changes the model: the perturbed weights are passed to ``torch.func.functional_call``, so the
parameters and buffers are exactly the same afterwards, also when the computation is interrupted.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import LogNorm
from torch import nn
from torch.func import functional_call, replace_all_batch_norm_modules_
from torch.nn.utils.fusion import fuse_conv_bn_weights
from tqdm.auto import tqdm

from .data import to_float

Direction = dict[str, torch.Tensor]


def random_direction(model: nn.Module, seed: int = 0) -> Direction:
    """A Gaussian direction, filter-normalised: one tensor per entry of ``model.named_parameters()``.

    For a parameter with more than one dimension, filter j (``d[j]``) is rescaled to ``||theta[j]||``;
    one-dimensional parameters (biases, BatchNorm) are zero. Drawn on the CPU in float64 from a generator
    seeded by ``seed`` (same seed, same direction, on every device), then cast to each parameter's dtype.
    """
    generator = torch.Generator().manual_seed(seed)
    direction = {}
    for name, param in model.named_parameters():
        weights = param.detach().cpu().double()
        if param.dim() <= 1:
            d = torch.zeros_like(weights)
        else:
            d = torch.randn(weights.shape, generator=generator, dtype=torch.float64)
            shape = (-1,) + (1,) * (param.dim() - 1)
            d *= (weights.flatten(1).norm(dim=1) / d.flatten(1).norm(dim=1).clamp_min(1e-300)).view(shape)
        direction[name] = d.to(device=param.device, dtype=param.dtype)
    return direction


def _check_direction(model: nn.Module, direction: Direction, argument: str) -> None:
    """``direction`` must have exactly the model's parameter names, with the parameters' shapes."""
    if not isinstance(direction, dict):
        raise ValueError(f"{argument} must be a dict name -> tensor (from random_direction), "
                         f"got {type(direction).__name__}")
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    missing, extra = shapes.keys() - direction.keys(), direction.keys() - shapes.keys()
    if missing or extra:
        raise ValueError(f"{argument} must have one entry per model parameter; missing: {sorted(missing)[:5]}, "
                         f"unknown: {sorted(extra)[:5]}")
    for name, shape in shapes.items():
        if not isinstance(direction[name], torch.Tensor) or tuple(direction[name].shape) != shape:
            raise ValueError(f"{argument}[{name!r}] must be a tensor of shape {shape}, "
                             f"got {getattr(direction[name], 'shape', type(direction[name]).__name__)}")


def _steps(values, argument: str) -> list[float]:
    """A non-empty 1-D sequence of finite step sizes, as floats."""
    try:
        steps = torch.as_tensor(values, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        steps = torch.empty(0)
    if steps.dim() != 1 or len(steps) == 0 or not torch.isfinite(steps).all():
        raise ValueError(f"{argument} must be a non-empty 1-D sequence of finite numbers, got {values!r}")
    return steps.tolist()


def basin_steps(n: int, extent: float = 1.0, power: float = 2.0) -> torch.Tensor:
    """``n`` (odd) step sizes in [-extent, extent], dense near 0 where the basin is:

        a_i = extent * sign(t_i) |t_i|^power,   t_i uniform in [-1, 1],

    so the spacing grows from about extent * (2 / (n - 1))^power at the centre to extent * power * 2 / (n - 1)
    at the ends (power 1: a uniform grid). 0 is always a step (the trained weights themselves).
    """
    if not isinstance(n, int) or n < 3 or n % 2 == 0 or not extent > 0 or not power >= 1:
        raise ValueError(f"basin_steps needs an odd n >= 3, extent > 0 and power >= 1, got {n}, {extent}, {power}")
    t = torch.linspace(-1, 1, n, dtype=torch.float64)
    return (extent * t.sign() * t.abs() ** power).float()


def _check_data(images, labels) -> None:
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or len(images) == 0:
        raise ValueError(f"images must be a non-empty tensor (N, C, H, W), got {getattr(images, 'shape', images)}")
    if not isinstance(labels, torch.Tensor) or labels.shape != (len(images),):
        raise ValueError(f"labels must be a tensor of shape ({len(images)},), got {getattr(labels, 'shape', labels)}")


BATCH_NORM = {"running": "BN frozen at its running statistics (eval mode; Li et al.'s code)",
              "batch": "BN with the statistics of the evaluated images (one batch), as in training"}


def _conv_bn_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """(convolution, BatchNorm) module names where the BN directly follows the conv: ``convK`` -> ``bnK`` of
    one module, ``downsample.0`` -> ``downsample.1`` (the naming of ``models.resnet``)."""
    modules = dict(model.named_modules())
    pairs = []
    for name, module in modules.items():
        if isinstance(module, nn.BatchNorm2d):
            parent, _, leaf = name.rpartition(".")
            prefix = f"{parent}." if parent else ""
            conv = prefix + ("conv" + leaf[2:] if leaf.startswith("bn") else str(int(leaf) - 1) if leaf.isdigit()
                             else "")
            if isinstance(modules.get(conv), nn.Conv2d) and modules[conv].out_channels == module.num_features:
                pairs.append((conv, name))
    return pairs


class _Evaluator:
    """Mean cross-entropy of ``model`` with given parameters (and buffers), in one ``batch_norm`` mode.

    The model itself is never changed: a copy is evaluated through ``torch.func.functional_call``.
    """

    def __init__(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_norm: str,
                 batch_size: int | None):
        _check_data(images, labels)
        if batch_norm not in BATCH_NORM:
            raise ValueError(f"batch_norm must be one of {', '.join(map(repr, BATCH_NORM))}, got {batch_norm!r}")
        device = next(model.parameters()).device
        self.batch_size = (len(images) if batch_norm == "batch" else 32 if device.type == "cpu" else 512) \
            if batch_size is None else batch_size
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1 (or None for the device's default), got {batch_size}")
        if batch_norm == "batch" and self.batch_size < len(images):
            raise ValueError(f"batch_norm='batch' normalises with the statistics of all {len(images)} images: "
                             f"batch_size must be None or >= {len(images)}, got {batch_size}")
        # channels-last (NHWC) images: the convolutions run in that layout, 1.6x faster for ResNet-56 on 2 CPU
        # cores (measured, make bench's machine kind); the losses agree with NCHW to 2e-7 (relative)
        self.images = to_float(images).to(device).contiguous(memory_format=torch.channels_last)
        self.labels = labels.to(device).long()
        self.net = copy.deepcopy(model)
        self.buffers = dict(model.named_buffers())
        self.pairs = _conv_bn_pairs(model) if batch_norm == "running" else []
        self.eps = {bn: model.get_submodule(bn).eps for _, bn in self.pairs}
        for conv, bn in self.pairs:  # folded: the conv gets a bias, the BN becomes the identity
            self.net.get_submodule(conv).register_parameter("bias", nn.Parameter(torch.empty(0)))
            parent, _, leaf = bn.rpartition(".")
            setattr(self.net.get_submodule(parent) if parent else self.net, leaf, nn.Identity())
        if batch_norm == "batch":
            replace_all_batch_norm_modules_(self.net)  # batch statistics, nothing tracked
        self.net.train(batch_norm == "batch")

    def _folded(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``state`` (names of the original model) -> parameters of the folded net."""
        state = {**self.buffers, **state}
        folded = dict(state)
        for conv, bn in self.pairs:
            weight, bias = fuse_conv_bn_weights(
                state[f"{conv}.weight"], None, state[f"{bn}.running_mean"], state[f"{bn}.running_var"],
                self.eps[bn], state[f"{bn}.weight"], state[f"{bn}.bias"])
            folded[f"{conv}.weight"], folded[f"{conv}.bias"] = weight.detach(), bias.detach()
            for key in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
                folded.pop(f"{bn}.{key}", None)
        return folded

    @torch.inference_mode()
    def loss(self, state: dict[str, torch.Tensor]) -> float:
        """L = mean cross-entropy over the images with the parameters (and buffers) ``state``."""
        if self.pairs:
            state = self._folded(state)
        elif not self.net.training:
            state = {**self.buffers, **state}
        else:  # batch statistics: only the parameters
            state = {k: v for k, v in state.items() if k not in self.buffers}
        total = 0.0
        for start in range(0, len(self.images), self.batch_size):
            logits = functional_call(self.net, state, (self.images[start : start + self.batch_size],))
            total += nn.functional.cross_entropy(logits, self.labels[start : start + self.batch_size],
                                                 reduction="sum").item()
        return total / len(self.images)


def _grid_losses(model: nn.Module, images, labels, states, total: int, desc: str, batch_size: int | None,
                 progress: bool, batch_norm: str = "running") -> torch.Tensor:
    """The mean loss for every state that ``states`` yields (see ``BATCH_NORM``); the model is untouched.

    ``batch_size`` None: all images in one batch for ``batch_norm="batch"``; otherwise 32 on the CPU
    (ResNet-56 on 2 cores: 1.6x faster than one batch of 128, as the activations stay in cache), 512 on a GPU.
    """
    evaluator = _Evaluator(model, images, labels, batch_norm, batch_size)
    return torch.tensor([evaluator.loss(state) for state in tqdm(states, total=total, desc=desc,
                                                                  disable=not progress)])


def _theta(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach() for name, p in model.named_parameters()}


def loss_line(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, direction: Direction,
              alphas: Sequence[float], batch_size: int | None = None, progress: bool = True,
              batch_norm: str = "running") -> torch.Tensor:
    """f(a) = L(theta + a d) for every a in ``alphas``: a tensor (len(alphas),). ``batch_norm``: "running" or
    "batch" (see the module's docstring)."""
    _check_direction(model, direction, "direction")
    steps, theta = _steps(alphas, "alphas"), _theta(model)
    states = ({n: w + a * direction[n] for n, w in theta.items()} for a in steps)
    return _grid_losses(model, images, labels, states, len(steps), "loss line", batch_size, progress, batch_norm)


def loss_surface(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, dx: Direction, dy: Direction,
                 alphas: Sequence[float], betas: Sequence[float], batch_size: int | None = None,
                 progress: bool = True, batch_norm: str = "running") -> torch.Tensor:
    """f(a, b) = L(theta + a dx + b dy) on the grid ``alphas`` x ``betas``: a tensor (len(betas), len(alphas)).
    ``batch_norm``: "running" or "batch" (see the module's docstring).

    Row i is b = betas[i], column j is a = alphas[j] (as ``plt.contour(alphas, betas, surface)`` expects).
    """
    _check_direction(model, dx, "dx")
    _check_direction(model, dy, "dy")
    a_steps, b_steps, theta = _steps(alphas, "alphas"), _steps(betas, "betas"), _theta(model)
    states = ({n: w + a * dx[n] + b * dy[n] for n, w in theta.items()} for b in b_steps for a in a_steps)
    losses = _grid_losses(model, images, labels, states, len(a_steps) * len(b_steps), "loss surface",
                          batch_size, progress, batch_norm)
    return losses.view(len(b_steps), len(a_steps))


def interpolate(model_a: nn.Module, model_b: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                alphas: Sequence[float], batch_size: int | None = None, progress: bool = True) -> torch.Tensor:
    """f(a) = L((1 - a) theta_A + a theta_B): the straight line between two solutions (Goodfellow et al. 2015).

    a = 0 is model A, a = 1 model B. Floating-point buffers (BatchNorm's running statistics) are interpolated
    the same way; both models must have the same architecture.
    """
    state_a, state_b = model_a.state_dict(), model_b.state_dict()
    if {k: tuple(v.shape) for k, v in state_a.items()} != {k: tuple(v.shape) for k, v in state_b.items()}:
        raise ValueError("model_a and model_b must have the same architecture (same state-dict keys and shapes)")
    steps = _steps(alphas, "alphas")
    mixable = [k for k, v in state_a.items() if v.is_floating_point()]
    states = ({**state_a, **{k: (1 - a) * state_a[k] + a * state_b[k].to(state_a[k].device) for k in mixable}}
              for a in steps)
    return _grid_losses(model_a, images, labels, states, len(steps), "interpolation", batch_size, progress)


def _areas(surface: torch.Tensor, steps) -> torch.Tensor:
    """The share of the plotted region each grid point stands for: half the distance to each neighbour
    (the ends stand for half a cell), one factor per axis; uniform without ``steps``."""
    if steps is None:
        return torch.full(surface.shape, 1 / surface.numel())
    widths = []
    for axis, values in zip(range(surface.dim()), steps, strict=True):
        v = torch.as_tensor(values, dtype=torch.float64)
        if v.shape != (surface.shape[axis],):
            raise ValueError(f"steps must have one sequence per axis of length {tuple(surface.shape)}, got {v.shape}")
        gaps = v.diff()
        widths.append((torch.cat([gaps[:1] * 0, gaps]) + torch.cat([gaps, gaps[:1] * 0])) / 2)
    area = widths[0] if surface.dim() == 1 else widths[0][:, None] * widths[1][None, :]
    return (area / area.sum()).float()


def surface_stats(surface: torch.Tensor, chance: float | None = None, steps=None) -> dict[str, float]:
    """Numbers that describe a loss surface (odd side lengths: the centre is theta itself).

    centre loss, min, max, range (max - min), the share of the region with loss below 2x the centre loss,
    the ratio max / centre, and with ``chance`` (the loss of a uniform guess, ln 10 for 10 classes) the share
    below it: a threshold that does not depend on how good the centre is. ``steps``: the grid's step sizes
    per axis (``(alphas,)`` for a line, ``(betas, alphas)`` for a surface); then the shares are shares of
    the area, each point weighted by the cell it stands for (needed for a non-uniform grid such as
    :func:`basin_steps`); without it every point counts the same.
    """
    if surface.dim() not in (1, 2) or any(n % 2 == 0 for n in surface.shape):
        raise ValueError(f"surface must be 1-D or 2-D with odd lengths (centre = theta), got {tuple(surface.shape)}")
    area = _areas(surface, steps)
    centre = surface[tuple(n // 2 for n in surface.shape)].item()
    return {"centre loss": centre, "min loss": surface.min().item(), "max loss": surface.max().item(),
            "loss range": (surface.max() - surface.min()).item(),
            "share below 2x centre": area[surface < 2 * centre].sum().item(),
            "max / centre": surface.max().item() / centre,
            **({"share below chance loss": area[surface < chance].sum().item()} if chance is not None else {})}


def log_levels(surfaces, n: int = 20, top: float | None = None) -> np.ndarray:
    """``n`` log-spaced contour levels from the smallest loss of ``surfaces`` (one tensor or several) to the
    largest, or to ``top``: one fixed set of levels for every panel, so that the same colour is the same loss
    (as Li et al.'s ``plot_2D.py``, which fixes vmin, vmax and the spacing)."""
    values = [surfaces] if isinstance(surfaces, torch.Tensor) else list(surfaces)
    low = max(min(v.min().item() for v in values), 1e-6)
    high = max(v.max().item() for v in values) if top is None else top
    return np.geomspace(low, max(high, low * 1.0001), n)


def plot_contour(surface: torch.Tensor, alphas, betas, title: str = "", ax=None, levels=20,
                 colorbar: bool = True) -> plt.Figure:
    """Filled contours of a loss surface at log-spaced ``levels`` (a number, or the array of
    :func:`log_levels` shared by several panels; losses above the top level get the top colour), with a
    colour bar (the paper's Fig. 5 and 6)."""
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(4, 3.6))
    values = log_levels(surface, levels) if np.isscalar(levels) else np.asarray(levels)
    filled = ax.contourf(np.asarray(alphas), np.asarray(betas), surface.clamp(max=values[-1]).numpy(),
                         levels=values, cmap="viridis", norm=LogNorm(values[0], values[-1]), extend="max")
    ax.contour(np.asarray(alphas), np.asarray(betas), surface.numpy(), levels=values, colors="k",
               linewidths=0.3)
    if colorbar:
        fig.colorbar(filled, ax=ax, label="loss", format="%.2g")
    ax.plot(0, 0, "r+", markersize=10)
    ax.set(xlabel="a (direction d)", ylabel="b (direction e)", title=title, aspect="equal")
    return fig


def plot_surface_3d(surface: torch.Tensor, alphas, betas, title: str = "", ax=None,
                    zlim: tuple[float, float] | None = None) -> plt.Figure:
    """3-D surface of log10(loss) (the paper's Fig. 1 has a logarithmic vertical axis). ``zlim``: fixed
    limits of log10 loss (the same for every panel to compare); higher losses are drawn at the top."""
    if ax is None:
        fig = plt.figure(figsize=(4.5, 4))
        ax = fig.add_subplot(projection="3d")
    fig = ax.figure
    a, b = np.meshgrid(np.asarray(alphas), np.asarray(betas))
    z = surface.log10()
    if zlim is not None:
        z = z.clamp(*zlim)
        ax.set_zlim(*zlim)
    ax.plot_surface(a, b, z.numpy(), cmap="viridis", linewidth=0, antialiased=True,
                    **({"vmin": zlim[0], "vmax": zlim[1]} if zlim is not None else {}))
    ax.set(xlabel="a", ylabel="b", zlabel="log10 loss", title=title)
    return fig


def plot_lines(curves: dict[str, torch.Tensor], alphas, xlabel: str = "a (filter-normalised step)",
               ax=None) -> plt.Figure:
    """1-D loss curves, one per name, on a logarithmic loss axis."""
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(5, 3))
    for name, losses in curves.items():
        ax.plot(np.asarray(alphas), losses.numpy(), marker=".", label=name)
    ax.set(xlabel=xlabel, ylabel="loss (log scale)", yscale="log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig
