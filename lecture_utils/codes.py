"""CNN codes: the activations of a layer, flattened per image, used as a generic description of the image.

- ``extract``: the code ``phi_l(x) = vec(a_l(x))`` of layer ``l`` for every image, read with a forward hook;
- ``nearest`` / ``knn_accuracy``: neighbours in code space, ``d(x, y) = ||phi(x) - phi(y)||_2`` or the cosine
  distance ``1 - <phi(x), phi(y)> / (||phi(x)|| ||phi(y)||)``;
- ``neighbour_purity`` and ``neighbour_grid``: which share of a query's neighbours has its class, and the
  neighbours drawn with their classes (green: same as the query's, red: another);
- ``separation`` / ``silhouettes``: how far apart the classes lie in a layer's code space (silhouette score);
- ``tsne`` and ``grid_layout``: a 2-D map of the codes, then snapped to a grid of thumbnails;
- ``photo_views``: random crops, flips and colour changes of photos, to ask whether a code still finds the photo.
"""

from __future__ import annotations

import contextlib

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from . import runtime
from .data import to_float

METRICS = ("euclidean", "cosine")


def _resolve(model: nn.Module, layer) -> nn.Module:
    if isinstance(layer, nn.Module):
        if not any(m is layer for m in model.modules()):
            raise ValueError("layer must be a submodule of model (or its dotted name); this module is not in model")
        return layer
    modules = dict(model.named_modules())
    if not isinstance(layer, str) or layer not in modules or layer == "":
        names = [n for n in modules if n][:12]
        raise ValueError(f"layer={layer!r} is not a module of the model; valid names include {names}")
    return modules[layer]


@contextlib.contextmanager
def _capture(module: nn.Module, store: list):
    """A forward hook that appends ``module``'s flattened output to ``store``; removed on exit, also on error."""
    handle = module.register_forward_hook(lambda _m, _i, out: store.append(out.detach().flatten(1).cpu()))
    try:
        yield
    finally:
        handle.remove()


def extract(model: nn.Module, images: torch.Tensor, layer, batch_size: int = 256) -> torch.Tensor:
    """The code of ``layer`` for every image: ``phi_l(x) = vec(a_l(x))``, a tensor (N, D).

    ``layer``: a submodule of ``model`` or its dotted name as in ``model.named_modules()``. Runs in eval mode
    under ``torch.inference_mode()`` (no autograd bookkeeping), in batches of ``batch_size``; the model's mode
    is restored afterwards and the hook removed, even on error. The result is an ordinary tensor.
    """
    if not torch.is_tensor(images) or images.dim() != 4:
        raise ValueError(f"images must be a 4-D tensor (N, C, H, W), got "
                         f"{tuple(images.shape) if torch.is_tensor(images) else type(images).__name__}")
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    module = _resolve(model, layer)
    was_training = model.training
    device = next(model.parameters(), torch.empty(0, device=runtime.device())).device
    store: list[torch.Tensor] = []
    model.eval()
    try:
        with _capture(module, store), torch.inference_mode():
            for start in range(0, len(images), batch_size):
                x = images[start : start + batch_size]
                model(to_float(x).to(device))
    finally:
        model.train(was_training)
    return torch.cat(store)


