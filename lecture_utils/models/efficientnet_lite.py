"""EfficientNet-Lite (Google, 2020): EfficientNet-B0 made for mobile accelerators and integer quantisation.

What Lite0 changes from B0 (Tan & Le 2019), and why:

- **no squeeze-and-excitation**: its global pooling and per-channel gates run poorly on many mobile
  accelerators (they need the whole feature map before the block can go on);
- **ReLU6 instead of SiLU (swish)**: min(max(x, 0), 6) is cheap everywhere and bounded, so every activation
  fits a fixed 8-bit range after post-training quantisation;
- **stem (32 channels) and head (1280) not scaled** with the width coefficient, and the first and last stage
  not deepened: for Lite1-4 that keeps the small ends small (for Lite0, coefficient 1.0, nothing changes).

Everything else is B0's Table 1 (same MBConv stages, 224 px, dropout 0.2). The ImageNet weights were trained
in TensorFlow, so the convolutions pad as TensorFlow's "same" (``Conv2dSame``: asymmetric on strided layers)
and BatchNorm uses TensorFlow's epsilon 1e-3; with PyTorch's symmetric padding the weights give other logits.
``efficientnet_lite0()`` has torchvision's layout (``features``, ``avgpool``, ``classifier``): 4,652,008
parameters. Its weights: ``imagenet_weights.pretrained("efficientnet_lite0")``; the input they expect:
``data.efficientnet_lite_input``.
"""

from __future__ import annotations

from dataclasses import replace

from torch import nn

from .efficientnet import EFFICIENTNET_B0, EfficientNet

EFFICIENTNET_LITE0 = replace(EFFICIENTNET_B0, activation=nn.ReLU6, squeeze_excitation=False, padding="same",
                             bn_eps=1e-3)  # fmt: skip


def efficientnet_lite0(num_classes: int = 1000, in_channels: int = 3) -> EfficientNet:
    """EfficientNet-Lite0 (224x224): B0 without squeeze-excitation, with ReLU6 and TensorFlow padding;
    4,652,008 parameters. ``.features[-1]`` is the 1x1 head conv to 1280 channels (+ BN + ReLU6)."""
    return EfficientNet(EFFICIENTNET_LITE0, num_classes, in_channels)
