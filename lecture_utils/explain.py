"""Seeing inside a CNN: saliency, the CAM family, occlusion, class models and feature inversion.

Common contract: ``model`` is put in eval mode for the call (each module's mode restored afterwards),
``images`` is a float (N, C, H, W) tensor, ``layer`` a submodule or its dotted name, ``targets`` None
(the predicted class), an int (the same class for every image) or N ints. Maps come back as a CPU
float tensor (N, H, W) at the input size.
The CAM family, ``class_activation_maps`` and ``activations`` run at most ``batch_size`` images per forward pass
(default ``BATCH_SIZE`` = 32: on a CPU, one pass over a thousand images is slower than many small ones); the images
are independent, so the batch size changes no map beyond float rounding.

The CAM family differs only in the channel weights alpha_k^c (one small function per rule below):

    M_c = ReLU( sum_k alpha_k^c f_k )          (``combine``)

- CAM (Zhou et al. 2016): alpha_k^c = w_k^c, the weights of the linear layer after global average pooling;
- Grad-CAM (Selvaraju et al. 2017): alpha_k^c = mean_(i,j) dS_c / df_k(i, j);
- Grad-CAM++ (Chattopadhyay et al. 2018, eq. 19): alpha_k^c = sum_(i,j) a_ij ReLU(g_ij) with
  a_ij = g_ij^2 / (2 g_ij^2 + sum_(a,b) f_k(a, b) g_ij^3 + eps), g = dS_c / df_k (eps = 1e-6; a_ij = 0 where g = 0);
- Smooth Grad-CAM++ (Omeiza et al. 2019): the Grad-CAM++ weights averaged over noisy copies of the image
  (Gaussian noise of std ``noise`` x (max - min) of the image, as SmoothGrad); the maps f_k are the clean image's;
- Score-CAM (Wang et al. 2020): alpha_k^c = softmax_k( S_c(X * H_k) ), H_k the map f_k upsampled to the input
  and min-max scaled to [0, 1]. This is pytorch-grad-cam's version (raw class scores, softmax over the
  channels, bilinear upsampling with ``align_corners=True``); the paper instead weights by the increase of
  the class *probability* over a baseline image, ``softmax(S(X * H_k))_c - softmax(S(X_b))_c``.

Augmented Grad-CAM (Morbidelli et al. 2020) is not a weighting rule but a super-resolution of Grad-CAM from
augmented copies (``augmented_grad_cam``). Perturbation and optimisation methods: ``occlusion`` (Zeiler and
Fergus), ``class_model`` (Simonyan et al.; ``class_model_fourier`` in the parametrisation of Olah et al. 2017),
``invert`` (Mahendran and Vedaldi); and for reading a net:
``receptive_field``, ``top_patches``, ``activations``, ``relu_sparsity``.

Normalisation (all CAM methods, as pytorch-grad-cam): ReLU, bilinear upsampling to the input size
(``align_corners=False``), then per-image min-max to [0, 1]; an all-zero map stays zero.

Hooks never leak: ``capture`` is a context manager that removes its forward hook whatever happens, and
``explaining`` restores every module's train/eval mode and every parameter's ``requires_grad``. Gradients
are taken with ``torch.autograd.grad``, so no parameter's ``.grad`` is touched.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.transforms.functional import gaussian_blur

EPS_GRAD_CAM_PP = 1e-6  # pytorch-grad-cam's eps in eq. 19

# ---------------------------------------------------------------------------------------------------------------
# Plumbing: modes, hooks, arguments


@contextmanager
def explaining(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and frozen parameters for the duration; every module's mode and ``requires_grad`` restored."""
    modes = {m: m.training for m in model.modules()}
    flags = {p: p.requires_grad for p in model.parameters()}
    try:
        model.eval()
        for p in flags:
            p.requires_grad_(False)
        with torch.enable_grad():
            yield model
    finally:
        for m, training in modes.items():
            m.train(training)
        for p, flag in flags.items():
            p.requires_grad_(flag)


@contextmanager
def capture(model: nn.Module, layer: nn.Module | str) -> Iterator[dict]:
    """A forward hook on ``layer`` that stores its output as ``store["activations"]``; removed on exit."""
    module = resolve_layer(model, layer)
    store: dict = {}
    handle = module.register_forward_hook(lambda _m, _inputs, output: store.__setitem__("activations", output))
    try:
        yield store
    finally:
        handle.remove()


@contextmanager
def channels_last(model: nn.Module) -> Iterator[nn.Module]:
    """The model's 4-d weights in channels-last memory layout for the duration, contiguous again afterwards.

    The same values; oneDNN's CPU convolutions are about twice as fast in that layout on a single-channel
    input (measured on 2 cores). Used by every CAM-family forward pass (Score-CAM makes one per channel).
    """
    model.to(memory_format=torch.channels_last)
    try:
        yield model
    finally:
        model.to(memory_format=torch.contiguous_format)


@contextmanager
def relu_in_place(model: nn.Module) -> Iterator[nn.Module]:
    """For the duration, ReLU and ReLU6 modules that follow another module inside an ``nn.Sequential`` work in place.

    The same values with one fresh tensor less per activation (a large share of a small CNN's time on a CPU).
    Only there: such a ReLU's input is the previous module's output, which nothing else holds, whereas a
    Sequential's first module gets the container's input (a residual branch may need it again). For forward
    passes without gradients and without hooks that keep activations (Score-CAM's masked images); each
    module's ``inplace`` is restored on exit.
    """
    changed = [m for seq in model.modules() if isinstance(seq, nn.Sequential)
               for m in list(seq.children())[1:] if isinstance(m, nn.ReLU | nn.ReLU6) and not m.inplace]
    try:
        for m in changed:
            m.inplace = True
        yield model
    finally:
        for m in changed:
            m.inplace = False


def resolve_layer(model: nn.Module, layer: nn.Module | str) -> nn.Module:
    """``layer`` itself if it is a submodule of ``model``, else the submodule with that dotted name."""
    if isinstance(layer, nn.Module):
        if not any(m is layer for m in model.modules()):
            raise ValueError("layer must be a submodule of model (or its dotted name)")
        return layer
    if not isinstance(layer, str):
        raise ValueError(f"layer must be a submodule or its dotted name, got {type(layer).__name__}")
    try:
        return model.get_submodule(layer)
    except AttributeError:
        names = [name for name, _ in model.named_modules() if name]
        raise ValueError(f"layer {layer!r} not found in model; layers: {', '.join(names[:40])}") from None


