"""Reference solutions of notebook 02_counting's exercises, computed from the models themselves."""

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from lecture_utils.models.shifted import cnn_flatten, cnn_gap


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def conv2_macs() -> int:
    """PyTorch's FLOP counter on conv2's 31x31x32 input; it counts 2 FLOPs per multiply-add."""
    with FlopCounterMode(display=False) as counter:
        cnn_gap().conv2(torch.zeros(1, 32, 31, 31))
    return counter.get_total_flops() // 2


def receptive_field() -> int:
    """Width of the input region whose pixels reach one conv3 output (gradient of a linear copy of the trunk).

    Max-pooling routes gradients through one pixel only, so the copy uses average pooling of the same
    geometry, all-ones weights and no ReLU: every pixel in the receptive field then gets a gradient.
    """
    net = cnn_gap()
    trunk = nn.Sequential(*[
        nn.AvgPool2d(m.kernel_size, m.stride) if isinstance(m, nn.MaxPool2d) else m
        for name, m in net.named_children() if name.startswith(("conv", "pool"))
    ])
    for conv in (net.conv1, net.conv2, net.conv3):
        nn.init.ones_(conv.weight)
        nn.init.zeros_(conv.bias)
    x = torch.zeros(1, 1, 64, 64, requires_grad=True)
    trunk(x)[0, 0, 5, 5].backward()
    columns = x.grad[0, 0].abs().sum(dim=0).nonzero()
    return int(columns.max() - columns.min() + 1)


SOLUTIONS = {
    "02.conv2_params": n_params(cnn_gap().conv2),
    "02.conv2_macs": conv2_macs(),
    "02.receptive_field": receptive_field(),
    "02.flatten_classifier_params": n_params(cnn_flatten().classifier),
}
