"""torchvision's ImageNet weights, loaded into our from-scratch models: ``pretrained("resnet18")``.

Our torchvision-named models have torchvision's state-dict keys, so its checkpoints load as they are.
The download needs internet once; torch then caches the file under ``$TORCH_HOME/hub/checkpoints``
(default ``~/.cache/torch/hub/checkpoints``). Preprocessing: ``weights_for(name).transforms()``.
"""

from __future__ import annotations

import http.client
import re
from pathlib import Path
from urllib.parse import urlparse

import torch
import torchvision
from torch import nn
from torchvision.models import WeightsEnum

from .. import runtime
from .classic import alexnet
from .common import lookup
from .densenet import densenet121
from .efficientnet import efficientnet_b0
from .inception import googlenet
from .resnet import resnet18, resnet34, resnet50, resnet101, resnet152, resnext50_32x4d, wide_resnet50_2
from .vgg import vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn

BUILDERS = {
    builder.__name__: builder
    for builder in (alexnet, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn,
                    resnet18, resnet34, resnet50, resnet101, resnet152, wide_resnet50_2, resnext50_32x4d,
                    googlenet, densenet121, efficientnet_b0)
}  # fmt: skip
"""Our constructors that torchvision also has (and has ImageNet weights for)."""

# DenseNet checkpoints predate a renaming: "denselayer1.norm.1.weight" is now "denselayer1.norm1.weight"
_OLD_DENSENET_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|conv))\.([12]\.\w+)$")


class WeightsUnavailableError(RuntimeError):
    """The pretrained weights are neither in torch's cache nor downloadable (offline)."""


def weights_for(name: str, weights: str = "DEFAULT") -> WeightsEnum:
    """torchvision's weights entry for model ``name``, e.g. ``ResNet50_Weights.IMAGENET1K_V2`` (no download)."""
    lookup(BUILDERS, name, "pretrained model")
    enum = torchvision.models.get_model_weights(name)
    return lookup(enum.__members__, weights, f"weights name for {name}")


def checkpoint_path(weights: WeightsEnum) -> Path:
    """Where torch caches the file of ``weights``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(weights.url).path).name


def download_state_dict(weights: WeightsEnum, progress: bool = True) -> dict[str, torch.Tensor]:
    """The checkpoint of ``weights``, from torch's cache or downloaded once; a clear error when offline."""
    cache = checkpoint_path(weights)
    hint = (
        f"pretrained weights need internet once: {weights.url} is downloaded and cached in {cache.parent} "
        "(set TORCH_HOME to move that cache). Offline, build the model without weights instead."
    )
    if runtime.offline() and not cache.exists():
        raise WeightsUnavailableError(f"LECTURE_OFFLINE=1 forbids the download. {hint}")
    try:
        return weights.get_state_dict(progress=progress, check_hash=True)
    except (OSError, http.client.HTTPException) as err:
        raise WeightsUnavailableError(f"could not download ({type(err).__name__}: {err}). {hint}") from err


def pretrained(name: str, weights: str = "DEFAULT", progress: bool = True) -> nn.Module:
    """Our ``name`` model (e.g. "resnet18", "vgg16_bn", "googlenet") with torchvision's ImageNet weights,
    in eval mode. ``weights``: a member of torchvision's enum for that model ("DEFAULT", "IMAGENET1K_V1", ...).

    GoogLeNet is built as torchvision builds it for its ported weights: ``transform_input=True``, the
    auxiliary heads loaded, then dropped (they are not trained).
    """
    entry = weights_for(name, weights)
    num_classes = len(entry.meta["categories"])
    is_googlenet = name == "googlenet"
    extra = {"aux_logits": True, "transform_input": True} if is_googlenet else {}
    model = BUILDERS[name](num_classes=num_classes, **extra)
    state = download_state_dict(entry, progress)
    if name.startswith("densenet"):
        state = {_OLD_DENSENET_KEY.sub(r"\1\2", key): value for key, value in state.items()}
    model.load_state_dict(state)
    if is_googlenet:
        model.aux_logits, model.aux1, model.aux2 = False, None, None
    return model.eval()
