"""Exercises of notebook 07_cam_and_gradcam: why CAM is Grad-CAM on a GAP net, and which pooling localizes."""

from ..checkers import Exercise, choice_check, number_check, register

NOTEBOOK = "07_cam_and_gradcam"
W, SIDE = 0.32, 16  # a weight w_k^c and the side of conv3's maps with same padding on a 64 canvas

register(Exercise(
    "07.gradient", NOTEBOOK,
    f"The GAP net with same padding has 16x16 maps at relu3. The output weight from channel k to class c is "
    f"w_k^c = {W}. What is dS_c / df_k(i, j) at one position (i, j)?",
    number_check(W / SIDE**2, {
        W: "that is the derivative with respect to the pooled feature F_k; each position contributes 1/(hw) of it.",
        W / 12**2: "12x12 are the maps of notebook 03's valid convolutions; with same padding they are 16x16.",
        W * SIDE**2: "GAP divides by the number of positions: F_k = (1/hw) sum f_k(i, j).",
        W / SIDE: "the average runs over all 16 x 16 = 256 positions, not over one row.",
    }, why=f"S_c = sum_k w_k^c (1/hw) sum_ij f_k(i, j) + b_c, so the derivative is w_k^c / 256 = {W / SIDE**2}: "
           "the same at every position, so Grad-CAM's average gradient is w_k^c / 256, proportional to CAM's "
           "weight.", rel_tol=0.01),
    hints=("Write S_c with the average over positions spelled out.",),
))

register(Exercise(
    "07.exact_pooling", NOTEBOOK,
    "For which head is S_c = mean over positions of M_c + b_c an identity: 'gap' (average pooling, then one "
    "linear layer), 'gmp' (max pooling, then one linear layer), 'both' or 'neither'?",
    choice_check("gap", {
        "gap": "the average of a weighted sum is the weighted sum of the averages.",
        "gmp": "the maximum of a weighted sum is not the weighted sum of the maxima: channels peak at different "
               "positions.",
        "both": "max pooling does not commute with the weighted sum over channels; only the average does.",
        "neither": "for GAP it is exact: linear maps commute with averages.",
    }, aliases={"average": "gap", "avg": "gap", "max": "gmp"}),
    hints=("Is mean(sum_k w_k f_k) = sum_k w_k mean(f_k)? And for max?",),
))
