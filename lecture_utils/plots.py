"""Figures shared by the notebooks: image grids with titles and boxes, signed maps, training curves."""

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
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str | None = None,
) -> plt.Figure:
    """A grid of images, uint8 or float; optional titles and xyxy boxes.

    ``images``: a tensor (N, C, H, W) or (N, H, W), or a list of (C, H, W) / (H, W) tensors of any sizes.
    Scale: without ``vmin``/``vmax`` every grey image is stretched to its own range (matplotlib's default);
    with them, one scale for all (grey: the colour map's ends; colour images: mapped to [0, 1] and clipped),
    so that a shared or per-layer scale survives. ``cmap``: for grey images (default "gray"; e.g. "RdBu_r"
    with ``vmin=-a, vmax=a`` for signed weights, white at 0).
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
        image = images[i].detach().cpu()
        if image.ndim == 3:
            image = image[0] if image.shape[0] == 1 else image.permute(1, 2, 0)
        if image.ndim == 3 and vmin is not None and vmax is not None:  # colour: imshow takes no vmin/vmax
            image = ((image.float() - vmin) / (vmax - vmin)).clamp(0, 1)
        grey = {"cmap": cmap or "gray", "vmin": vmin, "vmax": vmax} if image.ndim == 2 else {}
        ax.imshow(image.numpy(), **grey)
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
        if boxes is not None:
            x0, y0, x1, y1 = boxes[i].tolist()
            ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, color="lime", lw=1))
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def signed_maps(
    images: torch.Tensor,
    rows: dict[str, torch.Tensor],
    titles: list[str] | None = None,
    size: float = 1.5,
) -> plt.Figure:
    """The images (first row), then one row per signed map (N, H, W) on ONE diverging scale per row.

    Colour map "RdBu_r" from -a to +a, a = max |map| over the row: white is 0, red positive, blue negative,
    and equal colours mean equal values across the row (a colour bar per row gives the numbers).
    """
    n = len(images)
    if any(len(maps) != n for maps in rows.values()):
        raise ValueError(f"every row must have one map per image ({n})")
    fig, axes = plt.subplots(1 + len(rows), n, figsize=(size * n + 0.8, size * (1 + len(rows))), squeeze=False,
                             layout="constrained")
    pictures = images.detach().float().cpu()
    for j in range(n):
        picture = pictures[j].permute(1, 2, 0) if pictures.shape[1] == 3 else pictures[j, 0]
        axes[0, j].imshow(picture.numpy(), cmap="gray" if picture.ndim == 2 else None)
        axes[0, j].set_title(titles[j] if titles else "", fontsize=8)
    for i, (name, maps) in enumerate(rows.items(), start=1):
        maps = maps.detach().float().cpu()
        a = max(float(maps.abs().max()), 1e-12)
        for j in range(n):
            shown = axes[i, j].imshow(maps[j].numpy(), cmap="RdBu_r", vmin=-a, vmax=a)
        axes[i, 0].set_ylabel(name, fontsize=8)
        fig.colorbar(shown, ax=list(axes[i]), fraction=0.02, pad=0.01)
    for ax in axes.flat:
        ax.set(xticks=[], yticks=[])
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
