"""lecture_utils.models: parameter counts, torchvision compatibility (keys, shapes, outputs), blocks, errors."""

from __future__ import annotations

import urllib.error

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models.efficientnet import _efficientnet_conf

from lecture_utils import counting, models
from lecture_utils.models import imagenet_weights
from lecture_utils.models.resnet import ZeroPadShortcut


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Many small convolutions: one thread is as fast alone and ~10x faster when other jobs share the CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def keys_and_shapes(model: nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(key, tuple(value.shape)) for key, value in model.state_dict().items()]


def tv_model(name: str, **kwargs) -> nn.Module:
    if name == "googlenet":
        kwargs.setdefault("init_weights", True)
    return getattr(torchvision.models, name)(**kwargs)


REFERENCE_PARAMS = {  # DESIGN.md anchors (torchvision's counts)
    "alexnet": 61_100_840,
    "vgg16": 138_357_544,
    "resnet18": 11_689_512,
    "resnet50": 25_557_032,
    "resnet152": 60_192_808,
    "densenet121": 7_978_856,
    "resnext50_32x4d": 25_028_904,
    "wide_resnet50_2": 68_883_240,
    "efficientnet_b0": 5_288_548,
}
TORCHVISION_NAMES = sorted(imagenet_weights.BUILDERS)


# ---------------------------------------------------------------- torchvision compatibility


@pytest.mark.parametrize("name", TORCHVISION_NAMES)
def test_same_keys_shapes_and_count_as_torchvision(name):
    with torch.device("meta"):  # no memory, no init time: structure only
        ours, theirs = getattr(models, name)(), tv_model(name)
    assert keys_and_shapes(ours) == keys_and_shapes(theirs)
    assert n_params(ours) == n_params(theirs) == REFERENCE_PARAMS.get(name, n_params(theirs))


def test_googlenet_without_aux_heads_has_the_reference_count():
    with torch.device("meta"):
        ours, theirs = models.googlenet(aux_logits=False), tv_model("googlenet", aux_logits=False)
    assert keys_and_shapes(ours) == keys_and_shapes(theirs)
    assert n_params(ours) == 6_624_904


FAST_OUTPUT_CHECKS = ["alexnet", "resnet18", "resnet50", "resnext50_32x4d", "googlenet", "densenet121",
                      "efficientnet_b0"]  # fmt: skip
SLOW_OUTPUT_CHECKS = ["vgg11", "vgg16_bn", "wide_resnet50_2"]  # the other VGGs/ResNets share the same code


@pytest.mark.parametrize(
    "name", FAST_OUTPUT_CHECKS + [pytest.param(name, marks=pytest.mark.slow) for name in SLOW_OUTPUT_CHECKS]
)
def test_torchvision_weights_give_the_same_outputs(name):
    torch.manual_seed(0)
    theirs = tv_model(name).eval()
    ours = getattr(models, name)().eval()
    ours.load_state_dict(theirs.state_dict())
    size = 64 if name == "alexnet" else 32  # AlexNet needs 63x63
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), atol=1e-5, rtol=1e-5)


def test_googlenet_transform_input_matches_torchvision():
    theirs = tv_model("googlenet", aux_logits=False, transform_input=True).eval()
    ours = models.googlenet(aux_logits=False, transform_input=True).eval()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), atol=1e-5, rtol=1e-5)


def test_num_classes_and_in_channels_change_only_the_ends():
    for build in (models.alexnet, models.vgg11_bn, models.resnet18, models.googlenet, models.densenet121,
                  models.efficientnet_b0, models.resnext50_32x4d):  # fmt: skip
        with torch.device("meta"):
            model = build(num_classes=10, in_channels=1)
        first = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
        last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
        assert (first.in_channels, last.out_features) == (1, 10), build.__name__
    model = models.resnet18(num_classes=10, in_channels=1).eval()
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


# ---------------------------------------------------------------- counts from the lectures


