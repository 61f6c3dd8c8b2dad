"""Exercises of notebook 06_visualizing_cnns: receptive fields and the cost of occlusion."""

from ..checkers import Exercise, number_check, register

NOTEBOOK = "06_visualizing_cnns"

register(Exercise(
    "06.receptive_field", NOTEBOOK,
    "conv1 (3x3) -> pool1 (2x2, stride 2) -> conv2 (3x3) -> pool2 (2x2, stride 2): how many input pixels wide is "
    "the receptive field of one unit of pool2?",
    number_check(10, {
        5: "3 + 2 = 5 adds the kernels as if every layer had stride 1; after pool1 one step is 2 pixels.",
        8: "that is conv2's field; pool2 adds (2 - 1) x 2 more.",
        18: "that is relu3's, one conv further.",
        4: "that is pool1's field; keep going through conv2 and pool2.",
    }, why="r: 1 -> 3 (conv1) -> 4 (pool1, jump 2) -> 8 (conv2: + 2 x 2) -> 10 (pool2: + 1 x 2)."),
    hints=("r <- r + (k - 1) j and j <- j s, starting from r = j = 1.",),
))

register(Exercise(
    "06.occlusion_passes", NOTEBOOK,
    "Occlusion on one 28x28 image with an 8x8 patch moved with stride 2 in both directions: how many forward "
    "passes (occluded copies)?",
    number_check(121, {
        11: "that is the positions along one axis; the patch moves over rows and columns.",
        100: "positions per axis: (28 - 8) / 2 + 1 = 11, not 10 (count both ends).",
        196: "(28 / 2)^2 ignores that the patch must stay inside the image: (28 - 8) / 2 + 1 per axis.",
        441: "that is stride 1 along one axis only... per axis (28 - 8) / 2 + 1 = 11 positions.",
    }, why="(28 - 8) / 2 + 1 = 11 positions per axis, 11 x 11 = 121 copies."),
    hints=("Count the top-left corners: 0, 2, ..., 20.",),
))
