"""Figures shared by the notebooks: image grids with titles and boxes, training curves."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import Rectangle


def show_images(
    images: torch.Tensor | list[torch.Tensor],
    titles: list[str] | None = None,
    boxes: torch.Tensor | None = None,
    ncols: int = 8,
    size: float = 1.4,
    suptitle: str | None = None,
) -> plt.Figure:
    """A grid of images, uint8 or float; optional titles and xyxy boxes.

    ``images``: a tensor (N, C, H, W) or (N, H, W), or a list of (C, H, W) / (H, W) tensors of any sizes.
    """
    if isinstance(images, torch.Tensor):
        if images.ndim not in (3, 4):
            raise ValueError(f"images must be a tensor (N, H, W) or (N, C, H, W), got {tuple(images.shape)}")
    elif not all(isinstance(im, torch.Tensor) and im.ndim in (2, 3) for im in images):
        raise ValueError("images must be a tensor or a list of (C, H, W) or (H, W) tensors")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"titles must have one entry per image ({len(images)}), got {len(titles)}")
    n = len(images)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.3 if suptitle else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        image = images[i]
        if image.ndim == 3:
            image = image[0] if image.shape[0] == 1 else image.permute(1, 2, 0)
        ax.imshow(image.cpu().numpy(), cmap="gray" if image.ndim == 2 else None)
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
        if boxes is not None:
            x0, y0, x1, y1 = boxes[i].tolist()
            ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, color="lime", lw=1))
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def training_curves(histories: dict, metric: str = "test_acc") -> plt.Figure:
    """One line per named :class:`training.History`: ``metric`` per epoch."""
    fig, ax = plt.subplots(figsize=(5, 3))
    for name, history in histories.items():
        values = getattr(history, metric)
        ax.plot(range(1, len(values) + 1), values, marker="o", label=name)
    ax.set(xlabel="epoch", ylabel=metric.replace("_", " "))
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
