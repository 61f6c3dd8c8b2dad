"""lecture_utils.models.fully_conv: FC layers as convolutions give the same scores, then heat maps."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lecture_utils import models
from lecture_utils.models.fully_conv import FullyConvNet, fc_to_conv, linear_to_conv


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(scope="module")
def cnn_flatten():
    torch.manual_seed(0)
    return models.cnn_flatten().eval()


def test_linear_to_conv_same_weights_same_output():
    torch.manual_seed(0)
    linear = nn.Linear(3 * 4 * 5, 7)
    conv = linear_to_conv(linear, (3, 4, 5))
    assert conv.kernel_size == (4, 5) and (conv.in_channels, conv.out_channels) == (3, 7)
    assert n_params(conv) == n_params(linear) == 3 * 4 * 5 * 7 + 7
    x = torch.randn(2, 3, 4, 5)
    assert conv(x).shape == (2, 7, 1, 1)
    torch.testing.assert_close(conv(x).flatten(1), linear(x.flatten(1)))
    one_by_one = linear_to_conv(nn.Linear(16, 2, bias=False), (16, 1, 1))
    assert one_by_one.kernel_size == (1, 1) and one_by_one.bias is None


def test_cnn_flatten_same_scores_on_64x64_and_a_heat_map_on_96x96(cnn_flatten):
    net = fc_to_conv(cnn_flatten, (1, 64, 64))
    assert isinstance(net, FullyConvNet) and not net.training
    assert net.classifier.kernel_size == (6, 6) and net.output.kernel_size == (1, 1)  # 6x6x128 map, then a vector
    assert n_params(net) == n_params(cnn_flatten) == 388_298
    assert net.stride == (8, 8) and net.window == (64, 64)
    x = torch.randn(4, 1, 64, 64)
    assert net(x).shape == (4, 10, 1, 1)
    torch.testing.assert_close(net(x).flatten(1), cnn_flatten(x), rtol=1e-5, atol=1e-5)

    big = torch.randn(2, 1, 96, 96)
    heat = net(big)
    assert heat.shape == (2, 10, 5, 5)  # (96 - 64) / 8 + 1 windows per side
    for i, j in [(0, 0), (0, 4), (2, 3), (4, 4)]:  # cell (i, j) = the classifier on the window at (8i, 8j)
        window = big[:, :, 8 * i : 8 * i + 64, 8 * j : 8 * j + 64]
        torch.testing.assert_close(heat[:, :, i, j], cnn_flatten(window), rtol=1e-5, atol=1e-5)


def test_rewritten_net_is_a_copy(cnn_flatten):
    net = fc_to_conv(cnn_flatten, (1, 64, 64))
    with torch.no_grad():
        net.classifier.weight.zero_()
    assert cnn_flatten.classifier.weight.abs().sum() > 0


def test_alexnet_at_224_and_a_larger_image():
    torch.manual_seed(0)
    alexnet = models.alexnet(num_classes=10).eval()
    net = fc_to_conv(alexnet, (3, 224, 224))
    assert "avgpool" not in dict(net.named_children())  # the 6x6 adaptive pool is the identity at 224
    assert net.classifier_1.kernel_size == (6, 6) and net.stride == (32, 32)
    x = torch.randn(1, 3, 224, 224)
    torch.testing.assert_close(net(x).flatten(1), alexnet(x), rtol=1e-4, atol=1e-5)
    assert net(torch.randn(1, 3, 288, 288)).shape == (1, 10, 3, 3)


@pytest.mark.parametrize(("build", "size", "larger", "heat", "stride"), [
    (lambda: models.blueprint(2, 3, 2, input_size=32), (3, 32, 32), (48, 40), (3, 2), (8, 8)),  # VGG-style
    (lambda: models.blueprint(0, 0, 0, input_size=8), (3, 8, 8), (10, 12), (3, 5), (1, 1)),  # linear classifier
    (lambda: models.lenet5(), (1, 32, 32), (36, 32), (2, 1), (4, 4)),  # C5 is a conv; F6 and output become 1x1
])
def test_chains_of_layers(build, size, larger, heat, stride):
    torch.manual_seed(0)
    model = build().eval()
    net = fc_to_conv(model, size)
    x = torch.randn(3, *size)
    torch.testing.assert_close(net(x).flatten(1), model(x), rtol=1e-5, atol=1e-5)
    assert net(torch.randn(1, size[0], *larger)).shape[2:] == heat and net.stride == stride


def test_train_mode_is_kept(cnn_flatten):
    model = models.cnn_flatten().train()
    assert fc_to_conv(model, (1, 64, 64)).training and model.training


def test_errors_name_the_problem(cnn_flatten):
    with pytest.raises(ValueError, match="in_shape=.*has C\\*H\\*W = 60 values.*in_features=64"):
        linear_to_conv(nn.Linear(64, 2), (3, 4, 5))
    with pytest.raises(ValueError, match="in_shape must be \\(C, H, W\\)"):
        linear_to_conv(nn.Linear(64, 2), (64,))
    with pytest.raises(ValueError, match="linear must be an nn.Linear"):
        linear_to_conv(nn.Conv2d(1, 2, 3), (1, 3, 3))
    with pytest.raises(ValueError, match="has no nn.Linear layer.*already fully convolutional"):
        fc_to_conv(models.nin(), (3, 32, 32))
    with pytest.raises(ValueError, match="input_size=\\(1, 96, 96\\) does not fit"):
        fc_to_conv(cnn_flatten, (1, 96, 96))
    with pytest.raises(ValueError, match="input_size must be \\(C, H, W\\)"):
        fc_to_conv(cnn_flatten, (64, 64))
    with pytest.raises(ValueError, match="'gpooling' .* pools globally"):
        fc_to_conv(models.cnn_gap(), (1, 64, 64))
    vgg_like = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.AdaptiveAvgPool2d(7), nn.Flatten(), nn.Linear(196, 2))
    with pytest.raises(ValueError, match="maps \\(4, 3, 3\\) to \\(4, 7, 7\\).*224 for VGG"):
        fc_to_conv(vgg_like, (3, 8, 8))  # like VGG on 32x32: its 1x1 map is upsampled to 7x7
    with pytest.raises(ValueError, match="model must be a torch.nn.Module"):
        fc_to_conv("vgg16", (3, 224, 224))
    net = fc_to_conv(cnn_flatten, (1, 64, 64))
    with pytest.raises(ValueError, match="input 60x80 is smaller than the 64x64 window"):
        net(torch.zeros(1, 1, 60, 80))
    with pytest.raises(ValueError, match="expected a batch \\(N, 1, H, W\\)"):
        net(torch.zeros(1, 3, 64, 64))


class Residual(nn.Module):
    """conv + shortcut, then a linear head: not a chain of layers."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(2 * 4 * 4, 3)

    def forward(self, x):
        return self.fc(self.flatten(x + self.conv(x)))


class FunctionalPooling(Residual):
    """Global average pooling by a function call (as DenseNet's forward does), not a layer."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 3)

    def forward(self, x):
        return self.fc(self.flatten(nn.functional.adaptive_avg_pool2d(self.conv(x), 1)))


def test_a_net_that_is_not_a_chain_is_refused():
    with pytest.raises(ValueError, match="does not reproduce its scores.*chain of layers"):
        fc_to_conv(Residual(), (2, 4, 4))
    head_on_pooled_vector = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.BatchNorm1d(4 * 6 * 6),
                                          nn.Linear(4 * 6 * 6, 2))
    with pytest.raises(ValueError, match="does not reproduce its scores.*BatchNorm1d"):
        fc_to_conv(head_on_pooled_vector, (1, 8, 8))
    with pytest.raises(ValueError, match="first fully connected layer 'fc' takes 2 features.*\\(2, 4, 4\\) = 32"):
        fc_to_conv(FunctionalPooling(), (2, 4, 4))
