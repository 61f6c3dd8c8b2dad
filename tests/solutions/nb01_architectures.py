"""Reference solutions of notebook 01_architectures' exercises, measured on the models themselves."""

import torch

from lecture_utils.counting import conv_macs
from lecture_utils.models import cnn_flatten, densenet121, fc_to_conv


def dense_channels() -> int:
    """Input channels of layer 6 of DenseNet-121's first block, seen by a hook during a shape-only pass."""
    with torch.device("meta"):
        net = densenet121()
    seen = []
    handle = net.features.denseblock1.denselayer6.register_forward_pre_hook(
        lambda module, args: seen.append(args[0].shape[1]))
    net(torch.zeros(1, 3, 224, 224, device="meta"))
    handle.remove()
    return seen[0]


def compound_flops() -> float:
    """Multiply-adds of a stack of L 1x1 convolutions (C channels, R x R) scaled by alpha^2 = 1.44,
    beta^2 = 1.21 and gamma^2 = 1.3225, sizes picked so all are whole: 25 -> 36 layers, 100 -> 121
    channels, 400 -> 529 pixels."""
    def macs(layers: int, channels: int, side: int) -> int:
        return layers * conv_macs(1, channels, channels, side)

    return macs(36, 121, 529) / macs(25, 100, 400)


def fully_conv_cnn_flatten():
    return fc_to_conv(cnn_flatten().eval(), (1, 64, 64))


SOLUTIONS = {
    "01.dense_channels": dense_channels(),
    "01.compound_flops": compound_flops(),
    "01.fc_kernel": fully_conv_cnn_flatten().classifier.kernel_size[0],
    "01.heatmap_width": fully_conv_cnn_flatten()(torch.zeros(1, 1, 64, 128)).shape[-1],
}
