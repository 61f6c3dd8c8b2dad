"""Exercises of notebook 09_resnets_and_landscapes: degradation, the unrolled view, what a lesion removes."""

from ..checkers import Exercise, choice_check, number_check, register

NOTEBOOK = "09_resnets_and_landscapes"
BLOCKS_56 = 27  # ResNet-56: 3 stages of 9 basic blocks
CONV_32 = 32 * 32 * 3 * 3  # one 3x3 conv, 32 -> 32 channels, no bias
BN_32 = 2 * 32  # gamma and beta (running statistics are buffers, not parameters)

register(Exercise(
    "09.deeper_plain", NOTEBOOK,
    "plain-20 and plain-56 are trained with the same data and budget. Which one ends with the higher "
    "*training* error: 'plain-20', 'plain-56' or 'same'?",
    choice_check("plain-56", {
        "plain-56": "the degradation problem: the deeper plain net is harder to optimise, so even its training "
                    "error is higher; it is not overfitting.",
        "plain-20": "plain-56 can represent everything plain-20 can (extra layers as identities), yet in practice "
                    "the optimiser does not find that solution: the deeper net trains worse.",
        "same": "depth changes how hard the net is to optimise; the curves of He et al.'s Fig. 1 are far apart.",
    }, aliases={"plain20": "plain-20", "plain56": "plain-56", "20": "plain-20", "56": "plain-56",
                "deeper": "plain-56", "shallower": "plain-20", "equal": "same"}),
    hints=("Overfitting would show as a *test* error gap with a low training error. The question is about "
           "the training error.",),
))

register(Exercise(
    "09.paths", NOTEBOOK,
    "Unrolled (Veit et al.), how many paths from input to output does ResNet-56 have through its 27 residual "
    "blocks? (Each block is passed either through F or through the shortcut.)",
    number_check(2 ** BLOCKS_56, {
        BLOCKS_56: "27 is the number of blocks; each block doubles the number of paths.",
        56: "56 is the number of layers; count the choices per block.",
        2 ** 54: "a block has two choices (F or the shortcut), not one per layer: 2^27, not 2^54.",
        2 ** 56: "count blocks, not layers: 2^27.",
        2 * BLOCKS_56: "the choices multiply, they do not add: 2 x 2 x ... x 2 = 2^27.",
    }, why="every block doubles the number of paths: 2^27 = 134,217,728 paths, most of them of medium length."),
    hints=("With one block there are 2 paths: through F, or around it.", "Two blocks: 2 x 2 = 4 paths."),
))

register(Exercise(
    "09.block_params", NOTEBOOK,
    "Deleting block layer2.3 of ResNet-56 (32 channels in and out, identity shortcut) removes how many "
    "parameters?",
    number_check(2 * (CONV_32 + BN_32), {
        2 * CONV_32: "you forgot the two BatchNorm layers (gamma and beta, 32 each).",
        CONV_32 + BN_32: "a basic block has two 3x3 convolutions, each followed by BatchNorm.",
        CONV_32: "that is one convolution; a basic block has two, plus two BatchNorm layers.",
        2 * (CONV_32 + 32) + 2 * BN_32: "the convolutions have no bias (the BatchNorm after them has one).",
        2 * (CONV_32 + 2 * BN_32): "running mean and variance are buffers, not parameters: count gamma and beta.",
    }, why=f"2 x (32 x 32 x 3 x 3) + 2 x (32 + 32) = {2 * (CONV_32 + BN_32):,}; the identity shortcut has none."),
    hints=("A basic block: conv3x3 -> BN -> ReLU -> conv3x3 -> BN.", "A 3x3 conv from 32 to 32 channels without "
           "bias has 32 x 32 x 9 weights."),
))
