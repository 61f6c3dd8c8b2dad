"""Reference solutions of notebook 04_transfer_learning's exercises, computed from the models themselves."""

import torch

from lecture_utils import transfer

probe, _ = transfer.build(transfer.small_cnn(5), "linear probe", 5, torch.zeros(1, 1, 28, 28))

SOLUTIONS = {
    "04.probe_params": sum(p.numel() for p in probe.parameters() if p.requires_grad),
    # frozen blocks keep their stored statistics: Transferred.train() keeps them in eval mode
    "04.frozen_bn_mode": "eval",
}