def check_images(images) -> torch.Tensor:
    """``images`` as a float (N, C, H, W) tensor, or a ValueError."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or not images.is_floating_point():
        got = (tuple(images.shape), images.dtype) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a float tensor (N, C, H, W), got {got}")
    return images


def resolve_targets(targets, logits: torch.Tensor) -> torch.Tensor:
    """Class indices (N,): the predicted class for None, an int for every image, or N ints; range-checked."""
    n, classes = logits.shape
    if targets is None:
        return logits.argmax(dim=1)
    if isinstance(targets, int):
        out = torch.full((n,), targets, dtype=torch.long)
    else:
        out = torch.as_tensor(targets, dtype=torch.long).flatten()
        if out.numel() != n:
            raise ValueError(f"targets must be None, an int or {n} ints (one per image), got {out.numel()}")
    if ((out < 0) | (out >= classes)).any():
        raise ValueError(f"targets must be class indices in [0, {classes}), got {out.tolist()}")
    return out.to(logits.device)


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _forward(model: nn.Module, images: torch.Tensor, layer, targets):
    """One forward pass with ``layer`` captured: (activations f (N,K,h,w), class scores S_c (N,), targets)."""
    x = check_images(images).detach().to(_device(model)).requires_grad_(True)  # keeps f in the graph
    with capture(model, layer) as store, channels_last(model):
        logits = model(x)
    if logits.ndim != 2:
        raise ValueError(f"model must return logits (N, classes), got shape {tuple(logits.shape)}")
    if not isinstance(store.get("activations"), torch.Tensor) or store["activations"].ndim != 4:
        raise ValueError(f"layer {layer!r} must output feature maps (N, K, h, w)")
    classes = resolve_targets(targets, logits.detach())
    return store["activations"], logits.gather(1, classes[:, None])[:, 0], classes


def _gradients(scores: torch.Tensor, activations: torch.Tensor) -> torch.Tensor:
    """dS_c / df_k for every image (the images are independent, so the sum's gradient is each one's)."""
    return torch.autograd.grad(scores.sum(), activations)[0]


BATCH_SIZE = 32  # images per forward pass of the CAM family: measured on 2 CPU cores, one pass over 1,000
# 64x64 canvases is 2-3 times slower than 32 passes of 32 (the activations of a large batch are fresh
# allocations of hundreds of MB); the maps are the same, image by image.


def _in_batches(images, targets, batch_size: int, one_batch: Callable) -> torch.Tensor:
    """``one_batch(images, targets)`` on consecutive batches of ``batch_size`` images, concatenated.

    The images are independent, so the result is the one of a single call; ``targets`` (None, an int or N ints)
    is split along with the images.
    """
    images = check_images(images)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    if targets is not None and not isinstance(targets, int):
        targets = torch.as_tensor(targets, dtype=torch.long).flatten()
        if targets.numel() != len(images):
            raise ValueError(f"targets must be None, an int or {len(images)} ints (one per image), got "
                             f"{targets.numel()}")
    return torch.cat([one_batch(images[i : i + batch_size],
                                targets if targets is None or isinstance(targets, int) else targets[i : i + batch_size])
                      for i in range(0, len(images), batch_size)])


# ---------------------------------------------------------------------------------------------------------------
# The CAM family: normalise, combine, and one weighting rule each


def normalize(maps: torch.Tensor, size: tuple[int, int], grid: tuple[float, float] | None = None) -> torch.Tensor:
    """ReLU, bilinear upsampling to ``size``, per-image min-max to [0, 1]; CPU (N, H, W).

    ``grid=None``: the cells tile the image (``align_corners=False``: cell i of h is centred on input pixel
    (i + 0.5) size / h - 0.5). ``grid=(first, stride)``: cell i is centred on pixel ``first + i * stride``
    (``receptive_field``'s centre and stride, e.g. 8.5 and 4 for valid convolutions), bilinear between the
    centres and the border cell's value beyond them.
    """
    maps = maps.detach().relu()[:, None].float()
    if grid is None:
        up = F.interpolate(maps, size=size, mode="bilinear", align_corners=False)[:, 0]
    else:
        first, stride = grid
        h, w = maps.shape[-2:]
        # grid_sample with align_corners=True: -1 and +1 are the centres of the first and the last cell
        rows, cols = ((torch.arange(n, dtype=torch.float32) - first) / stride / max(cells - 1, 1) * 2 - 1
                      for n, cells in zip(size, (h, w), strict=True))
        where = torch.stack(torch.meshgrid(cols, rows, indexing="xy"), dim=-1).to(maps.device)
        up = F.grid_sample(maps, where.expand(len(maps), -1, -1, -1), mode="bilinear", padding_mode="border",
                           align_corners=True)[:, 0]
    low = up.amin(dim=(1, 2), keepdim=True)
    span = up.amax(dim=(1, 2), keepdim=True) - low
    return torch.where(span > 0, (up - low) / span.clamp_min(torch.finfo(up.dtype).tiny), 0.0).cpu()


def combine(weights: torch.Tensor, activations: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """M = ReLU(sum_k alpha_k f_k), normalised: ``weights`` (N, K), ``activations`` (N, K, h, w) -> (N, H, W)."""
    return normalize(torch.einsum("nk,nkhw->nhw", weights.detach(), activations.detach()), size)


def cam_weights(classifier: nn.Module | torch.Tensor, classes: torch.Tensor, channels: int) -> torch.Tensor:
    """CAM: alpha_k^c = w_k^c, the row of the linear layer after GAP for each image's class, (N, K)."""
    weight = classifier.weight if isinstance(classifier, nn.Linear | nn.Conv2d) else classifier
    one_by_one = isinstance(weight, torch.Tensor) and weight.ndim == 4 and weight.shape[2:] == (1, 1)
    if not (isinstance(weight, torch.Tensor) and weight.ndim == 2 or one_by_one):
        raise ValueError("classifier must be an nn.Linear (or a 1x1 nn.Conv2d) or its weight (classes, K)")
    weight = weight.detach().flatten(1)
    if weight.shape[1] != channels:
        raise ValueError(f"classifier has {weight.shape[1]} inputs but the layer has {channels} channels: "
                         "CAM needs the linear layer right after global average pooling of that layer")
    if int(classes.max()) >= len(weight):
        raise ValueError(f"targets must be class indices in [0, {len(weight)}) of the classifier")
    return weight[classes.to(weight.device)]


def grad_cam_weights(gradients: torch.Tensor) -> torch.Tensor:
    """Grad-CAM: alpha_k^c = (1/hw) sum_(i,j) dS_c / df_k(i, j), (N, K)."""
    return gradients.mean(dim=(2, 3))


def grad_cam_plus_plus_weights(gradients: torch.Tensor, activations: torch.Tensor) -> torch.Tensor:
    """Grad-CAM++ (eq. 19): alpha_k^c = sum_ij a_ij ReLU(g_ij), a_ij = g^2 / (2 g^2 + sum_ab f_k(a,b) g^3 + eps)."""
    g2 = gradients.pow(2)
    total = activations.sum(dim=(2, 3), keepdim=True)
    a = torch.where(gradients != 0, g2 / (2 * g2 + total * g2 * gradients + EPS_GRAD_CAM_PP), 0.0)
    return (a * gradients.relu()).sum(dim=(2, 3))


def score_cam_weights(model: nn.Module, images: torch.Tensor, activations: torch.Tensor, classes: torch.Tensor,
                      batch_size: int) -> torch.Tensor:
    """Score-CAM: alpha_k^c = softmax_k S_c(X * H_k), H_k = f_k upsampled (align_corners=True), min-max scaled.

    The masked images are made batch by batch, never all at once (200 canvases x 128 maps would be 420 MB).
    Two shortcuts, both exact: a masked image that is zero everywhere (a ReLU channel silent on that image, or
    one whose mask is zero wherever the image is not) is the blank image, whose score is computed once; and an
    image given several times (one canvas asked for several classes) is masked and scored once, for all its
    classes.
    """
    n, k = activations.shape[:2]
    _, distinct = torch.unique(images.flatten(1), dim=0, return_inverse=True)  # image i is distinct image d_i
    first = torch.full((int(distinct.max()) + 1,), n, device=images.device).scatter_reduce(
        0, distinct, torch.arange(n, device=images.device), "amin")  # the first image of each distinct one
    maps = activations.detach()[first].flatten(0, 1)[:, None]  # (D*K, 1, h, w): distinct image d's map k: d*K + k
    row_of = (distinct[:, None] * k + torch.arange(k, device=images.device)).flatten()  # (N*K,) for (image, map)
    wanted = classes.to(images.device).repeat_interleave(k)

    def masked(rows: torch.Tensor) -> torch.Tensor:  # X * H_k for these (distinct image, map) rows
        masks = F.interpolate(maps[rows], size=images.shape[-2:], mode="bilinear", align_corners=True)
        low, high = masks.amin(dim=(2, 3), keepdim=True), masks.amax(dim=(2, 3), keepdim=True)
        return images[first[rows // k]] * ((masks - low) / (high - low + 1e-8))  # pytorch-grad-cam's eps

    with torch.inference_mode():
        scores = model(torch.zeros_like(images[:1]))[0, wanted].float()  # the blank image's
        rows = (maps.flatten(1).amax(dim=1) > 0).nonzero()[:, 0]
        rows = torch.cat([r[masked(r).flatten(1).ne(0).any(dim=1)] for r in rows.split(256)]) if len(rows) else rows
        position = torch.full((len(maps),), -1, dtype=torch.long, device=images.device)
        for batch in rows.split(batch_size):
            logits = model(masked(batch))
            position[batch] = torch.arange(len(batch), device=images.device)
            here = position[row_of] >= 0  # the (image, map) pairs whose masked image is in this batch
            scores[here] = logits[position[row_of[here]], wanted[here]].float()
            position[batch] = -1
    return scores.view(n, k).softmax(dim=1)


# ---------------------------------------------------------------------------------------------------------------
# The public methods


def saliency(model: nn.Module, images: torch.Tensor, targets=None) -> torch.Tensor:
    """Simonyan et al.: max over colour channels of |dS_c / dI|, not normalised; (N, H, W)."""
    with explaining(model):
        x = check_images(images).detach().to(_device(model)).requires_grad_(True)
        logits = model(x)
        classes = resolve_targets(targets, logits.detach())
        grad = torch.autograd.grad(logits.gather(1, classes[:, None]).sum(), x)[0]
    return grad.abs().amax(dim=1).cpu()


def cam(model: nn.Module, images: torch.Tensor, layer, classifier, targets=None,
        batch_size: int = BATCH_SIZE) -> torch.Tensor:
    """CAM: M_c = sum_k w_k^c f_k for the linear ``classifier`` right after global average pooling; (N, H, W)."""

    def one_batch(x, t):
        with torch.no_grad():
            activations, _, classes = _forward(model, x, layer, t)
        return combine(cam_weights(classifier, classes, activations.shape[1]).to(activations), activations,
                       x.shape[-2:])

    with explaining(model):
        return _in_batches(images, targets, batch_size, one_batch)


def grad_cam(model: nn.Module, images: torch.Tensor, layer, targets=None, batch_size: int = BATCH_SIZE
             ) -> torch.Tensor:  # fmt: skip
    """Grad-CAM: M_c = ReLU(sum_k alpha_k^c f_k), alpha_k^c the spatial mean of dS_c / df_k; (N, H, W)."""

    def one_batch(x, t):
        activations, scores, _ = _forward(model, x, layer, t)
        return combine(grad_cam_weights(_gradients(scores, activations)), activations, x.shape[-2:])

    with explaining(model):
        return _in_batches(images, targets, batch_size, one_batch)


def grad_cam_plus_plus(model: nn.Module, images: torch.Tensor, layer, targets=None, batch_size: int = BATCH_SIZE
                       ) -> torch.Tensor:  # fmt: skip
    """Grad-CAM++: positive gradients weighted per position (eq. 19 of Chattopadhyay et al.); (N, H, W)."""

    def one_batch(x, t):
        activations, scores, _ = _forward(model, x, layer, t)
        weights = grad_cam_plus_plus_weights(_gradients(scores, activations), activations.detach())
        return combine(weights, activations, x.shape[-2:])

    with explaining(model):
        return _in_batches(images, targets, batch_size, one_batch)


def smooth_grad_cam_plus_plus(model: nn.Module, images: torch.Tensor, layer, targets=None, samples: int = 16,
                              noise: float = 0.15, seed: int = 0, batch_size: int = BATCH_SIZE) -> torch.Tensor:
    """Smooth Grad-CAM++: Grad-CAM++ weights averaged over ``samples`` noisy copies (std ``noise`` x range).

    Copy s of every image gets the s-th draw of the seeded noise for the whole set of images, whatever
    ``batch_size`` (the images per forward pass) is.
    """
    if samples < 1 or noise < 0:
        raise ValueError(f"samples must be >= 1 and noise >= 0, got {samples}, {noise}")
    with explaining(model):
        clean = []

        def clean_batch(x, t):
            with torch.no_grad():
                activations, _, classes = _forward(model, x, layer, t)
            clean.append(classes)
            return activations

        activations = _in_batches(images, targets, batch_size, clean_batch)
        classes = torch.cat(clean)
        x = images.detach().to(activations.device)
        sigma = noise * (x.amax(dim=(1, 2, 3), keepdim=True) - x.amin(dim=(1, 2, 3), keepdim=True))
        generator = torch.Generator(device=x.device).manual_seed(seed)
        weights = torch.zeros(activations.shape[:2], device=activations.device)

        def noisy_batch(noisy, t):
            noisy_f, noisy_s, _ = _forward(model, noisy, layer, t)
            return grad_cam_plus_plus_weights(_gradients(noisy_s, noisy_f), noisy_f.detach())

        for _ in range(samples):
            noisy = x + sigma * torch.randn(x.shape, generator=generator, device=x.device)
            weights += _in_batches(noisy, classes, batch_size, noisy_batch) / samples
        return combine(weights, activations, images.shape[-2:])


def score_cam(model: nn.Module, images: torch.Tensor, layer, targets=None, batch_size: int = BATCH_SIZE
              ) -> torch.Tensor:  # fmt: skip
    """Score-CAM: each channel weighted by the class score of the image masked by it (pytorch-grad-cam's rule).

    ``batch_size``: images per forward pass, the masked ones included (an image repeated within one batch of
    images is masked and scored once).
    """

    def one_batch(x, t):
        with torch.no_grad():
            activations, _, classes = _forward(model, x, layer, t)
        with channels_last(model), relu_in_place(model):
            weights = score_cam_weights(model, x.detach().to(activations.device), activations, classes, batch_size)
        return combine(weights, activations, x.shape[-2:])

    with explaining(model):
        return _in_batches(images, targets, batch_size, one_batch)


METHODS: dict[str, Callable] = {  # the gradient/score family, same signature (model, images, layer, targets)
    "Grad-CAM": grad_cam,
    "Grad-CAM++": grad_cam_plus_plus,
    "Smooth Grad-CAM++": smooth_grad_cam_plus_plus,
    "Score-CAM": score_cam,
}


def class_activation_maps(model: nn.Module, images: torch.Tensor, layer, classifier,
                          batch_size: int = BATCH_SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits (N, classes), M (N, classes, h, w)): the raw class activation maps of every class.

    M_c(i, j) = sum_k w_k^c f_k(i, j), ``w`` the weights of the linear ``classifier`` after global pooling of
    ``layer``. One forward pass (no gradients) gives every class's map and the logits; for a GAP head
    S_c = mean_(i,j) M_c(i, j) + b_c. Batches of ``batch_size`` images; CPU tensors.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    logits, maps = [], []
    with explaining(model), torch.no_grad(), channels_last(model), capture(model, layer) as store:
        for batch in check_images(images).split(batch_size):
            logits.append(model(batch.to(_device(model))).cpu())
            f = store["activations"]
            weight = cam_weights(classifier, torch.arange(logits[-1].shape[1]), f.shape[1]).to(f)  # (classes, K)
            maps.append(torch.einsum("ck,nkhw->nchw", weight, f).cpu())
    return torch.cat(logits), torch.cat(maps)


def top_class_maps(model: nn.Module, images: torch.Tensor, layer, k: int = 3,
                   method: Callable | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The ``k`` most probable classes of each image and a map for each: (probabilities (N, k), classes (N, k),
    maps (N, k, H, W)), by ``method`` (default ``grad_cam``; any of ``METHODS``), from one batch of N*k."""
    images = check_images(images)
    probabilities, classes = _logits(model, images).softmax(dim=1).topk(k, dim=1)
    maps = (method or grad_cam)(model, images.repeat_interleave(k, dim=0), layer, classes.flatten())
    return probabilities, classes, maps.view(len(images), k, *maps.shape[-2:])


def cascading_randomization(model: nn.Module, blocks: list[str], images: torch.Tensor, layer, targets,
                            method: Callable | None = None, seed: int = 0) -> list[torch.Tensor]:
    """Adebayo et al. (2018)'s model-randomisation test: maps of a copy of ``model`` re-initialised block by block.

    ``blocks``: dotted module names, top (output) first. Entry 0 holds the trained model's maps, entry i the
    maps after re-initialising ``blocks[:i]`` (each leaf module's ``reset_parameters()``, PyTorch's default
    initialisation, seeded; batch norm back to identity statistics). ``targets`` stay fixed (pass the trained
    model's classes). A map that survives the randomisation cannot be explaining what the net learned.
    ``model`` itself is not changed; ``method`` defaults to ``grad_cam``.
    """
    import copy

    method = method or grad_cam
    randomised = copy.deepcopy(model)
    maps = [method(randomised, images, layer, targets)]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for name in blocks:
            for module in resolve_layer(randomised, name).modules():
                if hasattr(module, "reset_parameters"):  # batch norm: also its running statistics
                    module.reset_parameters()
            maps.append(method(randomised, images, layer, targets))
    return maps


def rank_correlation(maps_a: torch.Tensor, maps_b: torch.Tensor) -> torch.Tensor:
    """Spearman's rank correlation of each pair of maps (N, H, W) over their pixels, ties ranked by their mean
    (``scipy.stats.spearmanr``), (N,). 1: the same ordering of the pixels; 0: unrelated orderings (and 0
    when a map is constant, e.g. all zero: it orders nothing)."""
    from scipy.stats import spearmanr

    if maps_a.shape != maps_b.shape or maps_a.ndim != 3:
        raise ValueError(f"maps_a and maps_b must both be (N, H, W), got {tuple(maps_a.shape)} and "
                         f"{tuple(maps_b.shape)}")
    pairs = zip(maps_a.flatten(1).double().numpy(), maps_b.flatten(1).double().numpy(), strict=True)
    return torch.tensor([spearmanr(a, b).statistic if a.std() > 0 and b.std() > 0 else 0.0 for a, b in pairs])


# ---------------------------------------------------------------------------------------------------------------
# Perturbation and optimisation: occlusion, class model, inversion


def occlusion(model: nn.Module, images: torch.Tensor, targets, patch: int, stride: int, fill: float = 0.0,
              batch_size: int = 256) -> torch.Tensor:
    """Zeiler and Fergus: probability of the target class while a ``patch`` square of ``fill`` slides.

    Every occluder position is one image of a batch (no pixel loops); a pixel's value is the mean probability
    over the positions whose patch covers it (pixels no patch covers keep the unoccluded probability). A patch
    that changes no pixel (``fill`` on a region already of that value, e.g. black on a digit's background) leaves
    the image as it is: its probability is the unoccluded one, without a forward pass.
    """
    images = check_images(images)
    h, w = images.shape[-2:]
    if not (1 <= patch <= min(h, w) and stride >= 1):
        raise ValueError(f"patch must lie in [1, {min(h, w)}] and stride >= 1, got patch={patch}, stride={stride}")
    rows, cols = torch.arange(0, h - patch + 1, stride), torch.arange(0, w - patch + 1, stride)
    r, c = torch.meshgrid(rows, cols, indexing="ij")
    r, c = r.flatten()[:, None], c.flatten()[:, None]
    ys, xs = torch.arange(h)[None], torch.arange(w)[None]
    in_rows, in_cols = (ys >= r) & (ys < r + patch), (xs >= c) & (xs < c + patch)  # (P, H), (P, W)
    masks = (in_rows[:, :, None] & in_cols[:, None, :]).float()  # (P, H, W): 1 under the occluder
    cover = masks.sum(0)
    device = _device(model)
    with explaining(model), channels_last(model), relu_in_place(model), torch.inference_mode():
        x = images.detach().to(device)
        logits = model(x)
        classes = resolve_targets(targets, logits)
        base = logits.softmax(1).gather(1, classes[:, None])[:, 0].cpu()
        out = []
        for n in range(len(x)):
            occluded = x[n] * (1 - masks[:, None].to(device)) + fill * masks[:, None].to(device)
            changed = (occluded != x[n]).flatten(1).any(dim=1).nonzero()[:, 0]
            probs = torch.full((len(occluded),), float(base[n]))
            for batch in changed.split(batch_size):
                probs[batch] = model(occluded[batch]).softmax(1)[:, classes[n]].cpu()
            out.append(torch.where(cover > 0, torch.einsum("p,phw->hw", probs, masks) / cover.clamp_min(1), base[n]))
    return torch.stack(out)


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation per image: sum |x(i+1, j) - x(i, j)| + |x(i, j+1) - x(i, j)|, (N,)."""
    return ((images[..., 1:, :] - images[..., :-1, :]).abs().sum(dim=(1, 2, 3))
            + (images[..., :, 1:] - images[..., :, :-1]).abs().sum(dim=(1, 2, 3)))


@dataclass
class _Ascent:
    """One class-model problem for ``_ascend``: maximise sum_n S_(c_n)(shift(render())_n) - penalty() over
    ``parameter`` (Adam at ``lr``), with its own jitter and random generator; ``after_step(step)`` may then edit
    ``parameter`` in place."""

    targets: list[int]
    parameter: torch.Tensor
    render: Callable[[], torch.Tensor]
    lr: float
    jitter: int
    generator: torch.Generator
    penalty: Callable[[], torch.Tensor] | None = None
    after_step: Callable[[int], None] | None = None


def _ascend(model: nn.Module, ascents: list[_Ascent], steps: int) -> None:
    """Gradient ascent, the loop shared by the class models: each step every problem's rendered images are rolled by
    one random offset of up to its ``jitter`` pixels (the gradient flows back through the roll), and all of them go
    through the net as one batch. The problems are independent (a sum of per-image scores, an optimiser and a
    random generator each), so several in one batch give what one call each gives."""
    with explaining(model), channels_last(model):
        classes = torch.cat([resolve_targets(a.targets, model(a.render().detach())).to(a.parameter.device)
                             for a in ascents])  # range check
        optimizers = [torch.optim.Adam([a.parameter], lr=a.lr) for a in ascents]
        for step in range(1, steps + 1):
            shifted = []
            for a in ascents:
                dy, dx = (torch.randint(-a.jitter, a.jitter + 1, (2,), generator=a.generator).tolist() if a.jitter
                          else (0, 0))
                shifted.append(a.render().roll((dy, dx), dims=(2, 3)))
            objective = model(torch.cat(shifted)).gather(1, classes[:, None]).sum()
            for a in ascents:
                if a.penalty is not None:
                    objective = objective - a.penalty()
            for optimizer in optimizers:
                optimizer.zero_grad()
            (-objective).backward(inputs=[a.parameter for a in ascents])
            for optimizer in optimizers:
                optimizer.step()
            for a in ascents:
                if a.after_step is not None:
                    with torch.no_grad():
                        a.after_step(step)


def class_model(model: nn.Module, target: int | list[int], steps: int = 200, l2: float = 1e-3,
                shape: tuple[int, int, int] = (1, 64, 64), lr: float = 0.05, seed: int = 0, jitter: int = 0,
                blur_every: int = 0, blur_sigma: float = 0.5, clip: tuple[float, float] | None = None,
                same_start: bool = False) -> torch.Tensor:  # fmt: skip
    """Simonyan et al.: the image that maximises S_c(I) - lambda ||I||^2, by gradient ascent (Adam).

    Starts from small seeded noise around zero. ``target``: one class (returns (C, H, W)) or a list of classes
    (one image each, optimised as one batch; returns (N, C, H, W)). The regularisers that make an ImageNet class
    model readable (CS231n's recipe), all off by default: each step the image is shifted by a random offset of
    up to ``jitter`` pixels (rolled, then rolled back) so that no pattern can rely on exact pixel positions;
    every ``blur_every`` steps it is blurred (Gaussian, ``blur_sigma`` pixels) to damp high frequencies; and
    ``clip=(low, high)`` keeps every value in the range real (preprocessed) images have.

    ``same_start=True``: every image of a list starts from the same seeded noise (the jitter is shared anyway), so
    the batch gives the images of one call per class with this seed, in one pass per step instead of one per class.
    """
    ascent = _pixel_ascent(model, target, steps, l2, shape, lr, seed, jitter, blur_every, blur_sigma, clip, same_start)
    _ascend(model, [ascent], steps)
    out = ascent.parameter.detach().cpu()
    return out[0] if isinstance(target, int) else out


def _pixel_ascent(model, target, steps, l2, shape, lr, seed, jitter, blur_every, blur_sigma, clip,
                  same_start) -> _Ascent:
    """``class_model``'s problem: the image itself is the parameter."""
    if steps < 1 or l2 < 0 or jitter < 0 or blur_every < 0:
        raise ValueError(f"steps must be >= 1 and l2, jitter, blur_every >= 0, got {steps}, {l2}, {jitter}, "
                         f"{blur_every}")
    targets = [target] if isinstance(target, int) else list(target)
    generator = torch.Generator().manual_seed(seed)
    start = 0.01 * torch.randn((1 if same_start else len(targets), *shape), generator=generator)
    image = start.expand(len(targets), *shape).clone().to(_device(model)).requires_grad_(True)

    def regularise(step):
        if blur_every and step % blur_every == 0:
            image.copy_(gaussian_blur(image, 2 * math.ceil(2 * blur_sigma) + 1, blur_sigma))
        if clip is not None:
            image.clamp_(*clip)

    return _Ascent(targets, image, lambda: image, lr, jitter, generator, penalty=lambda: l2 * image.pow(2).sum(),
                   after_step=regularise)


# The square root of ImageNet's RGB colour covariance (Lucid's ``color_correlation_svd_sqrt``, Olah et al. 2017),
# scaled so that its largest column has norm 1: it maps decorrelated colour channels to correlated RGB.
COLOUR_CORRELATION = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
COLOUR_CORRELATION = COLOUR_CORRELATION / COLOUR_CORRELATION.norm(dim=0).max()


def fourier_image(spectrum: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """I = sigmoid(C . IFFT2(v(f) / max(|f|, 1 / max(H, W))) / 4): images in [0, 1] (N, 3, H, W) from a spectrum.

    ``spectrum`` v: real and imaginary parts (N, 3, H, W // 2 + 1, 2) of each decorrelated colour channel's
    2-D Fourier coefficients; ``size`` (H, W). Scaling v by 1/|f| gives white noise v the 1/f amplitude spectrum
    of natural photos, so every frequency starts equally easy to change (Olah et al. 2017, "Feature
    Visualization": a *parametrisation*, not a penalty); C is ``COLOUR_CORRELATION``; the sigmoid keeps every
    pixel in [0, 1].
    """
    h, w = size
    if spectrum.dim() != 5 or spectrum.shape[1:] != (3, h, w // 2 + 1, 2):
        raise ValueError(f"spectrum must have shape (N, 3, {h}, {w // 2 + 1}, 2) for size {size}, got "
                         f"{tuple(spectrum.shape)}")
    f = torch.sqrt(torch.fft.fftfreq(h)[:, None] ** 2 + torch.fft.rfftfreq(w)[None] ** 2)
    scale = 1.0 / f.clamp_min(1.0 / max(h, w)).to(spectrum.device)
    channels = torch.fft.irfft2(torch.view_as_complex(spectrum) * scale, s=(h, w), norm="ortho") / 4
    return torch.sigmoid(torch.einsum("ij,njhw->nihw", COLOUR_CORRELATION.to(channels), channels))


def class_model_fourier(model: nn.Module, targets: list[int], preprocess: Callable[[torch.Tensor], torch.Tensor],
                        steps: int = 200, size: tuple[int, int] = (112, 112), lr: float = 0.05, seed: int = 0,
                        jitter: int = 8) -> torch.Tensor:
    """A class model optimised in a Fourier, colour-decorrelated parametrisation: maximise
    S_c(preprocess(shift(I))) over the spectrum v of ``I = fourier_image(v)`` (Adam, from small seeded noise).

    Pixel-space ascent (``class_model``) moves every pixel independently, and the gradient of a CNN favours high
    frequencies, so it finds high-frequency, saturated patterns that blur has to fight; in this parametrisation
    a step changes all frequencies equally, so large structures appear as fast as fine ones. ``preprocess``
    maps [0, 1] images to the net's input (e.g. ``data.efficientnet_lite_input``'s scaling). Returns the
    images in [0, 1] (N, 3, H, W), one per class of ``targets``.
    """
    ascent = _fourier_ascent(model, targets, preprocess, steps, size, lr, seed, jitter)
    _ascend(model, [ascent], steps)
    return fourier_image(ascent.parameter.detach(), size).cpu()


def _fourier_ascent(model, targets, preprocess, steps, size, lr, seed, jitter) -> _Ascent:
    """``class_model_fourier``'s problem: the spectrum is the parameter."""
    if steps < 1 or jitter < 0:
        raise ValueError(f"steps must be >= 1 and jitter >= 0, got {steps}, {jitter}")
    targets = list(targets)
    h, w = size
    generator = torch.Generator().manual_seed(seed)
    spectrum = (0.01 * torch.randn((len(targets), 3, h, w // 2 + 1, 2), generator=generator)).to(_device(model))
    spectrum.requires_grad_(True)
    return _Ascent(targets, spectrum, lambda: preprocess(fourier_image(spectrum, size)), lr, jitter, generator)


def class_models_in_pixels_and_fourier(model: nn.Module, targets: list[int],
                                       preprocess: Callable[[torch.Tensor], torch.Tensor], steps: int,
                                       pixels: dict, fourier: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """``class_model(model, targets, steps, **pixels)`` and ``class_model_fourier(model, targets, preprocess,
    steps, **fourier)`` side by side: one forward and backward pass of both batches per step instead of one each.

    Each keeps its own seed, jitter, regularisers and optimiser, so the images are those of the two calls (up to
    float rounding). The pixel images must have the Fourier images' size (``pixels["shape"]``, ``fourier["size"]``).
    Returns (pixel-space images in the net's input scale, Fourier images in [0, 1]).
    """
    pixel_options = {"l2": 1e-3, "shape": (1, 64, 64), "lr": 0.05, "seed": 0, "jitter": 0, "blur_every": 0,
                     "blur_sigma": 0.5, "clip": None, "same_start": False, **pixels}
    fourier_options = {"size": (112, 112), "lr": 0.05, "seed": 0, "jitter": 8, **fourier}
    if tuple(pixel_options["shape"][1:]) != tuple(fourier_options["size"]):
        raise ValueError(f"the pixel images' shape {pixel_options['shape']} and the Fourier images' size "
                         f"{fourier_options['size']} must give images of one size")
    in_pixels = _pixel_ascent(model, list(targets), steps, **pixel_options)
    in_fourier = _fourier_ascent(model, targets, preprocess, steps, **fourier_options)
    _ascend(model, [in_pixels, in_fourier], steps)
    return (in_pixels.parameter.detach().cpu(),
            fourier_image(in_fourier.parameter.detach(), fourier_options["size"]).cpu())


def invert(model: nn.Module, layer, image: torch.Tensor, steps: int = 300, tv: float = 1e-2, lr: float = 0.05,
           seed: int = 0) -> torch.Tensor:
    """Mahendran and Vedaldi: x* = argmin ||phi(x) - phi(x0)||^2 / ||phi(x0)||^2 + tv * TV(x) / (C H W), (C, H, W).

    ``phi`` is the output of ``layer``; ``image`` x0 is one (C, H, W) image; Adam from seeded noise.
    """
    if not isinstance(image, torch.Tensor) or image.ndim != 3:
        raise ValueError(f"image must be one (C, H, W) tensor, got {getattr(image, 'shape', type(image).__name__)}")
    if steps < 1 or tv < 0:
        raise ValueError(f"steps must be >= 1 and tv >= 0, got {steps}, {tv}")
    device = _device(model)
    x0 = check_images(image[None]).to(device)
    generator = torch.Generator().manual_seed(seed)
    x = (x0.mean() + 0.1 * torch.randn(x0.shape, generator=generator).to(device)).requires_grad_(True)
    with explaining(model), channels_last(model), capture(model, layer) as store:
        model(x0)
        goal = store["activations"].detach()
        optimizer = torch.optim.Adam([x], lr=lr)
        for _ in range(steps):
            model(x)
            loss = (store["activations"] - goal).pow(2).sum() / goal.pow(2).sum().clamp_min(1e-12) \
                + tv * total_variation(x).sum() / x[0].numel()
            optimizer.zero_grad()
            loss.backward(inputs=[x])
            optimizer.step()
    return x.detach()[0].cpu()


def plot_overlays(images: torch.Tensor, rows: dict[str, torch.Tensor], boxes: dict[str, torch.Tensor] | None = None,
                  titles: list[str] | None = None, size: float = 1.5,
                  predicted: dict[str, torch.Tensor] | None = None):
    """A grid: the images (first row), then one row per map (N, H, W) over the image; panels ``size`` inches high.

    ``images``: (N, 1, H, W) grey, or (N, 3, H, W) colour in [0, 1] (display pixels, not the net's
    standardised input). ``boxes`` (true, green) and ``predicted`` (red): xyxy boxes (N, 4) per row name.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    n, aspect = len(images), images.shape[-1] / images.shape[-2]  # panels as wide as the images are
    fig, axes = plt.subplots(1 + len(rows), n, figsize=(size * aspect * n, size * (1 + len(rows))), squeeze=False)
    pixels = images.detach().float().cpu()
    shown = pixels.permute(0, 2, 3, 1).clamp(0, 1) if pixels.shape[1] == 3 else pixels.mean(dim=1)
    for j in range(n):
        axes[0, j].imshow(shown[j], cmap="gray")
        axes[0, j].set_title(titles[j] if titles else "", fontsize=8)
        for i, (name, maps) in enumerate(rows.items(), start=1):
            axes[i, j].imshow(shown[j], cmap="gray")
            axes[i, j].imshow(maps[j], cmap="jet", alpha=0.5, vmin=0, vmax=max(float(maps[j].max()), 1e-12))
            for drawn, color in ((boxes, "lime"), (predicted, "red")):
                if drawn and name in drawn:
                    x0, y0, x1, y1 = drawn[name][j].tolist()
                    axes[i, j].add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, color=color,
                                                   lw=1))
            if j == 0:
                axes[i, j].set_ylabel(name, fontsize=8)
    for ax in axes.flat:
        ax.set(xticks=[], yticks=[])
    fig.tight_layout()
    return fig


def explorer(model: nn.Module, images: torch.Tensor, layers: list[str], classifier: nn.Module | None = None,
             classes: list[str] | None = None, start: dict | None = None) -> None:
    """ipywidgets: image, method, class and layer -> the map over the image; a static figure of ``start`` first.

    "CAM" is offered only with a ``classifier`` (and then only at the last of ``layers``).
    """
    import ipywidgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    from .widgets import show_widget

    methods = {**({"CAM": None} if classifier is not None else {}), **METHODS}
    names = classes or [str(c) for c in range(model(images[:1]).shape[1])]
    state = {"index": 0, "method": next(iter(methods)), "target": 0, "layer": layers[-1], **(start or {})}

    def draw(index: int, method: str, target: int, layer: str):
        image = images[index : index + 1]
        if method == "CAM":
            heat = cam(model, image, layers[-1], classifier, target)
            layer = layers[-1]
        else:
            heat = methods[method](model, image, layer, target)
        fig = plot_overlays(image, {f"{method}\n{layer}": heat}, titles=[f"class {names[target]}"], size=2.4)
        return fig

    def show(**kwargs):
        fig = draw(**kwargs)
        display(fig)
        plt.close(fig)

    controls = {
        "index": ipywidgets.IntSlider(value=state["index"], min=0, max=len(images) - 1, description="image"),
        "method": ipywidgets.Dropdown(options=list(methods), value=state["method"], description="method"),
        "target": ipywidgets.Dropdown(options=[(n, i) for i, n in enumerate(names)], value=state["target"],
                                      description="class"),
        "layer": ipywidgets.Dropdown(options=layers, value=state["layer"], description="layer"),
    }
    show_widget(ipywidgets.interactive(show, **controls), draw(**state),
                caption=f"Default: image {state['index']}, {state['method']} for class {names[state['target']]}")


def receptive_field(model: nn.Sequential, layer: str) -> tuple[int, int, float]:
    """(size, stride, first centre) of one unit of ``layer``'s output, in input pixels, for a plain Sequential.

    Recursion over the convolutions and poolings up to ``layer``: r <- r + (k - 1) j, j <- j s,
    c <- c + ((k - 1) / 2 - p) j, from (r, j, c) = (1, 1, 0). Unit (i, j) sees rows c + i*stride +- (r - 1) / 2.
    """
    names = [name for name, _ in model.named_children()]
    if layer not in names:
        raise ValueError(f"layer must be one of {names}, got {layer!r}")
    size, stride, centre = 1, 1, 0.0
    for name, module in model.named_children():
        if isinstance(module, nn.Conv2d | nn.MaxPool2d | nn.AvgPool2d):
            k, s, p = (module.kernel_size, module.stride, module.padding)
            k, s, p = (v[0] if isinstance(v, tuple) else v for v in (k, s, p))
            size, centre, stride = size + (k - 1) * stride, centre + ((k - 1) / 2 - p) * stride, stride * s
        if name == layer:
            break
    return size, stride, centre


def top_patches(model: nn.Sequential, layer: str, images: torch.Tensor, channel: int | list[int], k: int = 9
                ) -> torch.Tensor:  # fmt: skip
    """The ``k`` input patches (k, C, r, r) that activate ``channel`` of ``layer`` most, over all positions of all
    ``images``: each unit's receptive field (r x r, zero-padded at the border). A list of channels gives
    (len(channels), k, C, r, r) from the same forward pass."""
    size, stride, centre = receptive_field(model, layer)
    channels = [channel] if isinstance(channel, int) else list(channel)
    with explaining(model), torch.no_grad(), capture(model, layer) as store:
        model(check_images(images).to(_device(model)))
        every = store["activations"][:, channels].cpu()  # (N, channels, h, w)
    padded = F.pad(images.detach().cpu(), (size,) * 4)  # a unit's field may reach past the border
    first = centre - (size - 1) / 2 + size  # first row (column) of unit 0's field, in padded coordinates
    out = []
    for i in range(len(channels)):
        maps = every[:, i]  # (N, h, w)
        if k > maps.numel():
            raise ValueError(f"k must be at most {maps.numel()} (positions x images), got {k}")
        best = maps.flatten().topk(k).indices
        n, rest = best // maps[0].numel(), best % maps[0].numel()
        rows, cols = rest // maps.shape[-1], rest % maps.shape[-1]
        top = (first + rows * stride).round().long(), (first + cols * stride).round().long()
        out.append(torch.stack([padded[j, :, r : r + size, c : c + size] for j, r, c in zip(n, *top, strict=True)]))
    return out[0] if isinstance(channel, int) else torch.stack(out)


def activations(model: nn.Module, images: torch.Tensor, layers: list[str], batch_size: int = BATCH_SIZE
                ) -> dict[str, torch.Tensor]:  # fmt: skip
    """The outputs of several ``layers`` for ``images``, from one forward pass per batch of ``batch_size``
    images (no gradients); CPU tensors."""
    images = check_images(images)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    outputs: dict[str, list[torch.Tensor]] = {layer: [] for layer in layers}
    with explaining(model), torch.no_grad(), ExitStack() as stack:
        stores = {layer: stack.enter_context(capture(model, layer)) for layer in layers}
        for batch in images.split(batch_size):
            model(batch.to(_device(model)))
            for layer, store in stores.items():
                outputs[layer].append(store["activations"].cpu())
    return {layer: torch.cat(parts) for layer, parts in outputs.items()}


def relu_sparsity(model: nn.Module, images: torch.Tensor, layers: list[str]) -> dict[str, dict[str, float]]:
    """Per layer: the fraction of zero activations, and the fraction of channels zero on every image and position
    ("dead" on these images: no gradient flows through them while they stay zero); one forward pass."""
    return sparsity(activations(model, images, layers))


def sparsity(outputs: dict[str, torch.Tensor]) -> dict[str, dict[str, float]]:
    """``relu_sparsity`` of activations already computed (``activations``' dict of (N, K, h, w) per layer)."""
    return {layer: {"zero activations": (f == 0).float().mean().item(),
                    "dead channels": (f.amax(dim=(0, 2, 3)) <= 0).float().mean().item()}
            for layer, f in outputs.items()}


def raw_grad_cam(model: nn.Module, images: torch.Tensor, layer, targets=None) -> torch.Tensor:
    """Grad-CAM before upsampling and normalisation: ReLU(sum_k alpha_k^c f_k) at the layer's size, (N, h, w)."""
    with explaining(model):
        activations, scores, _ = _forward(model, images, layer, targets)
        weights = grad_cam_weights(_gradients(scores, activations))
        return torch.einsum("nk,nkhw->nhw", weights, activations.detach()).relu()


def augmented_grad_cam(model: nn.Module, images: torch.Tensor, layer, targets=None, copies: int = 16,
                       max_angle: float = 10.0, max_shift: float = 0.1, steps: int = 200, tv: float = 0.02,
                       step_size: float = 4.0, seed: int = 0) -> torch.Tensor:
    """Augmented Grad-CAM (Morbidelli et al. 2020): a high-resolution map from Grad-CAMs of augmented copies.

    Copy l is the image under a random rotation (|angle| <= ``max_angle`` degrees) and shift (<= ``max_shift``
    of the half-width); copy 0 is the image itself. Its low-resolution Grad-CAM g_l (h x w, scaled by the
    largest value) is modelled as D A_l H: the unknown map H at the input size, transformed like the copy (A_l)
    and area-downsampled (D). H solves the TV-l1 regularised inverse problem

        min_H (1 / 2L) sum_l ||D A_l H - g_l||^2 + tv * TV(H) / (H W)

    by subgradient descent with steps ``step_size / sqrt(t + 1)``, from the upsampled Grad-CAM. Then normalised
    as every CAM; (N, H, W).
    """
    images = check_images(images).detach()
    n, _, height, width = images.shape
    if copies < 1 or steps < 1:
        raise ValueError(f"copies and steps must be >= 1, got {copies}, {steps}")
    generator = torch.Generator().manual_seed(seed)
    angle = (torch.rand(n, copies, generator=generator) * 2 - 1) * max_angle * torch.pi / 180
    shift = (torch.rand(n, copies, 2, generator=generator) * 2 - 1) * max_shift
    angle[:, 0], shift[:, 0] = 0, 0
    theta = torch.stack([torch.stack([angle.cos(), -angle.sin(), shift[..., 0]], -1),
                         torch.stack([angle.sin(), angle.cos(), shift[..., 1]], -1)], -2).flatten(0, 1)  # (N*L, 2, 3)
    grid = F.affine_grid(theta, [n * copies, 1, height, width], align_corners=False)

    def transform(x: torch.Tensor) -> torch.Tensor:  # A_l, applied to every copy of each image
        return F.grid_sample(x.repeat_interleave(copies, 0), grid, align_corners=False)

    classes = resolve_targets(targets, _logits(model, images))
    low = raw_grad_cam(model, transform(images.cpu()).to(_device(model)), layer, classes.repeat_interleave(copies))
    low = (low / low.flatten(1).amax(1).view(n, copies).amax(1).repeat_interleave(copies)
           .clamp_min(1e-12)[:, None, None]).cpu()[:, None]
    size = low.shape[-2:]
    high = F.interpolate(low[::copies], size=(height, width), mode="bilinear", align_corners=False)
    high = high.clone().requires_grad_(True)
    for t in range(steps):
        residual = F.interpolate(transform(high), size=size, mode="area") - low
        loss = residual.pow(2).sum() / (2 * copies) + tv * total_variation(high).sum() / (height * width)
        (subgradient,) = torch.autograd.grad(loss, high)
        with torch.no_grad():
            high -= step_size / (t + 1) ** 0.5 * subgradient
    return normalize(high.detach()[:, 0], (height, width))


def _logits(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The model's logits in eval mode, without gradients (the model's state restored)."""
    with explaining(model), torch.no_grad():
        return model(images.to(_device(model))).cpu()
