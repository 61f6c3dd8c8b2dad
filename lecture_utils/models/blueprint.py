"""The cs231n blueprint of a CNN, as a builder: ``INPUT -> [[CONV -> RELU]*N -> POOL?]*M -> [FC -> RELU]*K -> FC``.

``blueprint(n, m, k)`` builds the pattern; ``LECTURE_EXAMPLES`` are the four nets of the lecture;
``layer_pattern(model)`` writes a built net back in the lecture's notation, and ``expand_pattern`` unrolls
the ``[...]*n`` shorthand, so the two can be compared.
"""

from __future__ import annotations

import re

from torch import nn

from .common import CheckedSequential

LECTURE_EXAMPLES: dict[str, dict] = {
    "INPUT -> FC": dict(n=0, m=0, k=0),
    "INPUT -> CONV -> RELU -> FC": dict(n=1, m=1, k=0, pool=False),
    "INPUT -> [CONV -> RELU -> POOL]*2 -> FC -> RELU -> FC": dict(n=1, m=2, k=1),
    "INPUT -> [CONV -> RELU -> CONV -> RELU -> POOL]*3 -> [FC -> RELU]*2 -> FC": dict(n=2, m=3, k=2),
}
"""The lecture's examples (cs231n): pattern -> ``blueprint`` arguments. The first is a linear classifier."""

_TOKENS = {nn.Conv2d: "CONV", nn.ReLU: "RELU", nn.MaxPool2d: "POOL", nn.Linear: "FC"}
_REPEAT = re.compile(r"\[([^\[\]]*)\]\*(\d+)")


def blueprint(
    n: int,
    m: int,
    k: int,
    *,
    pool: bool = True,
    width: int = 32,
    hidden: int = 128,
    in_channels: int = 3,
    input_size: int = 32,
    num_classes: int = 10,
) -> CheckedSequential:
    """``INPUT -> [[CONV -> RELU]*n -> POOL?]*m -> [FC -> RELU]*k -> FC`` for ``input_size`` square inputs.

    CONV: 3x3, padding 1 (keeps the size); stage s = 1..m has ``width * 2**(s-1)`` filters.
    POOL (if ``pool``): 2x2 max-pooling, stride 2 (halves the size). Hidden FC layers: ``hidden`` units.
    The flattened size is ``C * (input_size // 2**m)**2`` with C the last stage's channels.
    """
    for name, value in (("n", n), ("m", m), ("k", k)):
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative int (repetitions in the pattern), got {value!r}")
    halvings = m if pool else 0
    if input_size < 2**halvings:
        raise ValueError(f"input_size={input_size} is too small for {halvings} poolings; use >= {2**halvings}")
    layers: dict[str, nn.Module] = {}
    channels = in_channels
    for stage in range(1, m + 1):
        for i in range(1, n + 1):
            layers[f"conv{stage}_{i}"] = nn.Conv2d(channels, width * 2 ** (stage - 1), 3, padding=1)
            layers[f"relu{stage}_{i}"] = nn.ReLU()
            channels = width * 2 ** (stage - 1)
        if pool:
            layers[f"pool{stage}"] = nn.MaxPool2d(2)
    layers["flatten"] = nn.Flatten()
    features = channels * (input_size // 2**halvings) ** 2
    for j in range(1, k + 1):
        layers[f"fc{j}"] = nn.Linear(features, hidden)
        layers[f"relu_fc{j}"] = nn.ReLU()
        features = hidden
    layers["output"] = nn.Linear(features, num_classes)
    return CheckedSequential(layers, in_channels, min_size=input_size, input_size=input_size)


def layer_pattern(model: nn.Module) -> str:
    """The net in the lecture's notation, unrolled: ``INPUT -> CONV -> RELU -> ... -> FC``."""
    tokens = [_TOKENS[type(layer)] for layer in model.children() if type(layer) in _TOKENS]
    return " -> ".join(["INPUT", *tokens])


def expand_pattern(pattern: str) -> str:
    """Unroll ``[A -> B]*2`` into ``A -> B -> A -> B``, innermost brackets first."""
    while match := _REPEAT.search(pattern):
        unrolled = " -> ".join([match.group(1)] * int(match.group(2)))
        pattern = pattern[: match.start()] + unrolled + pattern[match.end() :]
    return " -> ".join(token.strip() for token in pattern.split("->") if token.strip())
