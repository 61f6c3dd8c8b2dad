"""Exercises of notebook 01_architectures: DenseNet's growth, EfficientNet's scaling, FC layers as convolutions."""

from ..checkers import Exercise, number_check, register

NOTEBOOK = "01_architectures"
K0, K, LAYER = 64, 32, 6  # DenseNet-121, first dense block: 64 channels in, growth rate 32; its 6th layer
ALPHA, BETA, GAMMA, PHI = 1.2, 1.1, 1.15, 2
FLOPS_FACTOR = (ALPHA * BETA**2 * GAMMA**2) ** PHI  # 3.687

register(Exercise(
    "01.dense_channels", NOTEBOOK,
    f"DenseNet-121's first dense block gets k0 = {K0} channels and has growth rate k = {K}. How many channels "
    f"does the input of its layer {LAYER} have?",
    number_check(K0 + (LAYER - 1) * K, {
        K0 + LAYER * K: f"that is the block's output after layer {LAYER} has added its own {K} maps; layer "
                        f"{LAYER} sees the block input and the {LAYER - 1} layers before it.",
        (LAYER - 1) * K: f"you left out the block's input: every layer also sees the {K0} channels x_0.",
        K: f"each layer outputs k = {K} maps, but it reads the concatenation of everything before it.",
        K0: "that is only the block's input; the earlier layers' outputs are concatenated to it.",
    }, why=f"k0 + (l - 1) k = {K0} + {LAYER - 1} x {K}."),
    hints=("Layer l reads the concatenation [x_0, x_1, ..., x_{l-1}]: the block input and l - 1 layer outputs.",
           "Each layer output has k channels."),
))

register(Exercise(
    "01.compound_flops", NOTEBOOK,
    f"EfficientNet scales depth by alpha^phi, width by beta^phi and resolution by gamma^phi (alpha = {ALPHA}, "
    f"beta = {BETA}, gamma = {GAMMA}). By what factor do the FLOPs grow at phi = {PHI}? Two decimals.",
    number_check(FLOPS_FACTOR, {
        (ALPHA * BETA * GAMMA) ** PHI: "FLOPs grow linearly with depth but quadratically with width (channels in "
                                       "and out) and with resolution (height and width): alpha * beta^2 * gamma^2.",
        ALPHA * BETA**2 * GAMMA**2: f"that is the factor for phi = 1; it is raised to the power phi = {PHI}.",
        (ALPHA * BETA**2 * GAMMA**2) * PHI: "the factors multiply at each step of phi: a power, not a product.",
    }, why=f"(alpha * beta^2 * gamma^2)^phi = {ALPHA * BETA**2 * GAMMA**2:.4f}^{PHI}.", rel_tol=0.01,
       also_correct={2.0**PHI: f"that is the paper's rounded rule (about 2^phi); exactly it is "
                               f"{ALPHA * BETA**2 * GAMMA**2:.4f}^{PHI} = {FLOPS_FACTOR:.2f}."}),
    hints=("Which of depth, width and resolution enter the cost of a convolution once, which twice?",
           "A conv layer's multiply-adds: H * W * C_in * C_out * k * k; the net's: that, summed over its layers."),
))

register(Exercise(
    "01.fc_kernel", NOTEBOOK,
    "CNN-flatten's `classifier` (dense, 64 units) reads the flattened 6x6x128 output of pool3. Rewritten as a "
    "convolution with the same weights, what is its kernel size (one side, in pixels)?",
    number_check(6, {
        12: "12x12 is conv3's map; pool3 halves it before the flatten.",
        1: "1x1 is right for the later dense layers, which see a vector; this one sees a 6x6 map.",
        64: "64 is the number of filters (one per unit), not their size.",
        128: "128 is the depth of each filter (the channels), not its side.",
    }, why="one filter per unit, each covering the whole 6x6x128 map: a 6x6 convolution with 64 filters.",
       unit="pixels"),
    hints=("A dense unit sees every value of the map it reads. How large must a filter be to do the same?",),
))

register(Exercise(
    "01.heatmap_width", NOTEBOOK,
    "The rewritten CNN-flatten (built for 64x64; its three 2x2 poolings give a stride of 8 pixels) runs on a "
    "64x128 canvas. How many columns does its heat map have?",
    number_check(9, {
        8: "you forgot the first window: (128 - 64) / 8 windows after it, plus the one at offset 0.",
        65: "that is the number of 64-pixel windows at a stride of 1; the net moves 8 pixels per heat-map cell.",
        16: "128 / 8 counts cells of the map after the poolings; the 6x6 kernel must still fit in it.",
        2: "the windows overlap: they start every 8 pixels, not every 64.",
    }, why="(128 - 64) / 8 + 1 = 9 windows of 64 pixels, 8 pixels apart."),
    hints=("Each heat-map cell is the classifier applied to one 64x64 window.",
           "Windows start at 0, 8, 16, ...: how many start positions leave the whole window on the canvas?"),
))
