"""lecture_utils.counting: hand formulas vs PyTorch layers, the seeds' Keras tables, flop_counter, metadata."""

import pytest
import torch
import torchvision
from torch import nn

from lecture_utils import counting
from lecture_utils.models import cnn_flatten, cnn_gap

# The seeds' Keras summaries (002, CNN-flattening and CNN-GAP), channels-last (H, W, C), Input/Reshape rows
# left out: (name, Keras type, output shape, Param #).
FLATTEN_SLIDE = [
    ("conv1", "Conv2D", (62, 62, 32), 320),
    ("pool1", "MaxPooling2D", (31, 31, 32), 0),
    ("conv2", "Conv2D", (29, 29, 64), 18496),
    ("pool2", "MaxPooling2D", (14, 14, 64), 0),
    ("conv3", "Conv2D", (12, 12, 128), 73856),
    ("pool3", "MaxPooling2D", (6, 6, 128), 0),
    ("flatten", "Flatten", (4608,), 0),
    ("dropout1", "Dropout", (4608,), 0),
    ("classifier", "Dense", (64,), 294976),
    ("dropout2", "Dropout", (64,), 0),
    ("Output", "Dense", (10,), 650),
]
GAP_SLIDE = FLATTEN_SLIDE[:5] + [
    ("gpooling", "GlobalAveragePooling2D", (128,), 0),
    ("dropout1", "Dropout", (128,), 0),
    ("classifier", "Dense", (64,), 8256),
    ("dropout2", "Dropout", (64,), 0),
    ("Output", "Dense", (10,), 650),
]
KERAS_TYPES = {
    "Conv2d": "Conv2D",
    "MaxPool2d": "MaxPooling2D",
    "Flatten": "Flatten",
    "Dropout": "Dropout",
    "Linear": "Dense",
    "AdaptiveAvgPool2d": "GlobalAveragePooling2D",
}


def _keras_rows(result):
    """Our rows in the slide's notation: Keras type, channels-last shape with singleton axes dropped."""
    rows = []
    for layer in result.visible():
        shape = layer.output_shape[1:] + layer.output_shape[:1]
        rows.append((layer.name, KERAS_TYPES[layer.type], tuple(d for d in shape if d != 1), layer.params))
    return rows


@pytest.mark.parametrize(
    ("build", "slide", "total", "hide"),
    [(cnn_flatten, FLATTEN_SLIDE, 388_298, ("ReLU",)), (cnn_gap, GAP_SLIDE, 101_578, ("ReLU", "Flatten"))],
)
def test_summary_reproduces_the_seed_tables(build, slide, total, hide):
    result = counting.summary(build(), (1, 64, 64), hide=hide)
    ours = _keras_rows(result)
    assert ours == [(name.lower(), *rest) for name, *rest in slide]
    assert (result.total_params, result.trainable_params, result.non_trainable_params) == (total, total, 0)
    text = str(result)
    assert f"Total params: {total:,}" in text and f"Trainable params: {total:,}" in text
    assert "Non-trainable params: 0" in text and "ReLU" not in text
    keras_text = result.to_text(channels_last=True)
    assert "conv1 (Conv2d)" in keras_text and "(None, 62, 62, 32)" in keras_text and "18496" in keras_text
    assert "(None, 32, 62, 62)" in text


def test_summary_table_and_row_counts_by_hand():
    result = counting.summary(cnn_flatten(), (1, 64, 64))
    table = result.table
    assert list(table.columns) == ["name", "type", "output_shape", "params", "mult_adds", "activations"]
    assert len(table) == 15 and table["params"].sum() == 388_298 and result.unlisted_params == 0
    conv2 = table.set_index("name").loc["conv2"]
    assert conv2["output_shape"] == (64, 29, 29)
    assert conv2["mult_adds"] == 3 * 3 * 32 * 64 * 29 * 29
    assert conv2["activations"] == 64 * 29 * 29
    assert table.set_index("name").loc["flatten", "activations"] == 0  # a view: no new memory
    elements = 64 * 64 + int(table["activations"].sum())
    assert result.activation_elements == elements and result.activation_bytes == 4 * elements
    assert result.mult_adds == 1_107_072 + 15_501_312 + 10_616_832 + 4608 * 64 + 64 * 10


