"""Exercises of notebook 02_counting: count a layer's parameters, multiply-adds and receptive field.

All questions are about the seeds' shifted-MNIST nets on a 64x64 canvas:
conv1 3x3 (1 -> 32) -> 62x62, pool 2 -> 31x31, conv2 3x3 (32 -> 64) -> 29x29, pool 2 -> 14x14,
conv3 3x3 (64 -> 128) -> 12x12, then pool 2 -> 6x6 and flatten (4,608 values) in CNN-flatten.
"""

from ..checkers import Exercise, number_check, register

NOTEBOOK = "02_counting"
K, C_IN, C_OUT, OUT = 3, 32, 64, 29  # conv2: kernel, channels in/out, output side
WEIGHTS = K * K * C_IN * C_OUT  # 18,432

register(Exercise(
    "02.conv2_params", NOTEBOOK,
    "How many parameters does conv2 have (3x3 kernels, 32 -> 64 channels, with bias)?",
    number_check(WEIGHTS + C_OUT, {
        WEIGHTS: f"you forgot the bias: each of the {C_OUT} filters has one ({C_OUT} more).",
        WEIGHTS + C_OUT * OUT * OUT: f"you counted the bias once per output position ({OUT}x{OUT}x{C_OUT}); "
                                     f"a filter's bias is shared by all positions: once per filter ({C_OUT}).",
        (WEIGHTS + C_OUT) * OUT * OUT: f"you gave every output position its own weights (a locally connected "
                                       f"layer); a convolution shares each filter across all {OUT}x{OUT} positions.",
        K * K * C_OUT + C_OUT: f"each filter spans all {C_IN} input channels: {K}x{K}x{C_IN} weights per "
                               f"filter, not {K}x{K}.",
        K * K * C_IN + 1: f"that is one filter; conv2 has {C_OUT} of them.",
        WEIGHTS + C_IN: f"one bias per output channel ({C_OUT}), not per input channel ({C_IN}).",
    }, why=f"({K} x {K} x {C_IN} + 1) x {C_OUT}: {C_OUT} filters of {K}x{K}x{C_IN} weights, one bias each."),
    hints=("A convolution layer has C_out filters, each of size k x k x C_in, plus one bias per filter.",
           "params = (k * k * C_in + 1) * C_out, with k=3, C_in=32, C_out=64."),
))

MACS = OUT * OUT * C_OUT * K * K * C_IN  # 15,501,312
register(Exercise(
    "02.conv2_macs", NOTEBOOK,
    "How many multiply-adds does conv2 compute for one 64x64 image (its input is 31x31x32)?",
    number_check(MACS, {
        2 * MACS: "that is FLOPs: a multiply-add is 2 floating point operations; the question asks for "
                  "multiply-adds.",
        31 * 31 * C_OUT * K * K * C_IN: f"you used the input size 31x31; there is one multiply-add per weight per "
                                        f"OUTPUT position ({OUT}x{OUT}: a valid 3x3 convolution loses 2 pixels).",
        WEIGHTS: f"that is the number of weights; each weight is used at every one of the {OUT}x{OUT} output "
                 "positions.",
        OUT * OUT * C_OUT * K * K: f"each output value sums over all {C_IN} input channels: {K}x{K}x{C_IN} "
                                   "multiply-adds per output value.",
    }, why=f"{OUT} x {OUT} x {C_OUT} outputs, each a dot product of {K} x {K} x {C_IN} = {K * K * C_IN} "
            "multiply-adds.", also_correct={
        MACS + OUT * OUT * C_OUT: f"if you count the {OUT * OUT * C_OUT:,} bias additions too; the usual "
                                  f"convention (torchvision, the lecture) counts weights only: {MACS:,}.",
    }),
    hints=("Each output value is a dot product of one filter (k x k x C_in numbers) with a patch.",
           "multiply-adds = H_out * W_out * C_out * (k * k * C_in), with H_out = W_out = 29."),
))

register(Exercise(
    "02.receptive_field", NOTEBOOK,
    "How many input pixels wide is the receptive field of one conv3 output (conv1, pool1, conv2, pool2, "
    "conv3: 3x3 convolutions, 2x2 max-pooling with stride 2)?",
    number_check(18, {
        7: "you ignored the pooling layers: after pool1 one step of a kernel spans 2 input pixels, after "
           "pool2 it spans 4.",
        15: "you applied the strides but forgot that each 2x2 pooling window widens the field too, by "
            "(k - 1) x jump.",
        10: "that is the field of one pool2 output; conv3 adds (3 - 1) x 4 more.",
        324: "that is the area (18 x 18); the question asks for the width.",
    }, why="r = 1 -> 3 (conv1) -> 4 (pool1, jump 2) -> 8 (conv2) -> 10 (pool2, jump 4) -> 18 (conv3).",
       unit="pixels"),
    hints=("Walk the layers from the input: r grows by (k - 1) * j, and the jump j (input pixels between "
           "neighbouring outputs) is multiplied by the stride.",
           "Start with r = 1, j = 1: conv1 -> r = 3; pool1 -> r = 4, j = 2; continue with conv2, pool2, conv3."),
))

FLAT = 128 * 6 * 6  # 4,608 values after pool3 and flatten
register(Exercise(
    "02.flatten_classifier_params", NOTEBOOK,
    "How many parameters does CNN-flatten's `classifier` (dense, 64 units) have?",
    number_check(FLAT * 64 + 64, {
        FLAT * 64: "you forgot the bias: one per unit (64 more).",
        128 * 12 * 12 * 64 + 64: "you flattened conv3's 12x12 map; pool3 halves it to 6x6 first (6x6x128 = "
                                 "4,608 inputs).",
        128 * 64 + 64: "that is the GAP net's classifier; after flattening, the dense layer sees all 6x6x128 "
                       "= 4,608 values.",
    }, why="4,608 x 64 + 64: the most expensive layer of CNN-flatten, three quarters of its parameters."),
    hints=("A dense layer from n inputs to m units has n * m weights and m biases.",
           "The input is pool3's output flattened: 6 x 6 x 128 values."),
))