def test_vgg_configurations_have_the_papers_parameter_counts():
    millions = {}
    for config in models.VGG_CONFIGS:
        with torch.device("meta"):
            millions[config] = round(n_params(models.vgg(config)) / 1e6)
    assert millions == {"A": 133, "A-LRN": 133, "B": 133, "C": 134, "D": 138, "E": 144}
    with torch.device("meta"):
        convs = [m for m in models.vgg("C").features if isinstance(m, nn.Conv2d)]
    assert sum(c.kernel_size == (1, 1) for c in convs) == 3  # config C's conv1 layers


@pytest.mark.parametrize(
    "depth, expected", [(20, 269_722), (32, 464_154), (44, 658_586), (56, 853_018), (110, 1_727_962)]
)
def test_cifar_resnets_and_plain_twins_have_the_papers_counts(depth, expected):
    build = getattr(models, f"resnet{depth}")
    assert n_params(build()) == n_params(build(plain=True)) == expected
    assert n_params(models.cifar_resnet(depth)) == expected


def test_shortcut_options_and_plain_imagenet_resnets():
    with torch.device("meta"):
        count = {option: n_params(models.resnet34(shortcut=option)) for option in "ABC"}
        plain = n_params(models.resnet34(plain=True))
        plain50, a50 = n_params(models.resnet50(plain=True)), n_params(models.resnet50(shortcut="A"))
    assert plain == count["A"] < count["B"] < count["C"]
    assert count["B"] == 21_797_672  # torchvision's resnet34
    assert plain50 == a50


def test_classic_counts():
    assert n_params(models.lenet5()) == 61_706
    assert n_params(models.nin()) == 966_986
    with torch.device("meta"):
        assert n_params(models.alexnet(paper=True)) == 60_965_224  # the paper's "60M parameters"


def test_lenet_c3_connection_table_of_the_paper():
    mask = models.connection_mask(models.LENET_C3_TABLE, 6)
    assert mask.shape == (16, 6) and int(mask.sum()) == 60  # 60 of the 96 S2 -> C3 map pairs
    assert mask.sum(1).tolist() == [3] * 6 + [4] * 9 + [6]  # three, four neighbours / non-neighbours, all
    assert mask[:, 0].nonzero().flatten().tolist() == [0, 4, 5, 6, 9, 10, 11, 12, 14, 15]  # row 0 of Table I
    net = models.lenet5(c3_table=True)
    assert n_params(net) == 61_706  # the masked weights are stored, but ...
    c3 = net.c3
    torch.manual_seed(0)
    x = torch.randn(2, 6, 14, 14, requires_grad=True)
    c3(x).sum().backward()
    used = int((c3.weight.grad != 0).sum()) + c3.bias.numel()
    assert used == 1_516  # ... only 60 * 25 + 16 = 1,516 get a gradient: the paper's C3 count
    # Output map j changes only when an S2 map it reads changes.
    base = c3(x.detach())
    for i in range(6):
        bumped = x.detach().clone()
        bumped[:, i] += 1
        changed = (c3(bumped) - base).abs().amax(dim=(0, 2, 3)) > 0
        assert torch.equal(changed, mask[:, i])
    assert net(torch.randn(1, 1, 32, 32)).shape == (1, 10)


def test_densenet_growth_and_bigger_configs():
    model = models.densenet121()
    block = model.features.denseblock1
    x = torch.randn(1, 64, 8, 8)
    assert block(x).shape == (1, 64 + 6 * 32, 8, 8)  # k0 + L * k channels
    with torch.device("meta"):
        assert n_params(models.DenseNet("densenet169")) == n_params(tv_model("densenet169"))


# ---------------------------------------------------------------- residual blocks


@pytest.mark.parametrize("block", [models.BasicBlock(16, 16), models.Bottleneck(64, 16)])
def test_block_with_zero_last_gamma_is_identity_then_relu(block):
    nn.init.zeros_(getattr(block, block.last_bn).weight)
    block.eval()
    x = torch.randn(2, block.conv1.in_channels, 8, 8)
    torch.testing.assert_close(block(x), torch.relu(x))
    block.plain = True  # the plain twin with the same weights outputs ReLU(0) = 0
    assert block(x).abs().max() == 0


