"""Weakly supervised localization: boxes from heat maps, IoU, and the nets that are compared.

The CAM paper's recipe: keep the pixels above 20% of the map's maximum, take the largest connected
component, and box it. A box is correct when its intersection over union with the true box is >= 0.5.
Boxes are ``(x0, y0, x1, y1)`` in pixel-edge coordinates (x1 = last column + 1), as torchvision's.

Nets (the trunk of notebook 03's shifted-MNIST nets, conv1..relu3, 12x12x128 maps on a 64 canvas):

- ``cam_net("avg")``: trunk -> global average pooling -> one linear layer: S_c = sum_k w_k^c F_k + b_c, the
  architecture CAM needs (notebook 03's CNN-GAP has a dense(64) + ReLU in between, so its score is not
  linear in the pooled features). ``cam_net("max")`` pools with the maximum instead (GMP);
- ``BoxNet``: the lecture's "simplest solution": trunk -> 4x4 max-pool -> flatten -> dense(64) -> a class head and a box
  head, trained on alpha * cross-entropy + (1 - alpha) * smooth-L1(box / canvas size): boxes supervised.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import pandas as pd
import scipy.ndimage
import torch
import torch.nn.functional as F
from torch import nn

from . import runtime, training
from .data import place_on_canvas, to_float
from .explain import channels_last
from .models.shifted import _trunk, keras_init


def box_from_map(heatmap: torch.Tensor, threshold: float = 0.2) -> torch.Tensor:
    """Box (x0, y0, x1, y1) of the largest connected region where heatmap >= threshold * max.

    ``heatmap`` (H, W) -> (4,), or (N, H, W) -> (N, 4); int64. A map without positive values gives the
    whole image. Connectivity: 4-neighbours (``scipy.ndimage.label``'s default).
    """
    if not isinstance(heatmap, torch.Tensor) or heatmap.ndim not in (2, 3):
        raise ValueError(f"heatmap must be a tensor (H, W) or (N, H, W), got {getattr(heatmap, 'shape', heatmap)}")
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must lie in [0, 1] (a fraction of the maximum), got {threshold}")
    maps = heatmap.detach().float().cpu().numpy().reshape(-1, *heatmap.shape[-2:])
    n, h, w = maps.shape
    peak = maps.max(axis=(1, 2))
    # every map's regions in one call: 4-neighbours within a map, never across maps (labels in raster order)
    within = np.zeros((3, 3, 3), dtype=bool)
    within[1] = scipy.ndimage.generate_binary_structure(2, 1)
    labels, count = scipy.ndimage.label((maps >= threshold * peak[:, None, None]) & (peak > 0)[:, None, None], within)
    boxes = np.tile(np.array([0, 0, w, h], dtype=np.int64), (n, 1))  # a map without positive values: whole image
    if count:
        regions = scipy.ndimage.find_objects(labels)  # (map, rows, columns) slices of region 1, 2, ...
        where = np.array([[r[0].start, r[1].start, r[1].stop, r[2].start, r[2].stop] for r in regions])
        size = np.bincount(labels.ravel(), minlength=count + 1)[1:]
        largest = np.lexsort((np.arange(count), -size, where[:, 0]))  # by map, largest first, then first found
        first = largest[np.r_[True, where[largest[1:], 0] != where[largest[:-1], 0]]]
        boxes[where[first, 0]] = where[first][:, [3, 1, 4, 2]]  # (x0, y0, x1, y1)
    out = torch.from_numpy(boxes)
    return out if heatmap.ndim == 3 else out[0]


def iou(boxes_a: torch.Tensor, boxes_b: torch.Tensor) -> torch.Tensor:
    """Element-wise intersection over union of paired boxes (N, 4) -> (N,) (torchvision's ``box_iou`` diagonal)."""
    a, b = torch.as_tensor(boxes_a, dtype=torch.float64), torch.as_tensor(boxes_b, dtype=torch.float64)
    if a.ndim != 2 or a.shape[1] != 4 or a.shape != b.shape:
        raise ValueError(f"boxes_a and boxes_b must both be (N, 4), got {tuple(a.shape)} and {tuple(b.shape)}")
    size = (torch.minimum(a[:, 2:], b[:, 2:]) - torch.maximum(a[:, :2], b[:, :2])).clamp_min(0)
    inter = size.prod(dim=1)
    area_a, area_b = (a[:, 2:] - a[:, :2]).prod(dim=1), (b[:, 2:] - b[:, :2]).prod(dim=1)
    return (inter / (area_a + area_b - inter)).float()


def centred_boxes(n: int, size: int, width: float, height: float) -> torch.Tensor:
    """The baseline: ``n`` copies of a ``width`` x ``height`` box at the centre of a ``size`` canvas."""
    width, height = round(float(width)), round(float(height))
    x0, y0 = round((size - width) / 2), round((size - height) / 2)
    return torch.tensor([[x0, y0, x0 + width, y0 + height]]).expand(n, 4)


def correct(predicted: torch.Tensor, true_boxes: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Per box: is it a correct localization, IoU >= ``threshold`` with the true box; (N,) bool."""
    return iou(predicted, true_boxes) >= threshold


def accuracy_table(predicted: dict[str, torch.Tensor], true_boxes: torch.Tensor, threshold: float = 0.5,
                   interval: Callable | None = None) -> pd.DataFrame:
    """Per method: localization accuracy (fraction with IoU >= ``threshold``) and mean IoU, best first.

    ``interval``: a function of the per-box outcomes returning an object with ``low`` and ``high`` (e.g.
    ``claims.proportion``, Wilson's 95% interval); adds the columns ``low`` and ``high`` and ``n``.
    """
    rows = {}
    for name, boxes in predicted.items():
        hits = correct(boxes, true_boxes, threshold)
        rows[name] = {"accuracy (IoU >= 0.5)": hits.float().mean().item(),
                      "mean IoU": iou(boxes, true_boxes).mean().item()}
        if interval is not None:
            measured = interval(hits)
            rows[name].update({"low": measured.low, "high": measured.high, "n": len(hits)})
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("method").sort_values("mean IoU", ascending=False)


def threshold_sweep(maps: dict[str, torch.Tensor], true_boxes: torch.Tensor,
                    thresholds: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)) -> pd.DataFrame:
    """Localization accuracy (IoU >= 0.5) of ``box_from_map(m, t)`` for each method (rows) and threshold t
    (columns). Run it on validation canvases and pick each method's threshold there, never on the test set."""
    return pd.DataFrame({t: {name: correct(box_from_map(m, t), true_boxes).float().mean().item()
                             for name, m in maps.items()} for t in thresholds}).rename_axis(columns="threshold")


def cam_net(pooling: str = "avg", same: bool = False, in_channels: int = 1, num_classes: int = 10) -> nn.Sequential:
    """Trunk -> global average (``"avg"``) or max (``"max"``) pooling -> flatten -> linear ``output``.

    ``same=False``: notebook 03's valid 3x3 convolutions (64 -> 12x12 maps, whose cells are centred on canvas
    pixels 8.5, 12.5, ..., 52.5: upsampling them over the whole canvas stretches a CAM by 64/48 about the centre).
    ``same=True``: zero padding 1 (64 -> 16x16 maps, cells centred on 1.5, 5.5, ..., 61.5, exactly where
    bilinear upsampling with ``align_corners=False`` puts them).
    """
    pools = {"avg": nn.AdaptiveAvgPool2d(1), "max": nn.AdaptiveMaxPool2d(1)}
    if pooling not in pools:
        raise ValueError(f"pooling must be 'avg' or 'max', got {pooling!r}")
    trunk = _trunk(in_channels)
    for _, module in trunk:
        if isinstance(module, nn.Conv2d) and same:
            module.padding = (1, 1)
    layers = trunk + [("gpooling", pools[pooling]), ("flatten", nn.Flatten()), ("output", nn.Linear(128, num_classes))]
    return keras_init(nn.Sequential(OrderedDict(layers)))


class BoxNet(nn.Module):
    """Trunk -> max-pool to 4x4 -> flatten -> dense(64) -> (class logits, box in [0, 1] canvas units).

    The 4x4 grid keeps where the digit is (GAP would average it away) with a small dense layer (131k weights).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(OrderedDict(_trunk(in_channels) + [
            ("pool3", nn.AdaptiveMaxPool2d(4)), ("flatten", nn.Flatten()), ("dense", nn.Linear(128 * 4 * 4, 64)),
            ("relu4", nn.ReLU())]))
        self.classes = nn.Linear(64, num_classes)
        self.box = nn.Linear(64, 4)
        keras_init(self)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(x)
        return self.classes(h), self.box(h).sigmoid()


def fit_class_and_box(model: BoxNet, images: torch.Tensor, labels: torch.Tensor, boxes: torch.Tensor, alpha: float,
                      *, epochs: int, lr: float = 3e-3, batch_size: int = 32, seed: int = 0) -> training.History:
    """Adam + one-cycle on alpha * CE + (1 - alpha) * smooth-L1(box, true box / canvas size)."""
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    device = runtime.device()
    model.to(device).train()
    scale = images.shape[-1]
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * -(-len(images) // batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    generator = torch.Generator().manual_seed(seed)
    history = training.History()
    for _ in range(epochs):
        start, total, correct = time.perf_counter(), 0.0, 0
        for idx in torch.randperm(len(images), generator=generator).split(batch_size):
            x, y = to_float(images[idx]).to(device), labels[idx].to(device)
            logits, box = model(x)
            loss = alpha * F.cross_entropy(logits, y) + (1 - alpha) * F.smooth_l1_loss(
                box, boxes[idx].to(device).float() / scale, beta=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            scheduler.step()
            total += loss.item() * len(idx)
            correct += (logits.argmax(1) == y).sum().item()
        history.train_loss.append(total / len(images))
        history.train_acc.append(correct / len(images))
        history.seconds.append(time.perf_counter() - start)
    model.eval()
    return history


@torch.inference_mode()
def predict_boxes(model: BoxNet, images: torch.Tensor, batch_size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted classes (N,), boxes (N, 4) in canvas pixels) of a ``BoxNet``."""
    model.eval()
    device = runtime.device()
    with channels_last(model):
        outs = [model(to_float(images[i : i + batch_size]).to(device)) for i in range(0, len(images), batch_size)]
    logits, boxes = (torch.cat([o[j].cpu() for o in outs]) for j in (0, 1))
    return logits.argmax(1), boxes * images.shape[-1]


def trained_cam_net(name: str, pooling: str, same: bool, train: tuple[torch.Tensor, torch.Tensor], *, epochs: int,
                    lr: float, seed: int, data_tag: str) -> nn.Sequential:
    """``cam_net(pooling, same)`` trained with ``training.fit`` (Adam, one-cycle), cached as ``name``."""
    config = {"net": "cam_net", "pooling": pooling, "same": same, "epochs": epochs, "lr": lr, "seed": seed,
              "data": data_tag, "n": len(train[1])}

    def build() -> nn.Sequential:
        runtime.seed_everything(seed)
        return cam_net(pooling, same)

    model, _ = training.cached(name, config, build,
                               lambda m: training.fit(m, train, epochs=epochs, lr=lr, seed=seed, progress=False))
    return model


def trained_box_net(name: str, alpha: float, images: torch.Tensor, labels: torch.Tensor, boxes: torch.Tensor, *,
                    epochs: int, lr: float, seed: int, data_tag: str) -> BoxNet:
    """A ``BoxNet`` trained by ``fit_class_and_box`` with weight ``alpha`` on the classification loss, cached."""
    config = {"net": "BoxNet (4x4 max-pool)", "alpha": alpha, "epochs": epochs, "lr": lr, "seed": seed,
              "data": data_tag, "n": len(labels)}

    def build() -> BoxNet:
        runtime.seed_everything(seed)
        return BoxNet(images.shape[1])

    model, _ = training.cached(name, config, build, lambda m: fit_class_and_box(
        m, images, labels, boxes, alpha, epochs=epochs, lr=lr, seed=seed))
    return model


def two_digit_canvases(images: torch.Tensor, labels: torch.Tensor, n: int, size: int = 64,
                       seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` canvases with two different digits, one in the left half and one in the right half.

    Returns (canvases (n, C, size, size) in ``images``' dtype, labels (n, 2), boxes (n, 2, 4)), left digit first.
    """
    h = images.shape[-1]
    if size < 2 * h:
        raise ValueError(f"size must be at least twice the digit size ({2 * h}), got {size}")
    g = torch.Generator().manual_seed(seed)
    first = torch.randperm(len(labels), generator=g)[:n]
    second = torch.randperm(len(labels), generator=g)[:n]
    clash = labels[first] == labels[second]
    second[clash] = torch.roll(second, 1)[clash]  # fewer clashes; drop the rest below
    keep = labels[first] != labels[second]
    first, second = first[keep], second[keep]
    rows = torch.randint(0, size - h + 1, (2, len(first)), generator=g)
    cols = torch.stack([torch.randint(0, size // 2 - h + 1, (len(first),), generator=g),
                        torch.randint(size // 2, size - h + 1, (len(first),), generator=g)])
    left, left_boxes = place_on_canvas(images[first], size, torch.stack([rows[0], cols[0]], dim=1))
    right, right_boxes = place_on_canvas(images[second], size, torch.stack([rows[1], cols[1]], dim=1))
    return (torch.maximum(left, right), torch.stack([labels[first], labels[second]], dim=1),
            torch.stack([left_boxes, right_boxes], dim=1))


def peak_in_box(maps: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Whether each map's maximum (N, H, W) lies inside its box (N, 4): the "pointing game", (N,) bool."""
    w = maps.shape[-1]
    flat = maps.flatten(1).argmax(dim=1)
    y, x = flat // w, flat % w
    return (x >= boxes[:, 0]) & (x < boxes[:, 2]) & (y >= boxes[:, 1]) & (y < boxes[:, 3])


def pointing_game(maps: torch.Tensor, own_boxes: torch.Tensor, other_boxes: torch.Tensor) -> dict[str, torch.Tensor]:
    """Where each map's peak falls on a two-object canvas: in the box of the class asked for (``own``), in the
    other object's box (``other``), or in neither; (N,) bool each, exactly one true per map (a peak in the
    overlap of both boxes counts as ``own``)."""
    own = peak_in_box(maps, own_boxes)
    other = peak_in_box(maps, other_boxes) & ~own
    return {"own": own, "other": other, "neither": ~own & ~other}


def paste(photos: list[torch.Tensor], size: tuple[int, int], corners: list[tuple[int, int]],
          fill: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Photos (C, h, w) pasted on one canvas of ``size`` (H, W) filled with ``fill``, photo i with its top-left
    corner at ``corners[i]`` = (row, column): (canvas (C, H, W), true boxes (len(photos), 4) xyxy)."""
    if len(photos) != len(corners) or not photos:
        raise ValueError(f"photos and corners must be non-empty and of the same length, got {len(photos)} and "
                         f"{len(corners)}")
    canvas = torch.full((photos[0].shape[0], *size), float(fill))
    boxes = []
    for photo, (row, col) in zip(photos, corners, strict=True):
        h, w = photo.shape[-2:]
        if not (0 <= row and row + h <= size[0] and 0 <= col and col + w <= size[1]):
            raise ValueError(f"a {h}x{w} photo at corner {(row, col)} does not fit on a canvas of size {size}")
        canvas[:, row : row + h, col : col + w] = photo
        boxes.append((col, row, col + w, row + h))
    return canvas, torch.tensor(boxes)
