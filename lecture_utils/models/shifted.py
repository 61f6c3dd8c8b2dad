"""The seeds' two shifted-MNIST nets: the same convolutional trunk, then flatten or global average pooling.

Layer names follow the seeds' Keras summaries (conv1, pool1, ..., classifier, output), so
``counting.summary`` prints the slide's tables. On a 64x64 canvas: CNN-flatten has 388,298
parameters, CNN-GAP 101,578. ``nin_heads`` puts three heads on the same trunk for the Network in
Network claim (FC, FC + dropout, GAP). All are initialised as Keras initialises the seeds' nets.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

MIN_CANVAS_GAP = 18  # conv3 keeps at least one position: 18 -> 16 -> 8 -> 6 -> 3 -> 1
MIN_CANVAS_FLATTEN = 22  # pool3 keeps at least one position: 22 -> ... -> conv3 2 -> pool3 1


def _trunk(in_channels: int) -> list[tuple[str, nn.Module]]:
    """conv(3x3, 32) -> pool -> conv(3x3, 64) -> pool -> conv(3x3, 128), ReLU after each conv."""
    return [
        ("conv1", nn.Conv2d(in_channels, 32, 3)),
        ("relu1", nn.ReLU()),
        ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(32, 64, 3)),
        ("relu2", nn.ReLU()),
        ("pool2", nn.MaxPool2d(2)),
        ("conv3", nn.Conv2d(64, 128, 3)),
        ("relu3", nn.ReLU()),
    ]


def _head(features: int, num_classes: int, dropout: float) -> list[tuple[str, nn.Module]]:
    """dropout -> dense(64) -> ReLU -> dropout -> dense(num_classes)."""
    return [
        ("dropout1", nn.Dropout(dropout)),
        ("classifier", nn.Linear(features, 64)),
        ("relu4", nn.ReLU()),
        ("dropout2", nn.Dropout(dropout)),
        ("output", nn.Linear(64, num_classes)),
    ]


def keras_init(model: nn.Module) -> nn.Module:
    """Keras' default initialisation, applied in place: Glorot-uniform weights, zero biases.

    W ~ U(-a, a) with a = sqrt(6 / (fan_in + fan_out)). With zero biases the empty canvas around a digit
    gives zero features, so GAP's averages start from the digit alone; with PyTorch's random biases every
    background position adds a constant, and CNN-GAP learns much more slowly on the 64x64 canvas.
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)
    return model


def trunk_size(canvas: int) -> int:
    """Side of conv3's feature map for a square ``canvas`` input (64 -> 12)."""
    side = canvas
    for _ in range(2):  # conv 3x3 (valid) then max-pool 2
        side = (side - 2) // 2
    return side - 2


def cnn_flatten(canvas: int = 64, in_channels: int = 1, num_classes: int = 10, dropout: float = 0.5) -> nn.Sequential:
    """CNN-flatten: trunk -> pool3 -> flatten -> dense head. Fixed input size ``canvas`` x ``canvas``."""
    if canvas < MIN_CANVAS_FLATTEN:
        raise ValueError(f"canvas={canvas} is too small for CNN-flatten; use canvas >= {MIN_CANVAS_FLATTEN}")
    side = trunk_size(canvas) // 2
    layers = _trunk(in_channels) + [("pool3", nn.MaxPool2d(2)), ("flatten", nn.Flatten())]
    return keras_init(nn.Sequential(OrderedDict(layers + _head(128 * side * side, num_classes, dropout))))


def cnn_gap(in_channels: int = 1, num_classes: int = 10, dropout: float = 0.5) -> nn.Sequential:
    """CNN-GAP: trunk -> global average pooling -> dense head. Any input of at least 18x18."""
    layers = _trunk(in_channels) + [("gpooling", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten())]
    return keras_init(nn.Sequential(OrderedDict(layers + _head(128, num_classes, dropout))))


def nin_heads(canvas: int = 28, in_channels: int = 1, num_classes: int = 10) -> dict[str, nn.Sequential]:
    """Network in Network's comparison: the same trunk with three heads (fresh weights each).

    - ``FC``: flatten conv3's maps (128 x s x s) -> dense(64) -> dense(num_classes), no dropout;
    - ``FC + dropout``: the same with dropout 0.5 before each dense layer;
    - ``GAP``: a 1x1 conv to one map per class, then global average pooling: the class scores are
      ``S_c = mean_(x,y) f_c(x, y)``; no dense layer at all.
    """
    side = trunk_size(canvas)
    if side < 1:
        raise ValueError(f"canvas={canvas} is too small for the trunk; use canvas >= {MIN_CANVAS_GAP}")
    features = 128 * side * side

    def net(head: list[tuple[str, nn.Module]]) -> nn.Sequential:
        return keras_init(nn.Sequential(OrderedDict(_trunk(in_channels) + head)))

    gap = [("cccp", nn.Conv2d(128, num_classes, 1)), ("gpooling", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten())]
    return {
        "FC": net([("flatten", nn.Flatten()), *_head(features, num_classes, 0.0)]),
        "FC + dropout": net([("flatten", nn.Flatten()), *_head(features, num_classes, 0.5)]),
        "GAP": net(gap),
    }
