"""Exercises of notebook 03_gap_vs_flatten: which net survives shifted digits, and what GAP costs."""

from ..checkers import Exercise, choice_check, number_check, register

NOTEBOOK = "03_gap_vs_flatten"
CLASSIFIER, OUTPUT = 128 * 64 + 64, 64 * 10 + 10  # CNN-GAP's dense layers: 8,256 and 650
FLATTEN_NET, GAP_NET = 388_298, 101_578  # the seeds' Keras summaries

register(Exercise(
    "03.which_fails", NOTEBOOK,
    "Both nets are trained on centred digits only. Which one fails on shifted digits: 'flatten', 'gap', "
    "'both' or 'neither'?",
    choice_check("flatten", {
        "flatten": "the dense layer after flatten has separate weights for every position, so a digit that "
                   "moves lands on weights that never saw a digit.",
        "gap": "the convolutions are shift-equivariant and GAP averages each feature map over all positions, so "
               "a shifted digit gives (almost) the same 128 features: GAP is the robust one.",
        "both": "the convolutional trunk is shared and shift-equivariant; only the head differs. Which head "
                "ties its weights to positions?",
        "neither": "one head ties its weights to positions: after flatten, input neuron i is one position of "
                   "one feature map.",
    }, aliases={"cnn-flatten": "flatten", "cnn_flatten": "flatten", "flattening": "flatten",
                "cnn-flattening": "flatten", "cnn-gap": "gap", "cnn_gap": "gap",
                "global average pooling": "gap"}),
    hints=("Convolutions compute the same thing at every position; which layer does not?",),
))

register(Exercise(
    "03.gap_params", NOTEBOOK,
    "How many parameters does the global average pooling layer of CNN-GAP have?",
    number_check(0, {
        128: "128 is its output size (one average per feature map); an average has nothing to learn.",
        12 * 12 * 128: "that is how many values it averages (12x12x128); averaging has no weights.",
    }, why="an average has nothing to learn (nor has flatten); the GAP net is smaller because its "
           "classifier then sees 128 features instead of 4,608."),
    hints=("GAP computes mean over the 12x12 positions of each feature map. What would it learn?",),
))

register(Exercise(
    "03.gap_head_params", NOTEBOOK,
    "How many parameters do the layers after GAP have in total (classifier: dense 64, output: dense 10)?",
    number_check(CLASSIFIER + OUTPUT, {
        CLASSIFIER: f"that is the classifier alone; add the output layer (64 x 10 + 10 = {OUTPUT}).",
        OUTPUT: f"that is the output layer alone; add the classifier (128 x 64 + 64 = {CLASSIFIER:,}).",
        128 * 64 + 64 * 10: "you forgot the biases: 64 in the classifier and 10 in the output layer.",
        128 * 6 * 6 * 64 + 64 + OUTPUT: "that is CNN-flatten's head; after GAP the classifier sees 128 "
                                        "features, not 6x6x128 = 4,608.",
        GAP_NET: "that is the whole net; count only the layers after GAP.",
    }, why=f"(128 x 64 + 64) + (64 x 10 + 10) = {CLASSIFIER:,} + {OUTPUT}."),
    hints=("GAP outputs one number per feature map: 128 features.",
           "dense(n -> m) has n * m + m parameters: 128 -> 64, then 64 -> 10."),
))

register(Exercise(
    "03.param_ratio", NOTEBOOK,
    "How many times more parameters does CNN-flatten have than CNN-GAP? Read both totals from the summaries "
    "above; two decimals.",
    number_check(FLATTEN_NET / GAP_NET, {
        GAP_NET / FLATTEN_NET: "inverted: that is GAP / flatten; the question asks flatten / GAP.",
    }, why="the flatten head's 294,976-parameter dense layer makes the difference.", rel_tol=0.01),
    hints=("Divide the larger count by the smaller.",),
))
