"""Reference solutions of notebook 08_adversarial_examples's exercises, computed where they can be."""

import torch

from lecture_utils import adversarial, data

SOLUTIONS = {
    "08.linear_change": adversarial.linear_change(torch.full((784,), 0.01, dtype=torch.float64), 0.1)[1],
    # targeted: x - eps sign(grad J(x, y_target)) lowers the target's loss
    "08.targeted_direction": "against",
    # one-step adversarial training resists the one linear step; PGD's several steps find the examples anyway
    "08.fgsm_vs_pgd": "b",
    # two grey levels through (p - 127) / 128: the offset cancels
    "08.eps_units": 2 / (255 * data.LITE_STD[0]),
}