def test_zero_init_residual_makes_every_identity_block_the_identity():
    model = models.resnet20(zero_init_residual=True).eval()
    x = torch.relu(torch.randn(2, 16, 8, 8))
    torch.testing.assert_close(model.layer1(x), x)


def test_option_a_shortcut_subsamples_and_pads_with_zeros():
    x = torch.randn(2, 16, 8, 8)
    y = ZeroPadShortcut(16, 32, stride=2)(x)
    assert y.shape == (2, 32, 4, 4)
    torch.testing.assert_close(y[:, :16], x[:, :, ::2, ::2])
    assert y[:, 16:].abs().max() == 0
    assert n_params(models.BasicBlock(16, 32, stride=2, shortcut="A")) == n_params(
        models.BasicBlock(16, 32, stride=2, plain=True)
    )


@pytest.mark.parametrize("stride, in_channels", [(1, 256), (2, 256)])
def test_resnext_multi_path_block_equals_grouped_block(stride, in_channels):
    torch.manual_seed(0)
    grouped = models.Bottleneck(in_channels, 128 if stride == 2 else 64, stride, groups=32, base_width=4)
    for bn in (m for m in grouped.modules() if isinstance(m, nn.BatchNorm2d)):
        nn.init.normal_(bn.weight)
        nn.init.normal_(bn.bias)
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
    paths = models.MultiPathBlock.from_grouped(grouped)
    assert len(paths.paths) == 32 and paths.paths[0].conv2.in_channels == (8 if stride == 2 else 4)
    assert n_params(paths) == n_params(grouped)
    x = torch.randn(2, in_channels, 8, 8)
    for mode in (False, True):  # eval (running stats) and train (batch stats, per channel)
        grouped.train(mode), paths.train(mode)
        torch.testing.assert_close(paths(x), grouped(x), atol=1e-5, rtol=1e-4)


# ---------------------------------------------------------------- GoogLeNet


def test_googlenet_aux_heads_in_training_and_paper_version():
    model = models.googlenet(num_classes=10).train()
    out = model(torch.randn(2, 3, 32, 32))  # adaptive pooling: aux heads work at any size
    assert [t.shape for t in out] == [(2, 10)] * 3
    assert model.inception3a.branch3[1].conv.kernel_size == (3, 3)  # torchvision's "5x5"
    paper = models.googlenet(num_classes=10, paper=True).train()
    assert paper.inception3a.branch3[1].conv.kernel_size == (5, 5)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in paper.modules())
    with torch.no_grad():
        assert paper.aux1(torch.randn(1, 512, 14, 14)).shape == (1, 10)  # 5x5/3 pool: 14x14 -> 4x4
        with pytest.raises(ValueError, match="needs the 14x14 map"):
            paper(torch.randn(1, 3, 64, 64))
        assert paper.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 10)


def test_naive_inception_grows_the_channels_and_reduced_one_does_not():
    x = torch.randn(1, 256, 28, 28)
    naive = models.NaiveInception(256, 128, 192, 96)
    assert naive(x).shape == (1, 128 + 192 + 96 + 256, 28, 28)
    reduced = models.Inception(256, 128, 128, 192, 32, 96, 64, paper=True)
    assert reduced(x).shape == (1, 128 + 192 + 96 + 64, 28, 28)
    assert n_params(reduced) < n_params(naive) / 2


# ---------------------------------------------------------------- blueprint


@pytest.mark.parametrize("pattern", list(models.LECTURE_EXAMPLES))
def test_blueprint_builds_the_lecture_examples(pattern):
    model = models.blueprint(**models.LECTURE_EXAMPLES[pattern])
    assert models.layer_pattern(model) == models.expand_pattern(pattern)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_blueprint_general_pattern_and_linear_classifier():
    model = models.blueprint(2, 3, 2, in_channels=1, input_size=28)
    expected = models.expand_pattern("INPUT -> [[CONV -> RELU]*2 -> POOL]*3 -> [FC -> RELU]*2 -> FC")
    assert models.layer_pattern(model) == expected
    assert model.fc1.in_features == 128 * 3 * 3  # 28 -> 14 -> 7 -> 3
    assert n_params(models.blueprint(0, 0, 0)) == 3 * 32 * 32 * 10 + 10


