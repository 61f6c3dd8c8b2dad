"""Exercises of notebook 04_transfer_learning: what a linear probe trains, and frozen BatchNorm."""

from ..checkers import Exercise, choice_check, number_check, register

NOTEBOOK = "04_transfer_learning"
FEATURES, CLASSES = 64, 5  # the small CNN's GAP code; Fashion-MNIST classes 5-9

register(Exercise(
    "04.probe_params", NOTEBOOK,
    "How many parameters does the linear probe train on the similar target (64 GAP features, 5 new classes)?",
    number_check(FEATURES * CLASSES + CLASSES, {
        FEATURES * CLASSES: "you forgot the 5 biases of the new head.",
        FEATURES * 10 + 10: "the similar target has 5 classes (Fashion-MNIST 5-9), not 10.",
        0: "the blocks are frozen, but the new head is trained.",
    }, why="only the new head trains: 64 x 5 weights + 5 biases."),
    hints=("A linear layer n -> m has n * m + m parameters.",),
))

register(Exercise(
    "04.frozen_bn_mode", NOTEBOOK,
    "While the head trains, should the BatchNorm layers of a frozen block run in 'train' mode (batch "
    "statistics, running averages updated) or 'eval' mode (stored statistics)?",
    choice_check("eval", {
        "eval": "the stored statistics keep the frozen block computing exactly what it computed on the source task.",
        "train": "then the running mean and variance drift to the new data: the 'frozen' features change and the "
                 "head is tested on features it never saw.",
    }, aliases={"eval mode": "eval", "train mode": "train"}),
    hints=("Frozen means: the block computes exactly what it computed on the source task.",),
))
