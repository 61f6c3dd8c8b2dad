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
(``freeze_bn=False`` shows what happens otherwise: the running means drift to the new data). A frozen block
then computes the same output for an image in every epoch: :class:`FrozenCodes` computes it once, and only the
unfrozen rest trains on those stored codes (the same training, without the repeated forward passes).
"""

from __future__ import annotations

import copy
import time

import pandas as pd
import torch
from torch import nn

from . import codes, training
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


def subset_indices(labels: torch.Tensor, classes, per_class: int | None = None,
                   seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of at most ``per_class`` items of each of ``classes`` (a seeded random choice, the first
    ``per_class`` of one permutation per class: a larger ``per_class`` with the same seed contains the smaller),
    and their labels renumbered 0..k-1 in the order of ``classes``."""
    classes = list(classes)
    if per_class is not None and per_class < 1:
        raise ValueError(f"per_class must be a positive number of images (or None: all), got {per_class}")
    g = torch.Generator().manual_seed(seed)
    idx = [torch.nonzero(labels == c).squeeze(1) for c in classes]
    if any(len(i) == 0 for i in idx):
        raise ValueError(f"classes must all occur in labels, got {classes}")
    idx = [i[torch.randperm(len(i), generator=g)[:per_class]] for i in idx]
    return torch.cat(idx), torch.cat([torch.full((len(i),), k) for k, i in enumerate(idx)])