def test_summary_restores_modes_removes_hooks_and_leaves_batch_norm_statistics_alone():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(inplace=True), nn.Dropout())
    model.train()
    model[3].eval()
    counting.summary(model, (3, 8, 8))
    assert [m.training for m in model] == [True, True, True, False]
    assert model[1].num_batches_tracked.item() == 0
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    result = counting.summary(model, (3, 8, 8))
    assert result.layers[2].activations == 0  # in-place ReLU
    assert result.total_params == counting.conv_params(3, 3, 8) + counting.batchnorm_params(8)


def test_vgg16_parameters_and_operations_via_summary():
    with torch.device("meta"):  # no weights allocated, nothing computed
        model = torchvision.models.vgg16()
    result = counting.summary(model, (3, 224, 224))
    assert result.total_params == 138_357_544
    convs = result.table[result.table["type"] == "Conv2d"]
    fcs = result.table[result.table["type"] == "Linear"]
    assert fcs["params"].sum() == 123_642_856  # where VGG's parameters live
    assert convs["mult_adds"].sum() / result.mult_adds > 0.99  # and where its compute lives
    assert result.mult_adds == counting.flop_counter_macs(model, (3, 224, 224))


def _meta_model(name):
    extra = {"aux_logits": False, "init_weights": False} if name == "googlenet" else {}
    with torch.device("meta"):
        return torchvision.models.get_model(name, **extra)


@pytest.mark.parametrize("name", ["resnet18", "vgg11", "googlenet", "mobilenet_v2", "efficientnet_b0"])
def test_mult_adds_match_flop_counter_and_torchvision_metadata(name):
    model = _meta_model(name)
    result = counting.summary(model, (3, 224, 224))
    assert result.mult_adds == counting.flop_counter_macs(model, (3, 224, 224))
    reference = counting.torchvision_reference([name]).iloc[0]
    assert result.total_params == reference["params"]
    assert result.mult_adds == pytest.approx(reference["mult_adds"], rel=0.02)


def test_summary_reports_parameters_of_modules_the_forward_pass_skips():
    with torch.device("meta"):
        model = torchvision.models.googlenet(aux_logits=True, init_weights=False)
    result = counting.summary(model, (3, 224, 224))  # eval mode: the auxiliary classifiers do not run
    assert result.unlisted_params == result.total_params - 6_624_904 > 0
    assert f"Params in no row (modules not run by this forward pass): {result.unlisted_params:,}" in repr(result)


@pytest.mark.parametrize(
    ("build", "input_size"),
    [
        (cnn_flatten, (1, 64, 64)),
        (cnn_gap, (1, 64, 64)),
        (
            lambda: nn.Sequential(nn.Conv2d(4, 8, 3, padding=1, groups=2), nn.ConvTranspose2d(8, 6, 4, 2, groups=2)),
            (4, 16, 16),
        ),
        (lambda: nn.Sequential(nn.Conv1d(3, 5, 5, stride=2, dilation=2), nn.Flatten(), nn.Linear(5 * 11, 7)), (3, 30)),
    ],
)
def test_mult_adds_match_flop_counter_on_small_nets(build, input_size):
    model = build()
    result = counting.summary(model, input_size)
    assert result.mult_adds > 0 and result.mult_adds == counting.flop_counter_macs(model, input_size)


def test_torchvision_reference_reads_metadata_offline():
    table = counting.torchvision_reference().set_index("model")
    assert table.loc["vgg16", "params"] == 138_357_544
    assert table.loc["resnet18", "mult_adds"] == 1_814_000_000
    assert table.loc["inception_v3", "resolution"] == 299
    assert table.loc["alexnet", "acc@1"] == pytest.approx(56.522)
    with pytest.raises(ValueError, match="no 'IMAGENET1K_V9' weights for model 'resnet18'"):
        counting.torchvision_reference(["resnet18"], weights="IMAGENET1K_V9")


@pytest.mark.parametrize(
    ("size", "k", "s", "p", "d", "groups", "c_in", "c_out"),
    [
        (64, 3, 1, 0, 1, 1, 1, 32),
        (224, 11, 4, 2, 1, 1, 3, 96),
        (28, 5, 1, 2, 1, 1, 64, 96),
        (31, 3, 2, 1, 1, 1, 8, 16),
        (20, 3, 1, 2, 2, 1, 4, 4),
        (17, 3, 2, 1, 1, 8, 8, 8),  # depthwise
        (15, 1, 1, 0, 1, 4, 32, 64),
    ],
)
def test_conv_formulas_match_nn_conv2d(size, k, s, p, d, groups, c_in, c_out):
    for bias in (True, False):
        conv = nn.Conv2d(c_in, c_out, k, stride=s, padding=p, dilation=d, groups=groups, bias=bias)
        assert counting.conv_params(k, c_in, c_out, groups, bias) == sum(q.numel() for q in conv.parameters())
    out = counting.conv_output_size(size, k, s, p, d)
    assert conv(torch.zeros(1, c_in, size, size)).shape[2:] == (out, out)
    layer = counting.summary(nn.Sequential(conv), (c_in, size, size)).layers[0]
    assert layer.mult_adds == counting.conv_macs(k, c_in, c_out, out, groups) == k * k * c_in // groups * c_out * out**2


