"""Exercises of notebook 05_cnn_codes: how long a code is, and how to read a t-SNE map."""

from ..checkers import Exercise, choice_check, number_check, register

NOTEBOOK = "05_cnn_codes"

register(Exercise(
    "05.block2_code_length", NOTEBOOK,
    "Block 2 outputs 32 feature maps after a 2x2 max pooling of 14x14 maps. How long is its code?",
    number_check(32 * 7 * 7, {
        32 * 14 * 14: "that is before the pooling; the block ends with a 2x2 max pooling (14x14 -> 7x7).",
        32: "that would be after global average pooling; block 2 keeps its 7x7 maps and flattens them.",
        7 * 7: "a code has one entry per channel and position: multiply by the 32 channels.",
    }, why="32 channels x 7 x 7 positions, flattened."),
    hints=("extract flattens the (C, H, W) activation of each image.",),
))

register(Exercise(
    "05.tsne_gaps", NOTEBOOK,
    "Two clusters lie far apart on the t-SNE map. Does that show that the two classes are more different "
    "than two clusters lying close together? Answer 'yes' or 'no'.",
    choice_check("no", {
        "no": "t-SNE matches neighbour probabilities; distances between clusters are not preserved.",
        "yes": "t-SNE keeps neighbourhoods, not distances: the gaps between clusters are not meaningful.",
    }),
    hints=("What does t-SNE's cost function compare: all distances, or neighbour probabilities?",),
))
