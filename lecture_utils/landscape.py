"""Loss landscapes (Li et al. 2018): the loss along random, filter-normalised directions around a solution.

A net's loss lives in millions of dimensions; we look at a 1-D or 2-D slice through the trained weights theta:

    f(a) = L(theta + a d),    f(a, b) = L(theta + a d + b e),

with L the mean cross-entropy on a fixed subset, the net in eval mode (BatchNorm uses its running statistics).

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

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import LogNorm
from torch import nn
from torch.func import functional_call
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


def _check_data(images, labels) -> None:
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or len(images) == 0:
        raise ValueError(f"images must be a non-empty tensor (N, C, H, W), got {getattr(images, 'shape', images)}")
    if not isinstance(labels, torch.Tensor) or labels.shape != (len(images),):
        raise ValueError(f"labels must be a tensor of shape ({len(images)},), got {getattr(labels, 'shape', labels)}")


@torch.no_grad()
def _mean_loss(model: nn.Module, state: dict[str, torch.Tensor], images: torch.Tensor, labels: torch.Tensor,
               batch_size: int) -> float:
    """Mean cross-entropy of ``model`` evaluated with the tensors ``state`` (parameters and buffers)."""
    total = 0.0
    for start in range(0, len(images), batch_size):
        x = to_float(images[start : start + batch_size])
        logits = functional_call(model, state, (x,))
        total += nn.functional.cross_entropy(logits, labels[start : start + batch_size], reduction="sum").item()
    return total / len(images)


def _grid_losses(model: nn.Module, images, labels, states, total: int, desc: str, batch_size: int | None,
                 progress: bool) -> torch.Tensor:
    """The mean loss for every state that ``states`` yields, in eval mode; the model's mode is restored.

    ``batch_size`` None: 32 on the CPU (ResNet-56 on 2 cores: 1.6x faster than one batch of 128, as the
    activations stay in cache), 512 on a GPU (few large batches keep it busy).
    """
    _check_data(images, labels)
    device = next(model.parameters()).device
    batch_size = (32 if device.type == "cpu" else 512) if batch_size is None else batch_size
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1 (or None for the device's default), got {batch_size}")
    images, labels = images.to(device), labels.to(device).long()
    was_training = model.training
    model.eval()
    try:
        losses = [_mean_loss(model, state, images, labels, batch_size)
                  for state in tqdm(states, total=total, desc=desc, disable=not progress)]
    finally:
        model.train(was_training)
    return torch.tensor(losses)


def _theta(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach() for name, p in model.named_parameters()}


def loss_line(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, direction: Direction,
              alphas: Sequence[float], batch_size: int | None = None, progress: bool = True) -> torch.Tensor:
    """f(a) = L(theta + a d) for every a in ``alphas``: a tensor (len(alphas),)."""
    _check_direction(model, direction, "direction")
    steps, theta = _steps(alphas, "alphas"), _theta(model)
    states = ({n: w + a * direction[n] for n, w in theta.items()} for a in steps)
    return _grid_losses(model, images, labels, states, len(steps), "loss line", batch_size, progress)


def loss_surface(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, dx: Direction, dy: Direction,
                 alphas: Sequence[float], betas: Sequence[float], batch_size: int | None = None,
                 progress: bool = True) -> torch.Tensor:
    """f(a, b) = L(theta + a dx + b dy) on the grid ``alphas`` x ``betas``: a tensor (len(betas), len(alphas)).

    Row i is b = betas[i], column j is a = alphas[j] (as ``plt.contour(alphas, betas, surface)`` expects).
    """
    _check_direction(model, dx, "dx")
    _check_direction(model, dy, "dy")
    a_steps, b_steps, theta = _steps(alphas, "alphas"), _steps(betas, "betas"), _theta(model)
    states = ({n: w + a * dx[n] + b * dy[n] for n, w in theta.items()} for b in b_steps for a in a_steps)
    losses = _grid_losses(model, images, labels, states, len(a_steps) * len(b_steps), "loss surface",
                          batch_size, progress)
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


def surface_stats(surface: torch.Tensor, chance: float | None = None) -> dict[str, float]:
    """Numbers that describe a loss surface (odd side lengths: the centre is theta itself).

    centre loss, min, max, range (max - min), the share of grid points with loss below 2x the centre loss,
    the ratio max / centre, and with ``chance`` (the loss of a uniform guess, ln 10 for 10 classes) the share
    of grid points below it: a threshold that does not depend on how good the centre is.
    """
    if surface.dim() not in (1, 2) or any(n % 2 == 0 for n in surface.shape):
        raise ValueError(f"surface must be 1-D or 2-D with odd lengths (centre = theta), got {tuple(surface.shape)}")
    centre = surface[tuple(n // 2 for n in surface.shape)].item()
    return {"centre loss": centre, "min loss": surface.min().item(), "max loss": surface.max().item(),
            "loss range": (surface.max() - surface.min()).item(),
            "share below 2x centre": (surface < 2 * centre).float().mean().item(),
            "max / centre": surface.max().item() / centre,
            **({"share below chance loss": (surface < chance).float().mean().item()} if chance is not None else {})}


def log_levels(surface: torch.Tensor, n: int = 20) -> np.ndarray:
    """``n`` log-spaced contour levels from the surface's minimum to its maximum."""
    low, high = max(surface.min().item(), 1e-6), surface.max().item()
    return np.geomspace(low, max(high, low * 1.0001), n)


def plot_contour(surface: torch.Tensor, alphas, betas, title: str = "", ax=None, levels: int = 20) -> plt.Figure:
    """Contour lines of a loss surface at log-spaced levels (the paper's Fig. 5 and 6)."""
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(4, 3.6))
    values = log_levels(surface, levels)
    contour = ax.contour(np.asarray(alphas), np.asarray(betas), surface.numpy(), levels=values, cmap="viridis",
                         norm=LogNorm(values[0], values[-1]))
    ax.clabel(contour, contour.levels[::4], fontsize=7, fmt="%.2g")
    ax.plot(0, 0, "r+", markersize=10)
    ax.set(xlabel="a (direction d)", ylabel="b (direction e)", title=title, aspect="equal")
    fig.tight_layout()
    return fig


def plot_surface_3d(surface: torch.Tensor, alphas, betas, title: str = "", ax=None) -> plt.Figure:
    """3-D surface of log10(loss) (the paper's Fig. 1 has a logarithmic vertical axis)."""
    if ax is None:
        fig = plt.figure(figsize=(4.5, 4))
        ax = fig.add_subplot(projection="3d")
    fig = ax.figure
    a, b = np.meshgrid(np.asarray(alphas), np.asarray(betas))
    ax.plot_surface(a, b, surface.log10().numpy(), cmap="viridis", linewidth=0, antialiased=True)
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