# ---------------------------------------------------------------- EfficientNet scaling


def test_compound_scaling_rule():
    d, w, r = models.compound_coefficients(1)
    assert (d, w, r) == (1.2, 1.1, 1.15)
    assert d * w**2 * r**2 == pytest.approx(1.92, abs=0.01)  # ~ 2: FLOPs double per unit of phi
    assert models.compound_scaling(0) == models.EFFICIENTNET_B0
    scaled = models.compound_scaling(1)
    assert scaled.resolution == 258
    assert [s.layers for s in scaled.stages] == [2, 3, 3, 4, 4, 5, 2]
    with torch.device("meta"):
        ours = models.EfficientNet(scaled)
        setting, _ = _efficientnet_conf("efficientnet_b0", width_mult=w, depth_mult=d)
        theirs = torchvision.models.EfficientNet(setting, dropout=0.2)
    assert keys_and_shapes(ours) == keys_and_shapes(theirs)


# ---------------------------------------------------------------- bad input


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="unknown VGG configuration 'F'.*'A-LRN'"):
        models.vgg("F")
    with pytest.raises(ValueError, match="unknown ResNet depth 19.*18, 34, 50, 101, 152"):
        models.resnet(19)
    with pytest.raises(ValueError, match="unknown shortcut option 'D'"):
        models.resnet18(shortcut="D")
    with pytest.raises(ValueError, match="6n\\+2"):
        models.cifar_resnet(21)
    with pytest.raises(ValueError, match="LeNet-5 input_size"):
        models.lenet5(input_size=30)
    with pytest.raises(ValueError, match="unknown pretrained model 'resnet19'"):
        models.pretrained("resnet19")
    with pytest.raises(ValueError, match="unknown weights name for resnet50 'V3'.*'IMAGENET1K_V2'"):
        models.weights_for("resnet50", "V3")


def test_wrong_channels_and_wrong_shapes_are_named():
    model = models.resnet20().eval()
    with pytest.raises(ValueError, match="expects in_channels=3, got 1"):
        model(torch.randn(1, 1, 32, 32))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        model(torch.randn(3, 32, 32))
    with pytest.raises(ValueError, match="exactly 32x32"):
        models.lenet5()(torch.randn(1, 1, 28, 28))
    with pytest.raises(ValueError, match="exactly 32x32"):
        models.blueprint(1, 2, 1)(torch.randn(1, 3, 64, 64))


MIN_SIZES = [
    (models.alexnet, 63),
    (lambda: models.alexnet(paper=True), 63),
    (models.vgg11, 32),
    (models.googlenet, 15),
    (models.densenet121, 29),
    (models.nin, 4),  # ceil-mode pooling lets a 3x3 window overhang
    (models.efficientnet_b0, 1),
    (models.resnet18, 1),
]


@pytest.mark.parametrize("build, min_size", MIN_SIZES)
def test_min_size_is_checked_and_tight(build, min_size):
    model = build().eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, min_size, min_size)).shape[0] == 1
        if min_size == 1:
            return
        with pytest.raises(ValueError, match=f"too small.*at least {min_size}x{min_size}"):
            model(torch.randn(1, 3, min_size - 1, min_size - 1))
        model.min_size = 1  # without the check, torch itself fails one pixel below
        with pytest.raises(RuntimeError):
            model(torch.randn(1, 3, min_size - 1, min_size - 1))


# ---------------------------------------------------------------- pretrained weights (download patched)


def _fake_download(monkeypatch, name, state_dict):
    """Make torchvision's weights for ``name`` 'download' ``state_dict`` (the real loading code runs)."""
    monkeypatch.setenv("LECTURE_OFFLINE", "0")
    enum = type(models.weights_for(name))
    monkeypatch.setattr(enum, "get_state_dict", lambda self, *args, **kwargs: state_dict, raising=False)