def photo_views(photos, views: int, size: int = 112, seed: int = 0
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each photo and ``views`` random views of it: the same scene, other pixels.

    ``photos``: uint8 tensors (1 or 3, H, W) (a grey photo is repeated to three channels). Returns
    ``(gallery, queries, query_labels)``: the photos squeezed to ``size`` x ``size`` (N, 3, size, size), the views
    (N * views, 3, size, size), both uint8, and the index of each view's photo. A view is
    ``RandomResizedCrop`` (30-80% of the area, aspect 3/4 to 4/3) to ``size``, a left-right flip with p = 0.5,
    brightness, contrast and saturation scaled by a random factor in [0.6, 1.4] and the hue shifted by up to
    0.05 (torchvision's ``ColorJitter``), drawn from ``seed`` (the global random state is left as it was).
    """
    from torchvision.transforms import v2

    if views < 1:
        raise ValueError(f"views must be a positive number of views per photo, got {views}")
    photos = [p.expand(3, -1, -1) if p.shape[0] == 1 else p for p in photos]
    if not photos or any(p.dtype != torch.uint8 or p.dim() != 3 or p.shape[0] != 3 for p in photos):
        raise ValueError("photos must be a non-empty sequence of uint8 tensors (1 or 3, H, W)")
    view = v2.Compose([v2.RandomResizedCrop(size, scale=(0.3, 0.8), antialias=True), v2.RandomHorizontalFlip(),
                       v2.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.05)])
    square = v2.Resize((size, size), antialias=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        queries = torch.stack([view(p) for p in photos for _ in range(views)])
    labels = torch.arange(len(photos)).repeat_interleave(views)
    return torch.stack([square(p) for p in photos]), queries, labels


def _check_codes(name: str, codes) -> torch.Tensor:
    codes = torch.as_tensor(codes)
    if codes.dim() != 2 or len(codes) == 0:
        raise ValueError(f"{name} must be a non-empty 2-D tensor (N, D), got shape {tuple(codes.shape)}")
    return codes.float()


def _distances(queries: torch.Tensor, gallery: torch.Tensor, metric: str) -> torch.Tensor:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if queries.shape[1] != gallery.shape[1]:
        raise ValueError(f"queries and gallery must have the same code length, got {queries.shape[1]} "
                         f"and {gallery.shape[1]}")
    if metric == "cosine":
        q, g = (nn.functional.normalize(t.double(), dim=1) for t in (queries, gallery))
        return 1 - q @ g.T
    return torch.cdist(queries.double(), gallery.double())


def nearest(queries, gallery, k: int = 5, metric: str = "euclidean") -> torch.Tensor:
    """Indices (Q, k) into ``gallery`` of each query's k nearest codes, nearest first (ties: lower index)."""
    queries, gallery = _check_codes("queries", queries), _check_codes("gallery", gallery)
    if not 0 < k <= len(gallery):
        raise ValueError(f"k must lie in [1, {len(gallery)}] (the gallery size), got {k}")
    dist = _distances(queries, gallery, metric)
    return torch.from_numpy(np.argsort(dist.numpy(), axis=1, kind="stable")[:, :k].copy()).long()


def _check_labels(name: str, labels, codes: torch.Tensor, codes_name: str) -> torch.Tensor:
    labels = torch.as_tensor(labels).long()
    if labels.shape != (len(codes),):
        raise ValueError(f"{name} has {len(labels)} entries for {len(codes)} {codes_name}")
    return labels


def knn_predict(train_codes, train_labels, test_codes, k: int = 1, metric: str = "euclidean") -> torch.Tensor:
    """The k-nearest-neighbour vote for each test code (uniform weights, ties to the smallest label)."""
    train_codes, test_codes = _check_codes("train_codes", train_codes), _check_codes("test_codes", test_codes)
    train_labels = _check_labels("train_labels", train_labels, train_codes, "train_codes")
    neighbours = train_labels[nearest(test_codes, train_codes, k, metric)]
    votes = nn.functional.one_hot(neighbours, int(train_labels.max()) + 1).sum(dim=1)
    return votes.argmax(dim=1)


def knn_accuracy(train_codes, train_labels, test_codes, test_labels, k: int = 1, metric: str = "euclidean") -> float:
    """Accuracy of the k-nearest-neighbour vote (:func:`knn_predict`) on the test codes."""
    test_labels = _check_labels("test_labels", test_labels, _check_codes("test_codes", test_codes), "test_codes")
    return knn_predict(train_codes, train_labels, test_codes, k, metric).eq(test_labels).sum().item() / len(test_labels)


def neighbour_purity(neighbours, gallery_labels, query_labels) -> torch.Tensor:
    """For each query, the share of its neighbours (``neighbours``: (Q, k) gallery indices, e.g. from
    :func:`nearest`) whose class is the query's: ``purity_q = |{j in N_k(q): y_j = y_q}| / k``."""
    neighbours = torch.as_tensor(neighbours).long()
    if neighbours.dim() != 2:
        raise ValueError(f"neighbours must be (Q, k) gallery indices, got shape {tuple(neighbours.shape)}")
    query_labels = torch.as_tensor(query_labels).long()
    if query_labels.shape != (len(neighbours),):
        raise ValueError(f"query_labels has {len(query_labels)} entries for {len(neighbours)} queries")
    return (torch.as_tensor(gallery_labels).long()[neighbours] == query_labels[:, None]).float().mean(dim=1)


def silhouettes(codes, labels) -> np.ndarray:
    """Each image's silhouette in one layer's code space, in [-1, 1]:
    ``s(i) = (b(i) - a(i)) / max(a(i), b(i))`` with ``a`` the mean distance to the own class and ``b`` to the
    nearest other class (scikit-learn's ``silhouette_samples``)."""
    from sklearn.metrics import silhouette_samples

    codes = _check_codes("codes", codes)
    labels = _check_labels("labels", labels, codes, "codes")
    if len(labels.unique()) < 2:
        raise ValueError("labels must contain at least two classes")
    return silhouette_samples(codes.numpy(), labels.numpy())


def separation(codes, labels) -> float:
    """Class separation of one layer's codes: the silhouette score, the mean of :func:`silhouettes`.

    Chosen because it needs no training (a linear probe does, and its accuracy saturates) and is comparable
    across layers of different widths (a Fisher ratio grows with D).
    """
    return float(silhouettes(codes, labels).mean())


def tsne(codes, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """A 2-D t-SNE map (N, 2) of the codes, after PCA to 50 dimensions; perplexity at most (N - 1) / 3.

    openTSNE (Policar et al.): at equal quality it was faster here than scikit-learn's TSNE (``make bench``, 2
    cores: 500 points 0.7 vs 0.9 s, 5,000 points 8.1 vs 11.3 s, the same trustworthiness). It uses
    torch's thread count; like any parallel float sum, the map can differ with another thread count.
    """
    from openTSNE import TSNE
    from sklearn.decomposition import PCA

    codes = _check_codes("codes", codes).numpy()
    if len(codes) < 5:
        raise ValueError(f"codes needs at least 5 rows for t-SNE, got {len(codes)}")
    reduced = PCA(min(50, *codes.shape), random_state=seed).fit_transform(codes)
    if perplexity <= 0:
        raise ValueError(f"perplexity must be positive (about the number of neighbours kept), got {perplexity}")
    perplexity = min(perplexity, (len(codes) - 1) / 3)
    return np.asarray(TSNE(perplexity=perplexity, initialization="pca", random_state=seed,
                           n_jobs=torch.get_num_threads()).fit(reduced))


def grid_layout(points, rows: int, cols: int) -> np.ndarray:
    """Cell (row, col) for each point: snap a 2-D map to a rows x cols grid as an assignment problem.

    Points and cell centres are scaled to [0, 1]^2; ``linear_sum_assignment`` picks the one-to-one
    assignment minimising the total squared distance. Returns an int array (N, 2).
    """
    points = np.asarray(points, dtype=float)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must have shape (N, 2), got {points.shape}")
    if rows <= 0 or cols <= 0 or rows * cols < len(points):
        raise ValueError(f"rows * cols must be positive and at least the number of points ({len(points)}), "
                         f"got {rows} x {cols}")
    span = np.ptp(points, axis=0)
    scaled = (points - points.min(axis=0)) / np.where(span > 0, span, 1)
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    cells = np.stack([c.ravel() / max(cols - 1, 1), 1 - r.ravel() / max(rows - 1, 1)], axis=1)
    cost = ((scaled[:, None, :] - cells[None, :, :]) ** 2).sum(-1)
    point_idx, cell_idx = linear_sum_assignment(cost)
    out = np.empty((len(points), 2), dtype=int)
    out[point_idx] = np.stack([r.ravel()[cell_idx], c.ravel()[cell_idx]], axis=1)
    return out


def _thumb(image: torch.Tensor) -> np.ndarray:
    image = image.float() / (255 if image.dtype == torch.uint8 else 1)
    return image[0].numpy() if image.shape[0] == 1 else image.permute(1, 2, 0).clamp(0, 1).numpy()


def scatter_by_class(points, labels, class_names=None, title: str = "", ax=None) -> plt.Figure:
    """The 2-D map, one colour per class."""
    ax = ax or plt.subplots(figsize=(5, 5))[1]
    labels = np.asarray(labels)
    for c in np.unique(labels):
        name = class_names[c] if class_names is not None else str(c)
        ax.scatter(*np.asarray(points)[labels == c].T, s=6, label=name)
    ax.legend(markerscale=2, fontsize=7, loc="best")
    ax.set(title=title, xticks=[], yticks=[])
    return ax.figure


def thumbnail_scatter(points, images: torch.Tensor, zoom: float = 0.6, title: str = "") -> plt.Figure:
    """The 2-D map with each image drawn at its point."""
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    fig, ax = plt.subplots(figsize=(7, 7))
    points = np.asarray(points)
    for (x, y), image in zip(points, images, strict=True):
        ax.add_artist(AnnotationBbox(OffsetImage(_thumb(image), zoom=zoom, cmap="gray"), (x, y), frameon=False))
    ax.update_datalim(points)
    ax.autoscale()
    ax.set(title=title, xticks=[], yticks=[])
    return fig


def thumbnail_grid(cells, images: torch.Tensor, rows: int, cols: int, title: str = "") -> plt.Figure:
    """The images placed on the grid cells from ``grid_layout``, one mosaic."""
    thumbs = [_thumb(image) for image in images]
    h, w = thumbs[0].shape[:2]
    mosaic = np.ones((rows * h, cols * w) + thumbs[0].shape[2:], dtype=float)
    for (r, c), t in zip(np.asarray(cells), thumbs, strict=True):
        mosaic[r * h : (r + 1) * h, c * w : (c + 1) * w] = t
    fig, ax = plt.subplots(figsize=(cols * 0.35, rows * 0.35))
    ax.imshow(mosaic, cmap="gray")
    ax.set(title=title, xticks=[], yticks=[])
    return fig


def neighbour_grid(query_images, query_labels, gallery_images, gallery_labels, neighbours, class_names,
                   title: str = "", size: float = 1.0) -> plt.Figure:
    """One row per query: the query, then its neighbours (``neighbours``: (Q, k) gallery indices), each titled
    with its class, green when it is the query's class and red when not."""
    neighbours = torch.as_tensor(neighbours).long()
    q, k = neighbours.shape
    fig, axes = plt.subplots(q, k + 1, figsize=(size * (k + 1), size * 1.25 * q), squeeze=False)
    for row, (image, label, idx) in enumerate(zip(query_images, query_labels, neighbours, strict=True)):
        axes[row, 0].imshow(_thumb(image), cmap="gray")
        axes[row, 0].set_title(f"query: {class_names[int(label)]}", fontsize=7)
        for col, j in enumerate(idx.tolist(), start=1):
            same = int(gallery_labels[j]) == int(label)
            axes[row, col].imshow(_thumb(gallery_images[j]), cmap="gray")
            axes[row, col].set_title(class_names[int(gallery_labels[j])], fontsize=7,
                                     color="green" if same else "red")
    for ax in axes.flat:
        ax.set(xticks=[], yticks=[])
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