def subset(images: torch.Tensor, labels: torch.Tensor, classes, per_class: int | None = None,
           seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The images of ``classes`` (relabelled 0..k-1), at most ``per_class`` of each, chosen with ``seed``."""
    idx, new = subset_indices(labels, classes, per_class, seed)
    return images[idx], new


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

    def after(self, k: int) -> nn.Sequential:
        """What follows the first ``k`` blocks: ``head(pool(blocks[k:](h)))`` (the same modules, shared)."""
        return nn.Sequential(*self.blocks[k:], self.pool, self.head)


class FrozenCodes:
    """``blocks[:k](x)`` for a fixed set of images, each depth ``k`` computed once (from depth ``k - 1``).

    Each block runs through :func:`lecture_utils.codes.extract` (eval mode: BatchNorm with its stored
    statistics; ``torch.inference_mode``; batches of ``batch_size``); depth 0 is the images themselves.
    """

    def __init__(self, blocks: nn.Sequential, images: torch.Tensor, batch_size: int = 256):
        self.blocks, self.batch_size, self._codes = blocks, batch_size, {0: images}

    def __call__(self, k: int) -> torch.Tensor:
        if not 0 <= k <= len(self.blocks):
            raise ValueError(f"k must lie in [0, {len(self.blocks)}] (the number of blocks), got {k}")
        if k not in self._codes:
            previous, block = self(k - 1), self.blocks[k - 1]
            flat = codes.extract(block, previous, block, self.batch_size)  # (N, D): restores the block's mode
            was_training = block.training
            with torch.inference_mode():
                shape = block.eval()(to_float(previous[:1])).shape[1:]
            block.train(was_training)
            self._codes[k] = flat.view(len(previous), *shape)
        return self._codes[k]


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


def efficientnet_blocks(net: nn.Module) -> nn.Sequential:
    """An EfficientNet in torchvision's layout (``features`` = stem, seven MBConv stages, 1x1 head conv;
    ``avgpool``; ``classifier``) as two blocks and the old head: stem + stages 1-7 (320 channels at 1/32 of
    the input size), the 1x1 head conv + pooling (the 1280-number code), classifier. Shares the weights."""
    top = nn.Sequential(net.features[-1], net.avgpool, nn.Flatten())
    return nn.Sequential(nn.Sequential(*net.features[:-1]), top, net.classifier)


def _check_pair(name: str, pair) -> None:
    x, y = pair
    if x.dim() != 4 or len(x) != len(y):
        raise ValueError(f"{name} must be (images (N, C, H, W), labels (N,)), got shapes "
                         f"{tuple(x.shape)} and {tuple(y.shape)}")


def _check(pretrained, strategies, epochs) -> None:
    if not isinstance(pretrained, nn.Sequential) or len(pretrained) < 3:
        raise ValueError("pretrained must be an nn.Sequential of at least two blocks followed by its head")
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise ValueError(f"strategies must be among {STRATEGIES}, got {unknown}")


def _train_and_test(pretrained, strategy, codes_train, y_train, codes_test, y_test, num_classes, *, epochs, seed,
                    lr, batch_size, freeze_bn) -> dict:
    """One strategy, trained on the unfrozen part only, on the frozen blocks' codes: ``codes_train(k)`` and
    ``codes_test(k)`` give ``blocks[:k]`` of the train and test images (k = 0: the images)."""
    torch.manual_seed(seed)
    model, groups = build(pretrained, strategy, num_classes, codes_train(0)[:1], freeze_bn)
    k = model.n_frozen if freeze_bn else 0  # unfrozen BatchNorm moves: then the frozen blocks must run too
    rest = model.after(k)
    start = time.perf_counter()
    training.fit(rest, (codes_train(k), y_train), epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                 param_groups=groups, progress=False)
    seconds = time.perf_counter() - start
    correct = (training.predict(rest, codes_test(k)).argmax(1) == y_test).numpy()
    return {"strategy": strategy, "trainable parameters": sum(p.numel() for g in groups for p in g["params"]),
            "seconds": seconds, "test accuracy": float(correct.mean()), "correct": correct}


def compare(pretrained: nn.Sequential, train, test, strategies=STRATEGIES, epochs: int = 5, seed: int = 0,
            lr: float = 3e-3, batch_size: int = 32, freeze_bn: bool = True) -> pd.DataFrame:
    """Train every strategy with the same budget (epochs, batch size, learning rate) on ``train`` = (images,
    labels) and test it on ``test``: one row per strategy with strategy, trainable parameters, seconds,
    test accuracy and ``correct`` (a bool array: which test images it classified right).

    ``pretrained``: ``nn.Sequential`` of blocks whose last entry is the old head (dropped). Deterministic
    for a given ``seed`` (heads, re-initialisation and shuffling are seeded), up to the seconds column.
    """
    _check(pretrained, strategies, epochs)
    for name, pair in {"train": train, "test": test}.items():
        _check_pair(name, pair)
    num_classes = int(max(train[1].max(), test[1].max())) + 1
    blocks = pretrained[:-1]
    codes_train, codes_test = FrozenCodes(blocks, train[0]), FrozenCodes(blocks, test[0])
    return pd.DataFrame([_train_and_test(pretrained, s, codes_train, train[1], codes_test, test[1], num_classes,
                                         epochs=epochs, seed=seed, lr=lr, batch_size=batch_size, freeze_bn=freeze_bn)
                         for s in strategies])


def epochs_for(n_images: int, images_seen: int = 3000, max_epochs: int = 100) -> int:
    """The training budget of ``learning_curve``: about ``images_seen`` images per training, so
    ``round(images_seen / n_images)`` epochs, at least 1 and at most ``max_epochs``."""
    return int(min(max_epochs, max(1, round(images_seen / n_images))))


def learning_curve(pretrained: nn.Sequential, pool, test, per_class=(1, 5, 10, 50, 300), strategies=STRATEGIES,
                   seeds=(0, 1, 2), lr: float = 1e-2, batch_size: int = 32, images_seen: int = 3000,
                   max_epochs: int = 100, only_at: dict | None = None) -> pd.DataFrame:
    """Test accuracy against the number of training images per class, for each strategy and seed.

    ``pool`` = (images, labels 0..k-1): for each seed and n in ``per_class``, n images per class are drawn
    from it (:func:`subset_indices`); every strategy trains on them for :func:`epochs_for` epochs (about
    ``images_seen`` images) and is tested on ``test``. The frozen blocks' codes of the pool and the test set
    are computed once for all sizes and seeds. ``only_at``: ``{strategy: sizes}`` runs an expensive strategy
    at those sizes of ``per_class`` only. One row per (per class, seed, strategy), with :func:`compare`'s
    columns.
    """
    _check(pretrained, strategies, 1)
    only_at = only_at or {}
    if not set(only_at) <= set(strategies) or any(not set(v) <= set(per_class) for v in only_at.values()):
        raise ValueError(f"only_at must map some of strategies {list(strategies)} to sizes among per_class "
                         f"{list(per_class)}, got {only_at}")
    for name, pair in {"pool": pool, "test": test}.items():
        _check_pair(name, pair)
    classes = range(int(pool[1].max()) + 1)
    blocks = pretrained[:-1]
    codes_pool, codes_test = FrozenCodes(blocks, pool[0]), FrozenCodes(blocks, test[0])
    rows = []
    for n in per_class:
        for seed in seeds:
            idx, y = subset_indices(pool[1], classes, n, seed)
            row = {"per class": n, "seed": seed, "epochs": epochs_for(len(idx), images_seen, max_epochs)}
            rows += [row | _train_and_test(pretrained, s, lambda k, idx=idx: codes_pool(k)[idx], y, codes_test,
                                           test[1], len(classes), epochs=row["epochs"], seed=seed, lr=lr,
                                           batch_size=batch_size, freeze_bn=True)
                     for s in strategies if n in only_at.get(s, per_class)]
    return pd.DataFrame(rows)