def test_pretrained_loads_torchvision_weights_into_our_model(monkeypatch):
    theirs = tv_model("resnet18").eval()
    _fake_download(monkeypatch, "resnet18", theirs.state_dict())
    ours = models.pretrained("resnet18")
    assert isinstance(ours, models.ResNet) and not ours.training
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))


def test_pretrained_googlenet_drops_aux_heads_and_renames_old_densenet_keys(monkeypatch):
    theirs = tv_model("googlenet", transform_input=True).eval()
    _fake_download(monkeypatch, "googlenet", theirs.state_dict())
    ours = models.pretrained("googlenet")
    assert ours.aux1 is None and ours.transform_input
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))
    dense = tv_model("densenet121").state_dict()  # as the real checkpoint: "norm.1", no num_batches_tracked
    old = {
        key.replace(".norm1.", ".norm.1.").replace(".conv2.", ".conv.2."): value
        for key, value in dense.items()
        if "denselayer" not in key or "num_batches_tracked" not in key
    }
    _fake_download(monkeypatch, "densenet121", old)
    loaded = models.pretrained("densenet121").state_dict()
    key = "features.denseblock4.denselayer16.norm1.weight"
    assert "features.denseblock4.denselayer16.norm.1.weight" in old
    torch.testing.assert_close(loaded[key], dense[key])


def test_pretrained_says_it_needs_internet(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("LECTURE_OFFLINE", "1")
    with pytest.raises(models.WeightsUnavailableError, match="need internet once.*checkpoints"):
        models.pretrained("resnet18")

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setenv("LECTURE_OFFLINE", "0")
    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", no_network)
    with pytest.raises(models.WeightsUnavailableError, match="URLError.*need internet once"):
        models.pretrained("resnet18")


# ---------------------------------------------------------------- Wide ResNet (CIFAR, WRN-d-k)


@pytest.mark.parametrize("depth, k, expected", [
    (28, 10, 36_479_194),  # the reference Keras/PyTorch implementations' trainable count ("36.5M", Table 4)
    (16, 8, 10_961_370),  # "11.0M"
    (40, 4, 8_949_210),  # "8.9M"
])
def test_wide_resnets_have_the_papers_counts(depth, k, expected):
    with torch.device("meta"):
        assert n_params(models.wide_resnet(depth, k)) == expected


def test_wide_resnet_widens_every_block_by_k_and_counts_with_summary():
    thin, wide = models.wide_resnet(16, 1), models.wide_resnet(16, 4)

    def filters(model):  # the 3x3 convolutions (wide_resnet(16, 4) also projects in its first block)
        return [m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]

    thin_convs, wide_convs = filters(thin), filters(wide)
    assert wide_convs == [thin_convs[0]] + [4 * c for c in thin_convs[1:]]  # F x k filters, stem excepted
    assert sorted(set(thin_convs)) == [16, 32, 64]
    assert counting.summary(wide, (3, 32, 32)).total_params == n_params(wide)


def test_wide_block_is_pre_activation_with_dropout_between_the_convs():
    torch.manual_seed(0)
    block = models.WideBlock(32, 32, dropout=0.3).eval()
    nn.init.zeros_(block.conv2.weight)  # F(x) = 0: the block is the identity (no ReLU after the sum)
    x = torch.randn(2, 32, 8, 8)
    assert torch.equal(block(x), x)
    assert [type(m).__name__ for m in block.children()][:5] == ["BatchNorm2d", "Conv2d", "BatchNorm2d", "Dropout",
                                                                "Conv2d"]
    down = models.WideBlock(32, 64, stride=2)
    assert down(x).shape == (2, 64, 4, 4) and down.shortcut.kernel_size == (1, 1)


def test_wide_resnet_runs_on_any_size_and_checks_its_arguments():
    model = models.wide_resnet(10, 1, num_classes=7, in_channels=1).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 32, 32)).shape == (2, 7)
        assert model(torch.randn(1, 1, 5, 9)).shape == (1, 7)
    with pytest.raises(ValueError, match="expects in_channels=1, got 3"):
        model(torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match="6N\\+4"):
        models.wide_resnet(26, 10)
    with pytest.raises(ValueError, match="widening factor k"):
        models.wide_resnet(28, 0)
