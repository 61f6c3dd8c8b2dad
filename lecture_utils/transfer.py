"""Transfer learning: how much of a pretrained net to retrain for a new task.

The pretrained net is an ``nn.Sequential`` of blocks followed by its classification head. Every strategy
drops that head and puts a new linear head ``y = W h + b`` on the features ``h`` of some block
(global-average-pooled when they are maps):

- ``linear probe``: all blocks frozen, head on the last block (the lecture's small + similar);
- ``earlier block``: head on the block before the last, the rest frozen (small + different);
- ``fine-tune top``: the last block trained with the head, the others frozen (large + similar);
- ``fine-tune all``: everything trained, the pretrained blocks at ``lr / 10`` (parameter groups), the new head
  at ``lr`` (large + different);
- ``from scratch``: the same architecture, re-initialised, everything trained.

Frozen blocks stay in eval mode while the rest trains, so their BatchNorm statistics stay frozen too
(``freeze_bn=False`` shows what happens otherwise: the running means drift to the new data).
"""

from __future__ import annotations

import copy
import time

import pandas as pd
import torch
from torch import nn

from . import training
from .data import to_float

STRATEGIES = ("linear probe", "earlier block", "fine-tune top", "fine-tune all", "from scratch")


def small_cnn(num_classes: int = 5, width: int = 16) -> nn.Sequential:
    """A small CNN for 28x28 grey images: three conv blocks (conv-BN-ReLU, pooling) and a linear head."""
    def block(c_in, c_out, pool):
        return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(), pool)

    return nn.Sequential(
        block(1, width, nn.MaxPool2d(2)),
        block(width, 2 * width, nn.MaxPool2d(2)),
        block(2 * width, 4 * width, nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())),
        nn.Linear(4 * width, num_classes),
    )


class Transferred(nn.Module):
    """``head(pool(blocks(x)))`` with the first ``n_frozen`` blocks frozen: no gradients and, when ``freeze_bn``,
    kept in eval mode by ``train()`` so that their BatchNorm running statistics do not move."""

    def __init__(self, blocks: nn.Sequential, n_frozen: int, num_classes: int, sample: torch.Tensor,
                 freeze_bn: bool = True):
        super().__init__()
        self.blocks, self.n_frozen, self.freeze_bn = blocks, n_frozen, freeze_bn
        with torch.no_grad():
            features = blocks.eval()(sample[:1])
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()) if features.dim() == 4 else nn.Flatten()
        self.head = nn.Linear(self.pool(features).shape[1], num_classes)
        for p in blocks[:n_frozen].parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze_bn:
            self.blocks[: self.n_frozen].eval()
        return self

    def forward(self, x):
        return self.head(self.pool(self.blocks(x)))


def _reset(module: nn.Module) -> nn.Module:
    for m in module.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    return module


def build(pretrained: nn.Sequential, strategy: str, num_classes: int, sample: torch.Tensor,
          freeze_bn: bool = True) -> tuple[Transferred, list[dict]]:
    """The model for one strategy (a copy: ``pretrained`` is untouched) and its optimiser parameter groups.

    Groups: ``{"params", "lr_scale"}``; the pretrained blocks of ``fine-tune all`` get ``lr_scale=0.1``.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    blocks = copy.deepcopy(pretrained[:-1])
    n = len(blocks)
    keep, frozen = {"linear probe": (n, n), "earlier block": (n - 1, n - 1), "fine-tune top": (n, n - 1),
                    "fine-tune all": (n, 0), "from scratch": (n, 0)}[strategy]
    blocks = blocks[:keep]
    if strategy == "from scratch":
        _reset(blocks)
    model = Transferred(blocks, frozen, num_classes, to_float(sample), freeze_bn)
    trainable = [p for p in blocks.parameters() if p.requires_grad]
    scale = 0.1 if strategy == "fine-tune all" else 1.0
    groups = [{"params": list(model.head.parameters()), "lr_scale": 1.0}]
    return model, groups + ([{"params": trainable, "lr_scale": scale}] if trainable else [])


def resnet_blocks(net: nn.Module) -> nn.Sequential:
    """A ResNet (ours or torchvision's: ``conv1 ... layer4, avgpool, fc``) as the ``nn.Sequential`` of blocks that
    ``compare`` takes: stem, layer1, layer2, layer3, layer4 + pooling, fc (the old head). Shares the weights."""
    stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
    top = nn.Sequential(net.layer4, net.avgpool, nn.Flatten())
    return nn.Sequential(stem, net.layer1, net.layer2, net.layer3, top, net.fc)


def compare(pretrained: nn.Sequential, train, test, strategies=STRATEGIES, epochs: int = 5, seed: int = 0,
            lr: float = 3e-3, batch_size: int = 32, freeze_bn: bool = True) -> pd.DataFrame:
    """Train every strategy with the same budget (epochs, batch size, learning rate) on ``train`` = (images,
    labels) and test it on ``test``: one row per strategy with strategy, trainable parameters, seconds,
    test accuracy.

    ``pretrained``: ``nn.Sequential`` of blocks whose last entry is the old head (dropped). Deterministic
    for a given ``seed`` (heads, re-initialisation and shuffling are seeded), up to the seconds column.
    """
    if not isinstance(pretrained, nn.Sequential) or len(pretrained) < 3:
        raise ValueError("pretrained must be an nn.Sequential of at least two blocks followed by its head")
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    for name, (x, y) in {"train": train, "test": test}.items():
        if x.dim() != 4 or len(x) != len(y):
            raise ValueError(f"{name} must be (images (N, C, H, W), labels (N,)), got shapes "
                             f"{tuple(x.shape)} and {tuple(y.shape)}")
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise ValueError(f"strategies must be among {STRATEGIES}, got {unknown}")
    num_classes = int(max(train[1].max(), test[1].max())) + 1
    rows = []
    for strategy in strategies:
        torch.manual_seed(seed)
        model, groups = build(pretrained, strategy, num_classes, train[0], freeze_bn)
        start = time.perf_counter()
        training.fit(model, train, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, param_groups=groups,
                     progress=False)
        seconds = time.perf_counter() - start
        rows.append({"strategy": strategy,
                     "trainable parameters": sum(p.numel() for g in groups for p in g["params"]),
                     "seconds": seconds, "test accuracy": training.evaluate(model, *test).accuracy})
    return pd.DataFrame(rows)
