"""Reference solutions of notebook 09_resnets_and_landscapes's exercises, computed from the models themselves."""

from lecture_utils import residual
from lecture_utils.models import resnet56

net = resnet56()
blocks = residual.residual_blocks(net)

SOLUTIONS = {
    # Degradation: the deeper plain net has the higher training error after the same budget.
    "09.deeper_plain": "plain-56",
    "09.paths": 2 ** len(blocks),
    "09.block_params": sum(p.numel() for p in blocks["layer2.3"].parameters()),
}