def test_conv_params_of_the_seed_layers_and_non_square_kernels():
    assert counting.conv_params(3, 32, 64) == 18_496
    assert counting.conv_params((1, 7), 16, 16, bias=False) == sum(
        q.numel() for q in nn.Conv2d(16, 16, (1, 7), bias=False).parameters()
    )
    assert counting.conv_macs((3, 3), 3, 64, (224, 224)) == 86_704_128
    with pytest.raises(ValueError, match="groups=3 must divide c_in=8"):
        counting.conv_params(3, 8, 8, groups=3)
    with pytest.raises(ValueError, match="kernel must be a positive int"):
        counting.conv_params(0, 8, 8)
    with pytest.raises(ValueError, match="size=4 is too small"):
        counting.conv_output_size(4, 5)


@pytest.mark.parametrize(
    ("size", "k", "s", "p", "ceil"),
    [
        (31, 2, None, 0, False),
        (29, 2, 2, 0, True),
        (112, 3, 2, 1, False),
        (14, 3, 2, 1, True),
        (8, 3, 3, 1, True),
        (7, 7, 1, 0, False),
    ],
)
def test_pool_output_size_matches_nn_maxpool2d(size, k, s, p, ceil):
    pool = nn.MaxPool2d(k, stride=s, padding=p, ceil_mode=ceil)
    out = counting.pool_output_size(size, k, s, p, ceil)
    assert pool(torch.zeros(1, 1, size, size)).shape[2:] == (out, out)


@pytest.mark.parametrize(("in_f", "out_f", "bias"), [(4608, 64, True), (64, 10, True), (2048, 1000, False)])
def test_linear_and_batchnorm_formulas(in_f, out_f, bias):
    assert counting.linear_params(in_f, out_f, bias) == sum(
        q.numel() for q in nn.Linear(in_f, out_f, bias).parameters()
    )
    assert counting.linear_macs(in_f, out_f) == in_f * out_f
    for channels in (8, 64):
        assert counting.batchnorm_params(channels) == sum(q.numel() for q in nn.BatchNorm2d(channels).parameters())
        assert counting.batchnorm_params(channels, affine=False) == 0


def test_activation_memory():
    assert counting.activation_memory((64, 224, 224)) == (3_211_264, 12_845_056)
    assert counting.activation_memory([10], dtype=torch.float16) == (10, 20)
    with pytest.raises(ValueError, match="shape must be"):
        counting.activation_memory(())


def test_receptive_field():
    assert counting.receptive_field([(3, 1)] * 2) == 5
    assert counting.receptive_field([(3, 1)] * 3) == 7
    assert counting.receptive_field([(7, 1)]) == 7
    assert counting.receptive_field([(3, 1, 2)]) == 5  # dilation 2: a 3x3 spreads over 5x5
    table = counting.receptive_field_table(cnn_flatten()[:6])  # conv, relu, pool, conv, relu, pool
    assert table["receptive_field"].tolist() == [3, 4, 8, 10] and table["jump"].tolist() == [1, 2, 2, 4]
    with pytest.raises(ValueError, match="kernel, stride"):
        counting.receptive_field([(3,)])
    with pytest.raises(ValueError, match="no convolution or pooling"):
        counting.receptive_field([nn.ReLU()])


def test_inception_cost_naive_and_reduced():
    naive = counting.inception_cost()
    assert naive["mult_adds"].tolist() == [25_690_112, 346_816_512, 481_689_600]
    assert naive["mult_adds"].sum() == 854_196_224  # the slides' 854M
    reduced = counting.inception_cost(ch3x3red=64, ch5x5red=64, pool_proj=64)
    assert len(reduced) == 6 and reduced["mult_adds"].sum() == 271_351_808
    three = reduced.loc[reduced["conv"] == "3x3 conv, 192", "mult_adds"].item()
    assert three == 86_704_128
    # The slides' 358M: the same terms with the 3x3 conv computed on 128 input channels instead of 64 ...
    assert 271_351_808 - three + counting.conv_macs(3, 128, 192, 28) == 358_055_936
    # ... while a module that really reduces to 128 channels before the 3x3 costs more: 370.9M.
    wider = counting.inception_cost(ch3x3red=128, ch5x5red=64, pool_proj=64)
    assert wider["mult_adds"].sum() == 370_900_992
    with pytest.raises(ValueError, match="give all of ch3x3red"):
        counting.inception_cost(ch3x3red=64)


class NaiveInception(nn.Module):
    """The naive module: 1x1, 3x3 and 5x5 convs and a 3x3 max-pool side by side, concatenated."""

    def __init__(self):
        super().__init__()
        self.b1 = nn.Conv2d(256, 128, 1)
        self.b3 = nn.Conv2d(256, 192, 3, padding=1)
        self.b5 = nn.Conv2d(256, 96, 5, padding=2)
        self.pool = nn.MaxPool2d(3, stride=1, padding=1)

    def forward(self, x):
        return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.pool(x)], dim=1)


def test_inception_terms_match_summary_of_the_module():
    with torch.device("meta"):
        model = NaiveInception()
    result = counting.summary(model, (256, 28, 28))
    assert result.mult_adds == counting.inception_cost()["mult_adds"].sum()
    assert [layer.output_shape for layer in result.layers] == [
        (128, 28, 28),
        (192, 28, 28),
        (96, 28, 28),
        (256, 28, 28),
    ]  # 672 channels concatenated


@pytest.mark.parametrize(
    ("build", "input_size", "message"),
    [
        (cnn_flatten, (64, 64), r"input_size=\(64, 64\).*in layer conv1.*3 entries \(C, H, W\)"),
        (cnn_gap, (3, 64, 64), r"in layer conv1.*expects 1 input channels, got 3"),
        (cnn_gap, (1, 14, 14), r"input_size=\(1, 14, 14\).*in layer conv3"),
        (cnn_flatten, (1, 32, 32), r"input_size=\(1, 32, 32\).*in layer classifier"),
        (cnn_gap, 64, "input_size must be a tuple of positive ints"),
        (cnn_gap, (1, 0, 64), "input_size must be a tuple of positive ints"),
        (cnn_gap, (), "input_size must be a tuple of positive ints"),
        (lambda: [nn.Conv2d(1, 1, 3)], (1, 8, 8), "model must be a torch.nn.Module, got list"),
    ],
)
def test_bad_input_raises_clear_errors(build, input_size, message):
    model = build()
    with pytest.raises(ValueError, match=message):
        counting.summary(model, input_size)
    with pytest.raises(ValueError, match=message):
        counting.flop_counter_macs(model, input_size)
    if isinstance(model, nn.Module):
        assert all(not m._forward_hooks and m.training for m in model.modules())


def test_mult_adds_per_second_divides_the_counted_mult_adds_by_each_timed_pass(monkeypatch):
    nets = {"small": nn.Conv2d(3, 8, 3), "big": nn.Conv2d(3, 32, 3)}  # 8 * 3*3*3 * 6*6 = 7,776 mult-adds
    clock = iter([0.0, 1.0, 0.0, 1.0] + [0.0, 0.5, 0.0, 2.0] * 3)  # warm-ups, then 3 rounds: 0.5 s and 2 s
    monkeypatch.setattr(counting.time, "perf_counter", lambda: next(clock))
    monkeypatch.setenv("LECTURE_DEVICE", "cpu")
    rates = counting.mult_adds_per_second(nets, torch.zeros(4, 3, 8, 8), rounds=3)
    assert rates.shape == (3, 2) and list(rates.columns) == ["small", "big"]
    assert rates["small"].tolist() == [4 * 7_776 / 0.5] * 3
    assert rates["big"].tolist() == [4 * 31_104 / 2.0] * 3
    assert not nets["big"].training


@pytest.mark.parametrize(("nets", "x", "rounds", "message"), [
    ({}, torch.zeros(1, 3, 8, 8), 3, "nets must map"),
    ({"conv": nn.Conv2d(3, 8, 3)}, torch.zeros(3, 8, 8), 3, r"x must be a batch of images shaped \(N, C, H, W\)"),
    ({"conv": nn.Conv2d(3, 8, 3)}, torch.zeros(1, 3, 8, 8), 0, "rounds must be a positive integer"),
])
def test_mult_adds_per_second_rejects_bad_input(nets, x, rounds, message):
    with pytest.raises(ValueError, match=message):
        counting.mult_adds_per_second(nets, x, rounds=rounds)
